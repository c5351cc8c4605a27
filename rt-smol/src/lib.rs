//! # tango-smol: the Tango client on smol (PyTango's Asyncio green mode)
//!
//! The protocol lives in `tango-core` and the proxy logic in `tango-client`; this crate only
//! tells the shared async transport ([`tango_client::AsyncConnection`]) how to open a TCP
//! stream, sleep and spawn on smol. One connection per server endpoint is shared by every
//! proxy of the process, and many requests are in flight on it at once.
//!
//! ```no_run
//! fn main() -> tango_smol::Result<()> {
//!     smol::block_on(async {
//!         let dev = tango_smol::connect("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no").await?;
//!         println!("state: {}", dev.state().await?);
//!         dev.write_attribute("double_scalar", 12.5).await?;
//!         let value: f64 = dev.read_attribute("double_scalar").await?.get()?;
//!         println!("double_scalar: {value}");
//!         let echo = dev.command_inout("DevString", "hello").await?;
//!         println!("DevString: {echo:?}");
//!         Ok(())
//!     })
//! }
//! ```
//!
//! Any executor can drive the futures (they need no smol context: I/O and timers run on
//! async-io's reactor); smol's global executor runs the connection's background reader.
//!
//! The [`io`] module is the async-io code path shared with `tango-async-std`, which differs
//! from this crate only in how it spawns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tango_client::AsyncRuntime;

#[doc(no_inline)]
pub use tango_client::{
    AttributeInfo, AttributeInfoEx, CommandInfo, DeviceAttribute, DeviceInfo, Error, FromAttrData,
    Result, DEFAULT_TIMEOUT,
};
#[doc(no_inline)]
pub use tango_core::any::CommandData;
#[doc(no_inline)]
pub use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrWriteType, CmdArgType, DevEncoded, DevFailed, DevSource,
    DevState, TimeVal,
};
#[doc(no_inline)]
pub use tango_core::value::{AttrData, FromCommandData, Image, IntoCommandData, WriteValue};

pub mod server;

pub mod io {
    //! The async-io code path shared by `tango-smol` and `tango-async-std`: both runtimes
    //! drive sockets and timers with async-io's reactor, so only spawning differs.

    use std::future::Future;
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    /// A TCP stream registered with async-io's reactor.
    pub type Stream = async_io::Async<TcpStream>;

    /// Connects to `addr` with `TCP_NODELAY` set (GIOP requests are small and latency-bound).
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Stream> {
        let stream = Stream::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(stream)
    }

    /// Completes after `d`, on async-io's timer.
    pub fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::after(d);
        async move {
            timer.await;
        }
    }
}

/// The smol runtime for [`tango_client::AsyncConnection`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl AsyncRuntime for Smol {
    type Stream = io::Stream;
    const NAME: &'static str = "smol";

    fn connect(addr: SocketAddr) -> impl Future<Output = std::io::Result<Self::Stream>> + Send {
        io::connect(addr)
    }

    fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(fut).detach();
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        io::sleep(d)
    }
}

/// A device proxy on smol: every operation of `DeviceProxy` as an `async fn`.
pub type DeviceProxy = tango_client::AsyncDeviceProxy<Smol>;

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
