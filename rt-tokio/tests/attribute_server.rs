//! The `attribute_server` example of tango-tokio, run in-process against the C++ and the Rust
//! TangoTest: clients connect over TCP and ask for values, `state`, missing attributes,
//! garbage. The checks are shared by the runtime crates' examples.

#[allow(dead_code)]
#[path = "../examples/attribute_server.rs"]
mod example;

#[path = "attribute_server_checks/mod.rs"]
mod checks;

checks::attribute_server_tests!(std::net::TcpListener);
