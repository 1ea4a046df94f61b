//! The classic-BPF seccomp program that sends TCP stream `socket()` calls, and the
//! `setsockopt()` calls MPTCP may refuse, to the supervisor.
//!
//! - `socket`: it encodes [`mptcp_policy::is_tcp_stream_request`] (a unit test checks that
//!   the two agree on every row of the table): only `socket(AF_INET | AF_INET6, SOCK_STREAM
//!   [| SOCK_NONBLOCK] [| SOCK_CLOEXEC], 0 | IPPROTO_TCP)` returns `SECCOMP_RET_USER_NOTIF`.
//! - `setsockopt`: only the (level, option) pairs of [`WATCHED_OPTIONS`], the options an
//!   MPTCP socket refuses (measured on Linux 6.18), so the supervisor can give the socket
//!   plain TCP, as the shim does.
//!
//! Every other system call is allowed by the kernel without waking the supervisor; its
//! verdict does not depend on the arguments, so the kernel's seccomp action cache allows it
//! without even running the filter.
//!
//! `socket(2)` takes `int` arguments, so the kernel looks only at the low 32 bits of each
//! 64-bit register; the filter loads exactly those (the low word comes first on the
//! little-endian architectures supported here), so garbage in the high bits cannot make the
//! filter and the kernel disagree.

use libc::{c_int, sock_filter, sock_fprog};

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
    /// `__NR_setsockopt`, and its x32 number likewise.
    pub setsockopt_nrs: [u32; 2],
}

/// `AUDIT_ARCH_X86_64` = `EM_X86_64` (62) | `__AUDIT_ARCH_64BIT` | `__AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_AARCH64` = `EM_AARCH64` (183) | `__AUDIT_ARCH_64BIT` | `__AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// x86_64: `__NR_socket` is 41, `__NR_setsockopt` 54; x32 programs (same
/// `AUDIT_ARCH_X86_64`) call them with `__X32_SYSCALL_BIT` (0x4000_0000) set, and x32's own
/// `setsockopt` is 541.
pub const X86_64: Abi = Abi {
    arch: AUDIT_ARCH_X86_64,
    socket_nrs: [41, 0x4000_0000 | 41],
    setsockopt_nrs: [54, 0x4000_0000 | 541],
};
/// aarch64: `__NR_socket` is 198, `__NR_setsockopt` 208 (asm-generic numbering).
pub const AARCH64: Abi = Abi {
    arch: AUDIT_ARCH_AARCH64,
    socket_nrs: [198, 198],
    setsockopt_nrs: [208, 208],
};

/// The `setsockopt` options an MPTCP socket refuses with `ENOPROTOOPT` or `EOPNOTSUPP`
/// (`mptcp_policy::refused_options`, measured on Linux 6.18), by level. Only these reach the
/// supervisor; what it does with them depends on the error the kernel really gives, not on
/// this list.
pub use mptcp_policy::refused_options::MPTCP_REFUSED_OPTIONS as WATCHED_OPTIONS;

/// True when `setsockopt(_, level, name, …)` is one the filter sends to the supervisor.
pub fn is_watched_option(level: c_int, name: c_int) -> bool {
    mptcp_policy::refused_options::is_refused_option(level, name)
}

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

/// A jump target while the program is being written: an instruction index once bound.
#[derive(Copy, Clone)]
struct Label(usize);

/// A tiny assembler: classic-BPF jumps are forward-only and relative to the next
/// instruction, so they are written against labels and resolved at the end.
struct Asm {
    code: Vec<(sock_filter, Option<(Label, Label)>)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The next instruction written is `label`'s target.
    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    /// A label bound to the next instruction, for "else go on".
    fn next(&mut self) -> Label {
        let l = self.label();
        self.labels[l.0] = Some(self.code.len() + 1);
        l
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.code.push((
            sock_filter {
                code,
                jt: 0,
                jf: 0,
                k,
            },
            None,
        ));
    }

    /// `if A == k goto yes else goto no`.
    fn jeq(&mut self, k: u32, yes: Label, no: Label) {
        self.code.push((
            sock_filter {
                code: JEQ_K,
                jt: 0,
                jf: 0,
                k,
            },
            Some((yes, no)),
        ));
    }

    fn finish(self) -> Vec<sock_filter> {
        let labels = self.labels;
        self.code
            .into_iter()
            .enumerate()
            .map(|(at, (mut insn, jump))| {
                if let Some((yes, no)) = jump {
                    let offset = |l: Label| {
                        let to = labels[l.0].expect("every label is bound");
                        u8::try_from(to - at - 1).expect("jump within 255 instructions")
                    };
                    insn.jt = offset(yes);
                    insn.jf = offset(no);
                }
                insn
            })
            .collect()
    }
}

/// The filter for `abi`. Each block says what it checks; `notify` hands the call to the
/// supervisor, `allow` lets the kernel run it.
pub fn program(abi: Abi) -> Vec<sock_filter> {
    let mut a = Asm {
        code: Vec::new(),
        labels: Vec::new(),
    };
    let (notify, allow) = (a.label(), a.label());
    let (socket, setsockopt) = (a.label(), a.label());

    // The architecture first: system-call numbers mean nothing without it. Another ABI
    // (32-bit compat) is allowed.
    a.stmt(LD_W_ABS, OFF_ARCH);
    let go_on = a.next();
    a.jeq(abi.arch, go_on, allow);
    a.stmt(LD_W_ABS, OFF_NR);
    for nr in abi.socket_nrs {
        let go_on = a.next();
        a.jeq(nr, socket, go_on);
    }
    let go_on = a.next();
    a.jeq(abi.setsockopt_nrs[0], setsockopt, go_on);
    a.jeq(abi.setsockopt_nrs[1], setsockopt, allow);

    // socket(domain, type, protocol), low 32 bits of each argument (they are ints).
    a.bind(socket);
    let check_type = a.label();
    a.stmt(LD_W_ABS, off_arg_low(0));
    let go_on = a.next();
    a.jeq(libc::AF_INET as u32, check_type, go_on);
    a.jeq(libc::AF_INET6 as u32, check_type, allow);
    a.bind(check_type);
    a.stmt(LD_W_ABS, off_arg_low(1));
    // Drop SOCK_NONBLOCK and SOCK_CLOEXEC; any other bit stays and fails the test.
    a.stmt(AND_K, !((libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32));
    let go_on = a.next();
    a.jeq(libc::SOCK_STREAM as u32, go_on, allow);
    a.stmt(LD_W_ABS, off_arg_low(2));
    let go_on = a.next();
    a.jeq(0, notify, go_on);
    a.jeq(libc::IPPROTO_TCP as u32, notify, allow);

    // setsockopt(fd, level, name, …): the watched (level, name) pairs.
    a.bind(setsockopt);
    a.stmt(LD_W_ABS, off_arg_low(1));
    let levels: Vec<Label> = WATCHED_OPTIONS.iter().map(|_| a.label()).collect();
    for (i, (level, _)) in WATCHED_OPTIONS.iter().enumerate() {
        let no = if i + 1 == WATCHED_OPTIONS.len() {
            allow
        } else {
            a.next()
        };
        a.jeq(*level as u32, levels[i], no);
    }
    for (i, (_, names)) in WATCHED_OPTIONS.iter().enumerate() {
        a.bind(levels[i]);
        a.stmt(LD_W_ABS, off_arg_low(2));
        for (j, name) in names.iter().enumerate() {
            let no = if j + 1 == names.len() {
                allow
            } else {
                a.next()
            };
            a.jeq(*name as u32, notify, no);
        }
    }

    a.bind(notify);
    a.stmt(RET_K, libc::SECCOMP_RET_USER_NOTIF);
    a.bind(allow);
    a.stmt(RET_K, libc::SECCOMP_RET_ALLOW);
    a.finish()
}

/// `struct sock_fprog` pointing at `insns`, for `seccomp(SECCOMP_SET_MODE_FILTER)`.
pub fn fprog(insns: &[sock_filter]) -> sock_fprog {
    sock_fprog {
        len: insns.len() as u16,
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
            let prog = program(abi);
            for (i, insn) in prog.iter().enumerate() {
                if insn.code == JEQ_K {
                    assert!(i + 1 + (insn.jt.max(insn.jf) as usize) < prog.len());
                }
            }
            assert_eq!(prog.last().unwrap().code, RET_K);
        }
    }

    #[test]
    fn watched_setsockopt_options_and_nothing_else() {
        let levels = [
            libc::SOL_SOCKET,
            libc::IPPROTO_TCP,
            libc::IPPROTO_IP,
            libc::IPPROTO_IPV6,
            libc::SOL_UDP,
            libc::IPPROTO_RAW,
        ];
        let mut watched = 0;
        for abi in [X86_64, AARCH64] {
            let prog = program(abi);
            for nr in abi.setsockopt_nrs {
                for level in levels {
                    for name in 0..80 {
                        for garbage in [false, true] {
                            let args = [reg(3, garbage), reg(level, garbage), reg(name, garbage)];
                            let want = if is_watched_option(level, name) {
                                watched += 1;
                                libc::SECCOMP_RET_USER_NOTIF
                            } else {
                                libc::SECCOMP_RET_ALLOW
                            };
                            assert_eq!(
                                run(&prog, &data(abi.arch, nr, args)),
                                want,
                                "setsockopt(_, {level}, {name}) nr {nr:#x}"
                            );
                        }
                    }
                }
            }
        }
        // 25 options, 2 garbage variants, 2 numbers, 2 ABIs.
        assert_eq!(watched, 25 * 2 * 2 * 2);
        // TCP_NODELAY and SO_REUSEADDR, set by most programs, never wake the supervisor.
        assert!(!is_watched_option(libc::IPPROTO_TCP, libc::TCP_NODELAY));
        assert!(!is_watched_option(libc::SOL_SOCKET, libc::SO_REUSEADDR));
    }
}
