//! Giving an MPTCP socket plain TCP again, before it connects: the third decision the shim
//! and the seccomp supervisor share.
//!
//! MPTCP refuses some socket options TCP has ([`MPTCP_REFUSED_OPTIONS`]). A program run
//! under mptcpize that sets one before connecting would fail where it works on TCP, so the
//! shim and the supervisor can swap such a socket for the TCP socket the program asked for,
//! carrying over the options it already set ([`carry_options`]). Whether they do is the
//! user's choice ([`RefusedOptions`]); the default decides by the value, the option's class
//! and the socket's role ([`RefusedOptions::decide`]), so that a program keeps working and
//! keeps MPTCP wherever both are possible: a value that changes nothing and an advisory
//! option keep MPTCP and succeed, a tuning option keeps MPTCP on a listener, and only a
//! value with a real effect gives the socket plain TCP.
//!
//! In four parts, re-exported here: which options MPTCP refuses, each one's class and the
//! values that change nothing on TCP ([`REFUSED_OPTIONS`]); what the kernel says about the
//! socket ([`Role`], [`never_connected`]); the user's choice and the decision
//! ([`RefusedOptions::decide`]); and the options carried over ([`carry_options`]).

mod carried_options;
mod option_classes;
mod socket_state;
mod swap_decision;

pub use carried_options::{carry_options, CarriedValue, CARRIED_OPTIONS, CARRIED_OPTIONS_V6};
pub use option_classes::{
    int_value, is_refusal_errno, is_refused_option, level_name, option_class, option_label,
    refused_option, refused_option_name, refused_option_why, value_changes_nothing, value_class,
    OptionClass, RefusedOption, MPTCP_REFUSED_OPTIONS, REFUSED_OPTIONS,
};
pub use socket_state::{
    is_bound, never_connected, port_of, socket_never_connected, socket_role, Role, TCP_STATE_CLOSE,
    TCP_STATE_LISTEN,
};
pub use swap_decision::{Action, Decision, RefusedOptions, Rule};
