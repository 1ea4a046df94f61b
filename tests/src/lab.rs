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
//! Firewalls and option-stripping boxes on the paths: [`crate::middlebox`]
//! ([`Lab::add_middlebox`]).
//!
//! The traffic side ([`transfer`], [`pattern`], …) lives in [`crate::traffic`], observations
//! from outside the programs ([`Netns::mptcp_connections`], [`Netns::mptcp_counters`],
//! [`Lab::link_stats`]) in [`crate::observe`], and [`Background`] in [`crate::background`];
//! they are re-exported here, where the lab's tests have always found them.
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

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::netns::{run, Netns};

pub use crate::background::Background;
pub use crate::observe::{parse_net_dev, parse_nstat, parse_ss_mptcp, LinkStats, SsMptcp};
pub use crate::traffic::*;

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

    /// What became of the joins, from both namespaces' counters ([`Netns::join_counters`]):
    /// `client: MPJoinSynTx=1 MPJoinSynAckRx=1; server: MPJoinSynRx=1 MPJoinAckRx=1`. For
    /// the message of a test that finds a subflow missing; [`crate::observe::JOIN_COUNTERS`]
    /// says how to read it.
    pub fn join_counters(&self) -> String {
        format!(
            "client: {}; server: {}",
            self.client.join_counters(),
            self.server.join_counters()
        )
    }

    /// Byte and packet counters of `side`'s interface on `path`.
    pub fn link_stats(&self, side: Side, path: usize) -> io::Result<LinkStats> {
        self.ns(side).link_stats(&self.interface(side, path))
    }
}
