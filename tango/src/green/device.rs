//! The green-mode [`DeviceProxy`] and [`AttributeProxy`]: every network operation returns
//! a [`Call`] that runs in the proxy's green mode.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
use tango_client::AsyncConnection;
use tango_client::{
    AttributeInfo, AttributeInfoEx, CommandInfo, DeviceAttribute, DeviceInfo, ProxyCore, Transport,
    DEFAULT_TIMEOUT,
};
use tango_core::any::CommandData;
use tango_core::idl::{DevSource, DevState};
use tango_core::name::TangoName;
use tango_core::value::{IntoCommandData, WriteValue};

use super::blocking::BlockingCore;
use super::call::{Backend, BoxFuture, Call, Ctx};
use super::{decode_opt, encode_opt, get_green_mode, GreenMode};
use crate::{Error, Result};

/// The pause between two pings of [`DeviceProxy::wait_until_ready`] when the device did
/// not answer at once (a refused connection fails in microseconds: this avoids spinning).
pub const READY_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// One operation of a proxy as a [`Call`]: `|core| body` (or `|core, ctx| body`) runs
/// with `core` the proxy's core for the backend the call runs on (a view bounded by the
/// call's deadline, if it has one) and `ctx` the call's [`Ctx`]. The body is written
/// once; each backend's arm of the `match` gets a copy of it.
macro_rules! op {
    ($self:ident, $name:literal, |$core:ident| $body:expr) => {
        op!($self, $name, |$core, _ctx| $body)
    };
    ($self:ident, $name:literal, |$core:ident, $ctx:ident| $body:expr) => {{
        let inner = $self.inner.clone();
        $self.call($name, move |$ctx: Ctx| -> BoxFuture<_> {
            Box::pin(async move {
                match $ctx.backend {
                    Backend::Blocking => {
                        let $core = inner.core(&inner.blocking, $ctx).await?;
                        $body
                    }
                    #[cfg(feature = "coroutine")]
                    Backend::May => {
                        let $core = inner.core(&inner.may, $ctx).await?;
                        $body
                    }
                    #[cfg(feature = "tokio")]
                    Backend::Tokio => {
                        let $core = inner.core(&inner.tokio, $ctx).await?;
                        $body
                    }
                    #[cfg(feature = "smol")]
                    Backend::Smol => {
                        let $core = inner.core(&inner.smol, $ctx).await?;
                        $body
                    }
                    #[cfg(feature = "async-std")]
                    Backend::AsyncStd => {
                        let $core = inner.core(&inner.async_std, $ctx).await?;
                        $body
                    }
                }
            })
        })
    }};
}

struct Inner {
    name: TangoName,
    device: Arc<str>,
    /// `encode_opt`: 0 follows the global mode.
    mode: AtomicU8,
    timeout_ms: AtomicU64,
    source: AtomicU32,
    /// One core per backend, each connected on first use in its mode (given the timeout
    /// and source above). Proxies of one server share one connection per backend.
    blocking: OnceLock<BlockingCore>,
    #[cfg(feature = "coroutine")]
    may: OnceLock<ProxyCore<tango_coroutine::CoConnection>>,
    #[cfg(feature = "tokio")]
    tokio: OnceLock<ProxyCore<AsyncConnection<tango_tokio::Tokio>>>,
    #[cfg(feature = "smol")]
    smol: OnceLock<ProxyCore<AsyncConnection<tango_smol::Smol>>>,
    #[cfg(feature = "async-std")]
    async_std: OnceLock<ProxyCore<AsyncConnection<tango_async_std::AsyncStd>>>,
}

impl Inner {
    fn new(name: TangoName, device: Arc<str>, own: Option<GreenMode>) -> Self {
        Inner {
            name,
            device,
            mode: AtomicU8::new(encode_opt(own)),
            timeout_ms: AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64),
            source: AtomicU32::new(DevSource::CacheDev as u32),
            blocking: OnceLock::new(),
            #[cfg(feature = "coroutine")]
            may: OnceLock::new(),
            #[cfg(feature = "tokio")]
            tokio: OnceLock::new(),
            #[cfg(feature = "smol")]
            smol: OnceLock::new(),
            #[cfg(feature = "async-std")]
            async_std: OnceLock::new(),
        }
    }

    fn source(&self) -> DevSource {
        DevSource::try_from(self.source.load(Ordering::Relaxed)).unwrap_or(DevSource::CacheDev)
    }

    /// Applies `f` to every core already connected.
    fn each_core(&self, f: impl Fn(&dyn CoreSettings)) {
        if let Some(c) = self.blocking.get() {
            f(c);
        }
        #[cfg(feature = "coroutine")]
        if let Some(c) = self.may.get() {
            f(c);
        }
        #[cfg(feature = "tokio")]
        if let Some(c) = self.tokio.get() {
            f(c);
        }
        #[cfg(feature = "smol")]
        if let Some(c) = self.smol.get() {
            f(c);
        }
        #[cfg(feature = "async-std")]
        if let Some(c) = self.async_std.get() {
            f(c);
        }
    }

    /// The core of one backend, connected (with a handshake) on first use, on the
    /// backend that runs the call; bounded by the call's deadline when it has one.
    async fn core<T: Transport>(
        &self,
        cell: &OnceLock<ProxyCore<T>>,
        ctx: Ctx,
    ) -> Result<ProxyCore<T>> {
        let timeout = Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed));
        let core = match cell.get() {
            Some(core) => core.clone(),
            None => {
                let first = match ctx.deadline {
                    None => timeout,
                    Some((deadline, whole)) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(Error::Timeout {
                                device: self.device.to_string(),
                                operation: ctx.operation.to_owned(),
                                after: whole,
                            });
                        }
                        left.min(timeout)
                    }
                };
                let core = ProxyCore::<T>::connect(&self.name.full_name(), first).await?;
                let core = cell.get_or_init(|| core).clone();
                core.set_timeout_millis(self.timeout_ms.load(Ordering::Relaxed));
                core.set_source(self.source());
                core
            }
        };
        Ok(match ctx.deadline {
            Some((deadline, _)) => core.with_deadline(deadline),
            None => core,
        })
    }
}

/// The settings a proxy passes on to each of its cores.
trait CoreSettings {
    fn set_timeout_millis(&self, ms: u64);
    fn set_source(&self, source: DevSource);
}

impl<T: Transport> CoreSettings for ProxyCore<T> {
    fn set_timeout_millis(&self, ms: u64) {
        ProxyCore::set_timeout_millis(self, ms);
    }

    fn set_source(&self, source: DevSource) {
        ProxyCore::set_source(self, source);
    }
}

/// A proxy to one Tango device whose operations run in a green mode: each network method
/// returns a [`Call`] (`.wait()`, `.timeout(d)`, `.submit()`, `.await`).
///
/// The mode is the proxy's own if it was given one ([`DeviceProxy::new_with_mode`],
/// [`DeviceProxy::set_green_mode`]), else the global mode *at the time of each call*
/// ([`super::set_green_mode`]). Cheap to clone (clones share everything, the mode
/// included), `Send + Sync`. Proxies of one server share one connection with each other
/// and with [`crate::DeviceProxy`].
#[derive(Clone)]
pub struct DeviceProxy {
    inner: Arc<Inner>,
}

impl fmt::Debug for DeviceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("green::DeviceProxy")
            .field("name", &self.inner.name.full_name())
            .field("green_mode", &self.own_green_mode())
            .finish()
    }
}

impl DeviceProxy {
    /// Connects to a device (`tango://host:port/domain/family/member#dbase=no`), in the
    /// global green mode; the proxy follows the global mode as it changes. As cppTango
    /// does, a device server that is not running yet is not an error here.
    pub fn new(name: &str) -> Call<DeviceProxy> {
        Self::build(name, None, "DeviceProxy::new")
    }

    /// Connects to a device in `mode`, which stays the proxy's mode whatever the global.
    pub fn new_with_mode(name: &str, mode: GreenMode) -> Call<DeviceProxy> {
        Self::build(name, Some(mode), "DeviceProxy::new")
    }

    fn build(name: &str, own: Option<GreenMode>, operation: &'static str) -> Call<DeviceProxy> {
        let mode = own.map_or_else(get_green_mode, Ok);
        let tango_name = match TangoName::parse_device(name) {
            Ok(n) => n,
            Err(e) => return Call::failed(mode, name.into(), operation, e.into()),
        };
        let device: Arc<str> = tango_name.device.as_str().into();
        Call::new(mode, device.clone(), operation, move |ctx: Ctx| {
            Box::pin(async move {
                let inner = Inner::new(tango_name, device, own);
                match ctx.backend {
                    Backend::Blocking => drop(inner.core(&inner.blocking, ctx).await?),
                    #[cfg(feature = "coroutine")]
                    Backend::May => drop(inner.core(&inner.may, ctx).await?),
                    #[cfg(feature = "tokio")]
                    Backend::Tokio => drop(inner.core(&inner.tokio, ctx).await?),
                    #[cfg(feature = "smol")]
                    Backend::Smol => drop(inner.core(&inner.smol, ctx).await?),
                    #[cfg(feature = "async-std")]
                    Backend::AsyncStd => drop(inner.core(&inner.async_std, ctx).await?),
                }
                Ok(DeviceProxy {
                    inner: Arc::new(inner),
                })
            })
        })
    }

    fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        job: impl FnOnce(Ctx) -> BoxFuture<T> + Send + 'static,
    ) -> Call<T> {
        Call::new(
            self.get_green_mode(),
            self.inner.device.clone(),
            operation,
            job,
        )
    }

    /// The green mode of this proxy's next call: its own, else the global one.
    pub fn get_green_mode(&self) -> Result<GreenMode> {
        match self.own_green_mode() {
            Some(mode) => Ok(mode),
            None => get_green_mode(),
        }
    }

    /// The proxy's own green mode; `None` when it follows the global mode.
    pub fn own_green_mode(&self) -> Option<GreenMode> {
        decode_opt(self.inner.mode.load(Ordering::Acquire))
    }

    /// Sets the proxy's own green mode (shared by its clones and attribute proxies);
    /// `None` makes it follow the global mode again.
    pub fn set_green_mode(&self, mode: impl Into<Option<GreenMode>>) {
        self.inner
            .mode
            .store(encode_opt(mode.into()), Ordering::Release);
    }

    /// The device name, `domain/family/member`, as given.
    pub fn dev_name(&self) -> &str {
        &self.inner.device
    }

    /// The full name, `tango://host:port/domain/family/member#dbase=no`.
    pub fn name(&self) -> String {
        self.inner.name.full_name()
    }

    /// The parsed name.
    pub fn tango_name(&self) -> &TangoName {
        &self.inner.name
    }

    /// The timeout of each request (3 s by default); [`Call::timeout`] overrides it for
    /// one call.
    pub fn get_timeout_millis(&self) -> u64 {
        self.inner.timeout_ms.load(Ordering::Relaxed)
    }

    /// Sets the timeout of each request.
    pub fn set_timeout_millis(&self, ms: u64) {
        self.inner.timeout_ms.store(ms, Ordering::Relaxed);
        self.inner.each_core(|core| core.set_timeout_millis(ms));
    }

    /// Where reads come from (`CACHE_DEV` by default).
    pub fn get_source(&self) -> DevSource {
        self.inner.source()
    }

    /// Sets where reads come from.
    pub fn set_source(&self, source: DevSource) {
        self.inner.source.store(source as u32, Ordering::Relaxed);
        self.inner.each_core(|core| core.set_source(source));
    }

    /// Pings the device until it answers, at most `timeout` in all (each ping bounded by
    /// the proxy's timeout too); returns the round-trip time of the answered ping. A
    /// device that is not there yet (server not running, device not exported, no answer)
    /// is pinged again after [`READY_POLL_INTERVAL`]; other errors end the wait at once.
    /// Past `timeout`: [`Error::Timeout`].
    pub fn wait_until_ready(&self, timeout: Duration) -> Call<Duration> {
        let device = self.inner.device.clone();
        op!(self, "wait_until_ready", |core, ctx| {
            let deadline = Instant::now() + timeout;
            let deadline = ctx.deadline.map_or(deadline, |(d, _)| d.min(deadline));
            loop {
                let per_ping = Duration::from_millis(core.get_timeout_millis());
                let ping_deadline = deadline.min(Instant::now() + per_ping);
                match core.with_deadline(ping_deadline).ping().await {
                    Ok(rtt) => return Ok(rtt),
                    Err(
                        Error::ServerNotRunning { .. }
                        | Error::CannotConnect { .. }
                        | Error::ConnectionLost { .. }
                        | Error::DeviceNotExported { .. }
                        | Error::Timeout { .. },
                    ) => {}
                    Err(e) => return Err(e),
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout {
                        device: device.to_string(),
                        operation: "wait_until_ready".to_owned(),
                        after: timeout,
                    });
                }
                ctx.sleep(left.min(READY_POLL_INTERVAL)).await;
            }
        })
    }

    /// The server's IDL version (6 for cppTango 10 / PyTango 10, 5 for cppTango 9.3).
    pub fn get_idl_version(&self) -> Call<u32> {
        op!(self, "get_idl_version", |core| core.get_idl_version().await)
    }

    /// The device state.
    pub fn state(&self) -> Call<DevState> {
        op!(self, "state", |core| core.state().await)
    }

    /// The device status text.
    pub fn status(&self) -> Call<String> {
        op!(self, "status", |core| core.status().await)
    }

    /// Pings the device; returns the round-trip time.
    pub fn ping(&self) -> Call<Duration> {
        op!(self, "ping", |core| core.ping().await)
    }

    /// Class, server, host and versions of the device.
    pub fn info(&self) -> Call<DeviceInfo> {
        op!(self, "info", |core| core.info().await)
    }

    /// The name of the device's admin device (`dserver/<exec>/<instance>`).
    pub fn adm_name(&self) -> Call<String> {
        op!(self, "adm_name", |core| core.adm_name().await)
    }

    /// The device description.
    pub fn description(&self) -> Call<String> {
        op!(self, "description", |core| core.description().await)
    }

    /// The last `n` requests the device received, as cppTango's text lines.
    pub fn black_box(&self, n: i32) -> Call<Vec<String>> {
        op!(self, "black_box", |core| core.black_box(n).await)
    }

    /// Reads one attribute; a failed read is an error (with `API_AttributeFailed`).
    pub fn read_attribute(&self, name: &str) -> Call<DeviceAttribute> {
        let name = name.to_owned();
        op!(self, "read_attribute", |core| core
            .read_attribute(&name)
            .await)
    }

    /// Reads several attributes in one request; failed ones have `has_failed()`.
    pub fn read_attributes(&self, names: &[&str]) -> Call<Vec<DeviceAttribute>> {
        let names = owned(names);
        op!(self, "read_attributes", |core| core
            .read_attributes(&borrowed(&names))
            .await)
    }

    /// Writes one attribute, converted to its type.
    pub fn write_attribute(&self, name: &str, value: impl Into<WriteValue>) -> Call<()> {
        let (name, value) = (name.to_owned(), value.into());
        op!(self, "write_attribute", |core| core
            .write_attribute(&name, value)
            .await)
    }

    /// Writes several attributes in one request.
    pub fn write_attributes(&self, values: Vec<(&str, WriteValue)>) -> Call<()> {
        let values = owned_values(values);
        op!(self, "write_attributes", |core| core
            .write_attributes(borrowed_values(&values))
            .await)
    }

    /// Writes an attribute and reads it back in one request.
    pub fn write_read_attribute(
        &self,
        name: &str,
        value: impl Into<WriteValue>,
    ) -> Call<DeviceAttribute> {
        let (name, value) = (name.to_owned(), value.into());
        op!(self, "write_read_attribute", |core| core
            .write_read_attribute(&name, value)
            .await)
    }

    /// Writes attributes, then reads `read_names`, in one request.
    pub fn write_read_attributes(
        &self,
        values: Vec<(&str, WriteValue)>,
        read_names: &[&str],
    ) -> Call<Vec<DeviceAttribute>> {
        let (values, names) = (owned_values(values), owned(read_names));
        op!(self, "write_read_attributes", |core| core
            .write_read_attributes(borrowed_values(&values), &borrowed(&names))
            .await)
    }

    /// Runs a command, the argument converted to its declared type (`()` for DevVoid).
    pub fn command_inout(&self, command: &str, arg: impl IntoCommandData) -> Call<CommandData> {
        let (command, arg) = (command.to_owned(), arg.into_command_data());
        op!(self, "command_inout", |core| core
            .command_inout(&command, arg)
            .await)
    }

    /// A command's signature.
    pub fn command_query(&self, command: &str) -> Call<CommandInfo> {
        let command = command.to_owned();
        op!(self, "command_query", |core| core
            .command_query(&command)
            .await)
    }

    /// Every command's signature.
    pub fn command_list_query(&self) -> Call<Vec<CommandInfo>> {
        op!(self, "command_list_query", |core| core
            .command_list_query()
            .await)
    }

    /// The names of the commands.
    pub fn get_command_list(&self) -> Call<Vec<String>> {
        op!(self, "get_command_list", |core| core
            .get_command_list()
            .await)
    }

    /// One attribute's configuration.
    pub fn get_attribute_config(&self, name: &str) -> Call<AttributeInfoEx> {
        let name = name.to_owned();
        op!(self, "get_attribute_config", |core| core
            .get_attribute_config(&name)
            .await)
    }

    /// Several attributes' configurations.
    pub fn get_attribute_config_list(&self, names: &[&str]) -> Call<Vec<AttributeInfoEx>> {
        let names = owned(names);
        op!(self, "get_attribute_config_list", |core| core
            .get_attribute_config_list(&borrowed(&names))
            .await)
    }

    /// Changes one attribute's configuration (the attribute `info.name` names): get it
    /// with [`DeviceProxy::get_attribute_config`], change fields, send it back. See
    /// [`ProxyCore::set_attribute_config`] for what the server keeps and the errors it
    /// answers.
    pub fn set_attribute_config(&self, info: &AttributeInfoEx) -> Call<()> {
        let info = info.clone();
        op!(self, "set_attribute_config", |core| core
            .set_attribute_config(&info)
            .await)
    }

    /// Changes several attributes' configurations in one request.
    pub fn set_attribute_config_list(&self, infos: &[AttributeInfoEx]) -> Call<()> {
        let infos = infos.to_vec();
        op!(self, "set_attribute_config_list", |core| core
            .set_attribute_config_list(&infos)
            .await)
    }

    /// Every attribute's full configuration.
    pub fn attribute_list_query_ex(&self) -> Call<Vec<AttributeInfoEx>> {
        op!(self, "attribute_list_query_ex", |core| core
            .attribute_list_query_ex()
            .await)
    }

    /// Every attribute's IDL 2 configuration.
    pub fn attribute_list_query(&self) -> Call<Vec<AttributeInfo>> {
        op!(self, "attribute_list_query", |core| core
            .attribute_list_query()
            .await)
    }

    /// The names of the attributes.
    pub fn get_attribute_list(&self) -> Call<Vec<String>> {
        op!(self, "get_attribute_list", |core| core
            .get_attribute_list()
            .await)
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn borrowed(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

fn owned_values(values: Vec<(&str, WriteValue)>) -> Vec<(String, WriteValue)> {
    values.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
}

fn borrowed_values(values: &[(String, WriteValue)]) -> Vec<(&str, WriteValue)> {
    values
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect()
}

/// A proxy to one attribute (`tango://host:port/domain/family/member/attribute#dbase=no`)
/// whose operations run in a green mode, through a green [`DeviceProxy`] to its device
/// (whose green mode it shares).
#[derive(Debug, Clone)]
pub struct AttributeProxy {
    device: DeviceProxy,
    attribute: Arc<str>,
}

impl AttributeProxy {
    /// Connects to the attribute's device, in the global green mode (followed as it
    /// changes).
    pub fn new(name: &str) -> Call<AttributeProxy> {
        Self::build(name, None)
    }

    /// Connects to the attribute's device in `mode`.
    pub fn new_with_mode(name: &str, mode: GreenMode) -> Call<AttributeProxy> {
        Self::build(name, Some(mode))
    }

    fn build(name: &str, own: Option<GreenMode>) -> Call<AttributeProxy> {
        const OP: &str = "AttributeProxy::new";
        let mode = || own.map_or_else(get_green_mode, Ok);
        let parsed = match TangoName::parse_attribute(name) {
            Ok(p) => p,
            Err(e) => return Call::failed(mode(), name.into(), OP, e.into()),
        };
        let Some(attribute) = parsed.attribute.clone() else {
            let e = Error::Type(format!("{name} names no attribute"));
            return Call::failed(mode(), name.into(), OP, e);
        };
        let device_name = TangoName {
            attribute: None,
            ..parsed
        };
        let attribute: Arc<str> = attribute.into();
        DeviceProxy::build(&device_name.full_name(), own, OP)
            .map(move |device| AttributeProxy { device, attribute })
    }

    /// The attribute name.
    pub fn name(&self) -> &str {
        &self.attribute
    }

    /// The device.
    pub fn get_device_proxy(&self) -> &DeviceProxy {
        &self.device
    }

    /// The green mode of the next call (the device proxy's).
    pub fn get_green_mode(&self) -> Result<GreenMode> {
        self.device.get_green_mode()
    }

    /// Sets the green mode of this attribute proxy and its device proxy; `None` follows
    /// the global mode.
    pub fn set_green_mode(&self, mode: impl Into<Option<GreenMode>>) {
        self.device.set_green_mode(mode)
    }

    /// Reads the attribute.
    pub fn read(&self) -> Call<DeviceAttribute> {
        self.device.read_attribute(&self.attribute)
    }

    /// Writes the attribute.
    pub fn write(&self, value: impl Into<WriteValue>) -> Call<()> {
        self.device.write_attribute(&self.attribute, value)
    }

    /// Writes then reads the attribute in one request.
    pub fn write_read(&self, value: impl Into<WriteValue>) -> Call<DeviceAttribute> {
        self.device.write_read_attribute(&self.attribute, value)
    }

    /// The attribute's configuration.
    pub fn get_config(&self) -> Call<AttributeInfoEx> {
        self.device.get_attribute_config(&self.attribute)
    }

    /// Changes the configuration of the attribute `info.name` names (normally this one's,
    /// read with [`AttributeProxy::get_config`]); see [`DeviceProxy::set_attribute_config`].
    pub fn set_config(&self, info: &AttributeInfoEx) -> Call<()> {
        self.device.set_attribute_config(info)
    }

    /// Pings the device.
    pub fn ping(&self) -> Call<Duration> {
        self.device.ping()
    }

    /// The device's state.
    pub fn state(&self) -> Call<DevState> {
        self.device.state()
    }

    /// The device's status.
    pub fn status(&self) -> Call<String> {
        self.device.status()
    }

    /// Waits until the device answers (see [`DeviceProxy::wait_until_ready`]).
    pub fn wait_until_ready(&self, timeout: Duration) -> Call<Duration> {
        self.device.wait_until_ready(timeout)
    }
}
