//! A Tango device server in Asyncio green mode on async-std: `tango-smol`'s async-io
//! server ([`tango_smol::server`]) with its tasks spawned by `async_std::task::spawn`.
//! Everything else (reactor, timers, the request flow) is the same code.
//!
//! ```no_run
//! use tango_async_std::server::{AsyncDeviceServer, ServerOptions};
//! # fn my_class() -> tango_core::device::DeviceClass { unimplemented!() }
//! # async fn run() -> std::io::Result<()> {
//! let opts = ServerOptions::new("test", &["my/dev/1"]);
//! let server = AsyncDeviceServer::new("MyServer").class(my_class()).start(&opts).await?;
//! server.wait().await; // until the admin device's Kill
//! # Ok(()) }
//! ```

pub use tango_smol::server::ServerOptions;

use crate::AsyncStd;

/// A device server in Asyncio green mode on async-std.
pub type AsyncDeviceServer = tango_smol::server::AsyncDeviceServerOn<AsyncStd>;

/// A server running on async-std's executor.
pub type RunningServer = tango_smol::server::RunningServerOn<AsyncStd>;
