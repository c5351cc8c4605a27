//! The Tango IDL types (`tango.idl`, IDL 5, plus the IDL 6 changes seen on the wire),
//! each with its CDR codec.
//!
//! Rust names drop the underscore of IDL version suffixes (`AttributeValue_5` →
//! [`AttributeValue5`]). Everything is re-exported here, so `idl::DevState` works as
//! well as `idl::types::DevState`.

pub mod attribute;
pub mod config;
pub mod error;
pub mod history;
pub mod ident;
pub mod info;
pub mod types;

pub use attribute::*;
pub use config::*;
pub use error::*;
pub use history::*;
pub use ident::*;
pub use info::*;
pub use types::*;
