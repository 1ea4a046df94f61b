//! Answering a watched `setsockopt()` (an option MPTCP may refuse): set it on the caller's
//! socket as the caller; when MPTCP refuses it, ask plain TCP, as the caller, and do what the
//! user's choice says (keep MPTCP, or swap the socket for plain TCP in the program:
//! [`tcp_swap_in_program`]).

use std::os::fd::AsRawFd;

use libc::{c_int, seccomp_notif, seccomp_notif_addfd};
use mptcp_policy::refused_options::{Action, Role};
use rustix::net::{ipproto, sockopt};

use super::super::bpf_program::is_watched_option;
use super::super::identity::AsCaller;
use super::super::tcp_swap_in_program;
use super::{inode_of, refused_options, Notifier, Outcome};

impl Notifier {
    /// `setsockopt(fd, level, name, value, len)` with a watched option.
    pub(super) fn answer_setsockopt(&mut self, n: &seccomp_notif) -> Outcome {
        let [fd, level, name, value, len, _] = n.data.args;
        let (fd, level, name) = (
            fd as u32 as c_int,
            level as u32 as c_int,
            name as u32 as c_int,
        );
        if !is_watched_option(level, name) {
            return self.continue_call(n.id, "not a watched option");
        }
        // The calling thread: its memory and fd table are the process's.
        let pid = n.pid as libc::pid_t;
        let Ok(pidfd) = tcp_swap_in_program::pidfd_of_thread(n.pid) else {
            return self.continue_call(n.id, "caller gone");
        };
        // The pid may have been reused: trust it only while the notification is pending.
        if !self.id_valid(n.id) {
            return Outcome::Gone;
        }
        let sock = match tcp_swap_in_program::pidfd_getfd(&pidfd, fd) {
            Ok(sock) => sock,
            // EBADF: not a file (the call fails the same way); EPERM: no ptrace access.
            Err(_) => return self.continue_call(n.id, "the socket cannot be reached"),
        };
        if sockopt::socket_protocol(&sock).ok().flatten() != Some(ipproto::MPTCP) {
            return self.continue_call(n.id, "not an MPTCP socket");
        }
        let Ok(value) = tcp_swap_in_program::read_memory(pid, value, len as u32 as usize) else {
            return self.continue_call(n.id, "the value cannot be read");
        };
        let (netns, caller) = match self.caller_context(n, true) {
            Ok(context) => context,
            Err(outcome) => return outcome,
        };
        // First on the program's own socket, with the caller's privileges, never ours.
        let set = AsCaller::with_capabilities(&caller)
            .and_then(|_as_caller| tcp_swap_in_program::set_option(&sock, level, name, &value));
        let refused = match set {
            Ok(()) => {
                return match self.respond(n.id, 0, 0) {
                    true => Outcome::OptionSet,
                    false => Outcome::Gone,
                }
            }
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        };
        let refused_outcome = |this: &mut Notifier, why| match this.continue_call(n.id, why) {
            Outcome::Tcp(why) => Outcome::OptionRefused(refused, why),
            gone => gone,
        };
        if !mptcp_policy::refused_options::is_refusal_errno(refused) {
            // The kernel runs the call again, as the caller, and fails it the same way.
            return refused_outcome(self, "not an error of MPTCP's");
        }
        // A socket the program asked MPTCP for itself gets MPTCP's answer, as without
        // mptcpize.
        if !inode_of(&sock).is_some_and(|i| self.handover.made_mptcp(i)) {
            return refused_outcome(self, "the program asked for MPTCP itself");
        }
        // MPTCP refuses the option. Would plain TCP take it, from this caller? Asked on the
        // TCP socket that would replace this one, made and set as the caller, in its
        // network namespace; what that socket reported for the option before is the value
        // the MPTCP socket has too (it holds none of the options MPTCP refuses).
        let role = tcp_swap_in_program::role(&sock);
        let candidate = self.in_namespace(netns.as_ref(), || {
            let Ok(as_caller) = AsCaller::with_capabilities(&caller) else {
                return Err(None);
            };
            let candidate = tcp_swap_in_program::prepare(&sock, role).map_err(|_| None)?;
            let mut current = [0u8; 16];
            let current_len =
                tcp_swap_in_program::get_option(&candidate.tcp, level, name, &mut current);
            let set = tcp_swap_in_program::set_option(&candidate.tcp, level, name, &value);
            drop(as_caller);
            match set {
                Ok(()) => Ok((candidate, current, current_len)),
                Err(e) => Err(Some(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        });
        let (candidate, current, current_len) = match candidate {
            None => return refused_outcome(self, "cannot enter its network namespace"),
            Some(Err(None)) => return refused_outcome(self, "cannot make a TCP socket as it"),
            Some(Ok(candidate)) => candidate,
            // Its capabilities mean nothing in our namespace, so "no privilege" from us
            // proves nothing: the program gets MPTCP's answer.
            Some(Err(Some(libc::EPERM))) if caller.foreign_user_ns => {
                return refused_outcome(self, "its privileges live in another user namespace")
            }
            // The candidate's answer is TCP's for a socket that has not connected, or that
            // listens (the candidate listens too); not for a connected one (kTLS, for one,
            // needs a connection).
            Some(Err(Some(_))) if role == Role::Connected => {
                return refused_outcome(
                    self,
                    "plain TCP refuses it on a new socket too, and this one has connected",
                )
            }
            Some(Err(Some(errno))) => {
                // TCP refuses it too (EPERM for an option needing a capability the caller
                // lacks, EINVAL for a bad value, …): the program gets TCP's answer, as it
                // would without mptcpize, and keeps its MPTCP socket.
                return match self.fail(n.id, errno) {
                    Outcome::Failed(_) => Outcome::RefusedByBoth(refused, errno),
                    gone => gone,
                };
            }
        };
        // The user's choice, as in the shim (`mptcp_policy::refused_options::RefusedOptions`).
        let current = current_len.map(|len| &current[..len.min(current.len())]);
        let decision = refused_options().decide(level, name, &value, current, role);
        let kept = |this: &mut Notifier, equivalent| match this.respond(n.id, 0, 0) {
            true => Outcome::Kept(refused, decision, role, equivalent),
            false => Outcome::Gone,
        };
        match decision.action {
            Action::Swap => {}
            Action::SucceedWithoutEffect => return kept(self, None),
            Action::SetEquivalent(l, o, _) => {
                // As the caller, on the program's own socket.
                let set = AsCaller::with_capabilities(&caller)
                    .and_then(|_as_caller| tcp_swap_in_program::set_option(&sock, l, o, &value));
                let failed = set.err().map(|e| e.raw_os_error().unwrap_or(libc::EIO));
                return kept(self, Some(failed));
            }
            Action::ReturnMptcpError => {
                return match self.continue_call(n.id, "") {
                    Outcome::Tcp(_) => Outcome::KeptWithError(refused, decision, role),
                    gone => gone,
                }
            }
        }
        // SECCOMP_ADDFD_FLAG_SETFD: the TCP socket takes the MPTCP one's number, atomically,
        // as dup3(2) would.
        let addfd = seccomp_notif_addfd {
            id: n.id,
            flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
            srcfd: candidate.tcp.as_raw_fd() as u32,
            newfd: fd as u32,
            newfd_flags: if tcp_swap_in_program::is_cloexec(pid, fd) {
                libc::O_CLOEXEC as u32
            } else {
                0
            },
        };
        if self.listener.add_fd(&addfd).is_err() {
            return refused_outcome(self, "installing the TCP socket failed");
        }
        // The MPTCP socket held the address; with the program's fd replaced, ours was the
        // last reference: close it, then bind the TCP socket where it was.
        drop(sock);
        let rebind = candidate.bind_again();
        if self.respond(n.id, 0, 0) {
            Outcome::MadeTcp(refused, rebind, decision, role)
        } else {
            Outcome::Gone
        }
    }
}
