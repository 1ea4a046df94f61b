//! Inside a network namespace with `net.mptcp.enabled=0`: the default policy connects over
//! TCP and says so; strict mode fails with ENOPROTOOPT and a message naming the fix.

use std::io::{Read, Write};
use std::thread;

use mptcp_socket::{
    available, Availability, ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream,
    Unavailable, UnavailableError,
};
use mptcp_tests::Netns;

#[mptcp_tests::needs(privileged)]
#[test]
fn disabled_by_sysctl() {
    let ns = Netns::new("off").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    ns.enter(|| {
        assert_eq!(
            available().unwrap(),
            Availability::Unavailable(Unavailable::DisabledBySysctl)
        );

        // Strict: refused, with the errno kept and the fix named.
        let err = MptcpListener::bind_with("127.0.0.1:0", Fallback::Never).unwrap_err();
        let cause = UnavailableError::from_io(&err).expect("an UnavailableError");
        assert_eq!(cause.raw_os_error(), libc::ENOPROTOOPT);
        assert_eq!(cause.reason(), Unavailable::DisabledBySysctl);
        let text = err.to_string();
        assert!(text.contains("net.mptcp.enabled=1"), "{text}");
        assert!(text.contains("os error 92"), "{text}");
        let err = MptcpStream::connect_with("[::1]:9", Fallback::Never).unwrap_err();
        assert!(UnavailableError::from_io(&err).is_some(), "{err}");

        // Default policy: works, over TCP, and says so.
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let listener = MptcpListener::bind(bind).unwrap();
            assert_eq!(listener.connection_kind().unwrap(), ConnectionKind::Tcp);
            let addr = listener.local_addr().unwrap();
            let server = thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0; 5];
                s.read_exact(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
                s.connection_kind().unwrap()
            });
            let mut client = MptcpStream::connect(addr).unwrap();
            client.write_all(b"hello").unwrap();
            let mut buf = [0; 5];
            client.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Tcp);
            assert_eq!(server.join().unwrap(), ConnectionKind::Tcp);
        }
    })
    .unwrap();

    // The sysctl is read anew: switching it back on makes MPTCP available at once.
    ns.sysctl("net.mptcp.enabled", "1").unwrap();
    ns.enter(|| {
        assert_eq!(available().unwrap(), Availability::Available);
        let listener = MptcpListener::bind_with("127.0.0.1:0", Fallback::Never).unwrap();
        let client =
            MptcpStream::connect_with(listener.local_addr().unwrap(), Fallback::Never).unwrap();
        assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
    })
    .unwrap();
}
