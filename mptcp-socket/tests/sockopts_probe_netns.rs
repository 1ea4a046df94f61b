//! Whether the kernel has the `SOL_MPTCP` socket options is a property of the kernel, but
//! the probe needs an MPTCP socket, which a network namespace with `net.mptcp.enabled=0`
//! refuses: asked there first, the answer is an error and is not kept; once the sysctl is
//! back on, the answer follows. Its own test binary, so that nothing probes before it.

use mptcp_tests::Netns;

#[mptcp_tests::needs(privileged)]
#[test]
fn probe_answer_follows_the_namespace() {
    let ns = Netns::new("probe").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let err = ns
        .enter(mptcp_socket::kernel_has_mptcp_sockopts)
        .unwrap()
        .expect_err("no MPTCP probe socket where MPTCP is disabled");
    assert_eq!(
        err.raw_os_error(),
        None,
        "a message, not a bare errno: {err}"
    );
    let text = err.to_string();
    assert!(text.contains("net.mptcp.enabled=1"), "{text}");
    assert!(text.contains("os error 92"), "{text}");

    ns.sysctl("net.mptcp.enabled", "1").unwrap();
    let answer = ns.enter(mptcp_socket::kernel_has_mptcp_sockopts).unwrap();
    assert!(answer.unwrap(), "Linux 5.16+ has MPTCP_INFO");
    // Kept now (a kernel property): switched off again, the answer stays.
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    assert!(ns
        .enter(mptcp_socket::kernel_has_mptcp_sockopts)
        .unwrap()
        .unwrap());
}
