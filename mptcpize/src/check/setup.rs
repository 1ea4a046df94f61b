//! The checks of this machine's MPTCP setup: kernel support, `net.mptcp.*` sysctls, the
//! path manager's limits and endpoints (and the interfaces the endpoints name).

use std::collections::BTreeMap;
use std::net::IpAddr;

use mptcp_socket::pm::{Endpoint, EndpointFlags, Limits, PathManager};
use mptcp_socket::{available, Availability, Unavailable};
use serde_json::{json, Value};

use super::findings::{command_line, CheckReport, Finding, Status};
use super::interfaces::{default_route_interfaces, interfaces, Interface};

/// Where the kernel publishes the `net.mptcp.*` sysctls of the caller's network namespace.
const SYSCTL_DIR: &str = "/proc/sys/net/mptcp";

/// `net.mptcp.NAME` in this network namespace, trimmed; `None` when the kernel has no such
/// sysctl.
pub fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("{SYSCTL_DIR}/{name}"))
        .ok()
        .map(|v| v.trim().to_string())
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Kernel support and `net.mptcp.enabled`. Returns whether MPTCP sockets can be created.
pub fn check_kernel(report: &mut CheckReport) -> bool {
    let release = kernel_release();
    let enabled = sysctl("enabled");
    let availability = available();
    let data = json!({ "release": release });
    let sysctl_data = json!({ "net.mptcp.enabled": enabled });
    match availability {
        Ok(Availability::Available) => {
            report.push(
                Finding::new(
                    "kernel",
                    Status::Ok,
                    format!("MPTCP sockets can be created (Linux {release})"),
                )
                .data(data),
            );
            report.push(
                Finding::new(
                    "sysctl",
                    Status::Ok,
                    "net.mptcp.enabled = 1 in this network namespace",
                )
                .data(sysctl_data),
            );
            true
        }
        Ok(Availability::Unavailable(Unavailable::DisabledBySysctl)) => {
            report.push(
                Finding::new(
                    "kernel",
                    Status::Ok,
                    format!("the kernel has MPTCP (Linux {release})"),
                )
                .data(data),
            );
            report.push(
                Finding::new(
                    "sysctl",
                    Status::Fail,
                    "net.mptcp.enabled = 0: MPTCP is disabled in this network namespace, every \
                     MPTCP socket fails (ENOPROTOOPT) and programs fall back to TCP or fail",
                )
                .fix("sysctl -w net.mptcp.enabled=1")
                .note("to keep it after a reboot: echo net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf")
                .data(sysctl_data),
            );
            false
        }
        Ok(Availability::Unavailable(reason)) => {
            let summary = match reason {
                Unavailable::NotInKernel => format!(
                    "Linux {release} was built without MPTCP (socket(…, IPPROTO_MPTCP) fails with \
                     EPROTONOSUPPORT)"
                ),
                _ => format!(
                    "Linux {release} is older than 5.6 and does not know IPPROTO_MPTCP (EINVAL)"
                ),
            };
            report.push(
                Finding::new("kernel", Status::Fail, summary)
                    .fix(
                        "boot a kernel built with CONFIG_MPTCP=y and CONFIG_MPTCP_IPV6=y (Linux \
                         >= 5.6; >= 6.1 for a complete path manager), e.g. your distribution's \
                         current kernel package",
                    )
                    .data(data),
            );
            false
        }
        Err(err) => {
            report.push(
                Finding::new(
                    "kernel",
                    Status::Fail,
                    format!("could not create a test socket: {err}"),
                )
                .fix("ulimit -n")
                .note("if it says too many open files: raise this limit and retry")
                .data(data),
            );
            false
        }
    }
}

/// Which path manager and scheduler are selected. Returns true when the in-kernel path
/// manager is in charge (so the limits and endpoints matter).
pub fn check_path_manager_and_scheduler(report: &mut CheckReport) -> bool {
    // Linux 6.15+ names it (`path_manager`); older kernels have only the number (`pm_type`,
    // 0 in-kernel, 1 userspace, since 5.19); before that only the in-kernel one exists.
    let named = sysctl("path_manager");
    let pm_type = sysctl("pm_type");
    let available = sysctl("available_path_managers");
    let (kernel_pm, name) = match (named.as_deref(), pm_type.as_deref()) {
        (Some(name), _) => (name == "kernel", name.to_string()),
        (None, Some("0")) => (true, "kernel".to_string()),
        (None, Some("1")) => (false, "userspace".to_string()),
        (None, Some(other)) => (false, format!("type {other}")),
        (None, None) => (true, "kernel".to_string()),
    };
    let data = json!({ "path_manager": name, "pm_type": pm_type, "available": available });
    if kernel_pm {
        report.push(
            Finding::new(
                "path_manager",
                Status::Ok,
                "kernel (the in-kernel path manager: it uses the endpoints and limits below)",
            )
            .data(data),
        );
    } else {
        let fix = if named.is_some() {
            "sysctl -w net.mptcp.path_manager=kernel"
        } else {
            "sysctl -w net.mptcp.pm_type=0"
        };
        report.push(
            Finding::new(
                "path_manager",
                Status::Warn,
                format!(
                    "{name}: a user-space daemon must create the extra subflows; without one \
                     every connection stays on one path, and the endpoints and limits below \
                     are not used"
                ),
            )
            .fix(fix)
            .note("or keep it and run a path-manager daemon such as mptcpd")
            .data(data),
        );
    }

    let scheduler = sysctl("scheduler");
    let schedulers = sysctl("available_schedulers");
    let data = json!({ "scheduler": scheduler, "available": schedulers });
    match (scheduler, schedulers) {
        (Some(s), Some(list)) if !list.split_whitespace().any(|a| a == s) => report.push(
            Finding::new(
                "scheduler",
                Status::Fail,
                format!("net.mptcp.scheduler = {s}, which is not loaded (available: {list}): new connections cannot start"),
            )
            .fix("sysctl -w net.mptcp.scheduler=default")
            .data(data),
        ),
        (Some(s), list) => report.push(
            Finding::new(
                "scheduler",
                Status::Ok,
                format!("{s} (available: {})", list.unwrap_or_else(|| s.clone())),
            )
            .data(data),
        ),
        (None, _) => report.push(
            Finding::new(
                "scheduler",
                Status::Info,
                "this kernel has the built-in scheduler only (net.mptcp.scheduler came in Linux 6.6)",
            )
            .data(data),
        ),
    }
    kernel_pm
}

/// The limits and endpoints of the in-kernel path manager, and whether each endpoint's
/// interface is up and has the address.
pub fn check_limits_and_endpoints(report: &mut CheckReport) {
    let pm = match PathManager::new() {
        Ok(pm) => pm,
        Err(err) => {
            report.push(
                Finding::new(
                    "limits",
                    Status::Fail,
                    format!("cannot read the path manager: {err}"),
                )
                .fix("ip mptcp limits show")
                .note_opt(err.hint().as_deref()),
            );
            return;
        }
    };
    let interfaces = interfaces().unwrap_or_default();
    let limits = match pm.limits() {
        Ok(limits) => Some(limits),
        Err(err) => {
            report.push(
                Finding::new("limits", Status::Fail, err.to_string()).fix("ip mptcp limits show"),
            );
            None
        }
    };
    let endpoints = match pm.endpoints() {
        Ok(endpoints) => endpoints,
        Err(err) => {
            report.push(
                Finding::new("endpoints", Status::Fail, err.to_string())
                    .fix("ip mptcp endpoint show"),
            );
            return;
        }
    };
    if let Some(limits) = limits {
        check_limits(report, limits, &endpoints);
    }
    check_endpoints(report, &endpoints, &interfaces, limits);
}

fn subflow_endpoints(endpoints: &[Endpoint]) -> usize {
    endpoints
        .iter()
        .filter(|e| e.flags.contains(EndpointFlags::SUBFLOW))
        .count()
}

/// The `ip mptcp limits set` command that lets `wanted` extra subflows and accepted
/// ADD_ADDRs through (at least 2 each, at most the kernel's maximum).
fn limits_command(subflows: usize, add_addr_accepted: u32) -> String {
    let subflows = (subflows as u32).clamp(2, Limits::MAX);
    let accepted = add_addr_accepted.clamp(2, Limits::MAX);
    format!("ip mptcp limits set subflows {subflows} add_addr_accepted {accepted}")
}

fn check_limits(report: &mut CheckReport, limits: Limits, endpoints: &[Endpoint]) {
    let data =
        json!({ "subflows": limits.subflows, "add_addr_accepted": limits.add_addr_accepted });
    let wanted = subflow_endpoints(endpoints);
    if limits.subflows == 0 {
        report.push(
            Finding::new(
                "limits",
                Status::Warn,
                format!(
                    "{limits}: subflows 0 allows no extra subflow, so every connection stays on \
                     one path{}",
                    if limits.add_addr_accepted == 0 {
                        ", and addresses announced by servers are ignored"
                    } else {
                        ""
                    }
                ),
            )
            .fix(limits_command(wanted, limits.add_addr_accepted))
            .data(data),
        );
    } else if (limits.subflows as usize) < wanted {
        report.push(
            Finding::new(
                "limits",
                Status::Warn,
                format!(
                    "{limits}: {wanted} `subflow` endpoints but only {} extra subflow{} allowed per connection",
                    limits.subflows,
                    if limits.subflows == 1 { "" } else { "s" }
                ),
            )
            .fix(limits_command(wanted, limits.add_addr_accepted))
            .data(data),
        );
    } else if limits.add_addr_accepted == 0 {
        report.push(
            Finding::new(
                "limits",
                Status::Info,
                format!(
                    "{limits}: extra subflows from this host's endpoints are allowed; addresses \
                     announced by servers are ignored (to use them: `{}`)",
                    limits_command(wanted, 0)
                ),
            )
            .data(data),
        );
    } else {
        report.push(Finding::new("limits", Status::Ok, limits.to_string()).data(data));
    }
}

/// The fix, in words (as for a kernel without MPTCP), when no second interface has an
/// address: no command can add a second path then, and a template (`ADDR dev IF`) would
/// not run as is.
const NO_SECOND_INTERFACE: &str = "no command can add a second path here: bring up a second \
     interface with an address (Wi-Fi, cellular, a second uplink), then run `mptcpize check` \
     again: it prints the `ip mptcp endpoint add` for that interface and address (an endpoint \
     on the one path's own address creates no subflow)";

/// A concrete `ip mptcp endpoint add` for each interface that could carry a second path:
/// up, not loopback, with a usable address, and not the default route's interface (the
/// first subflow most likely leaves through it). Empty when there is no second interface:
/// an endpoint on the first subflow's own address creates no subflow.
fn endpoint_suggestions(interfaces: &[Interface]) -> Vec<String> {
    let defaults = default_route_interfaces();
    let candidates: Vec<&Interface> = interfaces
        .iter()
        .filter(|i| i.up && !i.loopback && i.usable_addresses().next().is_some())
        .collect();
    if candidates.len() < 2 {
        return Vec::new();
    }
    let mut chosen: Vec<&Interface> = candidates
        .iter()
        .copied()
        .filter(|i| !defaults.contains(&i.name))
        .collect();
    if chosen.len() == candidates.len() {
        // No default route among them: any one may carry the first subflow; the others
        // are the second paths.
        chosen.remove(0);
    } else if chosen.is_empty() {
        // Every one has a default route: keep the first for the first subflow.
        chosen = candidates[1..].to_vec();
    }
    chosen
        .iter()
        .filter_map(|i| {
            let address = i
                .usable_addresses()
                .find(IpAddr::is_ipv4)
                .or_else(|| i.usable_addresses().next())?;
            Some(command_line([
                "ip",
                "mptcp",
                "endpoint",
                "add",
                &address.to_string(),
                "dev",
                &i.name,
                "subflow",
            ]))
        })
        .collect()
}

/// `ip mptcp endpoint add ADDRESS dev INTERFACE FLAGS…`, quoted.
fn endpoint_add(address: IpAddr, interface: &str, flags: EndpointFlags) -> String {
    let address = address.to_string();
    let mut words = vec!["ip", "mptcp", "endpoint", "add", &address, "dev", interface];
    let names = flags.names();
    words.extend(names.iter().map(String::as_str));
    command_line(words)
}

/// A problem with one endpoint: a warning, the command that fixes it, and the endpoint.
fn endpoint_problem(summary: String, fix: String, data: Value) -> Finding {
    Finding::new("endpoints", Status::Warn, summary)
        .fix(fix)
        .data(data)
}

fn check_endpoints(
    report: &mut CheckReport,
    endpoints: &[Endpoint],
    interfaces: &[Interface],
    limits: Option<Limits>,
) {
    let list: Vec<Value> = endpoints
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "address": e.address.to_string(),
                "port": e.port,
                "interface": e.interface_name(),
                "flags": e.flags.names(),
            })
        })
        .collect();
    if endpoints.is_empty() {
        let suggestions = endpoint_suggestions(interfaces);
        let usable_interfaces: Vec<&str> = interfaces
            .iter()
            .filter(|i| i.up && !i.loopback && i.usable_addresses().next().is_some())
            .map(|i| i.name.as_str())
            .collect();
        let finding = if suggestions.is_empty() {
            let only = match usable_interfaces.as_slice() {
                [] => "no interface here is up with an address".to_string(),
                names => format!("only {} has an address", names.join(", ")),
            };
            Finding::new(
                "endpoints",
                Status::Warn,
                format!(
                    "none: only one path will be used ({only}; a second path needs a second \
                     interface with an address, e.g. Wi-Fi and cellular, or two uplinks)"
                ),
            )
            .fix(NO_SECOND_INTERFACE)
        } else {
            Finding::new(
                "endpoints",
                Status::Warn,
                "none: only one path will be used",
            )
            .fix(suggestions.join("; "))
        };
        report.push(finding.data(json!({ "endpoints": list, "suggestions": suggestions })));
        return;
    }

    let by_index: BTreeMap<u32, &Interface> = interfaces.iter().map(|i| (i.index, i)).collect();
    let mut problems = 0;
    for e in endpoints {
        let data = json!({ "id": e.id, "address": e.address.to_string(), "interface": e.interface_name(), "flags": e.flags.names() });
        let what = format!("endpoint `{e}`");
        match e.interface {
            Some(index) => match by_index.get(&index) {
                None => {
                    problems += 1;
                    report.push(endpoint_problem(
                        format!("{what}: its interface (index {index}) no longer exists"),
                        format!("ip mptcp endpoint delete id {}", e.id),
                        data,
                    ));
                }
                Some(interface) if !interface.up => {
                    problems += 1;
                    report.push(endpoint_problem(
                        format!("{what}: interface {} is down", interface.name),
                        command_line(["ip", "link", "set", &interface.name, "up"]),
                        data,
                    ));
                }
                Some(interface) if !interface.has(e.address) => {
                    problems += 1;
                    let replacement = interface
                        .usable_addresses()
                        .find(|a| a.is_ipv4() == e.address.is_ipv4());
                    let fix = match replacement {
                        Some(address) => format!(
                            "{} && {}",
                            command_line([
                                "ip",
                                "mptcp",
                                "endpoint",
                                "delete",
                                "id",
                                &e.id.to_string()
                            ]),
                            endpoint_add(address, &interface.name, e.flags),
                        ),
                        None => command_line([
                            "ip",
                            "address",
                            "add",
                            &format!(
                                "{}/{}",
                                e.address,
                                if e.address.is_ipv4() { 24 } else { 64 }
                            ),
                            "dev",
                            &interface.name,
                        ]),
                    };
                    report.push(endpoint_problem(
                        format!(
                            "{what}: interface {} does not have the address {}: no subflow \
                             can use it",
                            interface.name, e.address
                        ),
                        fix,
                        data,
                    ));
                }
                Some(interface) if !interface.running => {
                    problems += 1;
                    report.push(endpoint_problem(
                        format!("{what}: interface {} is up but has no carrier (cable, Wi-Fi or peer down)", interface.name),
                        command_line(["ip", "link", "show", &interface.name]),
                        data,
                    ));
                }
                Some(_) => report.push(Finding::new("endpoints", Status::Ok, what).data(data)),
            },
            None => {
                let owner = interfaces.iter().find(|i| i.has(e.address));
                match owner {
                    None => {
                        problems += 1;
                        report.push(endpoint_problem(
                            format!("{what}: no interface has the address {}", e.address),
                            format!("ip mptcp endpoint delete id {}", e.id),
                            data,
                        ));
                    }
                    Some(owner) if !owner.up => {
                        problems += 1;
                        report.push(endpoint_problem(
                            format!(
                                "{what}: interface {} (which has the address) is down",
                                owner.name
                            ),
                            command_line(["ip", "link", "set", &owner.name, "up"]),
                            data,
                        ));
                    }
                    Some(owner) if e.flags.contains(EndpointFlags::SUBFLOW) => {
                        report.push(
                            Finding::new(
                                "endpoints",
                                Status::Info,
                                format!(
                                "{what}: without `dev {}` routing picks the subflow's interface, \
                                 maybe the first subflow's: two subflows on one path (to pin it: \
                                 `ip mptcp endpoint delete id {} && {}`)",
                                owner.name, e.id, endpoint_add(e.address, &owner.name, e.flags)
                            ),
                            )
                            .data(data),
                        )
                    }
                    Some(_) => report.push(Finding::new("endpoints", Status::Ok, what).data(data)),
                }
            }
        }
        if !e.flags.contains(EndpointFlags::SUBFLOW)
            && !e.flags.contains(EndpointFlags::SIGNAL)
            && !e.flags.contains(EndpointFlags::IMPLICIT)
        {
            report.push(Finding::new(
                "endpoints",
                Status::Info,
                format!("endpoint id {}: neither `subflow` nor `signal`: it only names the address (for `backup` / MP_PRIO), no subflow is created from it", e.id),
            ));
        }
    }
    let subflows = subflow_endpoints(endpoints);
    let signals = endpoints
        .iter()
        .filter(|e| e.flags.contains(EndpointFlags::SIGNAL))
        .count();
    if subflows == 0 && signals == 0 {
        let suggestions = endpoint_suggestions(interfaces);
        let finding = Finding::new(
            "endpoints",
            Status::Warn,
            "no `subflow` or `signal` endpoint: no extra subflow will be created, only one path will be used",
        );
        let finding = match suggestions.first() {
            Some(command) => finding.fix(command.clone()),
            None => finding.fix(NO_SECOND_INTERFACE),
        };
        report.push(finding.data(json!({ "endpoints": list, "suggestions": suggestions })));
    } else if problems == 0 {
        let allowed = limits.map(|l| l.subflows as usize).unwrap_or(subflows);
        report.push(
            Finding::new(
                "endpoints",
                Status::Ok,
                format!(
                    "{subflows} `subflow` endpoint{} (up to {} extra subflow{} per connection), {signals} `signal`",
                    if subflows == 1 { "" } else { "s" },
                    subflows.min(allowed),
                    if subflows.min(allowed) == 1 { "" } else { "s" },
                ),
            )
            .data(json!({ "endpoints": list })),
        );
    }
}
