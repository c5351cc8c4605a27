//! Device classes the project tests itself against.
//!
//! [`tangotest_class`] is the Rust `TangoTest`: the interface of Debian's C++ TangoTest
//! 9.3.4 (same attributes, types, formats, writability, maximum dimensions and
//! commands), plus the attributes newer TangoTest releases added (`enum_*`, `freq`,
//! `echo_mode`, `long_scalar_ts_future`, `long_scalar_ts_past`).

pub mod tangotest;

pub use tangotest::tangotest_class;
