//! The support crate's own check: a namespace is created, usable, and removed.
use mptcp_tests::Netns;

#[mptcp_tests::needs(privileged)]
#[test]
fn netns_is_created_and_removed() {
    let root_before = std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap();
    let name;
    {
        let ns = Netns::new("sup").unwrap();
        name = ns.name().to_string();
        ns.sysctl("net.mptcp.enabled", "0").unwrap();
        assert_eq!(
            ns.run("sysctl", &["-n", "net.mptcp.enabled"])
                .unwrap()
                .trim(),
            "0"
        );
        // The root namespace keeps its own value.
        let root = std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap();
        assert_eq!(root, root_before, "the root namespace must not be changed");
        let in_ns = ns
            .enter(|| std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap())
            .unwrap();
        // /proc/sys/net follows the thread's network namespace.
        assert_eq!(in_ns.trim(), "0");
    }
    assert!(!std::path::Path::new(&format!("/run/netns/{name}")).exists());
}
