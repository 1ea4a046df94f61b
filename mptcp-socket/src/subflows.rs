//! The subflows of an MPTCP connection: their addresses and `tcp_info`, from
//! `MPTCP_FULL_INFO` (Linux 6.5+) or `MPTCP_SUBFLOW_ADDRS` and `MPTCP_TCPINFO` (5.16+).

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::BorrowedFd;

use mptcp_sys::{
    mptcp_full_info, mptcp_subflow_addrs, mptcp_subflow_data, mptcp_subflow_info, tcp_info,
    MPTCP_FULL_INFO, MPTCP_SUBFLOW_ADDRS, MPTCP_TCPINFO, SOL_MPTCP,
};
use zerocopy::IntoBytes;

use crate::info::{mptcp_info_of, short_answer, TcpInfo};
use crate::kind::is_not_mptcp_errno;
use crate::sys::{getsockopt_bytes, read_pod, read_prefix};

/// One subflow of an MPTCP connection: a TCP connection between two addresses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SubflowInfo {
    /// The subflow's id within the connection (`MPTCP_FULL_INFO`, Linux 6.5+).
    pub id: Option<u32>,
    /// Its local address and port.
    pub local: SocketAddr,
    /// Its remote address and port.
    pub remote: SocketAddr,
    /// Its `tcp_info` (`None` when the kernel gave none for it).
    pub tcp: Option<TcpInfo>,
}

/// Subflows fetched per call before asking again with the kernel's count.
const INITIAL_SUBFLOWS: usize = 8;

pub(crate) fn subflows_of(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    match full_info(fd) {
        Err(err) if is_old_kernel_errno(&err) && !is_not_mptcp(fd) => subflows_split(fd),
        other => other,
    }
}

/// `MPTCP_FULL_INFO` unknown (Linux < 6.5): `EOPNOTSUPP`/`ENOPROTOOPT`; some versions
/// answered `EINVAL` to unknown options.
fn is_old_kernel_errno(err: &io::Error) -> bool {
    is_not_mptcp_errno(err) || err.raw_os_error() == Some(libc::EINVAL)
}

fn is_not_mptcp(fd: BorrowedFd<'_>) -> bool {
    mptcp_info_of(fd).is_err_and(|err| is_not_mptcp_errno(&err))
}

fn full_info(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let mut capacity = INITIAL_SUBFLOWS;
    loop {
        let mut sf = vec![zeroed_subflow_info(); capacity];
        let mut tcp = vec![tcp_info::default(); capacity];
        let mut full = mptcp_full_info {
            size_tcpinfo_user: size_of::<tcp_info>() as u32,
            size_sfinfo_user: size_of::<mptcp_subflow_info>() as u32,
            size_arrays_user: capacity as u32,
            subflow_info: sf.as_mut_ptr() as u64,
            tcp_info: tcp.as_mut_ptr() as u64,
            ..Default::default()
        };
        // Besides `full`, the kernel writes at most size_arrays_user elements of the given
        // sizes to the two arrays, through the pointers above: they live until after the
        // call, and nothing borrows them meanwhile.
        getsockopt_bytes(fd, SOL_MPTCP, MPTCP_FULL_INFO, full.as_mut_bytes())?;
        let total = full.num_subflows as usize;
        if total > capacity {
            // More subflows appeared than fit: ask again with room for all of them.
            capacity = total;
            continue;
        }
        return Ok(subflows_of_full_info(&full, &sf, &tcp));
    }
}

/// The subflows of an `MPTCP_FULL_INFO` answer: the header the kernel filled in and the
/// two arrays it wrote to, each element as long as the kernel's struct or ours, whichever
/// is shorter (a newer kernel's extra fields are cut, an older kernel's missing ones are
/// `None`). At most `num_subflows` elements, and no more than the arrays hold.
fn subflows_of_full_info(
    full: &mptcp_full_info,
    sf: &[mptcp_subflow_info],
    tcp: &[tcp_info],
) -> Vec<SubflowInfo> {
    let total = (full.num_subflows as usize).min(sf.len()).min(tcp.len());
    let sf_len = (full.size_sfinfo_kernel as usize).min(size_of::<mptcp_subflow_info>());
    let tcp_len = (full.size_tcpinfo_kernel as usize).min(size_of::<tcp_info>());
    sf[..total]
        .iter()
        .zip(&tcp[..total])
        .filter_map(|(sf, tcp)| {
            let (local, remote) = addrs(&sf.addrs)?;
            Some(SubflowInfo {
                id: (sf_len >= size_of::<u32>()).then_some(sf.id),
                local,
                remote,
                tcp: TcpInfo::from_bytes(&tcp.as_bytes()[..tcp_len]),
            })
        })
        .collect()
}

fn zeroed_subflow_info() -> mptcp_subflow_info {
    // SAFETY: integers and sockaddr unions: all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// Runs one `MPTCP_SUBFLOW_ADDRS`/`MPTCP_TCPINFO` query: a `mptcp_subflow_data` header, then
/// elements of `elem` bytes. Returns the raw elements (each `min(size_user, size_kernel)`
/// valid bytes, padded to `elem`) and how many bytes of each are valid.
fn subflow_query(
    fd: BorrowedFd<'_>,
    name: libc::c_int,
    elem: usize,
) -> io::Result<(Vec<Vec<u8>>, usize)> {
    const HEADER: usize = size_of::<mptcp_subflow_data>();
    let mut capacity = INITIAL_SUBFLOWS;
    loop {
        // u64 storage keeps the 8-byte alignment the header and sockaddrs want.
        let mut storage = vec![0u64; (HEADER + capacity * elem).div_ceil(8)];
        let buf = storage.as_mut_bytes();
        let header = mptcp_subflow_data {
            size_subflow_data: HEADER as u32,
            size_user: elem as u32,
            ..Default::default()
        };
        buf[..HEADER].copy_from_slice(header.as_bytes());
        let len = getsockopt_bytes(fd, SOL_MPTCP, name, &mut buf[..HEADER + capacity * elem])?;
        match subflow_elements(&buf[..len], elem, capacity)? {
            SubflowElements::Complete(elems, valid) => return Ok((elems, valid)),
            SubflowElements::NeedRoom(total) => capacity = total,
        }
    }
}

/// What an `MPTCP_SUBFLOW_ADDRS`/`MPTCP_TCPINFO` answer holds.
#[derive(Debug)]
enum SubflowElements {
    /// The elements (padded to the size asked for) and how many bytes of each are valid.
    Complete(Vec<Vec<u8>>, usize),
    /// More subflows than the `capacity` asked for: ask again with room for this many.
    NeedRoom(usize),
}

/// Reads the `answer` (as long as the kernel said) to a query for `capacity` elements of
/// `elem` bytes each.
fn subflow_elements(answer: &[u8], elem: usize, capacity: usize) -> io::Result<SubflowElements> {
    const HEADER: usize = size_of::<mptcp_subflow_data>();
    if answer.len() < HEADER {
        return Err(short_answer("MPTCP_SUBFLOW_DATA", answer.len()));
    }
    let header: mptcp_subflow_data = read_prefix(&answer[..HEADER]);
    let total = header.num_subflows as usize;
    if total > capacity {
        return Ok(SubflowElements::NeedRoom(total));
    }
    let valid = (header.size_kernel as usize).min(elem);
    let copied = ((answer.len() - HEADER) / elem.max(1)).min(total);
    let elems = (0..copied)
        .map(|i| answer[HEADER + i * elem..HEADER + (i + 1) * elem].to_vec())
        .collect();
    Ok(SubflowElements::Complete(elems, valid))
}

/// The subflows from `MPTCP_SUBFLOW_ADDRS` + `MPTCP_TCPINFO` only, as on kernels before
/// 6.5; public so that tests can compare both paths on a new kernel.
#[doc(hidden)]
pub fn subflows_without_full_info(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    subflows_split(fd)
}

fn subflows_split(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let (addrs_raw, _) = subflow_query(fd, MPTCP_SUBFLOW_ADDRS, size_of::<mptcp_subflow_addrs>())?;
    // TCPINFO is a second call: a subflow may come or go in between, so pair by index and
    // leave tcp_info out where the counts disagree.
    let tcp = subflow_query(fd, MPTCP_TCPINFO, size_of::<tcp_info>()).ok();
    Ok(subflows_of_split(&addrs_raw, tcp))
}

/// The subflows from the elements of an `MPTCP_SUBFLOW_ADDRS` answer and, where it has as
/// many, those of an `MPTCP_TCPINFO` answer (with the valid length of each).
fn subflows_of_split(
    addrs_raw: &[Vec<u8>],
    tcp: Option<(Vec<Vec<u8>>, usize)>,
) -> Vec<SubflowInfo> {
    let tcp = tcp.filter(|(elems, _)| elems.len() == addrs_raw.len());
    addrs_raw
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            // SAFETY: sockaddr unions of integers.
            let sa: mptcp_subflow_addrs = unsafe { read_pod(raw) };
            let (local, remote) = addrs(&sa)?;
            let tcp = tcp
                .as_ref()
                .and_then(|(elems, valid)| TcpInfo::from_bytes(&elems[i][..*valid]));
            Some(SubflowInfo {
                id: None,
                local,
                remote,
                tcp,
            })
        })
        .collect()
}

/// The decoders of the kernel's subflow answers, public for the fuzz targets (`fuzz/`)
/// only: each takes the bytes as the kernel wrote them.
#[doc(hidden)]
pub mod decode {
    use super::*;

    /// The subflows of an `MPTCP_FULL_INFO` answer: `full` the `struct mptcp_full_info`
    /// the kernel filled in, `subflows` and `tcp` the arrays it wrote (elements of our
    /// struct sizes; the kernel's own sizes are in `full`).
    pub fn full_info(full: &[u8], subflows: &[u8], tcp: &[u8]) -> Vec<SubflowInfo> {
        let full: mptcp_full_info = read_prefix(full);
        let sf: Vec<mptcp_subflow_info> = subflows
            .chunks(size_of::<mptcp_subflow_info>())
            // SAFETY: integers and sockaddr unions of integers: every bit pattern is valid.
            .map(|chunk| unsafe { read_pod(chunk) })
            .collect();
        let tcp: Vec<tcp_info> = tcp.chunks(size_of::<tcp_info>()).map(read_prefix).collect();
        subflows_of_full_info(&full, &sf, &tcp)
    }

    /// The subflows of an `MPTCP_SUBFLOW_ADDRS` answer and an `MPTCP_TCPINFO` answer
    /// (each a `struct mptcp_subflow_data` header and its elements), asked for with room
    /// for `capacity` elements; `Ok(None)` where the kernel asks for more room.
    pub fn split(
        addrs: &[u8],
        tcp: &[u8],
        capacity: usize,
    ) -> io::Result<Option<Vec<SubflowInfo>>> {
        let addrs = match subflow_elements(addrs, size_of::<mptcp_subflow_addrs>(), capacity)? {
            SubflowElements::Complete(elems, _) => elems,
            SubflowElements::NeedRoom(_) => return Ok(None),
        };
        let tcp = match subflow_elements(tcp, size_of::<tcp_info>(), capacity) {
            Ok(SubflowElements::Complete(elems, valid)) => Some((elems, valid)),
            _ => None,
        };
        Ok(Some(subflows_of_split(&addrs, tcp)))
    }
}

fn addrs(sa: &mptcp_subflow_addrs) -> Option<(SocketAddr, SocketAddr)> {
    // SAFETY: the kernel wrote a sockaddr_in or sockaddr_in6, whose family field lies at
    // the same offset; every union member is plain data.
    unsafe {
        let local = sockaddr_to_std(
            sa.local.sa_family,
            &sa.local.sin_local,
            &sa.local.sin6_local,
        )?;
        let remote = sockaddr_to_std(
            sa.remote.sa_remote.sa_family,
            &sa.remote.sin_remote,
            &sa.remote.sin6_remote,
        )?;
        Some((local, remote))
    }
}

fn sockaddr_to_std(
    family: libc::sa_family_t,
    sin: &libc::sockaddr_in,
    sin6: &libc::sockaddr_in6,
) -> Option<SocketAddr> {
    match i32::from(family) {
        libc::AF_INET => Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
            u16::from_be(sin.sin_port),
        ))),
        libc::AF_INET6 => Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(sin6.sin6_addr.s6_addr),
            u16::from_be(sin6.sin6_port),
            sin6.sin6_flowinfo,
            sin6.sin6_scope_id,
        ))),
        _ => None,
    }
}
