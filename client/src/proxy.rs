//! [`DeviceProxy`]: the client's handle on one device, in Synchronous green mode.
//!
//! The operations themselves live in [`ProxyCore`] as async code written once for every
//! transport; here they run over the blocking shared connection, whose futures are ready
//! as soon as they are polled, so each call simply completes on the caller's thread.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::proxy_core::ProxyCore;
use crate::transport::Connection;

pub use crate::proxy_core::DEFAULT_TIMEOUT;

/// Runs a future whose I/O is blocking: it is ready on its first poll. (A transport that
/// returned `Pending` would be a bug; this waits by yielding rather than hanging.)
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// A proxy to one Tango device: read and write its attributes, run its commands.
///
/// Cheap to clone (clones share everything), `Send + Sync`: use one proxy from many
/// threads. Proxies of the same server share one TCP connection, on which the calls of
/// several threads are pipelined.
///
/// ```no_run
/// let dev = tango_client::DeviceProxy::new("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no")?;
/// println!("{}", dev.state()?);
/// let x: f64 = dev.read_attribute("double_scalar")?.get()?;
/// dev.write_attribute("double_scalar", x + 1.0)?;
/// # Ok::<(), tango_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DeviceProxy {
    core: ProxyCore<Connection>,
}

impl DeviceProxy {
    crate::blocking_proxy_methods!(run, Connection);
}

/// The methods of a blocking device proxy, written once for the Synchronous
/// [`DeviceProxy`] (here) and `tango_coroutine::DeviceProxy`: each forwards to the
/// [`ProxyCore`] in the proxy's `core` field, and those that talk to the device complete
/// their future with `$run` (the blocking step of the green mode: `fn(impl Future<Output =
/// T>) -> T`). Invoked inside `impl TheProxy { ... }`, whose struct is `{ core:
/// ProxyCore<$transport> }`; the invoking crate also depends on `tango-core`, and has
/// [`ProxyCore`] in scope for the generated doc links.
#[doc(hidden)]
#[macro_export]
macro_rules! blocking_proxy_methods {
    ($run:path, $transport:ty) => {
        /// Connects to a device: `tango://host:port/domain/family/member#dbase=no` (see
        /// [`ProxyCore::connect`]), with the default 3 s timeout.
        pub fn new(name: &str) -> $crate::Result<Self> {
            Self::with_timeout(name, $crate::DEFAULT_TIMEOUT)
        }

        /// Like [`DeviceProxy::new`], with the timeout of every call (the connection
        /// handshake included) set from the start.
        pub fn with_timeout(name: &str, timeout: ::std::time::Duration) -> $crate::Result<Self> {
            Ok(Self {
                core: $run($crate::ProxyCore::connect(name, timeout))?,
            })
        }

        /// The async operations behind this proxy.
        pub fn core(&self) -> &$crate::ProxyCore<$transport> {
            &self.core
        }

        /// The device name, `domain/family/member`, as given.
        pub fn dev_name(&self) -> &str {
            self.core.dev_name()
        }

        /// The full name, `tango://host:port/domain/family/member#dbase=no`.
        pub fn name(&self) -> String {
            self.core.name()
        }

        /// The parsed name.
        pub fn tango_name(&self) -> &::tango_core::name::TangoName {
            self.core.tango_name()
        }

        /// The timeout of every call.
        pub fn get_timeout_millis(&self) -> u64 {
            self.core.get_timeout_millis()
        }

        /// Sets the timeout of every call (connect, send and receive together).
        pub fn set_timeout_millis(&self, ms: u64) {
            self.core.set_timeout_millis(ms)
        }

        /// Where reads come from (`CACHE_DEV` by default).
        pub fn get_source(&self) -> ::tango_core::idl::DevSource {
            self.core.get_source()
        }

        /// Sets where reads come from: the device (`DEV`), the polling cache (`CACHE`), or
        /// the cache if the attribute is polled, else the device (`CACHE_DEV`).
        pub fn set_source(&self, source: ::tango_core::idl::DevSource) {
            self.core.set_source(source)
        }

        /// The server's IDL version (6 for cppTango 10 / PyTango 10, 5 for cppTango 9.3).
        pub fn get_idl_version(&self) -> $crate::Result<u32> {
            $run(self.core.get_idl_version())
        }

        /// The device state.
        pub fn state(&self) -> $crate::Result<::tango_core::idl::DevState> {
            $run(self.core.state())
        }

        /// The device status text.
        pub fn status(&self) -> $crate::Result<String> {
            $run(self.core.status())
        }

        /// Pings the device; returns the round-trip time.
        pub fn ping(&self) -> $crate::Result<::std::time::Duration> {
            $run(self.core.ping())
        }

        /// Class, server, host and versions of the device.
        pub fn info(&self) -> $crate::Result<$crate::DeviceInfo> {
            $run(self.core.info())
        }

        /// The name of the device's admin device (`dserver/<exec>/<instance>`).
        pub fn adm_name(&self) -> $crate::Result<String> {
            $run(self.core.adm_name())
        }

        /// The device description.
        pub fn description(&self) -> $crate::Result<String> {
            $run(self.core.description())
        }

        /// The last `n` requests the device received, as cppTango's text lines.
        pub fn black_box(&self, n: i32) -> $crate::Result<Vec<String>> {
            $run(self.core.black_box(n))
        }

        /// Reads one attribute; a failed read is an error (with `API_AttributeFailed`).
        pub fn read_attribute(&self, name: &str) -> $crate::Result<$crate::DeviceAttribute> {
            $run(self.core.read_attribute(name))
        }

        /// Reads several attributes in one request; failed ones have `has_failed()`.
        pub fn read_attributes(
            &self,
            names: &[&str],
        ) -> $crate::Result<Vec<$crate::DeviceAttribute>> {
            $run(self.core.read_attributes(names))
        }

        /// Writes one attribute, converted to its type.
        pub fn write_attribute(
            &self,
            name: &str,
            value: impl Into<::tango_core::value::WriteValue>,
        ) -> $crate::Result<()> {
            $run(self.core.write_attribute(name, value))
        }

        /// Writes several attributes in one request.
        pub fn write_attributes(
            &self,
            values: Vec<(&str, ::tango_core::value::WriteValue)>,
        ) -> $crate::Result<()> {
            $run(self.core.write_attributes(values))
        }

        /// Writes an attribute and reads it back in one request.
        pub fn write_read_attribute(
            &self,
            name: &str,
            value: impl Into<::tango_core::value::WriteValue>,
        ) -> $crate::Result<$crate::DeviceAttribute> {
            $run(self.core.write_read_attribute(name, value))
        }

        /// Writes attributes, then reads `read_names`, in one request.
        pub fn write_read_attributes(
            &self,
            values: Vec<(&str, ::tango_core::value::WriteValue)>,
            read_names: &[&str],
        ) -> $crate::Result<Vec<$crate::DeviceAttribute>> {
            $run(self.core.write_read_attributes(values, read_names))
        }

        /// Runs a command, the argument converted to its declared type (`()` for DevVoid).
        pub fn command_inout(
            &self,
            command: &str,
            arg: impl ::tango_core::value::IntoCommandData,
        ) -> $crate::Result<::tango_core::any::CommandData> {
            $run(self.core.command_inout(command, arg))
        }

        /// A command's signature.
        pub fn command_query(&self, command: &str) -> $crate::Result<$crate::CommandInfo> {
            $run(self.core.command_query(command))
        }

        /// Every command's signature.
        pub fn command_list_query(&self) -> $crate::Result<Vec<$crate::CommandInfo>> {
            $run(self.core.command_list_query())
        }

        /// The names of the commands.
        pub fn get_command_list(&self) -> $crate::Result<Vec<String>> {
            $run(self.core.get_command_list())
        }

        /// One attribute's configuration.
        pub fn get_attribute_config(&self, name: &str) -> $crate::Result<$crate::AttributeInfoEx> {
            $run(self.core.get_attribute_config(name))
        }

        /// Several attributes' configurations.
        pub fn get_attribute_config_list(
            &self,
            names: &[&str],
        ) -> $crate::Result<Vec<$crate::AttributeInfoEx>> {
            $run(self.core.get_attribute_config_list(names))
        }

        /// Changes one attribute's configuration (the attribute `info.name` names): get it
        /// with `get_attribute_config`, change fields, send it back. See
        /// [`ProxyCore::set_attribute_config`] for what the server keeps and the
        /// errors it answers.
        pub fn set_attribute_config(&self, info: &$crate::AttributeInfoEx) -> $crate::Result<()> {
            $run(self.core.set_attribute_config(info))
        }

        /// Changes several attributes' configurations in one request.
        pub fn set_attribute_config_list(
            &self,
            infos: &[$crate::AttributeInfoEx],
        ) -> $crate::Result<()> {
            $run(self.core.set_attribute_config_list(infos))
        }

        /// Every attribute's full configuration.
        pub fn attribute_list_query_ex(&self) -> $crate::Result<Vec<$crate::AttributeInfoEx>> {
            $run(self.core.attribute_list_query_ex())
        }

        /// Every attribute's IDL 2 configuration.
        pub fn attribute_list_query(&self) -> $crate::Result<Vec<$crate::AttributeInfo>> {
            $run(self.core.attribute_list_query())
        }

        /// The names of the attributes.
        pub fn get_attribute_list(&self) -> $crate::Result<Vec<String>> {
            $run(self.core.get_attribute_list())
        }
    };
}
