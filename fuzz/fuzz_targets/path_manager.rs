//! The path manager's generic netlink messages as `mptcp_socket::pm` (and `mptcpize check`)
//! read them: `recv` buffers of answers (ACK, error with extended-ACK message, dump
//! parts), endpoint and limits answers, event datagrams and single events. The first input
//! byte picks the decoder. Property: nothing panics, and what decodes can be printed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_socket::pm::decode;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(endpoint) = decode::endpoint(rest) {
                let _ = format!("{endpoint} {endpoint:?}");
            }
        }
        1 => {
            if let Ok(limits) = decode::limits(rest) {
                let _ = format!("{limits} {limits:?}");
            }
        }
        2 => {
            let Some((&cmd, attrs)) = rest.split_first() else {
                return;
            };
            if let Ok(event) = decode::event(cmd, attrs) {
                let _ = format!("{event} {event:?} {:?}", event.token());
            }
        }
        3 => {
            let Some((family, datagram)) = rest.split_first_chunk::<2>() else {
                return;
            };
            match decode::events(datagram, u16::from_ne_bytes(*family)) {
                Ok(events) => {
                    for event in events {
                        let _ = format!("{event}");
                    }
                }
                Err(e) => {
                    let _ = format!("{e} {:?}", e.hint());
                }
            }
        }
        4 => {
            let Some((seq, buf)) = rest.split_first_chunk::<4>() else {
                return;
            };
            match decode::answers(buf, u32::from_ne_bytes(*seq)) {
                Ok((_, answers)) => {
                    for (_, attrs) in answers {
                        let _ = decode::endpoint(&attrs);
                    }
                }
                Err(e) => {
                    let _ = format!("{e} {:?}", e.hint());
                }
            }
        }
        _ => {
            let Some((flags, echoed)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let _ = decode::extended_ack_message(u16::from_ne_bytes(*flags), echoed);
        }
    }
});
