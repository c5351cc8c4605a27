//! [`DeviceProxy`] in Coroutine green mode: the methods of the Synchronous proxy (the
//! same list, from `tango_client::blocking_proxy_methods!`), which look blocking but park
//! only the calling may coroutine while they wait.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use tango_client::ProxyCore;

use crate::transport::CoConnection;

/// Runs a future of [`ProxyCore`] over [`CoConnection`]: the transport parks the coroutine
/// while it waits and returns ready futures, so the first poll completes it. The future is
/// boxed so that its state lives on the heap, not on the coroutine's small stack. (A
/// future that returned `Pending` would be a bug; this yields to other coroutines rather
/// than hanging.)
fn run<F: Future>(f: F) -> F::Output {
    let mut f = Box::pin(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        may::coroutine::yield_now();
    }
}

/// A proxy to one Tango device, in Coroutine (gevent) green mode: every call looks
/// blocking, but while it waits for the network only the calling may coroutine is parked,
/// and the other coroutines of the process keep running. Also usable from plain threads
/// (then the thread waits).
///
/// Cheap to clone (clones share everything), `Send + Sync`. Proxies of the same server
/// share one TCP connection, on which the calls of all coroutines are pipelined.
///
/// ```no_run
/// let dev = tango_coroutine::DeviceProxy::new("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no")?;
/// let reads: Vec<_> = (0..10)
///     .map(|_| {
///         let dev = dev.clone();
///         tango_coroutine::spawn(move || dev.read_attribute("double_scalar"))
///     })
///     .collect();
/// for r in reads {
///     let x: f64 = r.get()?.get()?;
///     println!("{x}");
/// }
/// # Ok::<(), tango_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DeviceProxy {
    core: ProxyCore<CoConnection>,
}

impl DeviceProxy {
    tango_client::blocking_proxy_methods!(run, CoConnection);
}
