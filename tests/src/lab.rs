//! The multipath lab: a client and a server network namespace joined by N rate-shaped veth
//! paths, with MPTCP limits and endpoints set, for the integration tests and the benchmarks.
//!
//! ```text
//! client ns mpt-cli-…                                   server ns mpt-srv-…
//! 10.31.1.1/24 p1c ==== veth path 1, tbf RATE1 ==== p1s 10.31.1.2/24
//! 10.31.2.1/24 p2c ==== veth path 2, tbf RATE2 ==== p2s 10.31.2.2/24
//! …            pNc ==== veth path N               ==== pNs …
//! ```
//!
//! Path numbers start at 1, as in the interface names. Every name and address lives inside
//! the lab's two namespaces: two labs use the same interface names and addresses without
//! seeing each other, and the veth pairs are created directly inside the namespaces
//! (`ip link add p1c netns CLI type veth peer name p1s netns SRV`), so no name ever appears in
//! the root namespace. Dropping the [`Lab`] deletes both namespaces (and kills any process
//! left in them), which removes the veths, qdiscs, endpoints and limits with them.
//!
//! Only `tbf`/`htb` exist on the machines this runs on (no `netem`): paths differ in rate
//! only, with no added delay or loss. The only RTT is the tbf queue (a few ms under load).
//!
//! The traffic side ([`transfer`], [`pattern`], [`send_pattern`], [`receive_pattern`],
//! [`Received`]) checks every byte without storing the data: byte `i` of a stream is a fixed
//! function of `i`, and the receiver records when each read arrived, so goodput over a
//! window and the longest stall can be computed afterwards. Observations from outside the
//! program: [`Netns::mptcp_connections`] (`ss -Mni`), [`Netns::mptcp_counters`] (`nstat`),
//! [`Lab::link_stats`] (bytes per interface).
//!
//! ```no_run
//! use std::time::Duration;
//! use mptcp_socket::{MptcpListener, MptcpStream};
//! use mptcp_tests::lab::{self, Amount, Lab};
//!
//! let lab = Lab::builder().paths([50, 50]).build()?;
//! // A socket stays in the namespace it was created in: create it inside, use it anywhere.
//! let listener = lab.server().enter(|| MptcpListener::bind("0.0.0.0:5000"))??;
//! let client = lab.client().enter(|| MptcpStream::connect(lab.server_sockaddr(1, 5000)))??;
//! let (server, _) = listener.accept()?; // keep `listener` open: joins arrive on it
//! let t = lab::transfer(&client, server, Amount::For(Duration::from_secs(3)), |_start| {
//!     std::thread::sleep(Duration::from_secs(1));
//!     lab.path_down(1).unwrap();
//! })?;
//! println!("{:.1} Mbit/s", t.received.mbit());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::netns::{run, Netns};

/// tbf burst: 64 KiB lets veth's 64 KiB GSO packets through whole. With one MTU (1600 bytes)
/// 2 × 50 Mbit/s gave ~87 instead of ~92 Mbit/s and tbf segmented every GSO packet.
pub const TBF_BURST: &str = "64kb";
/// tbf latency sizes the queue (limit = rate × latency + burst); with 20 ms, BBR's start-up
/// overflowed it (thousands of retransmissions per run).
pub const TBF_LATENCY: &str = "50ms";
/// The second octet of every lab address (`10.31.PATH.1` client, `10.31.PATH.2` server).
/// The addresses exist only inside a lab's namespaces, so every lab can use the same.
pub const NET: u8 = 31;
/// Largest number of paths: the kernel's limit on subflows and accepted ADD_ADDRs is 8.
pub const MAX_PATHS: usize = 8;

/// Which MPTCP endpoints the lab configures, that is, how extra subflows get created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// Client endpoints for every path: path 1's has no flags (it only names the initial
    /// subflow's address, so that [`Lab::set_backup`]`(1, …)` can send MP_PRIO for it);
    /// paths 2..=N are `subflow` endpoints with `dev pNc`. The kernel aims a `subflow`
    /// endpoint at the server's initial address; `dev` binds the subflow to its path
    /// (without it routing sends every subflow over path 1).
    ClientSubflow,
    /// Server `signal` endpoints for paths 2..=N (`ip mptcp endpoint add 10.31.N.2 dev pNs
    /// signal`): the server announces its other addresses (ADD_ADDR) and the client, allowed
    /// by `add_addr_accepted`, opens a subflow to each. The server's listener must be bound
    /// to the any address to accept those joins.
    ServerSignal,
    /// No endpoints: connections keep a single subflow.
    None,
}

/// Which of the lab's two namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client namespace (interfaces `pNc`, addresses `10.31.N.1`).
    Client,
    /// The server namespace (interfaces `pNs`, addresses `10.31.N.2`).
    Server,
}

/// Builds a [`Lab`]; see [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    rates: Vec<u32>,
    endpoints: Endpoints,
    backup: Vec<usize>,
    client_mptcp: bool,
    server_mptcp: bool,
}

impl LabBuilder {
    /// The paths and their rates in Mbit/s (each direction). Default: `[50, 50]`.
    pub fn paths(mut self, rates_mbit: impl IntoIterator<Item = u32>) -> Self {
        self.rates = rates_mbit.into_iter().collect();
        self
    }

    /// How extra subflows are created. Default: [`Endpoints::ClientSubflow`].
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Flags the client endpoint of `path` as `backup` from the start (with
    /// [`Endpoints::ClientSubflow`]): its subflow joins with the backup flag, and neither
    /// end sends data on it while a non-backup subflow is usable.
    pub fn backup(mut self, path: usize) -> Self {
        self.backup.push(path);
        self
    }

    /// `net.mptcp.enabled` in the client namespace. Default: true. With false, `socket(…,
    /// IPPROTO_MPTCP)` fails there with ENOPROTOOPT.
    pub fn client_mptcp(mut self, enabled: bool) -> Self {
        self.client_mptcp = enabled;
        self
    }

    /// `net.mptcp.enabled` in the server namespace. Default: true.
    pub fn server_mptcp(mut self, enabled: bool) -> Self {
        self.server_mptcp = enabled;
        self
    }

    /// Creates the namespaces, paths, qdiscs, limits and endpoints, and waits until every
    /// path has carrier. On error, whatever was created is removed again.
    pub fn build(self) -> io::Result<Lab> {
        let n = self.rates.len();
        let single_path = n == 1 && self.endpoints == Endpoints::None;
        if !single_path && !(2..=MAX_PATHS).contains(&n) {
            return Err(invalid(format!(
                "a lab needs 2 to {MAX_PATHS} paths (or 1 with Endpoints::None), not {n}"
            )));
        }
        if let Some(r) = self.rates.iter().find(|r| **r == 0) {
            return Err(invalid(format!("path rate must be > 0 Mbit/s, not {r}")));
        }
        if let Some(p) = self.backup.iter().find(|p| **p == 0 || **p > n) {
            return Err(invalid(format!("backup path {p} does not exist (1..={n})")));
        }
        if !self.backup.is_empty() && self.endpoints != Endpoints::ClientSubflow {
            return Err(invalid(
                "backup paths need Endpoints::ClientSubflow (the flag is on client endpoints)"
                    .into(),
            ));
        }
        // Dropping `lab` on any error below deletes both namespaces.
        let lab = Lab {
            client: Netns::new("cli")?,
            server: Netns::new("srv")?,
            rates: self.rates,
        };
        let limit = n.to_string();
        for (ns, enabled) in [
            (&lab.client, self.client_mptcp),
            (&lab.server, self.server_mptcp),
        ] {
            ns.sysctl("net.mptcp.enabled", if enabled { "1" } else { "0" })?;
            // subflows: extra subflows per connection; add_addr_accepted: ADD_ADDRs acted on.
            ip(
                ns,
                &[
                    "mptcp",
                    "limits",
                    "set",
                    "subflows",
                    &limit,
                    "add_addr_accepted",
                    &limit,
                ],
            )?;
        }
        for path in 1..=n {
            let (c, s) = (lab.client_if(path), lab.server_if(path));
            // Created directly in the namespaces: no name ever appears in the root namespace.
            run(Command::new("ip").args([
                "link",
                "add",
                &c,
                "netns",
                lab.client.name(),
                "type",
                "veth",
                "peer",
                "name",
                &s,
                "netns",
                lab.server.name(),
            ]))?;
            ip(
                &lab.client,
                &[
                    "addr",
                    "add",
                    &format!("{}/24", lab.client_addr(path)),
                    "dev",
                    &c,
                ],
            )?;
            ip(
                &lab.server,
                &[
                    "addr",
                    "add",
                    &format!("{}/24", lab.server_addr(path)),
                    "dev",
                    &s,
                ],
            )?;
            // tbf shapes egress; one on each end shapes the path in both directions.
            let rate = format!("{}mbit", lab.rates[path - 1]);
            for (ns, dev) in [(&lab.client, &c), (&lab.server, &s)] {
                run(ns.command("tc").args([
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "tbf",
                    "rate",
                    &rate,
                    "burst",
                    TBF_BURST,
                    "latency",
                    TBF_LATENCY,
                ]))?;
            }
        }
        match self.endpoints {
            Endpoints::ClientSubflow => {
                for path in 1..=n {
                    let mut args = vec![
                        "mptcp".to_string(),
                        "endpoint".into(),
                        "add".into(),
                        lab.client_addr(path).to_string(),
                        "dev".into(),
                        lab.client_if(path),
                        "id".into(),
                        path.to_string(),
                    ];
                    if path > 1 {
                        args.push("subflow".into());
                    }
                    if self.backup.contains(&path) {
                        args.push("backup".into());
                    }
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    ip(&lab.client, &args)?;
                }
            }
            Endpoints::ServerSignal => {
                for path in 2..=n {
                    ip(
                        &lab.server,
                        &[
                            "mptcp",
                            "endpoint",
                            "add",
                            &lab.server_addr(path).to_string(),
                            "dev",
                            &lab.server_if(path),
                            "id",
                            &path.to_string(),
                            "signal",
                        ],
                    )?;
                }
            }
            Endpoints::None => {}
        }
        for path in 1..=n {
            lab.set_path(path, true)?;
        }
        Ok(lab)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `ip -n NS args…`
fn ip(ns: &Netns, args: &[&str]) -> io::Result<String> {
    let out = run(Command::new("ip").args(["-n", ns.name()]).args(args))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A two-namespace multipath lab; see the [module documentation](self). Removed on drop.
#[derive(Debug)]
pub struct Lab {
    client: Netns,
    server: Netns,
    rates: Vec<u32>,
}

impl Lab {
    /// A builder for a lab with two 50 Mbit/s paths and client `subflow` endpoints.
    ///
    /// ```no_run
    /// use mptcp_tests::lab::{Endpoints, Lab};
    /// let lab = Lab::builder().paths([80, 20]).endpoints(Endpoints::ClientSubflow).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> LabBuilder {
        LabBuilder {
            rates: vec![50, 50],
            endpoints: Endpoints::ClientSubflow,
            backup: Vec::new(),
            client_mptcp: true,
            server_mptcp: true,
        }
    }

    /// The client namespace.
    pub fn client(&self) -> &Netns {
        &self.client
    }

    /// The server namespace.
    pub fn server(&self) -> &Netns {
        &self.server
    }

    /// The namespace of `side`.
    pub fn ns(&self, side: Side) -> &Netns {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Number of paths.
    pub fn paths(&self) -> usize {
        self.rates.len()
    }

    /// The tbf rate of `path` (1-based) in Mbit/s, each direction.
    pub fn rate_mbit(&self, path: usize) -> u32 {
        self.rates[self.check(path) - 1]
    }

    /// Sum of all path rates in Mbit/s.
    pub fn total_rate_mbit(&self) -> u32 {
        self.rates.iter().sum()
    }

    fn check(&self, path: usize) -> usize {
        assert!(
            (1..=self.paths()).contains(&path),
            "path {path} does not exist (1..={})",
            self.paths()
        );
        path
    }

    /// The client's address on `path`: `10.31.PATH.1`.
    pub fn client_addr(&self, path: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, NET, self.check(path) as u8, 1)
    }

    /// The server's address on `path`: `10.31.PATH.2`.
    pub fn server_addr(&self, path: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, NET, self.check(path) as u8, 2)
    }

    /// `server_addr(path):port` as a socket address.
    pub fn server_sockaddr(&self, path: usize, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.server_addr(path), port))
    }

    /// The client's interface on `path`: `pPATHc`.
    pub fn client_if(&self, path: usize) -> String {
        format!("p{}c", self.check(path))
    }

    /// The server's interface on `path`: `pPATHs`.
    pub fn server_if(&self, path: usize) -> String {
        format!("p{}s", self.check(path))
    }

    /// The interface of `side` on `path`.
    pub fn interface(&self, side: Side, path: usize) -> String {
        match side {
            Side::Client => self.client_if(path),
            Side::Server => self.server_if(path),
        }
    }

    /// Takes `path` down or up (`ip link set … down|up` on both veth ends). Going up waits
    /// until both ends report carrier: veth reports it up to ~1 s after both ends are up
    /// (linkwatch), and packets sent before that are dropped. Addresses stay configured,
    /// so a subflow bound to another path but addressed to this path's server address
    /// lives on.
    pub fn set_path(&self, path: usize, up: bool) -> io::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&self.client, &["link", "set", &self.client_if(path), state])?;
        ip(&self.server, &["link", "set", &self.server_if(path), state])?;
        if up {
            self.wait_carrier(path, Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// Takes `path` down on both ends (see [`Lab::set_path`]).
    pub fn path_down(&self, path: usize) -> io::Result<()> {
        self.set_path(path, false)
    }

    /// Brings `path` up on both ends and waits for carrier (see [`Lab::set_path`]).
    pub fn path_up(&self, path: usize) -> io::Result<()> {
        self.set_path(path, true)
    }

    fn wait_carrier(&self, path: usize, timeout: Duration) -> io::Result<()> {
        let start = Instant::now();
        loop {
            let c = ip(
                &self.client,
                &["-o", "link", "show", "dev", &self.client_if(path)],
            )?;
            let s = ip(
                &self.server,
                &["-o", "link", "show", "dev", &self.server_if(path)],
            )?;
            if c.contains(" state UP ") && s.contains(" state UP ") {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("path {path}: no carrier after {timeout:?}:\n{c}{s}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets or clears the `backup` flag of the client endpoint of `path` (`ip mptcp endpoint
    /// change id PATH backup|nobackup`). New subflows from that address join with the flag;
    /// live ones get MP_PRIO. Needs [`Endpoints::ClientSubflow`].
    pub fn set_backup(&self, path: usize, on: bool) -> io::Result<()> {
        let flag = if on { "backup" } else { "nobackup" };
        ip(
            &self.client,
            &[
                "mptcp",
                "endpoint",
                "change",
                "id",
                &self.check(path).to_string(),
                flag,
            ],
        )
        .map(drop)
    }

    /// Byte and packet counters of `side`'s interface on `path`.
    pub fn link_stats(&self, side: Side, path: usize) -> io::Result<LinkStats> {
        self.ns(side).link_stats(&self.interface(side, path))
    }
}

/// An interface's counters (`/proc/net/dev` read inside its namespace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

impl std::ops::Sub for LinkStats {
    type Output = LinkStats;
    fn sub(self, earlier: LinkStats) -> LinkStats {
        LinkStats {
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            rx_packets: self.rx_packets - earlier.rx_packets,
            tx_bytes: self.tx_bytes - earlier.tx_bytes,
            tx_packets: self.tx_packets - earlier.tx_packets,
        }
    }
}

/// One MPTCP connection as `ss -Mni` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsMptcp {
    /// State column (`ESTAB`, `LISTEN`, …).
    pub state: String,
    /// Local address column.
    pub local: String,
    /// Peer address column.
    pub peer: String,
    /// Extra subflows (`subflows:N`; absent means 0): the connection has `N + 1` subflows.
    pub extra_subflows: u32,
    /// The detail line as printed.
    pub detail: String,
}

/// Parses `ss -Mni` (or `ss -Mnai`) output into one entry per socket.
pub fn parse_ss_mptcp(text: &str) -> Vec<SsMptcp> {
    let mut out: Vec<SsMptcp> = Vec::new();
    for line in text.lines().skip(1) {
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = out.last_mut() {
                last.detail = line.trim().to_string();
                last.extra_subflows = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("subflows:"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        } else {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 5 {
                out.push(SsMptcp {
                    state: cols[0].into(),
                    local: cols[3].into(),
                    peer: cols[4].into(),
                    extra_subflows: 0,
                    detail: String::new(),
                });
            }
        }
    }
    out
}

/// Observation helpers run inside the namespace: `ss`, `nstat`, interface counters.
impl Netns {
    /// `ss -Mni` inside the namespace: established MPTCP sockets with their subflow counts.
    pub fn ss_mptcp(&self) -> io::Result<String> {
        self.run("ss", &["-Mni"])
    }

    /// [`Netns::ss_mptcp`], parsed.
    pub fn mptcp_connections(&self) -> io::Result<Vec<SsMptcp>> {
        Ok(parse_ss_mptcp(&self.ss_mptcp()?))
    }

    /// `ss -tni` inside the namespace: TCP sockets, MPTCP subflows among them
    /// (`tcp-ulp-mptcp`, flags `Mmec` for an initial subflow, `Jjec` for a join).
    pub fn ss_tcp(&self) -> io::Result<String> {
        self.run("ss", &["-tni"])
    }

    /// The namespace's `MPTcp*` counters (`nstat -asz 'MPTcp*'`: absolute values, zeros
    /// included, without touching nstat's history file, which all namespaces share). Keys
    /// are as nstat prints them, e.g. `MPTcpExtMPJoinSynRx`. Counters start at zero with
    /// the namespace.
    pub fn mptcp_counters(&self) -> io::Result<BTreeMap<String, u64>> {
        Ok(parse_nstat(&self.run("nstat", &["-asz", "MPTcp*"])?))
    }

    /// Counters of interface `ifname`, read from `/proc/thread-self/net/dev` on a thread
    /// inside the namespace (`/sys/class/net` would show the namespace sysfs was mounted
    /// in, not this one).
    pub fn link_stats(&self, ifname: &str) -> io::Result<LinkStats> {
        let text = self.enter(|| std::fs::read_to_string("/proc/thread-self/net/dev"))??;
        parse_net_dev(&text, ifname).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {ifname} in namespace {}", self.name()),
            )
        })
    }
}

/// Parses `nstat -a` output (`NAME VALUE RATE` lines) into name → value.
pub fn parse_nstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// Finds `ifname` in `/proc/net/dev` text.
pub fn parse_net_dev(text: &str, ifname: &str) -> Option<LinkStats> {
    text.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        if name.trim() != ifname {
            return None;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        (v.len() >= 10).then(|| LinkStats {
            rx_bytes: v[0],
            rx_packets: v[1],
            tx_bytes: v[8],
            tx_packets: v[9],
        })
    })
}

/// A process running in the background (a server), killed and reaped when dropped, so a
/// failing test leaves neither a process nor a zombie behind.
#[derive(Debug)]
pub struct Background {
    child: std::process::Child,
    what: String,
}

impl Background {
    /// Starts `cmd` (e.g. from [`Netns::command`]) with stdin closed.
    pub fn spawn(cmd: &mut Command) -> io::Result<Background> {
        let what = format!("{cmd:?}");
        let child = cmd
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {what}: {e}")))?;
        Ok(Background { child, what })
    }

    /// Fails if the process has already exited (a server that could not start).
    pub fn check_running(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "{} exited early: {status}",
                self.what
            ))),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- traffic: a verifiable byte stream and its timeline ----

/// Period of the test pattern: a prime, so that data misplaced by any amount that is not a
/// multiple of ~1 MiB cannot match.
pub const PATTERN_PERIOD: usize = 1_048_573;

/// The test pattern, twice over (so that any window of up to [`PATTERN_PERIOD`] bytes
/// starting anywhere in the period is one contiguous slice): byte `i` of a stream is
/// `pattern()[i % PATTERN_PERIOD]`: [`pattern_bytes`] with seed 0.
pub fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut v = pattern_bytes(PATTERN_PERIOD, 0);
        v.extend_from_within(..);
        v
    })
}

/// `len` deterministic pseudo-random bytes (xorshift64*), different for every `seed`: they
/// do not compress, and no shifted window of them matches another, so a copy that is
/// shifted, truncated, altered or taken from another stream fails a byte-for-byte check.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    // GOLDEN times an odd number: odd, so never xorshift's fixed point 0, and a different
    // start for every seed (multiplying by an odd number is a bijection mod 2^64).
    let mut state = GOLDEN.wrapping_mul(seed.wrapping_mul(2) | 1);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        v.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Asserts that `received` is `expected`, byte for byte. On a difference the message names
/// `what`, both lengths and the first offset that differs, not the data itself (which
/// `assert_eq!` would print in full, megabytes of it).
#[track_caller]
pub fn assert_same_bytes(what: &str, received: &[u8], expected: &[u8]) {
    if received != expected {
        let at = received
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(received.len().min(expected.len()));
        panic!(
            "{what}: {} bytes received of {} expected, first difference at byte {at}",
            received.len(),
            expected.len()
        );
    }
}

/// The bytes at stream offsets `offset..offset + len` (`len` at most [`PATTERN_PERIOD`]).
pub fn pattern_at(offset: u64, len: usize) -> &'static [u8] {
    let start = (offset % PATTERN_PERIOD as u64) as usize;
    &pattern()[start..start + len]
}

/// When to stop sending.
#[derive(Debug, Clone, Copy)]
pub enum Amount {
    /// Exactly this many bytes.
    Bytes(u64),
    /// Until this much time has passed (the last write may end a little later).
    For(Duration),
}

/// Writes the pattern to `w` until `amount` is reached, in writes of up to `chunk` bytes,
/// and returns the number of bytes written. Does not shut the stream down.
pub fn send_pattern(w: &mut impl Write, amount: Amount, chunk: usize) -> io::Result<u64> {
    let chunk = chunk.clamp(1, PATTERN_PERIOD);
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let len = match amount {
            Amount::Bytes(total) if sent >= total => break,
            Amount::Bytes(total) => chunk.min((total - sent) as usize),
            Amount::For(d) if start.elapsed() >= d => break,
            Amount::For(_) => chunk,
        };
        let n = w.write(pattern_at(sent, len))?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        sent += n as u64;
    }
    Ok(sent)
}

/// What [`receive_pattern`] saw: every byte checked, and when each read arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Total bytes received (all verified).
    pub bytes: u64,
    /// When receiving started (before the first read).
    pub start: Instant,
    /// `(time since start, total bytes so far)` after every read.
    pub samples: Vec<(Duration, u64)>,
}

impl Received {
    /// Time from `start` to the last byte.
    pub fn elapsed(&self) -> Duration {
        self.samples.last().map_or(Duration::ZERO, |s| s.0)
    }

    /// Bytes received by time `t` (after `start`).
    pub fn bytes_at(&self, t: Duration) -> u64 {
        let i = self.samples.partition_point(|s| s.0 <= t);
        if i == 0 {
            0
        } else {
            self.samples[i - 1].1
        }
    }

    /// Time of the first read (the first byte's arrival), relative to `start`.
    pub fn first_byte(&self) -> Duration {
        self.samples.first().map_or(Duration::ZERO, |s| s.0)
    }

    /// Goodput in Mbit/s (10^6 bit/s) between `from` and `to` after `start`.
    pub fn mbit_between(&self, from: Duration, to: Duration) -> f64 {
        let bytes = self.bytes_at(to) - self.bytes_at(from);
        bytes as f64 * 8.0 / (to - from).as_secs_f64() / 1e6
    }

    /// Goodput in Mbit/s from the first byte to the last.
    pub fn mbit(&self) -> f64 {
        self.mbit_between(self.first_byte(), self.elapsed())
    }

    /// Goodput over the window that starts `skip` after the first byte and ends at the last
    /// byte: the steady state, without the congestion controller's start-up.
    pub fn steady_mbit(&self, skip: Duration) -> f64 {
        let from = self.first_byte() + skip;
        assert!(from < self.elapsed(), "transfer too short to skip {skip:?}");
        self.mbit_between(from, self.elapsed())
    }

    /// Longest time without any byte arriving, among gaps that end after `after`, and when
    /// that gap began.
    pub fn longest_stall_after(&self, after: Duration) -> (Duration, Duration) {
        let mut best = (Duration::ZERO, after);
        let mut prev = Duration::ZERO;
        for &(t, _) in &self.samples {
            if t > after && t - prev.max(after) > best.0 {
                best = (t - prev.max(after), prev.max(after));
            }
            prev = t;
        }
        best
    }

    /// Goodput in Mbit/s per `interval`, from `start` (a compact timeline for messages).
    pub fn timeline(&self, interval: Duration) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = Duration::ZERO;
        while t < self.elapsed() {
            out.push(self.mbit_between(t, t + interval));
            t += interval;
        }
        out
    }
}

/// Reads `r` to end of stream, checking every byte against the pattern, and returns the
/// timeline. Fails with `InvalidData` (naming the offset) at the first wrong byte, and with
/// `UnexpectedEof` if `expected` bytes were promised and fewer arrived.
pub fn receive_pattern(r: &mut impl Read, expected: Option<u64>) -> io::Result<Received> {
    let mut buf = vec![0u8; 256 * 1024];
    let start = Instant::now();
    let mut got = 0u64;
    let mut samples = Vec::with_capacity(1 << 16);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf[..n] != *pattern_at(got, n) {
            let i = buf[..n]
                .iter()
                .zip(pattern_at(got, n))
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("wrong byte at stream offset {}", got + i as u64),
            ));
        }
        got += n as u64;
        samples.push((start.elapsed(), got));
    }
    if let Some(expected) = expected {
        if got != expected {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended after {got} of {expected} bytes"),
            ));
        }
    }
    Ok(Received {
        bytes: got,
        start,
        samples,
    })
}

/// What [`transfer`] measured.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Bytes the sender wrote.
    pub sent: u64,
    /// What the receiver saw (all of it verified).
    pub received: Received,
}

/// One verified transfer through a connected pair: the pattern is written to `tx` on this
/// thread until `amount` is reached, then `tx`'s write side is shut down
/// (`shutdown(SHUT_WR)`); `rx` is read to its end on another thread and every byte is
/// checked; `during` runs on a third thread with the instant sending began (to sample
/// `ss`, cut a path, …) and must return before this does.
///
/// Fails if either side sees an error (the application's view), if a byte is wrong, or if
/// the receiver got a different number of bytes than were sent. Set a read timeout on `rx`
/// so that a stalled connection fails the test instead of hanging it.
pub fn transfer<S, R>(
    tx: &S,
    mut rx: R,
    amount: Amount,
    during: impl FnOnce(Instant) + Send,
) -> io::Result<Transfer>
where
    S: std::os::fd::AsFd + Sync,
    for<'a> &'a S: Write,
    R: Read + Send,
{
    std::thread::scope(|scope| {
        let receiver = scope.spawn(move || receive_pattern(&mut rx, None));
        let start = Instant::now();
        let observer = scope.spawn(move || during(start));
        let mut writer = tx;
        let sent = send_pattern(&mut writer, amount, 128 * 1024);
        // Also after a failed send, so that the receiver sees the end instead of waiting.
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown(2) on a descriptor borrowed for this call.
        let shut = match unsafe { libc::shutdown(tx.as_fd().as_raw_fd(), libc::SHUT_WR) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        };
        let sent = sent.and_then(|sent| shut.map(|()| sent));
        let received = receiver
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        observer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let sent = sent.map_err(|e| io::Error::new(e.kind(), format!("sender: {e}")))?;
        let received = received.map_err(|e| io::Error::new(e.kind(), format!("receiver: {e}")))?;
        if received.bytes != sent {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("sent {sent} bytes, received {}", received.bytes),
            ));
        }
        Ok(Transfer { sent, received })
    })
}

/// Writes `len` bytes of the pattern to a new file at `path` (for servers such as
/// `python3 -m http.server` to send); check what a client received with [`verify_file`].
pub fn write_pattern_file(path: &std::path::Path, len: u64) -> io::Result<()> {
    let mut f = io::BufWriter::new(std::fs::File::create(path)?);
    send_pattern(&mut f, Amount::Bytes(len), 1 << 20)?;
    f.flush()
}

/// Checks that the file at `path` holds exactly `len` bytes of the pattern.
pub fn verify_file(path: &std::path::Path, len: u64) -> io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    receive_pattern(&mut f, Some(len)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_mptcp_parses_subflow_counts() {
        let text = "State Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n\
ESTAB 0      0          10.31.1.1:50012    10.31.1.2:5202\n\
\t subflows:1 subflows_max:2 add_addr_accepted_max:2 remote_key token:d87d40e8\n\
ESTAB 722160 0      [::ffff:10.31.1.2]:5202 [::ffff:10.31.1.1]:50006\n\
\t subflows_max:2 remote_key token:e1650dc7\n";
        let v = parse_ss_mptcp(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].extra_subflows, 1);
        assert_eq!(v[0].peer, "10.31.1.2:5202");
        assert_eq!(v[1].extra_subflows, 0);
        assert_eq!(v[1].local, "[::ffff:10.31.1.2]:5202");
    }

    #[test]
    fn nstat_and_net_dev_parse() {
        let n = parse_nstat("#kernel\nMPTcpExtMPJoinSynRx  3   0.0\nMPTcpExtX 0 0.0\n");
        assert_eq!(n["MPTcpExtMPJoinSynRx"], 3);
        let d = "Inter-|   Receive  |  Transmit\n face |bytes ...\n   p1c:  131759    1696    0    0    0     0          0         0 18051393    2049    0    0    0     0       0          0\n";
        let s = parse_net_dev(d, "p1c").unwrap();
        assert_eq!(
            (s.rx_bytes, s.tx_bytes, s.tx_packets),
            (131759, 18051393, 2049)
        );
        assert!(parse_net_dev(d, "p2c").is_none());
    }

    #[test]
    fn same_bytes() {
        assert_same_bytes("equal", b"abc", b"abc");
        let differs = |a: &'static [u8], b: &'static [u8]| {
            std::panic::catch_unwind(|| assert_same_bytes("t", a, b))
                .unwrap_err()
                .downcast::<String>()
                .unwrap()
        };
        assert_eq!(
            *differs(b"abd", b"abc"),
            "t: 3 bytes received of 3 expected, first difference at byte 2"
        );
        assert_eq!(
            *differs(b"ab", b"abc"),
            "t: 2 bytes received of 3 expected, first difference at byte 2"
        );
    }

    #[test]
    fn pattern_bytes_by_seed() {
        assert_eq!(pattern_bytes(0, 1), b"");
        assert_eq!(pattern_bytes(13, 5).len(), 13);
        assert_eq!(pattern_bytes(1000, 0), &pattern()[..1000]);
        assert_eq!(pattern_bytes(1000, 7), pattern_bytes(1000, 7));
        assert_eq!(&pattern_bytes(1000, 7)[..10], &pattern_bytes(10, 7)[..]);
        let seeds: Vec<Vec<u8>> = (0..16).map(|seed| pattern_bytes(64, seed)).collect();
        for (i, a) in seeds.iter().enumerate() {
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn pattern_round_trip_and_corruption() {
        let mut v = Vec::new();
        let n = send_pattern(
            &mut v,
            Amount::Bytes(3 * PATTERN_PERIOD as u64 + 7),
            100_000,
        )
        .unwrap();
        assert_eq!(n as usize, v.len());
        let r = receive_pattern(&mut &v[..], Some(n)).unwrap();
        assert_eq!(r.bytes, n);
        // One byte shifted by a whole number of small steps must be caught.
        v[2_000_000] ^= 1;
        let e = receive_pattern(&mut &v[..], None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("2000000"), "{e}");
        // Missing bytes are caught.
        let e = receive_pattern(&mut &v[..1000], Some(1001)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        // A stream that skips a chunk is caught.
        let mut skipped = pattern_at(0, 1000).to_vec();
        skipped.extend_from_slice(pattern_at(1448, 1000));
        assert!(receive_pattern(&mut &skipped[..], None).is_err());
    }

    #[test]
    fn received_windows_and_stalls() {
        let ms = Duration::from_millis;
        let r = Received {
            bytes: 400,
            start: Instant::now(),
            samples: vec![
                (ms(100), 100),
                (ms(200), 200),
                (ms(900), 300),
                (ms(1000), 400),
            ],
        };
        assert_eq!(r.bytes_at(ms(150)), 100);
        assert_eq!(r.bytes_at(ms(50)), 0);
        assert_eq!(r.longest_stall_after(ms(0)), (ms(700), ms(200)));
        assert_eq!(r.longest_stall_after(ms(950)), (ms(50), ms(950)));
        assert!((r.mbit_between(ms(0), ms(1000)) - 400.0 * 8.0 / 1e6).abs() < 1e-9);
    }
}
