//! # tango-client: the Tango client, written once for every green mode
//!
//! [`ProxyCore`] holds every operation of a device proxy (state, read/write attributes,
//! commands, queries...) as async code over a [`Transport`]. This crate provides the
//! blocking transport ([`Connection`], one shared TCP connection per server, pipelined
//! between threads) and the Synchronous [`DeviceProxy`] on top of it; the runtime crates
//! (`tango-tokio`, `tango-smol`, `tango-async-std`, `tango-coroutine`) provide their
//! transports and typed proxies; the `tango` facade picks among them by green mode.
//!
//! Users normally depend on `tango`, which re-exports all of this.

mod async_transport;
mod attribute;
mod attribute_proxy;
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
pub use transport::{CallSite, Connection, Transport};
