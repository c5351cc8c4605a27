//! `TangoTest`: the Rust drop-in for the C++ TangoTest device server.
//!
//! ```text
//! TangoTest test -nodb -dlist sys/tg_test/1 -ORBendPoint giop:tcp:127.0.0.1:10000
//! ```
//!
//! Clients then reach `tango://127.0.0.1:10000/sys/tg_test/1#dbase=no` (and the admin
//! device `dserver/tangotest/test`), exactly as with the C++ server.

fn main() {
    let code = tango::server::DeviceServer::new("TangoTest")
        .class(tango_conformance::tangotest_class())
        .run_from_args();
    std::process::exit(code);
}
