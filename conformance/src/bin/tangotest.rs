//! `TangoTest`: the Rust drop-in for the C++ TangoTest device server.
//!
//! ```text
//! TangoTest test -nodb -dlist sys/tg_test/1 -ORBendPoint giop:tcp:127.0.0.1:10000 \
//!     [--green-mode synchronous|coroutine|tokio|smol|async-std]
//! ```
//!
//! Clients then reach `tango://127.0.0.1:10000/sys/tg_test/1#dbase=no` (and the admin
//! device `dserver/tangotest/test`), exactly as with the C++ server. The other green modes
//! serve the same class as an Asyncio class (tokio, smol, async-std:
//! [`tango_conformance::asyncio_from_sync`]) or a Coroutine class (may); clients see no
//! difference.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tango_conformance::serve_tangotest(&args));
}
