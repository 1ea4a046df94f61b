//! `include/uapi/linux/mptcp_pm.h` (and the older `linux/mptcp.h` before 6.7): the
//! in-kernel path manager's generic netlink family, as used by `ip mptcp endpoint|limits|
//! monitor`.

/// Generic netlink family name.
pub const MPTCP_PM_NAME: &str = "mptcp_pm";
/// Multicast group of the commands.
pub const MPTCP_PM_CMD_GRP_NAME: &str = "mptcp_pm_cmds";
/// Multicast group of the path-manager events.
pub const MPTCP_PM_EV_GRP_NAME: &str = "mptcp_pm_events";
/// Family version.
pub const MPTCP_PM_VER: u8 = 1;

/// Command: unspecified.
pub const MPTCP_PM_CMD_UNSPEC: u8 = 0;
/// Command: add an endpoint (or, for the userspace PM, announce).
pub const MPTCP_PM_CMD_ADD_ADDR: u8 = 1;
/// Command: delete an endpoint.
pub const MPTCP_PM_CMD_DEL_ADDR: u8 = 2;
/// Command: get one endpoint, or dump all of them.
pub const MPTCP_PM_CMD_GET_ADDR: u8 = 3;
/// Command: delete every endpoint.
pub const MPTCP_PM_CMD_FLUSH_ADDRS: u8 = 4;
/// Command: set the limits (`subflows`, `add_addr_accepted`).
pub const MPTCP_PM_CMD_SET_LIMITS: u8 = 5;
/// Command: get the limits.
pub const MPTCP_PM_CMD_GET_LIMITS: u8 = 6;
/// Command: change an endpoint's flags (backup, fullmesh).
pub const MPTCP_PM_CMD_SET_FLAGS: u8 = 7;
/// Command (userspace PM): announce an address on a connection.
pub const MPTCP_PM_CMD_ANNOUNCE: u8 = 8;
/// Command (userspace PM): withdraw an address from a connection.
pub const MPTCP_PM_CMD_REMOVE: u8 = 9;
/// Command (userspace PM): create a subflow.
pub const MPTCP_PM_CMD_SUBFLOW_CREATE: u8 = 10;
/// Command (userspace PM): destroy a subflow.
pub const MPTCP_PM_CMD_SUBFLOW_DESTROY: u8 = 11;

/// Top-level attribute: unspecified.
pub const MPTCP_PM_ATTR_UNSPEC: u16 = 0;
/// Top-level attribute: a nested endpoint address (`MPTCP_PM_ADDR_ATTR_*`).
pub const MPTCP_PM_ATTR_ADDR: u16 = 1;
/// Top-level attribute: limit on accepted ADD_ADDRs (u32).
pub const MPTCP_PM_ATTR_RCV_ADD_ADDRS: u16 = 2;
/// Top-level attribute: limit on extra subflows (u32).
pub const MPTCP_PM_ATTR_SUBFLOWS: u16 = 3;
/// Top-level attribute: a connection token (u32, userspace PM).
pub const MPTCP_PM_ATTR_TOKEN: u16 = 4;
/// Top-level attribute: a local address id (u8, userspace PM).
pub const MPTCP_PM_ATTR_LOC_ID: u16 = 5;
/// Top-level attribute: a nested remote address (userspace PM).
pub const MPTCP_PM_ATTR_ADDR_REMOTE: u16 = 6;

/// Address attribute: unspecified.
pub const MPTCP_PM_ADDR_ATTR_UNSPEC: u16 = 0;
/// Address attribute: family (u16, `AF_INET`/`AF_INET6`).
pub const MPTCP_PM_ADDR_ATTR_FAMILY: u16 = 1;
/// Address attribute: endpoint id (u8).
pub const MPTCP_PM_ADDR_ATTR_ID: u16 = 2;
/// Address attribute: IPv4 address (`struct in_addr`, network order).
pub const MPTCP_PM_ADDR_ATTR_ADDR4: u16 = 3;
/// Address attribute: IPv6 address (`struct in6_addr`).
pub const MPTCP_PM_ADDR_ATTR_ADDR6: u16 = 4;
/// Address attribute: port (u16, host order).
pub const MPTCP_PM_ADDR_ATTR_PORT: u16 = 5;
/// Address attribute: `MPTCP_PM_ADDR_FLAG_*` (u32).
pub const MPTCP_PM_ADDR_ATTR_FLAGS: u16 = 6;
/// Address attribute: interface index (s32).
pub const MPTCP_PM_ADDR_ATTR_IF_IDX: u16 = 7;

/// Endpoint flag `signal`: announce this address to peers (ADD_ADDR).
pub const MPTCP_PM_ADDR_FLAG_SIGNAL: u32 = 1 << 0;
/// Endpoint flag `subflow`: open an extra subflow from this address.
pub const MPTCP_PM_ADDR_FLAG_SUBFLOW: u32 = 1 << 1;
/// Endpoint flag `backup`: subflows from this address are backups.
pub const MPTCP_PM_ADDR_FLAG_BACKUP: u32 = 1 << 2;
/// Endpoint flag `fullmesh`: a subflow to every address the peer announces.
pub const MPTCP_PM_ADDR_FLAG_FULLMESH: u32 = 1 << 3;
/// Endpoint flag `implicit`: created by the kernel for an address used by a subflow.
pub const MPTCP_PM_ADDR_FLAG_IMPLICIT: u32 = 1 << 4;
/// Endpoint flag `laminar` (kernel >= 6.18).
pub const MPTCP_PM_ADDR_FLAG_LAMINAR: u32 = 1 << 5;

/// Event flag (`MPTCP_ATTR_FLAGS`): the peer forbids joins to its initial address.
pub const MPTCP_PM_EV_FLAG_DENY_JOIN_ID0: u16 = 1 << 0;
/// Event flag (`MPTCP_ATTR_FLAGS`): this side is the server (kernel >= 6.17).
pub const MPTCP_PM_EV_FLAG_SERVER_SIDE: u16 = 1 << 1;

/// Event: unspecified.
pub const MPTCP_EVENT_UNSPEC: u8 = 0;
/// Event: an MPTCP connection was created.
pub const MPTCP_EVENT_CREATED: u8 = 1;
/// Event: an MPTCP connection is established.
pub const MPTCP_EVENT_ESTABLISHED: u8 = 2;
/// Event: an MPTCP connection closed.
pub const MPTCP_EVENT_CLOSED: u8 = 3;
/// Event: the peer announced an address (ADD_ADDR).
pub const MPTCP_EVENT_ANNOUNCED: u8 = 6;
/// Event: the peer withdrew an address (RM_ADDR).
pub const MPTCP_EVENT_REMOVED: u8 = 7;
/// Event: a subflow is established.
pub const MPTCP_EVENT_SUB_ESTABLISHED: u8 = 10;
/// Event: a subflow closed.
pub const MPTCP_EVENT_SUB_CLOSED: u8 = 11;
/// Event: a subflow's backup priority changed (MP_PRIO).
pub const MPTCP_EVENT_SUB_PRIORITY: u8 = 13;
/// Event: an MPTCP listener was created.
pub const MPTCP_EVENT_LISTENER_CREATED: u8 = 15;
/// Event: an MPTCP listener closed.
pub const MPTCP_EVENT_LISTENER_CLOSED: u8 = 16;

/// Event attribute: unspecified.
pub const MPTCP_ATTR_UNSPEC: u16 = 0;
/// Event attribute: connection token (u32).
pub const MPTCP_ATTR_TOKEN: u16 = 1;
/// Event attribute: address family (u16).
pub const MPTCP_ATTR_FAMILY: u16 = 2;
/// Event attribute: local address id (u8).
pub const MPTCP_ATTR_LOC_ID: u16 = 3;
/// Event attribute: remote address id (u8).
pub const MPTCP_ATTR_REM_ID: u16 = 4;
/// Event attribute: source IPv4 address (be32).
pub const MPTCP_ATTR_SADDR4: u16 = 5;
/// Event attribute: source IPv6 address.
pub const MPTCP_ATTR_SADDR6: u16 = 6;
/// Event attribute: destination IPv4 address (be32).
pub const MPTCP_ATTR_DADDR4: u16 = 7;
/// Event attribute: destination IPv6 address.
pub const MPTCP_ATTR_DADDR6: u16 = 8;
/// Event attribute: source port (be16).
pub const MPTCP_ATTR_SPORT: u16 = 9;
/// Event attribute: destination port (be16).
pub const MPTCP_ATTR_DPORT: u16 = 10;
/// Event attribute: backup flag (u8).
pub const MPTCP_ATTR_BACKUP: u16 = 11;
/// Event attribute: error (u8, a copy of `sk_err`).
pub const MPTCP_ATTR_ERROR: u16 = 12;
/// Event attribute: `MPTCP_PM_EV_FLAG_*` (u16).
pub const MPTCP_ATTR_FLAGS: u16 = 13;
/// Event attribute: timeout (u32).
pub const MPTCP_ATTR_TIMEOUT: u16 = 14;
/// Event attribute: interface index (s32).
pub const MPTCP_ATTR_IF_IDX: u16 = 15;
/// Event attribute: MP_TCPRST reason (u32).
pub const MPTCP_ATTR_RESET_REASON: u16 = 16;
/// Event attribute: MP_TCPRST flags (u32).
pub const MPTCP_ATTR_RESET_FLAGS: u16 = 17;
/// Event attribute: this side is the server (u8; kernel 6.7–6.16, a flag since).
pub const MPTCP_ATTR_SERVER_SIDE: u16 = 18;
