//! Where an MPTCP connection's incoming data starts, in data sequence numbers: read once,
//! when the connection is established, so that its report line can say how many bytes it
//! received (`received=`) from `mptcpi_rcv_nxt` at the close.

use core::mem::{offset_of, size_of};
use libc::c_int;
use mptcp_sys::{
    mptcp_info, MPTCP_INFO, MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED, MPTCP_INFO_SIZE_V2, SOL_MPTCP,
};

use crate::connection_facts::getsockopt;
use crate::table;
use mptcpize_preload_support::errno::SavedErrno;

/// Where the incoming data of the MPTCP connection on `fd` starts, in data sequence numbers
/// (the peer's initial data sequence number + 1).
///
/// Read as `rcv_nxt` less what is queued and unread (`SIOCINQ`, which also counts a
/// received DATA_FIN as one): exact as long as the program has read nothing yet. That
/// holds when `connect` or `accept` returns ([`When::Established`]); when the program checks
/// a non-blocking connect ([`When::Checked`]: `getsockopt(SO_ERROR)`, a second `connect`)
/// it normally holds too, and where the kernel counts received bytes (Linux 6.5+) a start
/// that would leave fewer bytes than it counted means the program read some already:
/// [`Start::Unknown`] then, never a start that would under-count. `SIOCINQ` can move data
/// the subflows hold to the connection, and data keeps arriving: `rcv_nxt` is read before
/// and after, again until it held still.
pub fn start_of_incoming(fd: c_int, when: When) -> Start {
    let mut before = mptcp_info::default();
    let Some(len) = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut before) else {
        // Not MPTCP, or fell back (EOPNOTSUPP/ENOPROTOOPT): counted from `tcp_info`.
        return Start::NotNeeded;
    };
    if len < offset_of!(mptcp_info, mptcpi_rcv_nxt) + size_of::<u64>() {
        return Start::Unknown;
    }
    for _ in 0..8 {
        if before.mptcpi_flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED == 0 {
            // The peer's key (and so its sequence numbers) is not known yet: a connect
            // still under way.
            return Start::NotYet;
        }
        let mut queued: c_int = 0;
        // SAFETY: SIOCINQ (FIONREAD) writes one int.
        if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) } != 0 {
            return Start::NotYet;
        }
        let queued = queued.max(0) as u64;
        let mut after = mptcp_info::default();
        if getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut after).is_none() {
            return Start::NotNeeded;
        }
        if after.mptcpi_rcv_nxt == before.mptcpi_rcv_nxt {
            let read_already = when == When::Checked
                && len >= MPTCP_INFO_SIZE_V2
                && after.mptcpi_bytes_received > queued;
            if read_already {
                return Start::Unknown;
            }
            return Start::At(after.mptcpi_rcv_nxt.wrapping_sub(queued));
        }
        before = after;
    }
    Start::NotYet
}

/// When [`start_of_incoming`] is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// `connect` or `accept` just returned the connection: the program cannot have read.
    Established,
    /// The program checks a non-blocking connect: it normally has not read yet.
    Checked,
}

/// What [`start_of_incoming`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The data sequence number of the first incoming byte.
    At(u64),
    /// Not an MPTCP connection: nothing to capture.
    NotNeeded,
    /// Cannot be known any more (the program read data before), or the kernel does not
    /// say: its `received` will be `?`.
    Unknown,
    /// Not known yet (connection not established, or still moving): ask again later.
    NotYet,
}

/// Captures where `fd`'s incoming data starts, once (called from the hooks that see a
/// connection become established; see [`start_of_incoming`]).
pub fn capture_start(fd: c_int, when: When) {
    if !table::needs_rcv_base(fd) {
        return;
    }
    let _errno = SavedErrno::save();
    match start_of_incoming(fd, when) {
        Start::At(base) => table::set_rcv_base(fd, Some(base), true),
        // Unknown: MPTCP_INFO answered, so the connection was MPTCP when established.
        Start::Unknown => table::set_rcv_base(fd, None, true),
        Start::NotNeeded => table::set_rcv_base(fd, None, false),
        Start::NotYet => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_sockets::pair;
    use mptcp_sys::IPPROTO_MPTCP;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[mptcp_tests::needs(mptcp_enabled)]
    #[test]
    fn a_start_read_after_the_program_read_is_unknown_not_wrong() {
        let Some((client, server)) = pair(IPPROTO_MPTCP) else {
            mptcp_tests::skip_unless(
                "a_start_read_after_the_program_read_is_unknown_not_wrong",
                Some("socket(IPPROTO_MPTCP) refused (net.mptcp.enabled=0 here?)"),
            );
            return;
        };
        assert!(matches!(
            start_of_incoming(client.as_raw_fd(), When::Checked),
            Start::At(_)
        ));
        (&server).write_all(&[5u8; 1_000]).unwrap();
        let mut half = [0u8; 500];
        (&client).read_exact(&mut half).unwrap();
        // 500 bytes read, 500 queued: rcv_nxt less the queue would under-count by 500.
        assert_eq!(
            start_of_incoming(client.as_raw_fd(), When::Checked),
            Start::Unknown
        );
    }
}
