//! # tango-async-std: the Tango client on async-std (PyTango's Asyncio green mode)
//!
//! async-std is discontinued upstream in favour of smol. Both sit on async-io, so this
//! crate reuses `tango-smol`'s async-io code path ([`tango_smol::io`]: stream, connect,
//! sleep) and differs only in spawning the connection's reader with
//! `async_std::task::spawn`.
//!
//! ```no_run
//! fn main() -> tango_async_std::Result<()> {
//!     async_std::task::block_on(async {
//!         let dev =
//!             tango_async_std::connect("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no").await?;
//!         println!("state: {}", dev.state().await?);
//!         dev.write_attribute("double_scalar", 12.5).await?;
//!         let value: f64 = dev.read_attribute("double_scalar").await?.get()?;
//!         println!("double_scalar: {value}");
//!         Ok(())
//!     })
//! }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tango_client::AsyncRuntime;

pub mod server;

#[doc(no_inline)]
pub use tango_smol::{
    AttrData, AttrDataFormat, AttrQuality, AttrWriteType, AttributeInfo, AttributeInfoEx,
    CmdArgType, CommandData, CommandInfo, DevEncoded, DevFailed, DevSource, DevState,
    DeviceAttribute, DeviceInfo, Error, FromAttrData, FromCommandData, Image, IntoCommandData,
    Result, TimeVal, WriteValue, DEFAULT_TIMEOUT,
};

/// The async-std runtime for [`tango_client::AsyncConnection`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl AsyncRuntime for AsyncStd {
    type Stream = tango_smol::io::Stream;
    const NAME: &'static str = "async-std";

    fn connect(addr: SocketAddr) -> impl Future<Output = std::io::Result<Self::Stream>> + Send {
        tango_smol::io::connect(addr)
    }

    fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
        // Detached: dropping an async-std JoinHandle does not cancel the task.
        async_std::task::spawn(fut);
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tango_smol::io::sleep(d)
    }
}

/// A device proxy on async-std: every operation of `DeviceProxy` as an `async fn`.
pub type DeviceProxy = tango_client::AsyncDeviceProxy<AsyncStd>;

/// Connects to a device with the default timeout (3 s, as cppTango). Names:
/// `tango://host:port/domain/family/member#dbase=no`. As in cppTango, a server that is not
/// running yet still gives a proxy; its calls fail until the server is up.
pub async fn connect(name: &str) -> Result<DeviceProxy> {
    DeviceProxy::connect(name, DEFAULT_TIMEOUT).await
}

/// [`connect`] with another timeout, which bounds this first exchange and every later call.
pub async fn connect_with_timeout(name: &str, timeout: Duration) -> Result<DeviceProxy> {
    DeviceProxy::connect(name, timeout).await
}
