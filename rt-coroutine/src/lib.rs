//! # tango-coroutine: the Tango client in Coroutine (gevent) green mode
//!
//! PyTango's Gevent mode is implicit cooperation: calls look blocking, but while one
//! waits for the network the other greenlets run. Here the greenlets are stackful
//! coroutines of the [`may`] crate: [`DeviceProxy`] has the methods of the Synchronous
//! `tango_client::DeviceProxy` (`state()`, `read_attribute()`, ...), and a call parks the
//! calling coroutine, never the OS thread, so thousands of coroutines on a couple of may
//! worker threads can each wait for a device at once. The proxy also works from plain
//! threads (the thread then waits, as in Synchronous mode).
//!
//! [`spawn`] is `wait=false`: it runs a closure in a new coroutine and returns an
//! [`AsyncResult`] (gevent's), to `get()` later.
//!
//! All proxies of one server share one [`CoConnection`]: one TCP connection, on which
//! the requests of every coroutine are pipelined (the reply of each wakes its own caller).
//!
//! ```no_run
//! may::config().set_workers(2);
//! let dev = tango_coroutine::DeviceProxy::new("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no")?;
//! println!("{}", dev.state()?);
//! let pending: Vec<_> = (0..100)
//!     .map(|_| {
//!         let dev = dev.clone();
//!         tango_coroutine::spawn(move || dev.read_attribute("double_scalar"))
//!     })
//!     .collect();
//! for p in pending {
//!     let x: f64 = p.get()?.get()?;
//!     println!("{x}");
//! }
//! # Ok::<(), tango_client::Error>(())
//! ```
//!
//! ## Stack size
//!
//! may coroutines have fixed stacks (may's default: 4096 words, 32 KiB on 64-bit; set
//! another with `may::config().set_stack_size(words)` before the first coroutine). A
//! call of [`DeviceProxy`] was measured at up to about 1,500 words in release builds and
//! 7,000 in debug builds (the compiler keeps every temporary on the stack there), so
//! [`spawn`] gives its coroutines at least [`MIN_STACK_WORDS`] (128 KiB). Coroutines
//! started with `may::go!` get may's size: raise it for debug builds. An overflow hits
//! a guard page and ends the coroutine with "coroutine has overflowed its stack"; any
//! call it was making is abandoned for good, so size stacks generously.

mod proxy;
pub mod server;
mod spawn;
mod transport;

pub use proxy::DeviceProxy;
pub use spawn::{spawn, AsyncResult, Timeout, MIN_STACK_WORDS};
pub use tango_client::{
    AttributeInfo, AttributeInfoEx, CommandInfo, DeviceAttribute, DeviceInfo, Error, Result,
    DEFAULT_TIMEOUT,
};
pub use transport::CoConnection;

/// The name of this green mode, as printed by the tools.
pub const GREEN_MODE: &str = "Coroutine (may)";
