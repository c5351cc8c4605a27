//! The library behind the `tango` command-line client: parsing values typed on the
//! command line for a Tango type ([`value`], on top of the small number-preserving JSON
//! reader [`jsonish`]) and the text and JSON forms of what the client prints
//! ([`report`]). The binary (`src/main.rs`) only wires these to the `tango` crate.

pub mod jsonish;
pub mod report;
pub mod value;

pub use report::Failure;
