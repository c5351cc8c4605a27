//! Device classes the project tests itself against, and the conformance matrix.
//!
//! [`tangotest_class`] is the Rust `TangoTest`: the interface of Debian's C++ TangoTest
//! 9.3.4 (same attributes, types, formats, writability, maximum dimensions and
//! commands), plus the attributes newer TangoTest releases added (`enum_*`, `freq`,
//! `echo_mode`, `long_scalar_ts_future`, `long_scalar_ts_past`).
//!
//! [`asyncio_from_sync`] serves a Synchronous class from an Asyncio server, and
//! [`runner`] is the `main` of a server whose green mode its command line chooses
//! (`--green-mode synchronous|coroutine|tokio|smol|async-std`); [`serve_tangotest`] is
//! the `TangoTest` binary's.
//!
//! [`matrix`] is the conformance matrix: one list of cases run by each of our clients
//! (and PyTango's) against each server (ours in every green mode, the C++ and PyTango
//! TangoTests). [`interface`] and [`values`] are what its cases share: the recorded
//! TangoTest 9.3.4 interface, boundary values and NaN-aware comparisons.

pub mod asyncio;
pub mod interface;
pub mod matrix;
pub mod runner;
pub mod tangotest;
pub mod values;

pub use asyncio::asyncio_from_sync;
pub use tangotest::tangotest_class;

/// Runs the `TangoTest` device server with `args` (those after the executable name:
/// cppTango's command line plus `--green-mode`) until it is stopped; returns the exit
/// code. The `TangoTest` binary is this; the `conformance` binary calls it behind a hidden
/// option, so that it can start our servers without a second binary.
pub fn serve_tangotest(args: &[String]) -> i32 {
    use runner::{run, ServerGreenMode};
    run("TangoTest", args, &[], |mode, _| {
        Ok(vec![match mode {
            ServerGreenMode::Synchronous => tangotest_class(),
            ServerGreenMode::Tokio => asyncio_from_sync(&tangotest_class()),
        }])
    })
}
