//! Running a Synchronous device class in an Asyncio server.
//!
//! [`asyncio_from_sync`] turns a class defined with the blocking API
//! ([`tango_core::device::ClassBuilder`]) into an Asyncio class with the same interface
//! and behaviour: each device keeps its [`SyncDevice`] in a std mutex and runs every call
//! with [`Outcome::run_sync`] right in the future that the async server polls. That
//! blocks a worker thread of the runtime for the length of one call, so it suits classes
//! whose calls are quick (TangoTest's are: no sleeps, no I/O). The class is serialized
//! ([`AsyncMonitor`]): one request at a time per device, each request's calls together,
//! exactly as under the Synchronous server's monitor lock, but waiting for the lock
//! suspends the request's task instead of a thread.

use std::sync::{Arc, Mutex};

use tango_core::device::{
    AsyncDevice, AsyncMonitor, BoxFuture, Call, DeviceClass, DeviceCtx, Outcome, SyncDevice,
};
use tango_core::idl::DevFailed;

/// The Asyncio twin of `class` (returned as is if it is already an Asyncio class).
pub fn asyncio_from_sync(class: &DeviceClass) -> DeviceClass {
    let Some(factory) = class.sync_factory().cloned() else {
        return class.clone();
    };
    DeviceClass::from_async_parts(
        (*class.info).clone(),
        Arc::new(move |ctx: &DeviceCtx| -> Arc<dyn AsyncDevice> {
            Arc::new(SyncInAsync {
                device: Mutex::new(factory(ctx)),
                monitor: AsyncMonitor::new(),
            })
        }),
    )
}

/// A synchronous device served as an Asyncio one.
struct SyncInAsync {
    device: Mutex<Box<dyn SyncDevice>>,
    monitor: AsyncMonitor,
}

impl SyncInAsync {
    fn run_now(&self, ctx: &DeviceCtx, call: Call) -> Outcome {
        // `run_sync` catches panics, so the mutex is never poisoned by device code.
        let mut dev = self.device.lock().unwrap_or_else(|p| p.into_inner());
        Outcome::run_sync(&mut **dev, ctx, call)
    }
}

impl AsyncDevice for SyncInAsync {
    fn init_device<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, Result<(), DevFailed>> {
        Box::pin(async move {
            let mut dev = self.device.lock().unwrap_or_else(|p| p.into_inner());
            dev.init_device(ctx)
        })
    }

    fn delete_device<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut dev = self.device.lock().unwrap_or_else(|p| p.into_inner());
            dev.delete_device(ctx)
        })
    }

    fn run<'a>(&'a self, ctx: &'a DeviceCtx, call: Call) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.run_now(ctx, call) })
    }

    fn monitor(&self) -> Option<&AsyncMonitor> {
        Some(&self.monitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tango_core::device::{run_job_async, ServerMode};
    use tango_core::idl::DevState;

    /// Polls a future that never waits (the adapter's never do when uncontended).
    fn ready<F: std::future::Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the adapter waited"),
        }
    }

    #[test]
    fn tangotest_runs_the_same_as_an_asyncio_class() {
        let sync = crate::tangotest_class();
        let class = asyncio_from_sync(&sync);
        assert_eq!(class.green_mode(), ServerMode::Asyncio);
        assert_eq!(class.info, sync.info);
        let ctx = DeviceCtx::new("sys/tg_test/1");
        let dev = class.new_async_device(&ctx).expect("an Asyncio device");
        assert!(dev.monitor().is_some());
        ready(dev.init_device(&ctx)).unwrap();
        assert_eq!(ctx.get_state(), DevState::Running);
        let cmd = class.info.command("DevLong").unwrap();
        let out = ready(run_job_async(
            &*dev,
            &ctx,
            vec![
                Call::Command(cmd, tango_core::any::CommandData::Long(7)),
                Call::State,
            ],
        ));
        assert_eq!(
            out,
            vec![
                Outcome::Command(Ok(tango_core::any::CommandData::Long(7))),
                Outcome::State(DevState::Running)
            ]
        );
        // an Asyncio class is kept as is
        assert_eq!(asyncio_from_sync(&class).green_mode(), ServerMode::Asyncio);
    }
}
