//! Running a step in the caller's network namespace and coming back: a socket must live
//! where the program would have created it.

use std::os::fd::BorrowedFd;

use libc::c_int;
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

/// Why [`run_in_netns`] did not give `f`'s result.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NetnsSwitch {
    /// `setns` into the target failed: `f` did not run, the thread is where it was.
    CannotEnter,
    /// `f` ran, but `setns` back to the thread's own namespace failed twice (this errno):
    /// the thread is still in the target namespace.
    CannotReturn(c_int),
}

/// `setns(target, CLONE_NEWNET)`, `f()`, `setns(own, CLONE_NEWNET)`: `f` runs in the
/// target network namespace and the calling thread comes back (`setns` changes only the
/// calling thread's namespace). The way back is checked (and tried once more, for a
/// passing `ENOMEM`): a thread left in the target namespace must not make the next socket
/// there, so `f`'s result is dropped and the failure returned.
pub(super) fn run_in_netns<T>(
    target: BorrowedFd<'_>,
    own: BorrowedFd<'_>,
    f: impl FnOnce() -> T,
) -> Result<T, NetnsSwitch> {
    if move_into_link_name_space(target, Some(LinkNameSpaceType::Network)).is_err() {
        return Err(NetnsSwitch::CannotEnter);
    }
    let result = f();
    let mut errno = 0;
    for _ in 0..2 {
        match move_into_link_name_space(own, Some(LinkNameSpaceType::Network)) {
            Ok(()) => return Ok(result),
            Err(e) => errno = e.raw_os_error(),
        }
    }
    drop(result);
    Err(NetnsSwitch::CannotReturn(errno))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::AsFd;

    /// A target that cannot be entered (an fd that is no namespace: EINVAL) runs nothing.
    #[test]
    fn a_namespace_that_cannot_be_entered_runs_nothing() {
        let own = File::open("/proc/thread-self/ns/net").unwrap();
        let not_a_namespace = File::open("/dev/null").unwrap();
        let ran = std::cell::Cell::new(false);
        let entered = run_in_netns(not_a_namespace.as_fd(), own.as_fd(), || ran.set(true));
        assert_eq!(entered, Err(NetnsSwitch::CannotEnter));
        assert!(!ran.get());
    }

    /// A way back that fails (here: an fd that is no namespace, EINVAL) gives no result
    /// and says so, never the result of a thread left in the wrong namespace. Needs
    /// CAP_SYS_ADMIN for setns, even into the thread's own namespace.
    #[mptcp_tests::needs(privileged)]
    #[test]
    fn a_failed_return_from_the_callers_namespace_is_reported_not_ignored() {
        let own = File::open("/proc/thread-self/ns/net").unwrap();
        let not_a_namespace = File::open("/dev/null").unwrap();
        let mut ran = 0;
        let result = run_in_netns(own.as_fd(), not_a_namespace.as_fd(), || {
            ran += 1;
            "a socket"
        });
        assert_eq!(result, Err(NetnsSwitch::CannotReturn(libc::EINVAL)));
        assert_eq!(ran, 1);
        // Both ways working give the result.
        assert_eq!(run_in_netns(own.as_fd(), own.as_fd(), || 7), Ok(7));
    }
}
