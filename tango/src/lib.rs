//! # tango: Tango Controls for Rust
//!
//! Talk to the devices of a [Tango Controls](https://www.tango-controls.org) system —
//! the control system of synchrotrons, lasers and telescopes — over its real wire
//! protocol (CORBA GIOP/IIOP with the Tango IDL), interoperable with cppTango, PyTango
//! and JTango servers.
//!
//! ```no_run
//! use tango::DeviceProxy;
//!
//! let dev = DeviceProxy::new("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no")?;
//! println!("state: {}", dev.state()?);
//! let attr = dev.read_attribute("double_scalar")?;
//! println!("{attr}");
//! let echoed: f64 = tango::extract(dev.command_inout("DevDouble", 3.5)?)?;
//! assert_eq!(echoed, 3.5);
//! # Ok::<(), tango::Error>(())
//! ```
//!
//! Device servers are written with [`tango_core::device::ClassBuilder`] and served by
//! [`server::DeviceServer`] (cppTango's command line, no database).
//!
//! The protocol itself lives in [`tango_core`] (sans-IO); this crate owns the sockets and
//! threads. [`DeviceProxy`] is the Synchronous proxy with plain methods; [`green`] has the
//! same operations in every green mode (Synchronous, Futures, Coroutine, Asyncio), each
//! returning a [`green::Call`] to wait for, bound with a timeout, submit, or `.await`.
//! Coroutine and Asyncio need the cargo features `coroutine`, `tokio`, `smol` or
//! `async-std` (see `docs/architecture.md`).

pub mod green;
pub mod server;

pub use tango_client::{
    AttributeInfo, AttributeInfoEx, AttributeProxy, CallSite, CommandInfo, Connection,
    DeviceAttribute, DeviceInfo, DeviceProxy, Error, FromAttrData, ProxyCore, Result, Transport,
    DEFAULT_TIMEOUT,
};
pub use tango_core::value::{
    command_to_attr, convert_command_arg, AttrData, FromCommandData, Image, IntoCommandData,
    TangoElement, ValueError, WriteValue,
};

pub use tango_core;
pub use tango_core::any::CommandData;
pub use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrWriteType, CmdArgType, DevEncoded, DevError, DevFailed,
    DevSource, DevState, DispLevel, ErrSeverity, TimeVal,
};

/// Converts a command result to a Rust type: `let x: f64 = tango::extract(result)?`.
pub fn extract<T: FromCommandData>(data: CommandData) -> Result<T> {
    Ok(T::from_command_data(data)?)
}
