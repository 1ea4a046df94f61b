//! The path manager's error: the kernel's errno, its own message, and what to do about it.

use std::fmt;
use std::io;

/// What was being done when a path-manager call failed; it decides the hint an error gives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Opening the generic netlink socket and resolving the `mptcp_pm` family.
    Open,
    /// `MPTCP_PM_CMD_GET_ADDR` as a dump (list every endpoint).
    ListEndpoints,
    /// `MPTCP_PM_CMD_GET_ADDR` for one endpoint id.
    GetEndpoint(u8),
    /// `MPTCP_PM_CMD_ADD_ADDR` (the endpoint as `ip mptcp endpoint add` would print it).
    AddEndpoint(String),
    /// `MPTCP_PM_CMD_DEL_ADDR` for one endpoint id.
    DeleteEndpoint(u8),
    /// `MPTCP_PM_CMD_SET_FLAGS` for one endpoint id.
    SetEndpointFlags(u8),
    /// `MPTCP_PM_CMD_FLUSH_ADDRS`.
    FlushEndpoints,
    /// `MPTCP_PM_CMD_GET_LIMITS`.
    GetLimits,
    /// `MPTCP_PM_CMD_SET_LIMITS`.
    SetLimits,
    /// Joining the `mptcp_pm_events` multicast group.
    Subscribe,
    /// Receiving or decoding an event.
    ReceiveEvent,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Open => {
                f.write_str("opening the MPTCP path manager (generic netlink `mptcp_pm`)")
            }
            Operation::ListEndpoints => f.write_str("listing MPTCP endpoints"),
            Operation::GetEndpoint(id) => write!(f, "getting MPTCP endpoint id {id}"),
            Operation::AddEndpoint(what) => write!(f, "adding MPTCP endpoint `{what}`"),
            Operation::DeleteEndpoint(id) => write!(f, "deleting MPTCP endpoint id {id}"),
            Operation::SetEndpointFlags(id) => {
                write!(f, "changing the flags of MPTCP endpoint id {id}")
            }
            Operation::FlushEndpoints => f.write_str("flushing MPTCP endpoints"),
            Operation::GetLimits => f.write_str("getting MPTCP limits"),
            Operation::SetLimits => f.write_str("setting MPTCP limits"),
            Operation::Subscribe => f.write_str("subscribing to MPTCP path-manager events"),
            Operation::ReceiveEvent => f.write_str("receiving MPTCP path-manager events"),
        }
    }
}

#[derive(Debug)]
enum Cause {
    /// The kernel (or a syscall) answered with this errno, and maybe an extended-ACK message.
    Os {
        errno: i32,
        kernel_message: Option<String>,
    },
    /// The kernel's answer could not be decoded.
    Decode(String),
}

/// A failed path-manager call: what was being done, the kernel's errno and message, and a
/// hint saying what to do (`EPERM` → needs `CAP_NET_ADMIN`, …). Converts into
/// [`io::Error`] with the errno's [`io::ErrorKind`].
#[derive(Debug)]
pub struct Error {
    operation: Operation,
    cause: Cause,
}

impl Error {
    pub(crate) fn os(operation: Operation, errno: i32, kernel_message: Option<String>) -> Error {
        Error {
            operation,
            cause: Cause::Os {
                errno,
                kernel_message,
            },
        }
    }

    pub(crate) fn io(operation: Operation, err: &io::Error) -> Error {
        match err.raw_os_error() {
            Some(errno) => Error::os(operation, errno, None),
            None => Error {
                operation,
                cause: Cause::Decode(err.to_string()),
            },
        }
    }

    pub(crate) fn decode(operation: Operation, what: impl Into<String>) -> Error {
        Error {
            operation,
            cause: Cause::Decode(what.into()),
        }
    }

    /// What was being done.
    pub fn operation(&self) -> &Operation {
        &self.operation
    }

    /// The kernel's errno (positive, as in `errno.h`), or `None` when the kernel's answer
    /// could not be decoded.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self.cause {
            Cause::Os { errno, .. } => Some(errno),
            Cause::Decode(_) => None,
        }
    }

    /// The kernel's own explanation (netlink extended ACK, e.g. `"address not found"`),
    /// when it gave one.
    pub fn kernel_message(&self) -> Option<&str> {
        match &self.cause {
            Cause::Os { kernel_message, .. } => kernel_message.as_deref(),
            Cause::Decode(_) => None,
        }
    }

    /// What the user can do about it, when this crate knows.
    pub fn hint(&self) -> Option<String> {
        let errno = self.raw_os_error()?;
        // The kernel answers EINVAL with the message "address not found" for an unknown id.
        let not_found = errno == libc::ENOENT
            || errno == libc::EINVAL
                && self
                    .kernel_message()
                    .is_some_and(|m| m.contains("not found"));
        let hint = match (errno, &self.operation) {
            (libc::EPERM | libc::EACCES, _) => {
                "changing the MPTCP path manager needs CAP_NET_ADMIN in this network namespace: \
                 run as root (sudo) or grant the capability"
                    .to_string()
            }
            (libc::ENOENT, Operation::Open) => {
                "this kernel has no MPTCP path manager (generic netlink family `mptcp_pm`): \
                 it needs Linux >= 5.7 built with CONFIG_MPTCP=y"
                    .to_string()
            }
            (libc::EEXIST, Operation::AddEndpoint(_)) => {
                "an endpoint with this address or id exists already: see `ip mptcp endpoint \
                 show`, then delete it or choose another address or id"
                    .to_string()
            }
            (
                _,
                Operation::GetEndpoint(id)
                | Operation::DeleteEndpoint(id)
                | Operation::SetEndpointFlags(id),
            ) if not_found => format!("no endpoint has id {id}: see `ip mptcp endpoint show`"),
            (libc::EINVAL, Operation::SetLimits) => format!(
                "each limit is at most {} (the kernel's MPTCP_PM_ADDR_MAX)",
                super::Limits::MAX
            ),
            (libc::EINVAL, Operation::SetEndpointFlags(_)) => {
                "only `backup` and `fullmesh` can change, and `fullmesh` is refused on a \
                 `signal` endpoint"
                    .to_string()
            }
            (libc::ERANGE | libc::ENOSPC, Operation::AddEndpoint(_)) => {
                "the kernel holds at most 8 endpoints with the `signal` or `subflow` flag per \
                 namespace (and ids 1 to 255): delete one with `ip mptcp endpoint delete id N`"
                    .to_string()
            }
            (libc::EADDRNOTAVAIL, Operation::AddEndpoint(_)) => {
                "an endpoint with a port makes the kernel listen on that address and port: the \
                 address must be on a local interface (`ip address add ADDR dev IF`) and the \
                 port free"
                    .to_string()
            }
            (libc::EADDRINUSE, Operation::AddEndpoint(_)) => {
                "an endpoint with a port makes the kernel listen on that address and port, and \
                 something listens there already (maybe this very endpoint: see `ip mptcp \
                 endpoint show`, and `ss -tlnp`)"
                    .to_string()
            }
            (libc::ENODEV, Operation::AddEndpoint(_)) => {
                "the interface must exist in this network namespace: see `ip link show`".to_string()
            }
            (libc::ENOBUFS, Operation::ReceiveEvent) => {
                "events were lost because they were not read fast enough; the stream goes on"
                    .to_string()
            }
            (libc::EOPNOTSUPP, _) => {
                "this kernel's path manager does not support this request (a newer kernel may)"
                    .to_string()
            }
            _ => return None,
        };
        Some(hint)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.operation)?;
        match &self.cause {
            Cause::Os {
                errno,
                kernel_message,
            } => {
                write!(f, "{}", io::Error::from_raw_os_error(*errno))?;
                if let Some(message) = kernel_message {
                    write!(f, " (kernel: {message})")?;
                }
            }
            Cause::Decode(what) => write!(f, "unexpected answer from the kernel: {what}")?,
        }
        if let Some(hint) = self.hint() {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.raw_os_error() {
            Some(errno) => io::Error::from_raw_os_error(errno).kind(),
            None => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

/// Result of a path-manager call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
