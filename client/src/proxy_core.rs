//! [`ProxyCore`]: what a device proxy does, written once as async code over any
//! [`Transport`].
//!
//! Every operation is built as a core [`Operation`] value, sent through the transport
//! (the blocking shared connection, or an async runtime's), and its result converted to
//! the PyTango-shaped types of this crate. The blocking [`crate::DeviceProxy`] runs these
//! futures to completion at once (its transport does the I/O when a call is made); the
//! runtime crates await them. The IDL version is learnt once, as cppTango does at connection:
//! `_is_a("IDL:Tango/Device_6:1.0")`, then 5, 4... and decides which variant of each
//! operation is sent (`read_attributes_5` to IDL 5 and 6 servers, ...).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tango_core::any::CommandData;
use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttributeDim, AttributeValue4, ClntIdent, CmdArgType, DevSource,
    DevState, TimeVal,
};
use tango_core::name::{Endpoint, TangoName};
use tango_core::ops::{self, Operation};

use crate::attribute::DeviceAttribute;
use crate::error::{Error, Result};
use crate::info::{AttributeInfo, AttributeInfoEx, CommandInfo, DeviceInfo};
use crate::transport::{CallSite, Transport};
use tango_core::value::{
    check_latin1_command, check_latin1_data, convert_command_arg, IntoCommandData, WriteValue,
};

/// The default timeout of every call, as in cppTango: 3 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(3000);

/// What a write needs to know about an attribute.
#[derive(Debug, Clone, Copy)]
struct AttrShape {
    data_type: CmdArgType,
    format: AttrDataFormat,
}

struct Inner<T> {
    name: TangoName,
    key: Vec<u8>,
    conn: Arc<T>,
    timeout_ms: AtomicU64,
    source: AtomicU32,
    /// 0 until the handshake found the server's IDL version.
    idl: AtomicU32,
    pid: u32,
    commands: Mutex<HashMap<String, CommandInfo>>,
    attributes: Mutex<HashMap<String, AttrShape>>,
}

/// A proxy to one Tango device over the transport `T`: every operation of
/// `DeviceProxy`, as async methods. Cheap to clone (clones share everything).
pub struct ProxyCore<T> {
    inner: Arc<Inner<T>>,
    /// Set on a view made by [`ProxyCore::with_deadline`]: every request of a call made
    /// through it must finish by then (instead of the proxy's own timeout).
    deadline: Option<Instant>,
}

impl<T> Clone for ProxyCore<T> {
    fn clone(&self) -> Self {
        ProxyCore {
            inner: self.inner.clone(),
            deadline: self.deadline,
        }
    }
}

impl<T> std::fmt::Debug for ProxyCore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCore")
            .field("name", &self.inner.name.full_name())
            .finish()
    }
}

fn to_i32(n: usize, what: &str) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::type_mismatch(format!("{what} {n} is too large")))
}

impl<T: Transport> ProxyCore<T> {
    /// Connects to a device. Accepted names: `tango://host:port/domain/family/member#dbase=no`
    /// or `host:port/domain/family/member#dbase=no` (no Tango database). Names that need
    /// the database (`TANGO_HOST`) are refused with a clear error until the database
    /// support lands.
    ///
    /// As cppTango does, connecting contacts the device to learn its IDL version; if the
    /// server is not running, the proxy is still made and the next call retries. A server
    /// that runs but has no such device is an error here. `timeout` bounds every call,
    /// this first exchange included.
    pub async fn connect(name: &str, timeout: Duration) -> Result<Self> {
        let name = TangoName::parse_device(name)?;
        let tango_host = std::env::var("TANGO_HOST").ok();
        let (host, port) = match name.endpoint(tango_host.as_deref())? {
            Endpoint::Device { host, port } => (host, port),
            Endpoint::Database { host, port } => {
                return Err(Error::NotSupported(format!(
                    "{}: the Tango database (at {host}:{port}) is not supported yet; \
                     name the device's own server with tango://HOST:PORT/{}#dbase=no",
                    name.full_name(),
                    name.device
                )))
            }
        };
        let proxy = ProxyCore {
            deadline: None,
            inner: Arc::new(Inner {
                key: name.object_key(),
                conn: T::for_endpoint(&host, port),
                name,
                timeout_ms: AtomicU64::new(timeout.as_millis() as u64),
                source: AtomicU32::new(DevSource::CacheDev as u32),
                idl: AtomicU32::new(0),
                pid: std::process::id(),
                commands: Mutex::default(),
                attributes: Mutex::default(),
            }),
        };
        match proxy.idl_version().await {
            Ok(_) => Ok(proxy),
            Err(
                Error::ServerNotRunning { .. }
                | Error::CannotConnect { .. }
                | Error::Timeout { .. }
                | Error::ConnectionLost { .. },
            ) => Ok(proxy),
            Err(e) => Err(e),
        }
    }

    /// The device name, `domain/family/member`, as given.
    pub fn dev_name(&self) -> &str {
        &self.inner.name.device
    }

    /// The full name, `tango://host:port/domain/family/member#dbase=no`.
    pub fn name(&self) -> String {
        self.inner.name.full_name()
    }

    /// The parsed name.
    pub fn tango_name(&self) -> &TangoName {
        &self.inner.name
    }

    /// The timeout of every call.
    pub fn get_timeout_millis(&self) -> u64 {
        self.inner.timeout_ms.load(Ordering::Relaxed)
    }

    /// Sets the timeout of every call (connect, send and receive together).
    pub fn set_timeout_millis(&self, ms: u64) {
        self.inner.timeout_ms.store(ms, Ordering::Relaxed)
    }

    /// Where reads come from: the device (`DEV`), the polling cache (`CACHE`), or the
    /// cache if the attribute is polled, else the device (`CACHE_DEV`, the default).
    pub fn get_source(&self) -> DevSource {
        DevSource::try_from(self.inner.source.load(Ordering::Relaxed))
            .unwrap_or(DevSource::CacheDev)
    }

    /// Sets where reads come from.
    pub fn set_source(&self, source: DevSource) {
        self.inner.source.store(source as u32, Ordering::Relaxed)
    }

    /// A view of this proxy whose calls must all finish by `deadline`: each request gets
    /// the time left instead of the proxy's timeout. This is the per-call timeout of the
    /// green modes (`call.timeout(d)`): one bound for the whole call, however many
    /// requests it makes.
    pub fn with_deadline(&self, deadline: Instant) -> Self {
        ProxyCore {
            inner: self.inner.clone(),
            deadline: Some(deadline),
        }
    }

    /// [`ProxyCore::with_deadline`] `timeout` from now.
    pub fn with_call_timeout(&self, timeout: Duration) -> Self {
        self.with_deadline(Instant::now() + timeout)
    }

    fn site(&self) -> CallSite<'_> {
        let timeout = match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_millis(self.get_timeout_millis()),
        };
        CallSite {
            device: &self.inner.name.device,
            object_key: &self.inner.key,
            timeout,
        }
    }

    /// Sends one operation, without the IDL handshake.
    async fn send<O: Operation + Sync>(&self, op: &O) -> Result<O::Output>
    where
        O::Output: Send,
    {
        self.inner.conn.call(self.site(), op).await
    }

    /// The server's IDL version (6 for cppTango 10 / PyTango 10, 5 for cppTango 9.3).
    /// Found by the handshake at connection; no traffic once known.
    pub async fn get_idl_version(&self) -> Result<u32> {
        self.idl_version().await
    }

    async fn idl_version(&self) -> Result<u32> {
        let known = self.inner.idl.load(Ordering::Acquire);
        if known != 0 {
            return Ok(known);
        }
        let mut version = 1;
        for v in (2..=6).rev() {
            let is_a = self
                .send(&ops::IsA {
                    repo_id: ops::device_repo_id(v),
                })
                .await?;
            if is_a {
                version = v;
                break;
            }
        }
        self.inner.idl.store(version, Ordering::Release);
        Ok(version)
    }

    fn ident(&self, idl: u32) -> ClntIdent {
        ClntIdent::for_idl(idl, self.inner.pid)
    }

    async fn need_idl(&self, min: u32, what: &str) -> Result<u32> {
        let idl = self.idl_version().await?;
        if idl < min {
            return Err(Error::NotSupported(format!(
                "{what} on {} needs a server of IDL {min} or later; it has IDL {idl}",
                self.dev_name()
            )));
        }
        Ok(idl)
    }

    /// The device state.
    pub async fn state(&self) -> Result<DevState> {
        self.idl_version().await?;
        self.send(&ops::GetState {}).await
    }

    /// The device status text.
    pub async fn status(&self) -> Result<String> {
        self.idl_version().await?;
        self.send(&ops::GetStatus {}).await
    }

    /// Pings the device; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration> {
        self.idl_version().await?;
        let t = Instant::now();
        self.send(&ops::Ping {}).await?;
        Ok(t.elapsed())
    }

    /// Class, server, host and versions of the device.
    pub async fn info(&self) -> Result<DeviceInfo> {
        let idl = self.need_idl(3, "info").await?;
        if idl >= 6 {
            Ok(self.send(&ops::Info6 {}).await?.into())
        } else {
            Ok(self.send(&ops::Info3 {}).await?.into())
        }
    }

    /// The name of the device's admin device (`dserver/<exec>/<instance>`).
    pub async fn adm_name(&self) -> Result<String> {
        self.idl_version().await?;
        self.send(&ops::GetAdmName {}).await
    }

    /// The device description.
    pub async fn description(&self) -> Result<String> {
        self.idl_version().await?;
        self.send(&ops::GetDescription {}).await
    }

    /// The last `n` requests the device received, as cppTango's text lines.
    pub async fn black_box(&self, n: i32) -> Result<Vec<String>> {
        self.idl_version().await?;
        self.send(&ops::BlackBox { n }).await
    }

    /// Reads one attribute. A read the device reports as failed is an error here (with
    /// the device's error stack and `API_AttributeFailed`), as in PyTango.
    pub async fn read_attribute(&self, name: &str) -> Result<DeviceAttribute> {
        let mut v = self.read_attributes(&[name]).await?;
        let a = v.pop().ok_or_else(|| Error::Marshal {
            operation: "read_attributes".into(),
            detail: "the device returned no value".into(),
        })?;
        if a.has_failed() {
            return Err(Error::DevFailed(a.failure()));
        }
        Ok(a)
    }

    /// Reads several attributes in one request. Attributes whose read failed come back
    /// with `has_failed()` and their errors; accessing their value is an error.
    pub async fn read_attributes(&self, names: &[&str]) -> Result<Vec<DeviceAttribute>> {
        let idl = self.need_idl(4, "read_attributes").await?;
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let source = self.get_source();
        if idl >= 5 {
            let values = self
                .send(&ops::ReadAttributes5 {
                    names,
                    source,
                    ident: self.ident(idl),
                })
                .await?;
            Ok(values.into_iter().map(DeviceAttribute::from_v5).collect())
        } else {
            let values = self
                .send(&ops::ReadAttributes4 {
                    names,
                    source,
                    ident: self.ident(idl),
                })
                .await?;
            Ok(values.into_iter().map(DeviceAttribute::from_v4).collect())
        }
    }

    async fn shape(&self, name: &str) -> Result<AttrShape> {
        let key = name.to_ascii_lowercase();
        if let Some(s) = self.lock_attributes().get(&key) {
            return Ok(*s);
        }
        let info = self.get_attribute_config(name).await?;
        Ok(self.remember(&info))
    }

    fn remember(&self, info: &AttributeInfoEx) -> AttrShape {
        let shape = AttrShape {
            data_type: info.data_type,
            format: info.data_format,
        };
        self.lock_attributes()
            .insert(info.name.to_ascii_lowercase(), shape);
        shape
    }

    fn lock_attributes(&self) -> std::sync::MutexGuard<'_, HashMap<String, AttrShape>> {
        self.inner
            .attributes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn lock_commands(&self) -> std::sync::MutexGuard<'_, HashMap<String, CommandInfo>> {
        self.inner
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the wire value of a write: converts to the attribute's declared type and
    /// checks the shape, as PyTango does after fetching the configuration.
    async fn write_value(&self, name: &str, value: WriteValue) -> Result<AttributeValue4> {
        let shape = self.shape(name).await?;
        let (dim_x, dim_y) = match (shape.format, value.format) {
            (AttrDataFormat::Scalar, _) if value.data.len() != 1 => {
                return Err(Error::type_mismatch(format!(
                    "{name} is a scalar attribute; got {} values",
                    value.data.len()
                )))
            }
            (AttrDataFormat::Scalar, _) => (1, 0),
            (AttrDataFormat::Spectrum, _) => (value.data.len(), 0),
            (AttrDataFormat::Image, AttrDataFormat::Image) => (value.dim_x, value.dim_y),
            (AttrDataFormat::Image, _) if value.data.is_empty() => (0, 0),
            (AttrDataFormat::Image, _) => {
                return Err(Error::type_mismatch(format!(
                    "{name} is an image attribute: write an Image (rows of equal length)"
                )))
            }
            (f, _) => {
                return Err(Error::type_mismatch(format!(
                    "{name} has data format {f}, which cannot be written"
                )))
            }
        };
        check_latin1_data(&value.data)?;
        let data = value.data.convert_to(shape.data_type).map_err(|e| {
            Error::type_mismatch(format!("writing {name} ({}): {e}", shape.data_type))
        })?;
        let w_dim = AttributeDim {
            dim_x: to_i32(dim_x, "dim_x")?,
            dim_y: to_i32(dim_y, "dim_y")?,
        };
        Ok(AttributeValue4 {
            value: data.into_union(),
            quality: AttrQuality::Valid,
            data_format: shape.format,
            time: TimeVal::default(),
            name: name.to_owned(),
            r_dim: w_dim,
            w_dim,
            err_list: Vec::new(),
        })
    }

    /// Writes one attribute. The value is converted to the attribute's type (numbers
    /// that fit convert; anything else is a clear error before any write is sent).
    pub async fn write_attribute(&self, name: &str, value: impl Into<WriteValue>) -> Result<()> {
        self.write_attributes(vec![(name, value.into())])
            .await
            .map_err(single_write_error)
    }

    /// Writes several attributes in one request.
    pub async fn write_attributes(&self, values: Vec<(&str, WriteValue)>) -> Result<()> {
        let idl = self.need_idl(4, "write_attributes").await?;
        let mut wire = Vec::with_capacity(values.len());
        for (n, v) in values {
            wire.push(self.write_value(n, v).await?);
        }
        let values = wire;
        self.send(&ops::WriteAttributes4 {
            values,
            ident: self.ident(idl),
        })
        .await?;
        Ok(())
    }

    /// Writes an attribute and reads it back in one request.
    pub async fn write_read_attribute(
        &self,
        name: &str,
        value: impl Into<WriteValue>,
    ) -> Result<DeviceAttribute> {
        let mut v = self
            .write_read_attributes(vec![(name, value.into())], &[name])
            .await
            .map_err(single_write_error)?;
        let a = v.pop().ok_or_else(|| Error::Marshal {
            operation: "write_read_attributes".into(),
            detail: "the device returned no value".into(),
        })?;
        if a.has_failed() {
            return Err(Error::DevFailed(a.failure()));
        }
        Ok(a)
    }

    /// Writes attributes, then reads `read_names`, in one request.
    pub async fn write_read_attributes(
        &self,
        values: Vec<(&str, WriteValue)>,
        read_names: &[&str],
    ) -> Result<Vec<DeviceAttribute>> {
        let idl = self.need_idl(4, "write_read_attributes").await?;
        let mut wire = Vec::with_capacity(values.len());
        for (n, v) in values {
            wire.push(self.write_value(n, v).await?);
        }
        let values = wire;
        if idl >= 5 {
            let r = self
                .send(&ops::WriteReadAttributes5 {
                    values,
                    r_names: read_names.iter().map(|s| (*s).to_owned()).collect(),
                    ident: self.ident(idl),
                })
                .await?;
            Ok(r.into_iter().map(DeviceAttribute::from_v5).collect())
        } else {
            let r = self
                .send(&ops::WriteReadAttributes4 {
                    values,
                    ident: self.ident(idl),
                })
                .await?;
            Ok(r.into_iter().map(DeviceAttribute::from_v4).collect())
        }
    }

    /// Runs a command. The argument is converted to the command's declared input type
    /// (learnt once per proxy with `command_query`); use `()` for `DevVoid`.
    pub async fn command_inout(
        &self,
        command: &str,
        arg: impl IntoCommandData,
    ) -> Result<CommandData> {
        let idl = self.need_idl(2, "command_inout").await?;
        let arg = arg.into_command_data();
        check_latin1_command(&arg)?;
        let info = self
            .lock_commands()
            .get(&command.to_ascii_lowercase())
            .cloned();
        let (argin, out_type) = match (&arg, info) {
            (_, Some(info)) => (
                convert_command_arg_or_void(arg, info.in_type)?,
                Some(info.out_type),
            ),
            // No argument: no need to know the signature (cppTango sends none either).
            (CommandData::Void, None) => (arg, None),
            (_, None) => {
                let info = self.command_query(command).await?;
                (
                    convert_command_arg_or_void(arg, info.in_type)?,
                    Some(info.out_type),
                )
            }
        };
        let out = if idl >= 4 {
            self.send(&ops::CommandInout4 {
                command: command.to_owned(),
                argin,
                source: self.get_source(),
                ident: self.ident(idl),
            })
            .await?
        } else {
            self.send(&ops::CommandInout2 {
                command: command.to_owned(),
                argin,
                source: self.get_source(),
            })
            .await?
        };
        Ok(match (out, out_type) {
            (CommandData::Short(v), Some(CmdArgType::DevEnum)) => CommandData::Enum(v),
            (out, _) => out,
        })
    }

    /// A command's signature.
    pub async fn command_query(&self, command: &str) -> Result<CommandInfo> {
        self.need_idl(2, "command_query").await?;
        let info: CommandInfo = self
            .send(&ops::CommandQuery2 {
                command: command.to_owned(),
            })
            .await?
            .into();
        self.lock_commands()
            .insert(command.to_ascii_lowercase(), info.clone());
        Ok(info)
    }

    /// Every command's signature.
    pub async fn command_list_query(&self) -> Result<Vec<CommandInfo>> {
        self.need_idl(2, "command_list_query").await?;
        let list: Vec<CommandInfo> = self
            .send(&ops::CommandListQuery2 {})
            .await?
            .into_iter()
            .map(CommandInfo::from)
            .collect();
        let mut cache = self.lock_commands();
        for c in &list {
            cache.insert(c.cmd_name.to_ascii_lowercase(), c.clone());
        }
        Ok(list)
    }

    /// The names of the commands.
    pub async fn get_command_list(&self) -> Result<Vec<String>> {
        Ok(self
            .command_list_query()
            .await?
            .into_iter()
            .map(|c| c.cmd_name)
            .collect())
    }

    /// One attribute's configuration.
    pub async fn get_attribute_config(&self, name: &str) -> Result<AttributeInfoEx> {
        let mut v = self.get_attribute_config_list(&[name]).await?;
        v.pop().ok_or_else(|| Error::Marshal {
            operation: "get_attribute_config".into(),
            detail: "the device returned no configuration".into(),
        })
    }

    /// Several attributes' configurations.
    pub async fn get_attribute_config_list(&self, names: &[&str]) -> Result<Vec<AttributeInfoEx>> {
        let idl = self.need_idl(3, "get_attribute_config").await?;
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let list: Vec<AttributeInfoEx> = if idl >= 5 {
            self.send(&ops::GetAttributeConfig5 { names })
                .await?
                .into_iter()
                .map(AttributeInfoEx::from)
                .collect()
        } else {
            self.send(&ops::GetAttributeConfig3 { names })
                .await?
                .into_iter()
                .map(AttributeInfoEx::from)
                .collect()
        };
        for info in &list {
            self.remember(info);
        }
        Ok(list)
    }

    /// Every attribute's full configuration.
    pub async fn attribute_list_query_ex(&self) -> Result<Vec<AttributeInfoEx>> {
        self.get_attribute_config_list(&[ops::ALL_ATTRIBUTES]).await
    }

    /// Every attribute's IDL 2 configuration.
    pub async fn attribute_list_query(&self) -> Result<Vec<AttributeInfo>> {
        self.need_idl(2, "attribute_list_query").await?;
        Ok(self
            .send(&ops::GetAttributeConfig2 {
                names: vec![ops::ALL_ATTRIBUTES.to_owned()],
            })
            .await?
            .into_iter()
            .map(AttributeInfo::from)
            .collect())
    }

    /// The names of the attributes.
    pub async fn get_attribute_list(&self) -> Result<Vec<String>> {
        Ok(self
            .attribute_list_query_ex()
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect())
    }
}

/// A one-attribute write fails with the attribute's own errors as a `DevFailed`, as
/// cppTango's `write_attribute` rethrows the server's `MultiDevFailed`.
fn single_write_error(e: Error) -> Error {
    match e {
        Error::MultiDevFailed(m) if m.errors.len() == 1 => {
            Error::DevFailed(tango_core::idl::DevFailed {
                errors: m
                    .errors
                    .into_iter()
                    .next()
                    .map(|n| n.err_list)
                    .unwrap_or_default(),
            })
        }
        other => other,
    }
}

fn convert_command_arg_or_void(arg: CommandData, in_type: CmdArgType) -> Result<CommandData> {
    match (&arg, in_type) {
        (CommandData::Void, CmdArgType::DevVoid) => Ok(arg),
        (CommandData::Void, t) => Err(Error::type_mismatch(format!(
            "the command needs an argument of type {t}"
        ))),
        _ => Ok(convert_command_arg(arg, in_type)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Connection;

    fn assert_send<F: std::future::Future + Send>(_: F) {}

    /// Async runtimes spawn these futures on any thread: they must be `Send`.
    #[test]
    fn futures_are_send() {
        let p: Option<ProxyCore<Connection>> = None;
        if let Some(p) = p {
            assert_send(p.state());
            assert_send(p.read_attribute("x"));
            assert_send(p.write_attribute("x", 1.0));
            assert_send(p.command_inout("x", 1.0));
            assert_send(p.get_attribute_list());
            assert_send(p.write_read_attributes(vec![], &[]));
        }
        assert_send(ProxyCore::<Connection>::connect("a/b/c", DEFAULT_TIMEOUT));
    }
}
