//! Device classes the project tests itself against.
//!
//! [`tangotest_class`] is the Rust `TangoTest`: the interface of Debian's C++ TangoTest
//! 9.3.4 (same attributes, types, formats, writability, maximum dimensions and
//! commands), plus the attributes newer TangoTest releases added (`enum_*`, `freq`,
//! `echo_mode`, `long_scalar_ts_future`, `long_scalar_ts_past`).

//!
//! [`asyncio_from_sync`] serves a Synchronous class from an Asyncio server, and
//! [`runner`] is the `main` of a server whose green mode its command line chooses
//! (`--green-mode synchronous|tokio`).

pub mod asyncio;
pub mod runner;
pub mod tangotest;

pub use asyncio::asyncio_from_sync;
pub use tangotest::tangotest_class;
