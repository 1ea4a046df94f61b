//! The classic-BPF seccomp program that sends TCP stream `socket()` calls to the supervisor.
//!
//! It encodes [`mptcp_policy::is_tcp_stream_request`] (a unit test checks that the two agree
//! on every row of the table): only `socket(AF_INET | AF_INET6, SOCK_STREAM [| SOCK_NONBLOCK]
//! [| SOCK_CLOEXEC], 0 | IPPROTO_TCP)` returns `SECCOMP_RET_USER_NOTIF`; every other system
//! call, and every other `socket()`, is allowed by the kernel without waking the supervisor.
//!
//! `socket(2)` takes `int` arguments, so the kernel looks only at the low 32 bits of each
//! 64-bit register; the filter loads exactly those (the low word comes first on the
//! little-endian architectures supported here), so garbage in the high bits cannot make the
//! filter and the kernel disagree.

use libc::{sock_filter, sock_fprog};

/// `AUDIT_ARCH_*` value of the architecture this binary runs on, and its `socket`
/// system-call numbers. The filter allows every call made under another ABI (for example
/// 32-bit programs on x86_64, whose `socketcall(2)` passes its arguments in memory that
/// a seccomp filter cannot read).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Abi {
    /// `AUDIT_ARCH_*` from `linux/audit.h`.
    pub arch: u32,
    /// `__NR_socket`, and a second number that also means `socket` under the same arch
    /// value (x32's `__X32_SYSCALL_BIT | __NR_socket` on x86_64; the same number again
    /// where there is none).
    pub socket_nrs: [u32; 2],
}

/// `AUDIT_ARCH_X86_64` = `EM_X86_64` (62) | `__AUDIT_ARCH_64BIT` | `__AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_AARCH64` = `EM_AARCH64` (183) | `__AUDIT_ARCH_64BIT` | `__AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// x86_64: `__NR_socket` is 41; x32 programs (same `AUDIT_ARCH_X86_64`) call it with
/// `__X32_SYSCALL_BIT` (0x4000_0000) set.
pub const X86_64: Abi = Abi {
    arch: AUDIT_ARCH_X86_64,
    socket_nrs: [41, 0x4000_0000 | 41],
};
/// aarch64: `__NR_socket` is 198 (asm-generic numbering).
pub const AARCH64: Abi = Abi {
    arch: AUDIT_ARCH_AARCH64,
    socket_nrs: [198, 198],
};

/// The ABI of this build, or `None` on an architecture the filter does not know (the
/// supervisor then refuses to start rather than run the program on TCP).
pub const NATIVE: Option<Abi> = if cfg!(all(target_arch = "x86_64", target_endian = "little")) {
    Some(X86_64)
} else if cfg!(all(target_arch = "aarch64", target_endian = "little")) {
    Some(AARCH64)
} else {
    None
};

// Offsets in `struct seccomp_data` (linux/seccomp.h): nr (int), arch (u32),
// instruction_pointer (u64), args[6] (u64 each).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_low(i: u32) -> u32 {
    16 + 8 * i
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Number of instructions in [`program`].
pub const LEN: usize = 16;
const NOTIFY: usize = LEN - 2;
const ALLOW: usize = LEN - 1;

const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// `if A == k` at instruction `at`: go to `yes` else to `no` (absolute indices; BPF jumps
/// are relative to the next instruction and only go forward).
const fn jeq(at: usize, k: u32, yes: usize, no: usize) -> sock_filter {
    sock_filter {
        code: JEQ_K,
        jt: (yes - at - 1) as u8,
        jf: (no - at - 1) as u8,
        k,
    }
}

/// The filter for `abi`, one instruction per line.
pub const fn program(abi: Abi) -> [sock_filter; LEN] {
    let stream_flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32;
    [
        // 0: A = arch. Check it first: system-call numbers mean nothing without it.
        stmt(LD_W_ABS, OFF_ARCH),
        // 1: another ABI (32-bit compat) → allow.
        jeq(1, abi.arch, 2, ALLOW),
        // 2: A = system-call number.
        stmt(LD_W_ABS, OFF_NR),
        // 3: socket → check its arguments.
        jeq(3, abi.socket_nrs[0], 5, 4),
        // 4: x32's socket → check its arguments; anything else → allow.
        jeq(4, abi.socket_nrs[1], 5, ALLOW),
        // 5: A = low 32 bits of args[0] (domain).
        stmt(LD_W_ABS, off_arg_low(0)),
        // 6: AF_INET → check the type.
        jeq(6, libc::AF_INET as u32, 8, 7),
        // 7: AF_INET6 → check the type; any other family → allow.
        jeq(7, libc::AF_INET6 as u32, 8, ALLOW),
        // 8: A = low 32 bits of args[1] (type with its flags).
        stmt(LD_W_ABS, off_arg_low(1)),
        // 9: drop SOCK_NONBLOCK and SOCK_CLOEXEC; any other bit stays and fails the test.
        stmt(AND_K, !stream_flags),
        // 10: exactly SOCK_STREAM → check the protocol; anything else → allow.
        jeq(10, libc::SOCK_STREAM as u32, 11, ALLOW),
        // 11: A = low 32 bits of args[2] (protocol).
        stmt(LD_W_ABS, off_arg_low(2)),
        // 12: protocol 0 (the default, TCP) → notify.
        jeq(12, 0, NOTIFY, 13),
        // 13: IPPROTO_TCP → notify; anything else (IPPROTO_MPTCP, SCTP, …) → allow.
        jeq(13, libc::IPPROTO_TCP as u32, NOTIFY, ALLOW),
        // 14 (NOTIFY): hand the call to the supervisor.
        stmt(RET_K, libc::SECCOMP_RET_USER_NOTIF),
        // 15 (ALLOW): let the kernel run the call.
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// `struct sock_fprog` pointing at `insns`, for `seccomp(SECCOMP_SET_MODE_FILTER)`.
pub fn fprog(insns: &[sock_filter; LEN]) -> sock_fprog {
    sock_fprog {
        len: LEN as u16,
        filter: insns.as_ptr().cast_mut(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{
        AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, AF_UNSPEC, IPPROTO_SCTP, IPPROTO_TCP,
        IPPROTO_UDP, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOCK_SEQPACKET,
        SOCK_STREAM,
    };
    use mptcp_policy::{is_tcp_stream_request, IPPROTO_MPTCP};

    /// A classic-BPF interpreter for the instructions seccomp accepts, run over the bytes
    /// of a `struct seccomp_data` (little-endian).
    fn run(prog: &[sock_filter], data: &[u8; 64]) -> u32 {
        let load = |off: u32| {
            let off = off as usize;
            assert!(off & 3 == 0 && off + 4 <= data.len(), "bad load {off}");
            u32::from_le_bytes(data[off..off + 4].try_into().unwrap())
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let insn = prog[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => a = load(insn.k),
                AND_K => a &= insn.k,
                JEQ_K => pc += if a == insn.k { insn.jt } else { insn.jf } as usize,
                RET_K => return insn.k,
                other => panic!("instruction {other:#x} not interpreted"),
            }
        }
    }

    fn data(arch: u32, nr: u32, args: [u64; 3]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&nr.to_le_bytes());
        d[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, arg) in args.iter().enumerate() {
            d[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        d
    }

    /// Sign-extends like a C `int` passed in a 64-bit register, optionally with garbage
    /// in the high half (the kernel ignores it for `int` arguments).
    fn reg(v: i32, garbage: bool) -> u64 {
        let v = v as i64 as u64;
        if garbage {
            (v & 0xffff_ffff) | 0xdead_beef_0000_0000
        } else {
            v
        }
    }

    #[test]
    fn filter_agrees_with_policy_on_the_whole_table() {
        let flags = [
            0,
            SOCK_NONBLOCK,
            SOCK_CLOEXEC,
            SOCK_NONBLOCK | SOCK_CLOEXEC,
            0x40_0000,
        ];
        let domains = [
            AF_INET, AF_INET6, AF_UNIX, AF_NETLINK, AF_PACKET, AF_UNSPEC, -1,
        ];
        let types = [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, 0, -1];
        let protos = [
            0,
            IPPROTO_TCP,
            IPPROTO_UDP,
            IPPROTO_MPTCP,
            IPPROTO_SCTP,
            255,
            -1,
        ];
        let mut notified = 0;
        for abi in [X86_64, AARCH64] {
            let prog = program(abi);
            for nr in abi.socket_nrs {
                for domain in domains {
                    for ty in types {
                        for flag in flags {
                            for proto in protos {
                                for garbage in [false, true] {
                                    let args = [
                                        reg(domain, garbage),
                                        reg(ty | flag, garbage),
                                        reg(proto, garbage),
                                    ];
                                    let want = if is_tcp_stream_request(domain, ty | flag, proto) {
                                        notified += 1;
                                        libc::SECCOMP_RET_USER_NOTIF
                                    } else {
                                        libc::SECCOMP_RET_ALLOW
                                    };
                                    assert_eq!(
                                        run(&prog, &data(abi.arch, nr, args)),
                                        want,
                                        "socket({domain}, {ty}|{flag:#x}, {proto}) nr {nr:#x} garbage {garbage}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(notified > 0);
    }

    #[test]
    fn other_calls_and_other_abis_are_allowed() {
        let tcp = [AF_INET as u64, SOCK_STREAM as u64, 0];
        let prog = program(X86_64);
        assert_eq!(
            run(&prog, &data(AUDIT_ARCH_X86_64, 41, tcp)),
            libc::SECCOMP_RET_USER_NOTIF
        );
        // connect (42), socketpair (53) with TCP-looking arguments.
        for nr in [42, 53, 0, 0x4000_0000 | 42] {
            assert_eq!(
                run(&prog, &data(AUDIT_ARCH_X86_64, nr, tcp)),
                libc::SECCOMP_RET_ALLOW
            );
        }
        // i386 compat (AUDIT_ARCH_I386) and aarch64 numbers seen under x86_64.
        assert_eq!(
            run(&prog, &data(0x4000_0003, 41, tcp)),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&prog, &data(AUDIT_ARCH_X86_64, 198, tcp)),
            libc::SECCOMP_RET_ALLOW
        );
        let prog = program(AARCH64);
        assert_eq!(
            run(&prog, &data(AUDIT_ARCH_AARCH64, 41, tcp)),
            libc::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        for abi in [X86_64, AARCH64] {
            for (i, insn) in program(abi).iter().enumerate() {
                if insn.code == JEQ_K {
                    assert!(i + 1 + (insn.jt.max(insn.jf) as usize) < LEN);
                }
            }
        }
    }
}
