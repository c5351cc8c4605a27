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
    AttrDataFormat, AttrQuality, AttributeConfig3, AttributeConfig5, AttributeDim, AttributeValue4,
    ClntIdent, CmdArgType, DevSource, DevState, TimeVal,
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

    /// Changes one attribute's configuration (cppTango's and PyTango's
    /// `set_attribute_config`): the server takes label, unit, format, description, display
    /// level, limits, alarms and event settings from `info` (the attribute is the one
    /// `info.name` names); it keeps the attribute's name, type, format, writability and
    /// dimensions. Get the configuration with [`ProxyCore::get_attribute_config`], change
    /// what you need and send it back; an unchanged configuration leaves the server's
    /// unchanged. As in Tango, `""` or `"NaN"` returns a property to its default and
    /// `"Not specified"` unsets a limit.
    ///
    /// The server's refusals come back as [`Error::DevFailed`] with its reason:
    /// `API_AttrNotFound` for an unknown attribute, `API_AttrOptProp` for a limit that is
    /// not a number, `API_IncoherentValues` for a range whose low end is not below its
    /// high end (cppTango's reasons, which ours gives too). Sent as
    /// `set_attribute_config_5` to IDL 5 and 6 servers, `set_attribute_config_4` to IDL 4
    /// and `set_attribute_config_3` to IDL 3; older servers get [`Error::NotSupported`].
    pub async fn set_attribute_config(&self, info: &AttributeInfoEx) -> Result<()> {
        self.set_attribute_config_list(std::slice::from_ref(info))
            .await
    }

    /// Changes several attributes' configurations in one request (see
    /// [`ProxyCore::set_attribute_config`]). The server applies them in order and stops
    /// at the first it refuses. An empty list sends nothing: cppTango servers answer an
    /// empty `set_attribute_config_5` with a CORBA `BAD_PARAM`.
    pub async fn set_attribute_config_list(&self, infos: &[AttributeInfoEx]) -> Result<()> {
        for info in infos {
            info.strings()
                .try_for_each(tango_core::value::check_latin1)?;
        }
        if infos.is_empty() {
            return Ok(());
        }
        let idl = self.need_idl(3, "set_attribute_config").await?;
        if idl >= 5 {
            self.send(&ops::SetAttributeConfig5 {
                configs: infos.iter().map(AttributeConfig5::from).collect(),
                ident: self.ident(idl),
            })
            .await?;
        } else if idl == 4 {
            self.send(&ops::SetAttributeConfig4 {
                configs: infos.iter().map(AttributeConfig3::from).collect(),
                ident: self.ident(idl),
            })
            .await?;
        } else {
            self.send(&ops::SetAttributeConfig3 {
                configs: infos.iter().map(AttributeConfig3::from).collect(),
            })
            .await?;
        }
        Ok(())
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
            assert_send(p.set_attribute_config_list(&[]));
        }
        assert_send(ProxyCore::<Connection>::connect("a/b/c", DEFAULT_TIMEOUT));
    }

    /// A transport that records what it is asked to send: a server of IDL `port` (the
    /// port number of the device name) that accepts everything.
    struct Scripted {
        idl: u32,
        sent: Mutex<Vec<(&'static str, Vec<u8>)>>,
    }

    impl Transport for Scripted {
        fn for_endpoint(_: &str, port: u16) -> Arc<Self> {
            Arc::new(Scripted {
                idl: u32::from(port),
                sent: Mutex::default(),
            })
        }

        fn call<'a, O: Operation + Sync>(
            &'a self,
            _: CallSite<'a>,
            op: &'a O,
        ) -> impl std::future::Future<Output = Result<O::Output>> + Send + 'a
        where
            O::Output: Send,
        {
            let mut w = tango_core::cdr::CdrWriter::new();
            op.encode_args(&mut w);
            let args = w.into_bytes();
            let mut reply = tango_core::cdr::CdrWriter::new();
            if op.name() == "_is_a" {
                let mut r = tango_core::cdr::CdrReader::new(&args, ByteOrder::Little);
                let asked = <String as tango_core::cdr::CdrDecode>::decode(&mut r).unwrap();
                reply.write_bool(asked == ops::device_repo_id(self.idl));
            }
            self.sent.lock().unwrap().push((op.name(), args));
            let reply = reply.into_bytes();
            let mut r = tango_core::cdr::CdrReader::new(&reply, ByteOrder::Little);
            std::future::ready(O::decode_result(&mut r).map_err(|e| Error::Marshal {
                operation: op.name().into(),
                detail: e.to_string(),
            }))
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the scripted transport is never pending"),
        }
    }

    fn scripted(idl: u16) -> ProxyCore<Scripted> {
        let name = format!("tango://127.0.0.1:{idl}/sys/tg_test/1#dbase=no");
        block_on(ProxyCore::<Scripted>::connect(&name, DEFAULT_TIMEOUT)).unwrap()
    }

    /// What the proxy sent after the handshake.
    fn sent_after_handshake(p: &ProxyCore<Scripted>) -> Vec<(&'static str, Vec<u8>)> {
        let sent = p.inner.conn.sent.lock().unwrap();
        sent.iter()
            .filter(|(n, _)| *n != "_is_a")
            .cloned()
            .collect()
    }

    fn info() -> AttributeInfoEx {
        let mut c = tango_core::idl::AttributeConfig5 {
            name: "double_scalar".into(),
            data_type: CmdArgType::DevDouble.code(),
            memorized: true,
            label: "Position".into(),
            unit: "mm".into(),
            min_value: "-1".into(),
            max_value: "1".into(),
            root_attr_name: "x/y/z/a".into(),
            ..Default::default()
        };
        c.att_alarm.max_alarm = "0.5".into();
        AttributeInfoEx::from(c)
    }

    /// The bytes of a request body written by `parts` in turn.
    fn encoded(parts: &[&dyn Fn(&mut CdrWriter)]) -> Vec<u8> {
        let mut w = CdrWriter::new();
        for p in parts {
            p(&mut w);
        }
        w.into_bytes()
    }

    use tango_core::cdr::{ByteOrder, CdrEncode, CdrWriter};

    #[test]
    fn set_attribute_config_picks_the_operation_of_the_idl_version() {
        let infos = [info(), info()];
        let v5: Vec<AttributeConfig5> = infos.iter().map(AttributeConfig5::from).collect();
        let v3: Vec<AttributeConfig3> = infos.iter().map(AttributeConfig3::from).collect();
        let pid = std::process::id();
        for (idl, op, body) in [
            (
                6,
                "set_attribute_config_5",
                encoded(&[&|w| v5.encode(w), &|w| ClntIdent::for_idl(6, pid).encode(w)]),
            ),
            (
                5,
                "set_attribute_config_5",
                encoded(&[&|w| v5.encode(w), &|w| ClntIdent::Cpp(pid).encode(w)]),
            ),
            (
                4,
                "set_attribute_config_4",
                encoded(&[&|w| v3.encode(w), &|w| ClntIdent::Cpp(pid).encode(w)]),
            ),
            (3, "set_attribute_config_3", encoded(&[&|w| v3.encode(w)])),
        ] {
            let p = scripted(idl);
            assert_eq!(block_on(p.get_idl_version()).unwrap(), u32::from(idl));
            block_on(p.set_attribute_config_list(&infos)).unwrap();
            let sent = sent_after_handshake(&p);
            assert_eq!(sent.len(), 1, "IDL {idl}");
            assert_eq!(sent[0].0, op, "IDL {idl}");
            assert_eq!(sent[0].1, body, "IDL {idl}");
        }
    }

    #[test]
    fn set_attribute_config_sends_one_configuration() {
        let p = scripted(5);
        block_on(p.set_attribute_config(&info())).unwrap();
        let sent = sent_after_handshake(&p);
        let mut r = tango_core::cdr::CdrReader::new(&sent[0].1, ByteOrder::Little);
        let op = <ops::SetAttributeConfig5 as ops::OperationArgs>::decode_args(&mut r).unwrap();
        assert_eq!(op.configs, vec![AttributeConfig5::from(&info())]);
        assert_eq!(AttributeInfoEx::from(op.configs[0].clone()), info());
    }

    #[test]
    fn empty_set_attribute_config_list_sends_nothing() {
        let p = scripted(6);
        block_on(p.set_attribute_config_list(&[])).unwrap();
        assert!(sent_after_handshake(&p).is_empty());
    }

    #[test]
    fn set_attribute_config_needs_idl_3() {
        let p = scripted(2);
        let err = block_on(p.set_attribute_config(&info())).unwrap_err();
        assert!(matches!(err, Error::NotSupported(_)), "{err}");
        assert!(err.to_string().contains("IDL 3"), "{err}");
        assert!(sent_after_handshake(&p).is_empty());
    }

    #[test]
    fn set_attribute_config_refuses_non_latin1_before_sending() {
        let p = scripted(6);
        let mut i = info();
        i.unit = "\u{20ac}".into();
        let err = block_on(p.set_attribute_config(&i)).unwrap_err();
        assert!(matches!(err, Error::Type(_)), "{err}");
        let mut i = info();
        i.events.ch_event.extensions = vec!["\u{3bc}s".into()];
        assert!(block_on(p.set_attribute_config_list(&[info(), i])).is_err());
        assert!(sent_after_handshake(&p).is_empty());
        // Latin-1 itself is fine (micro sign, degree).
        let mut i = info();
        i.unit = "\u{b5}m \u{b0}C".into();
        block_on(p.set_attribute_config(&i)).unwrap();
    }
}
