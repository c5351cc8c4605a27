//! # tango-client: the Tango client, written once for every green mode
//!
//! [`ProxyCore`] holds every operation of a device proxy (state, read/write attributes,
//! commands, queries...) as async code over a [`Transport`]. Two transports live here:
//!
//! * [`Connection`], blocking: one shared TCP connection per server, pipelined between
//!   threads; the Synchronous [`DeviceProxy`] runs on it, and its queued calls
//!   ([`Connection::call_queued`]: no thread parked per call) carry the green Futures mode;
//! * [`AsyncConnection<R>`], for any async runtime `R` that implements [`AsyncRuntime`]
//!   (connect, spawn, sleep): many requests in flight on one connection, a reader task
//!   routing replies, timeouts and dropped futures cancelling their request.
//!
//! The runtime crates are thin: `tango-tokio`, `tango-smol` and `tango-async-std`
//! implement [`AsyncRuntime`] and name `AsyncDeviceProxy<TheirRuntime>`;
//! `tango-coroutine` implements [`Transport`] on may coroutines. The `tango` facade picks
//! among them by green mode.
//!
//! Users normally depend on `tango`, which re-exports all of this.

mod async_transport;
mod attribute;
pub mod attribute_line;
mod attribute_proxy;
pub mod call_chain;
mod error;
mod info;
mod proxy;
mod proxy_core;
mod transport;

pub use async_transport::{AsyncConnection, AsyncDeviceProxy, AsyncRuntime};
pub use attribute::{DeviceAttribute, FromAttrData};
pub use attribute_proxy::AttributeProxy;
pub use error::{Error, Result};
pub use info::{AttributeInfo, AttributeInfoEx, CommandInfo, DeviceInfo};
pub use proxy::{DeviceProxy, DEFAULT_TIMEOUT};
pub use proxy_core::ProxyCore;
pub use transport::{CallSite, Connection, Drive, Offload, Transport};
