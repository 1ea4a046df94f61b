//! `include/uapi/linux/mptcp.h`: the `SOL_MPTCP` socket options and the structs they fill.

use core::mem::{offset_of, size_of};
use libc::{sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `getsockopt(fd, SOL_MPTCP, MPTCP_INFO)`: fills a [`mptcp_info`] (kernel >= 5.16).
pub const MPTCP_INFO: libc::c_int = 1;
/// `getsockopt(fd, SOL_MPTCP, MPTCP_TCPINFO)`: a [`mptcp_subflow_data`] header followed by
/// one `struct tcp_info` per subflow (kernel >= 5.16).
pub const MPTCP_TCPINFO: libc::c_int = 2;
/// `getsockopt(fd, SOL_MPTCP, MPTCP_SUBFLOW_ADDRS)`: a [`mptcp_subflow_data`] header
/// followed by one [`mptcp_subflow_addrs`] per subflow (kernel >= 5.16).
pub const MPTCP_SUBFLOW_ADDRS: libc::c_int = 3;
/// `getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO)`: fills a [`mptcp_full_info`] and the two
/// arrays it points to (kernel >= 6.5).
pub const MPTCP_FULL_INFO: libc::c_int = 4;

/// `mptcp_info.mptcpi_flags`: the connection fell back to plain TCP.
pub const MPTCP_INFO_FLAG_FALLBACK: u32 = 1 << 0;
/// `mptcp_info.mptcpi_flags`: the peer's key was received (the MPTCP handshake completed).
pub const MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED: u32 = 1 << 1;

/// Subflow diag flag: the peer sent MP_CAPABLE.
pub const MPTCP_SUBFLOW_FLAG_MCAP_REM: u32 = 1 << 0;
/// Subflow diag flag: we sent MP_CAPABLE.
pub const MPTCP_SUBFLOW_FLAG_MCAP_LOC: u32 = 1 << 1;
/// Subflow diag flag: the peer sent MP_JOIN.
pub const MPTCP_SUBFLOW_FLAG_JOIN_REM: u32 = 1 << 2;
/// Subflow diag flag: we sent MP_JOIN.
pub const MPTCP_SUBFLOW_FLAG_JOIN_LOC: u32 = 1 << 3;
/// Subflow diag flag: the peer marked the subflow as backup.
pub const MPTCP_SUBFLOW_FLAG_BKUP_REM: u32 = 1 << 4;
/// Subflow diag flag: we marked the subflow as backup.
pub const MPTCP_SUBFLOW_FLAG_BKUP_LOC: u32 = 1 << 5;
/// Subflow diag flag: the subflow is fully established.
pub const MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED: u32 = 1 << 6;
/// Subflow diag flag: the subflow is connected.
pub const MPTCP_SUBFLOW_FLAG_CONNECTED: u32 = 1 << 7;
/// Subflow diag flag: the current DSS mapping is valid.
pub const MPTCP_SUBFLOW_FLAG_MAPVALID: u32 = 1 << 8;

/// Subflow diag attribute (`INET_ULP_INFO_MPTCP`): unspecified.
pub const MPTCP_SUBFLOW_ATTR_UNSPEC: u16 = 0;
/// Subflow diag attribute: the peer's token (u32).
pub const MPTCP_SUBFLOW_ATTR_TOKEN_REM: u16 = 1;
/// Subflow diag attribute: the local token (u32).
pub const MPTCP_SUBFLOW_ATTR_TOKEN_LOC: u16 = 2;
/// Subflow diag attribute: relative write sequence (u32).
pub const MPTCP_SUBFLOW_ATTR_RELWRITE_SEQ: u16 = 3;
/// Subflow diag attribute: mapping's data sequence number (u64).
pub const MPTCP_SUBFLOW_ATTR_MAP_SEQ: u16 = 4;
/// Subflow diag attribute: mapping's subflow sequence number (u32).
pub const MPTCP_SUBFLOW_ATTR_MAP_SFSEQ: u16 = 5;
/// Subflow diag attribute: subflow sequence offset (u32).
pub const MPTCP_SUBFLOW_ATTR_SSN_OFFSET: u16 = 6;
/// Subflow diag attribute: mapping's data length (u16).
pub const MPTCP_SUBFLOW_ATTR_MAP_DATALEN: u16 = 7;
/// Subflow diag attribute: `MPTCP_SUBFLOW_FLAG_*` (u32).
pub const MPTCP_SUBFLOW_ATTR_FLAGS: u16 = 8;
/// Subflow diag attribute: the peer's address id (u8).
pub const MPTCP_SUBFLOW_ATTR_ID_REM: u16 = 9;
/// Subflow diag attribute: the local address id (u8).
pub const MPTCP_SUBFLOW_ATTR_ID_LOC: u16 = 10;
/// Subflow diag attribute: padding.
pub const MPTCP_SUBFLOW_ATTR_PAD: u16 = 11;

/// MP_TCPRST reason (RFC 8684): unspecified error.
pub const MPTCP_RST_EUNSPEC: u32 = 0;
/// MP_TCPRST reason: MPTCP-specific error.
pub const MPTCP_RST_EMPTCP: u32 = 1;
/// MP_TCPRST reason: lack of resources.
pub const MPTCP_RST_ERESOURCE: u32 = 2;
/// MP_TCPRST reason: administratively prohibited.
pub const MPTCP_RST_EPROHIBIT: u32 = 3;
/// MP_TCPRST reason: too much outstanding data.
pub const MPTCP_RST_EWQ2BIG: u32 = 4;
/// MP_TCPRST reason: unacceptable performance.
pub const MPTCP_RST_EBADPERF: u32 = 5;
/// MP_TCPRST reason: middlebox interference.
pub const MPTCP_RST_EMIDDLEBOX: u32 = 6;

/// `struct mptcp_info`, the answer to `getsockopt(fd, SOL_MPTCP, MPTCP_INFO)`.
///
/// The kernel copies `min(optlen, its size)` bytes, and its size grew: 48 bytes on
/// 5.16–6.4 (up to `mptcpi_csum_enabled`), 80 on 6.5–6.7 (up to `mptcpi_bytes_acked`), 88
/// on 6.8–6.9 (up to `mptcpi_last_data_sent`), 96 on 6.10+. Fields past the returned
/// `optlen` were not written by the kernel.
///
/// The C struct has implicit padding at offsets 6–7 and 43; here it is named
/// ([`mptcp_info::pad0`], [`mptcp_info::pad1`]), so that every byte is a field and the
/// struct converts to and from bytes (`zerocopy`) without reading uninitialised memory.
#[repr(C)]
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct mptcp_info {
    /// Extra subflows (the initial subflow is not counted).
    pub mptcpi_subflows: u8,
    /// ADD_ADDRs sent.
    pub mptcpi_add_addr_signal: u8,
    /// ADD_ADDRs received and accepted.
    pub mptcpi_add_addr_accepted: u8,
    /// Limit on extra subflows.
    pub mptcpi_subflows_max: u8,
    /// Limit on ADD_ADDRs sent.
    pub mptcpi_add_addr_signal_max: u8,
    /// Limit on ADD_ADDRs accepted.
    pub mptcpi_add_addr_accepted_max: u8,
    /// Padding in the C struct (no field there; the kernel writes zeros).
    pub pad0: [u8; 2],
    /// `MPTCP_INFO_FLAG_*`.
    pub mptcpi_flags: u32,
    /// The local connection token.
    pub mptcpi_token: u32,
    /// Next data sequence number to write.
    pub mptcpi_write_seq: u64,
    /// Oldest unacknowledged data sequence number.
    pub mptcpi_snd_una: u64,
    /// Next data sequence number expected.
    pub mptcpi_rcv_nxt: u64,
    /// Local addresses in use by subflows.
    pub mptcpi_local_addr_used: u8,
    /// Limit on local addresses.
    pub mptcpi_local_addr_max: u8,
    /// 1 when DSS checksums are in use.
    pub mptcpi_csum_enabled: u8,
    /// Padding in the C struct (no field there; the kernel writes zeros).
    pub pad1: u8,
    /// Retransmissions at the MPTCP level (kernel >= 6.5).
    pub mptcpi_retransmits: u32,
    /// Bytes retransmitted at the MPTCP level (kernel >= 6.5).
    pub mptcpi_bytes_retrans: u64,
    /// Bytes sent, all subflows, retransmissions included (kernel >= 6.5).
    pub mptcpi_bytes_sent: u64,
    /// Bytes received at the MPTCP level (kernel >= 6.5).
    pub mptcpi_bytes_received: u64,
    /// Bytes acknowledged at the MPTCP level (kernel >= 6.5).
    pub mptcpi_bytes_acked: u64,
    /// All subflows, the initial one included (kernel >= 6.8).
    pub mptcpi_subflows_total: u8,
    /// Limit on "laminar" endpoints (kernel >= 6.18; reserved before).
    pub mptcpi_endp_laminar_max: u8,
    /// Reserved.
    pub reserved: [u8; 2],
    /// Milliseconds since data was last sent (kernel >= 6.8).
    pub mptcpi_last_data_sent: u32,
    /// Milliseconds since data was last received (kernel >= 6.10).
    pub mptcpi_last_data_recv: u32,
    /// Milliseconds since an ACK was last received (kernel >= 6.10).
    pub mptcpi_last_ack_recv: u32,
}

/// `struct mptcp_subflow_data`: the header of the `MPTCP_TCPINFO` and
/// `MPTCP_SUBFLOW_ADDRS` answers.
///
/// The caller sets `size_subflow_data` to its size (16) and `size_user` to the size of one
/// element, and leaves the other two zero (the kernel answers `EINVAL` otherwise). The
/// kernel fills `num_subflows` (all subflows, even those that did not fit) and
/// `size_kernel`, and copies `min(size_user, size_kernel)` bytes of each element.
#[repr(C, align(8))]
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct mptcp_subflow_data {
    /// Size of this struct in user space.
    pub size_subflow_data: u32,
    /// Set by the kernel: number of subflows.
    pub num_subflows: u32,
    /// Set by the kernel: size of one element in the kernel.
    pub size_kernel: u32,
    /// Size of one element in user space.
    pub size_user: u32,
}

/// The local half of [`mptcp_subflow_addrs`] (an anonymous union in C).
#[repr(C)]
#[derive(Copy, Clone)]
pub union mptcp_subflow_addrs_local {
    /// The address family (`AF_INET` or `AF_INET6`).
    pub sa_family: libc::sa_family_t,
    /// As a generic `sockaddr`.
    pub sa_local: sockaddr,
    /// As IPv4.
    pub sin_local: sockaddr_in,
    /// As IPv6.
    pub sin6_local: sockaddr_in6,
    /// As `__kernel_sockaddr_storage` (128 bytes).
    pub ss_local: sockaddr_storage,
}

/// The remote half of [`mptcp_subflow_addrs`] (an anonymous union in C).
#[repr(C)]
#[derive(Copy, Clone)]
pub union mptcp_subflow_addrs_remote {
    /// As a generic `sockaddr`.
    pub sa_remote: sockaddr,
    /// As IPv4.
    pub sin_remote: sockaddr_in,
    /// As IPv6.
    pub sin6_remote: sockaddr_in6,
    /// As `__kernel_sockaddr_storage` (128 bytes).
    pub ss_remote: sockaddr_storage,
}

/// `struct mptcp_subflow_addrs`: one subflow's local and remote address, an element of the
/// `MPTCP_SUBFLOW_ADDRS` answer.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct mptcp_subflow_addrs {
    /// The subflow's local address.
    pub local: mptcp_subflow_addrs_local,
    /// The subflow's remote address.
    pub remote: mptcp_subflow_addrs_remote,
}

/// `struct mptcp_subflow_info`: an element of the `MPTCP_FULL_INFO` subflow array.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct mptcp_subflow_info {
    /// The subflow's id within the connection.
    pub id: u32,
    /// Its addresses.
    pub addrs: mptcp_subflow_addrs,
}

/// `struct mptcp_full_info`, the argument of `getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO)`.
///
/// The caller sets the `*_user` sizes, `size_arrays_user` (how many subflows its arrays
/// hold) and the two array pointers (as `u64`); the kernel fills the rest, `mptcp_info`
/// included. `optlen` must be at least 40 (up to `mptcp_info`).
#[repr(C)]
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct mptcp_full_info {
    /// Set by the kernel: its `sizeof(struct tcp_info)`.
    pub size_tcpinfo_kernel: u32,
    /// Size of one `struct tcp_info` element in user space.
    pub size_tcpinfo_user: u32,
    /// Set by the kernel: its `sizeof(struct mptcp_subflow_info)`.
    pub size_sfinfo_kernel: u32,
    /// Size of one [`mptcp_subflow_info`] element in user space.
    pub size_sfinfo_user: u32,
    /// Set by the kernel: the number of subflows (all of them, even if more than fit).
    pub num_subflows: u32,
    /// Number of elements each user array holds.
    pub size_arrays_user: u32,
    /// User pointer to an array of [`mptcp_subflow_info`].
    pub subflow_info: u64,
    /// User pointer to an array of `struct tcp_info`.
    pub tcp_info: u64,
    /// The connection's [`mptcp_info`].
    pub mptcp_info: mptcp_info,
}

// Layout checks against include/uapi/linux/mptcp.h (x86_64, aarch64 and every LP64 Linux
// target; sockaddr_storage is 128 bytes aligned to 8 there).
const _: () = {
    assert!(size_of::<mptcp_info>() == 96);
    assert!(offset_of!(mptcp_info, mptcpi_subflows) == 0);
    assert!(offset_of!(mptcp_info, mptcpi_add_addr_signal) == 1);
    assert!(offset_of!(mptcp_info, mptcpi_add_addr_accepted) == 2);
    assert!(offset_of!(mptcp_info, mptcpi_subflows_max) == 3);
    assert!(offset_of!(mptcp_info, mptcpi_add_addr_signal_max) == 4);
    assert!(offset_of!(mptcp_info, mptcpi_add_addr_accepted_max) == 5);
    assert!(offset_of!(mptcp_info, pad0) == 6);
    assert!(offset_of!(mptcp_info, mptcpi_flags) == 8);
    assert!(offset_of!(mptcp_info, mptcpi_token) == 12);
    assert!(offset_of!(mptcp_info, mptcpi_write_seq) == 16);
    assert!(offset_of!(mptcp_info, mptcpi_snd_una) == 24);
    assert!(offset_of!(mptcp_info, mptcpi_rcv_nxt) == 32);
    assert!(offset_of!(mptcp_info, mptcpi_local_addr_used) == 40);
    assert!(offset_of!(mptcp_info, mptcpi_local_addr_max) == 41);
    assert!(offset_of!(mptcp_info, mptcpi_csum_enabled) == 42);
    assert!(offset_of!(mptcp_info, pad1) == 43);
    assert!(offset_of!(mptcp_info, mptcpi_retransmits) == 44);
    assert!(offset_of!(mptcp_info, mptcpi_bytes_retrans) == 48);
    assert!(offset_of!(mptcp_info, mptcpi_bytes_sent) == 56);
    assert!(offset_of!(mptcp_info, mptcpi_bytes_received) == 64);
    assert!(offset_of!(mptcp_info, mptcpi_bytes_acked) == 72);
    assert!(offset_of!(mptcp_info, mptcpi_subflows_total) == 80);
    assert!(offset_of!(mptcp_info, mptcpi_endp_laminar_max) == 81);
    assert!(offset_of!(mptcp_info, reserved) == 82);
    assert!(offset_of!(mptcp_info, mptcpi_last_data_sent) == 84);
    assert!(offset_of!(mptcp_info, mptcpi_last_data_recv) == 88);
    assert!(offset_of!(mptcp_info, mptcpi_last_ack_recv) == 92);

    assert!(size_of::<mptcp_subflow_data>() == 16);
    assert!(core::mem::align_of::<mptcp_subflow_data>() == 8);
    assert!(offset_of!(mptcp_subflow_data, size_subflow_data) == 0);
    assert!(offset_of!(mptcp_subflow_data, num_subflows) == 4);
    assert!(offset_of!(mptcp_subflow_data, size_kernel) == 8);
    assert!(offset_of!(mptcp_subflow_data, size_user) == 12);

    assert!(size_of::<mptcp_subflow_addrs_local>() == 128);
    assert!(size_of::<mptcp_subflow_addrs_remote>() == 128);
    assert!(size_of::<mptcp_subflow_addrs>() == 256);
    assert!(offset_of!(mptcp_subflow_addrs, local) == 0);
    assert!(offset_of!(mptcp_subflow_addrs, remote) == 128);

    assert!(size_of::<mptcp_subflow_info>() == 264);
    assert!(offset_of!(mptcp_subflow_info, id) == 0);
    assert!(offset_of!(mptcp_subflow_info, addrs) == 8);

    assert!(size_of::<mptcp_full_info>() == 136);
    assert!(offset_of!(mptcp_full_info, size_tcpinfo_kernel) == 0);
    assert!(offset_of!(mptcp_full_info, size_tcpinfo_user) == 4);
    assert!(offset_of!(mptcp_full_info, size_sfinfo_kernel) == 8);
    assert!(offset_of!(mptcp_full_info, size_sfinfo_user) == 12);
    assert!(offset_of!(mptcp_full_info, num_subflows) == 16);
    assert!(offset_of!(mptcp_full_info, size_arrays_user) == 20);
    assert!(offset_of!(mptcp_full_info, subflow_info) == 24);
    assert!(offset_of!(mptcp_full_info, tcp_info) == 32);
    assert!(offset_of!(mptcp_full_info, mptcp_info) == 40);
};

/// Length of [`mptcp_info`] as kernels 5.16–6.4 return it (up to `mptcpi_csum_enabled`).
pub const MPTCP_INFO_SIZE_V1: usize = 48;
/// Length of [`mptcp_info`] on kernels 6.5–6.7 (up to `mptcpi_bytes_acked`).
pub const MPTCP_INFO_SIZE_V2: usize = offset_of!(mptcp_info, mptcpi_subflows_total);
/// Length of [`mptcp_info`] on kernels 6.8–6.9 (up to `mptcpi_last_data_sent`).
pub const MPTCP_INFO_SIZE_V3: usize = offset_of!(mptcp_info, mptcpi_last_data_recv);
/// Length of [`mptcp_info`] on kernels 6.10 and later.
pub const MPTCP_INFO_SIZE_V4: usize = size_of::<mptcp_info>();

const _: () = {
    assert!(MPTCP_INFO_SIZE_V2 == 80);
    assert!(MPTCP_INFO_SIZE_V3 == 88);
    assert!(MPTCP_INFO_SIZE_V4 == 96);
};
