//! The [`Dispatcher`]: one GIOP message in, a [`Step`] out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::any::{Any, CommandData};
use crate::cdr::{CdrEncode, CdrReader, CdrWriter};
use crate::device::{
    AttrDef, AttrReading, Builtin, Call, ClassInfo, DeviceClass, DeviceCtx, Outcome,
};
use crate::giop::{
    self, minor, CompletionStatus, GiopError, LocateStatus, Message, MsgType, ReplyHeader,
    ReplyStatus, SystemException, Version,
};
use crate::idl::{
    AttrDataFormat, AttrQuality, AttrValUnion, AttrWriteType, AttributeConfig, AttributeConfig2,
    AttributeConfig3, AttributeConfig5, AttributeDim, AttributeValue4, ClntIdent, CmdArgType,
    DevAttrHistory, DevAttrHistory3, DevAttrHistory4, DevAttrHistory5, DevCmdHistory,
    DevCmdHistory4, DevCmdInfo, DevCmdInfo2, DevCmdInfo6, DevFailed, DevInfo, DevInfo3, DevInfo6,
    DevInfoVersion, DevSource, EltInArray, MultiDevFailed, NamedDevError, TimeVal,
};
use crate::ops::{self, OperationArgs};
use crate::value::{self, AttrData, WriteValue};

use super::admin::{self, ServerShared};
use super::args::{
    CmdName, History, Names, NoArgs, ReadAttributes1, ReadAttributes2, SetAttributeConfig1,
    SetAttributeConfig3, SetAttributeConfig4, WriteAttributes1,
};
use super::polling::{PollRecord, PolledKind, PolledValue};
use super::values::{self, Built};
use super::{DeviceId, ServerConfig, Step};

/// How many requests each device's black box keeps.
pub const BLACK_BOX_DEPTH: usize = 50;

const DOC_URL: &str = "Doc URL = http://www.tango-controls.org";

/// The sans-IO device server: devices, their live attribute configuration and set
/// points, and the translation of GIOP requests into replies and [`Job`]s.
///
/// `Send + Sync`; every method takes `&self`. Connections may call [`Dispatcher::handle`]
/// concurrently; device code never runs inside it.
pub struct Dispatcher {
    shared: Arc<ServerShared>,
    admin_class: DeviceClass,
    registry: RwLock<Registry>,
}

#[derive(Default)]
struct Registry {
    devices: Vec<Arc<Entry>>,
    by_key: HashMap<Vec<u8>, usize>,
}

struct Entry {
    id: DeviceId,
    name: String,
    class: DeviceClass,
    ctx: DeviceCtx,
    live: Mutex<Live>,
}

impl Entry {
    fn info(&self) -> &ClassInfo {
        &self.class.info
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What changes per device while the server runs.
struct Live {
    /// Attribute configurations as changed by `set_attribute_config` (class index order).
    configs: Vec<AttributeConfig5>,
    /// The last value written to each attribute.
    set_points: Vec<Option<WriteValue>>,
    /// The last requests, newest last.
    black_box: VecDeque<String>,
}

/// A request that needs device code: run [`Job::calls`] on [`Job::device`], in order,
/// then give the outcomes to [`Dispatcher::finish`].
#[derive(Debug)]
pub struct Job {
    /// The device whose code runs.
    pub device: DeviceId,
    /// What to run, in order.
    pub calls: Vec<Call>,
    pending: Pending,
}

#[derive(Debug)]
struct Pending {
    request_id: u32,
    version: Version,
    respond: bool,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    GetState,
    GetStatus,
    Command,
    Read(ReadForm, Vec<ReadSlot>),
    Write(WriteForm, Vec<WriteSlot>, Vec<ReadSlot>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadForm {
    V1,
    V3,
    V4,
    V5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteForm {
    /// IDL 1 `write_attributes`: a `DevFailed`.
    V1,
    /// `write_attributes_3/_4`: `MultiDevFailed`, void result.
    Multi,
    /// `write_read_attributes_4`: `MultiDevFailed`, `AttributeValueList_4`.
    Read4,
    /// `write_read_attributes_5`: `MultiDevFailed`, `AttributeValueList_5`.
    Read5,
}

#[derive(Debug)]
enum ReadSlot {
    Ready(Box<Built>),
    Call { attr: usize, call: usize },
}

#[derive(Debug)]
enum WriteSlot {
    Failed {
        name: String,
        index: usize,
        err: DevFailed,
    },
    Call {
        name: String,
        index: usize,
        attr: usize,
        call: usize,
        value: WriteValue,
    },
}

/// Per-request facts the answer needs.
struct Req<'a> {
    version: Version,
    id: u32,
    respond: bool,
    op: &'a str,
    host: &'a str,
    now: TimeVal,
}

impl Req<'_> {
    fn reply(&self, status: ReplyStatus, body: impl FnOnce(&mut CdrWriter)) -> Step {
        if !self.respond {
            return Step::NoReply;
        }
        reply_bytes(self.version, self.id, status, body)
    }

    fn ok<T: CdrEncode + ?Sized>(&self, v: &T) -> Step {
        self.reply(ReplyStatus::NoException, |w| w.put(v))
    }

    fn void(&self) -> Step {
        self.reply(ReplyStatus::NoException, |_| {})
    }

    fn failed(&self, df: &DevFailed) -> Step {
        self.reply(ReplyStatus::UserException, |w| df.encode_exception(w))
    }

    fn system(&self, name: &str, minor: u32) -> Step {
        if !self.respond {
            return Step::NoReply;
        }
        Step::Reply(giop::encode_system_exception_reply(
            self.version,
            self.id,
            &SystemException::new(name, minor, CompletionStatus::No),
        ))
    }

    fn marshal(&self) -> Step {
        self.system("MARSHAL", minor::MARSHAL_PASS_END_OF_MESSAGE)
    }

    fn job(&self, device: DeviceId, calls: Vec<Call>, kind: Kind) -> Step {
        Step::Run(Job {
            device,
            calls,
            pending: Pending {
                request_id: self.id,
                version: self.version,
                respond: self.respond,
                kind,
            },
        })
    }
}

fn reply_bytes(
    version: Version,
    request_id: u32,
    status: ReplyStatus,
    body: impl FnOnce(&mut CdrWriter),
) -> Step {
    let header = ReplyHeader {
        request_id,
        status,
        service_contexts: Vec::new(),
    };
    Step::Reply(giop::encode_reply(version, &header, body))
}

fn df(reason: &str, desc: impl Into<String>, origin: &str) -> DevFailed {
    DevFailed::new(reason, desc, origin)
}

fn source_name(s: DevSource) -> &'static str {
    match s {
        DevSource::Dev => "device",
        DevSource::Cache => "cache",
        DevSource::CacheDev => "cache_device",
    }
}

fn ident_suffix(ident: Option<&ClntIdent>) -> String {
    match ident {
        Some(ClntIdent::Cpp(pid)) | Some(ClntIdent::Cpp6 { pid, .. }) => {
            format!(" (CPP/Python client with PID {pid})")
        }
        Some(ClntIdent::Java { main_class, .. }) | Some(ClntIdent::Java6 { main_class, .. }) => {
            format!(" (Java client with main class {main_class})")
        }
        None => String::new(),
    }
}

fn is_all(names: &[String]) -> bool {
    names.len() == 1 && (names[0] == "All attributes" || names[0] == ops::ALL_ATTRIBUTES)
}

fn decode<T: OperationArgs>(r: &mut CdrReader<'_>) -> Option<T> {
    T::decode_args(r).ok()
}

impl Dispatcher {
    /// A server with only its admin device `dserver/<exec>/<instance>` (`DeviceId(0)`).
    pub fn new(config: ServerConfig) -> Self {
        let shared = ServerShared::new(config);
        let admin_class = admin::admin_class(shared.clone());
        let d = Dispatcher {
            shared,
            admin_class: admin_class.clone(),
            registry: RwLock::new(Registry::default()),
        };
        let name = d.admin_name();
        d.register(&admin_class, &name)
            .expect("the admin device is the first device");
        d
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// What the admin device and the dispatcher share (polling table, device list...).
    pub fn shared(&self) -> &Arc<ServerShared> {
        &self.shared
    }

    /// `dserver/<exec>/<instance>` (case as given; its object key is lower-cased).
    pub fn admin_name(&self) -> String {
        self.shared.config.admin_name()
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn register(
        &self,
        class: &DeviceClass,
        name: &str,
    ) -> Result<(DeviceId, DeviceCtx), DevFailed> {
        let key = name.to_lowercase().into_bytes();
        let mut reg = self.registry.write().unwrap_or_else(|p| p.into_inner());
        if name.is_empty() || reg.by_key.contains_key(&key) {
            return Err(df(
                "API_DeviceAlreadyDefined",
                format!("Device {name} is already defined in this server (or the name is empty)"),
                "Dispatcher::add_device",
            ));
        }
        let id = DeviceId(reg.devices.len());
        let ctx = DeviceCtx::new(name);
        let info = &class.info;
        let entry = Entry {
            id,
            name: name.to_owned(),
            class: class.clone(),
            ctx: ctx.clone(),
            live: Mutex::new(Live {
                configs: info.attributes.iter().map(|a| a.config.clone()).collect(),
                set_points: vec![None; info.attributes.len()],
                black_box: VecDeque::new(),
            }),
        };
        let index = reg.devices.len();
        reg.by_key.insert(key, index);
        reg.devices.push(Arc::new(entry));
        drop(reg);
        self.shared.add_device(admin::DeviceRecord {
            id,
            name: name.to_owned(),
            class_name: class.name().to_owned(),
            class_info: class.info.clone(),
        });
        Ok((id, ctx))
    }

    /// Registers a device of `class` named `name` (stored as given; its object key is the
    /// lower-cased name). The adapter then makes the device object with
    /// `class.new_device(&ctx)`, calls `init_device` and owns it.
    pub fn add_device(
        &self,
        class: &DeviceClass,
        name: &str,
    ) -> Result<(DeviceId, DeviceCtx), DevFailed> {
        self.register(class, name)
    }

    /// The admin device, registered by [`Dispatcher::new`].
    pub fn admin_device(&self) -> (DeviceId, DeviceCtx, DeviceClass) {
        let e = self.entry(DeviceId(0)).expect("admin device");
        (e.id, e.ctx.clone(), self.admin_class.clone())
    }

    /// Every device: id, name, class name; the admin device first.
    pub fn devices(&self) -> Vec<(DeviceId, String, String)> {
        self.registry()
            .devices
            .iter()
            .map(|e| (e.id, e.name.clone(), e.class.name().to_owned()))
            .collect()
    }

    /// The device named `name`, compared case-insensitively.
    pub fn device_id(&self, name: &str) -> Option<DeviceId> {
        let key = name.to_lowercase().into_bytes();
        let reg = self.registry();
        reg.by_key.get(&key).map(|&i| reg.devices[i].id)
    }

    /// The class description of a device.
    ///
    /// # Panics
    /// If `id` was not returned by this dispatcher.
    pub fn class_info(&self, id: DeviceId) -> Arc<ClassInfo> {
        self.entry(id).expect("known device id").class.info.clone()
    }

    /// The context (name, state, status) of a device.
    pub fn device_ctx(&self, id: DeviceId) -> Option<DeviceCtx> {
        self.entry(id).map(|e| e.ctx.clone())
    }

    /// The live configuration of one attribute (after `set_attribute_config`).
    pub fn attribute_config(&self, id: DeviceId, attr: &str) -> Option<AttributeConfig5> {
        let e = self.entry(id)?;
        let i = e.info().attribute(attr)?;
        let live = e.live();
        live.configs.get(i).cloned()
    }

    /// The last value written to an attribute, if any.
    pub fn set_point(&self, id: DeviceId, attr: &str) -> Option<WriteValue> {
        let e = self.entry(id)?;
        let i = e.info().attribute(attr)?;
        let live = e.live();
        live.set_points.get(i).cloned().flatten()
    }

    fn entry(&self, id: DeviceId) -> Option<Arc<Entry>> {
        self.registry().devices.get(id.0).cloned()
    }

    fn entry_by_key(&self, key: &[u8]) -> Option<Arc<Entry>> {
        let reg = self.registry();
        reg.by_key.get(key).map(|&i| reg.devices[i].clone())
    }

    /// A control action the last admin command asked for (Kill, RestartServer...).
    pub fn take_control(&self) -> Option<admin::Control> {
        self.shared.take_control()
    }

    /// A framing error on a connection: omniORB closes it without a `MessageError`
    /// (wire-notes §7), and so do we.
    pub fn on_framing_error(&self, _err: &GiopError) -> Step {
        Step::Close
    }

    /// One complete GIOP message from a connection; `peer` (`"127.0.0.1:5555"`) is for
    /// the black box, `now` the wall-clock time.
    pub fn handle(&self, msg: &Message, peer: &str, now: TimeVal) -> Step {
        let version = msg.header.version;
        match msg.header.msg_type {
            MsgType::Request => self.request(msg, peer, now),
            MsgType::LocateRequest => match giop::decode_locate_request(msg) {
                Ok((id, key)) => {
                    let status = if self.entry_by_key(&key).is_some() {
                        LocateStatus::ObjectHere
                    } else {
                        LocateStatus::UnknownObject
                    };
                    Step::Reply(giop::encode_locate_reply(version, id, status))
                }
                Err(_) => Step::Close,
            },
            // omniORB closes a 1.0 connection on CancelRequest; 1.1/1.2 may cancel, and
            // we answer every request anyway, so the cancel is ignored.
            MsgType::CancelRequest if version.minor >= 1 => Step::NoReply,
            _ => Step::Close,
        }
    }

    fn request(&self, msg: &Message, peer: &str, now: TimeVal) -> Step {
        let Ok((hdr, mut r)) = giop::decode_request(msg) else {
            return Step::Close;
        };
        let host = peer
            .rsplit_once(':')
            .map_or(peer, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let rq = Req {
            version: msg.header.version,
            id: hdr.request_id,
            respond: hdr.response_expected,
            op: &hdr.operation,
            host,
            now,
        };
        let Some(e) = self.entry_by_key(&hdr.object_key) else {
            return rq.system("OBJECT_NOT_EXIST", minor::OBJECT_NOT_EXIST_NO_MATCH);
        };
        self.operation(&e, &rq, &mut r)
    }

    fn black_box(&self, e: &Entry, rq: &Req<'_>, detail: &str, ident: Option<&ClntIdent>) {
        let line = if rq.op.starts_with("_get_") {
            format!(
                "{} : Attribute {} requested from {}",
                values::format_time(rq.now),
                &rq.op[5..],
                rq.host
            )
        } else {
            format!(
                "{} : Operation {}{} requested from {}{}",
                values::format_time(rq.now),
                rq.op,
                detail,
                rq.host,
                ident_suffix(ident)
            )
        };
        let mut live = e.live();
        if live.black_box.len() >= BLACK_BOX_DEPTH {
            live.black_box.pop_front();
        }
        live.black_box.push_back(line);
    }

    fn operation(&self, e: &Entry, rq: &Req<'_>, r: &mut CdrReader<'_>) -> Step {
        let idl = self.shared.config.idl_version;
        macro_rules! args {
            ($t:ty) => {
                match decode::<$t>(r) {
                    Some(a) => a,
                    None => return rq.marshal(),
                }
            };
        }
        macro_rules! bb {
            () => {
                self.black_box(e, rq, "", None)
            };
            ($detail:expr) => {
                self.black_box(e, rq, &$detail, None)
            };
            ($detail:expr, $ident:expr) => {
                self.black_box(e, rq, &$detail, Some($ident))
            };
        }
        match rq.op {
            "_is_a" => {
                let a = args!(ops::IsA);
                let yes = a.repo_id == "IDL:omg.org/CORBA/Object:1.0"
                    || (1..=idl.max(1)).any(|v| ops::device_repo_id(v) == a.repo_id);
                rq.ok(&yes)
            }
            "_non_existent" => {
                args!(NoArgs);
                rq.ok(&false)
            }
            "ping" => {
                args!(NoArgs);
                bb!();
                rq.void()
            }
            "info" => {
                args!(NoArgs);
                bb!();
                rq.ok(&self.dev_info(e))
            }
            "info_3" => {
                args!(NoArgs);
                bb!();
                let i = self.dev_info(e);
                rq.ok(&DevInfo3 {
                    dev_class: i.dev_class,
                    server_id: i.server_id,
                    server_host: i.server_host,
                    server_version: i.server_version,
                    doc_url: i.doc_url,
                    dev_type: "Uninitialised".to_owned(),
                })
            }
            "info_6" if idl >= 6 => {
                args!(NoArgs);
                bb!();
                let i = self.dev_info(e);
                rq.ok(&DevInfo6 {
                    dev_class: i.dev_class,
                    server_id: i.server_id,
                    server_host: i.server_host,
                    server_version: i.server_version,
                    doc_url: i.doc_url,
                    dev_type: "Uninitialised".to_owned(),
                    version_info: self
                        .shared
                        .config
                        .version_info
                        .iter()
                        .map(|(k, v)| DevInfoVersion {
                            key: k.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                })
            }
            "_get_name" => {
                args!(NoArgs);
                bb!();
                rq.ok(&e.name)
            }
            "_get_description" => {
                args!(NoArgs);
                bb!();
                rq.ok(&e.info().description)
            }
            "_get_adm_name" => {
                args!(NoArgs);
                bb!();
                rq.ok(&self.admin_name())
            }
            "_get_state" => {
                args!(NoArgs);
                bb!();
                rq.job(e.id, vec![Call::State], Kind::GetState)
            }
            "_get_status" => {
                args!(NoArgs);
                bb!();
                rq.job(e.id, vec![Call::Status], Kind::GetStatus)
            }
            "black_box" => {
                let a = args!(ops::BlackBox);
                if a.n <= 0 {
                    return rq.failed(&df(
                        "API_BlackBoxArgument",
                        "Argument to read black box out of range",
                        "BlackBox::read",
                    ));
                }
                let live = e.live();
                if live.black_box.is_empty() {
                    return rq.failed(&df(
                        "API_BlackBoxEmpty",
                        "Nothing stored yet in black-box",
                        "BlackBox::read",
                    ));
                }
                let lines: Vec<String> = live
                    .black_box
                    .iter()
                    .rev()
                    .take(a.n as usize)
                    .cloned()
                    .collect();
                drop(live);
                rq.ok(&lines)
            }
            "command_list_query" => {
                args!(NoArgs);
                bb!();
                let v: Vec<DevCmdInfo> = e.info().commands.iter().map(cmd_info).collect();
                rq.ok(&v)
            }
            "command_list_query_2" => {
                args!(NoArgs);
                bb!();
                let v: Vec<DevCmdInfo2> = e.info().commands.iter().map(cmd_info_2).collect();
                rq.ok(&v)
            }
            "command_list_query_6" if idl >= 6 => {
                args!(NoArgs);
                bb!();
                let v: Vec<DevCmdInfo6> = e.info().commands.iter().map(cmd_info_6).collect();
                rq.ok(&v)
            }
            "command_query" | "command_query_2" | "command_query_6"
                if rq.op != "command_query_6" || idl >= 6 =>
            {
                let a = args!(CmdName);
                bb!();
                let Some(i) = e.info().command(&a.command) else {
                    return rq.failed(&cmd_not_found(&a.command));
                };
                let c = &e.info().commands[i];
                match rq.op {
                    "command_query" => rq.ok(&cmd_info(c)),
                    "command_query_2" => rq.ok(&cmd_info_2(c)),
                    _ => rq.ok(&cmd_info_6(c)),
                }
            }
            "command_inout" => {
                let a = args!(ops::CommandInout);
                bb!(format!(" (cmd = {})", a.command));
                self.command(e, rq, &a.command, a.argin, DevSource::Dev)
            }
            "command_inout_2" => {
                let a = args!(ops::CommandInout2);
                bb!(format!(
                    " (cmd = {}) from {}",
                    a.command,
                    source_name(a.source)
                ));
                self.command(e, rq, &a.command, a.argin, a.source)
            }
            "command_inout_4" => {
                let a = args!(ops::CommandInout4);
                bb!(
                    format!(" (cmd = {}) from {}", a.command, source_name(a.source)),
                    &a.ident
                );
                self.command(e, rq, &a.command, a.argin, a.source)
            }
            "get_attribute_config"
            | "get_attribute_config_2"
            | "get_attribute_config_3"
            | "get_attribute_config_5" => {
                let a = args!(Names);
                bb!();
                let configs = match self.configs(e, &a.names) {
                    Ok(c) => c,
                    Err(err) => return rq.failed(&err),
                };
                match rq.op {
                    "get_attribute_config" => {
                        rq.ok(&configs.into_iter().map(cfg_1).collect::<Vec<_>>())
                    }
                    "get_attribute_config_2" => {
                        rq.ok(&configs.into_iter().map(cfg_2).collect::<Vec<_>>())
                    }
                    "get_attribute_config_3" => rq.ok(&configs
                        .into_iter()
                        .map(AttributeConfig3::from)
                        .collect::<Vec<_>>()),
                    _ => rq.ok(&configs),
                }
            }
            "set_attribute_config" => {
                let a = args!(SetAttributeConfig1);
                bb!();
                self.set_configs(e, rq, a.configs.into_iter().map(Incoming::V1).collect())
            }
            "set_attribute_config_3" => {
                let a = args!(SetAttributeConfig3);
                bb!();
                self.set_configs(e, rq, a.configs.into_iter().map(Incoming::V3).collect())
            }
            "set_attribute_config_4" => {
                let a = args!(SetAttributeConfig4);
                bb!("", &a.ident);
                self.set_configs(e, rq, a.configs.into_iter().map(Incoming::V3).collect())
            }
            "set_attribute_config_5" => {
                let a = args!(ops::SetAttributeConfig5);
                bb!("", &a.ident);
                self.set_configs(e, rq, a.configs.into_iter().map(Incoming::V5).collect())
            }
            "read_attributes" => {
                let a = args!(ReadAttributes1);
                bb!(format!(" ({})", a.names.join(", ")));
                self.read(e, rq, &a.names, DevSource::Dev, ReadForm::V1)
            }
            "read_attributes_2" => {
                let a = args!(ReadAttributes2);
                bb!(format!(
                    " ({}) from {}",
                    a.names.join(", "),
                    source_name(a.source)
                ));
                self.read(e, rq, &a.names, a.source, ReadForm::V1)
            }
            "read_attributes_3" => {
                let a = args!(ReadAttributes2);
                bb!(format!(
                    " ({}) from {}",
                    a.names.join(", "),
                    source_name(a.source)
                ));
                self.read(e, rq, &a.names, a.source, ReadForm::V3)
            }
            "read_attributes_4" | "read_attributes_5" => {
                let a = args!(ops::ReadAttributes5);
                bb!(
                    format!(" ({}) from {}", a.names.join(", "), source_name(a.source)),
                    &a.ident
                );
                let form = if rq.op == "read_attributes_4" {
                    ReadForm::V4
                } else {
                    ReadForm::V5
                };
                self.read(e, rq, &a.names, a.source, form)
            }
            "write_attributes" | "write_attributes_3" => {
                let a = args!(WriteAttributes1);
                let names: Vec<&str> = a.values.iter().map(|v| v.name.as_str()).collect();
                bb!(format!(" ({})", names.join(", ")));
                let values = a.values.into_iter().map(|v| {
                    let u = values::any_to_union(v.value.0).unwrap_or(AttrValUnion::NoData(true));
                    (v.name, u, AttributeDim::new(v.dim_x, v.dim_y))
                });
                let form = if rq.op == "write_attributes" {
                    WriteForm::V1
                } else {
                    WriteForm::Multi
                };
                self.write(e, rq, values.collect(), None, form)
            }
            "write_attributes_4" => {
                let a = args!(ops::WriteAttributes4);
                bb!(format!(" ({})", v4_names(&a.values)), &a.ident);
                self.write(e, rq, v4_values(a.values), None, WriteForm::Multi)
            }
            "write_read_attributes_4" => {
                let a = args!(ops::WriteReadAttributes4);
                bb!(format!(" ({})", v4_names(&a.values)), &a.ident);
                let names = a.values.iter().map(|v| v.name.clone()).collect();
                self.write(e, rq, v4_values(a.values), Some(names), WriteForm::Read4)
            }
            "write_read_attributes_5" => {
                let a = args!(ops::WriteReadAttributes5);
                bb!(format!(" ({})", v4_names(&a.values)), &a.ident);
                self.write(
                    e,
                    rq,
                    v4_values(a.values),
                    Some(a.r_names),
                    WriteForm::Read5,
                )
            }
            "read_attribute_history_2"
            | "read_attribute_history_3"
            | "read_attribute_history_4"
            | "read_attribute_history_5" => {
                let a = args!(History);
                bb!(format!(" ({})", a.name));
                match self.attr_history(e, rq, &a.name, a.n) {
                    Ok(step) => step,
                    Err(err) => rq.failed(&err),
                }
            }
            "command_inout_history_2" | "command_inout_history_4" => {
                let a = args!(History);
                bb!(format!(" ({})", a.name));
                match self.cmd_history(e, rq, &a.name, a.n) {
                    Ok(step) => step,
                    Err(err) => rq.failed(&err),
                }
            }
            _ => rq.system("BAD_OPERATION", minor::BAD_OPERATION_UNKNOWN),
        }
    }

    fn dev_info(&self, e: &Entry) -> DevInfo {
        let c = &self.shared.config;
        DevInfo {
            dev_class: e.class.name().to_owned(),
            server_id: format!("{}/{}", c.exec_name, c.instance),
            server_host: c.host_name.clone(),
            server_version: c.idl_version as i32,
            doc_url: DOC_URL.to_owned(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------------------

    fn command(
        &self,
        e: &Entry,
        rq: &Req<'_>,
        name: &str,
        argin: CommandData,
        source: DevSource,
    ) -> Step {
        let info = e.info();
        let Some(i) = info.command(name) else {
            return rq.failed(&cmd_not_found(name));
        };
        let def = &info.commands[i];
        // Polled commands may be answered from the polling buffer.
        if source != DevSource::Dev && def.builtin.is_none() {
            let table = self
                .shared
                .polling
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if table.is_polled(e.id, PolledKind::Command, &def.name) {
                return match table.last(e.id, PolledKind::Command, &def.name) {
                    Some(PollRecord {
                        value: PolledValue::Cmd(Ok(v)),
                        ..
                    }) => {
                        let v = v.clone();
                        drop(table);
                        rq.reply(ReplyStatus::NoException, |w| v.encode_any(w))
                    }
                    Some(PollRecord {
                        value: PolledValue::Cmd(Err(err)),
                        ..
                    }) => rq.failed(err),
                    _ => rq.failed(&df(
                        "API_NoDataYet",
                        format!("No data available in cache for command {}", def.name),
                        "Device_2Impl::command_inout_2",
                    )),
                };
            }
            if source == DevSource::Cache {
                return rq.failed(&df(
                    "API_CmdNotPolled",
                    format!("Command {} not polled", def.name),
                    "Device_2Impl::command_inout_2",
                ));
            }
        }
        let state = e.ctx.get_state();
        if !def.allowed.contains(state) {
            return rq.failed(&df(
                "API_CommandNotAllowed",
                format!(
                    "Command {} not allowed when the device is in {state} state",
                    def.name
                ),
                "DeviceClass::command_handler",
            ));
        }
        let incompatible = || {
            df(
                "API_IncompatibleCmdArgumentType",
                format!(
                    "Incompatible command argument type, expected type is : Tango::{}",
                    def.in_type
                ),
                "Command::extract()",
            )
        };
        let arg = match (def.in_type, argin) {
            (CmdArgType::DevVoid, CommandData::Void) => CommandData::Void,
            (CmdArgType::DevVoid, _) => return rq.failed(&incompatible()),
            (CmdArgType::DevEnum, CommandData::Short(v) | CommandData::Enum(v)) => {
                CommandData::Enum(v)
            }
            (CmdArgType::DevEnum, _) => return rq.failed(&incompatible()),
            (t, a) => match value::convert_command_arg(a, t) {
                Ok(a) => a,
                Err(_) => return rq.failed(&incompatible()),
            },
        };
        let call = match def.builtin {
            Some(Builtin::Init) => Call::Init,
            Some(Builtin::State) => Call::State,
            Some(Builtin::Status) => Call::Status,
            None => Call::Command(i, arg),
        };
        rq.job(e.id, vec![call], Kind::Command)
    }

    // -----------------------------------------------------------------------------------
    // Attribute configuration
    // -----------------------------------------------------------------------------------

    fn configs(&self, e: &Entry, names: &[String]) -> Result<Vec<AttributeConfig5>, DevFailed> {
        let info = e.info();
        let live = e.live();
        if is_all(names) {
            return Ok(live.configs.clone());
        }
        names
            .iter()
            .map(|n| match info.attribute(n) {
                Some(i) => Ok(live.configs[i].clone()),
                None => Err(attr_not_found(n, "Device_3Impl::get_attribute_config_3")),
            })
            .collect()
    }

    fn set_configs(&self, e: &Entry, rq: &Req<'_>, incoming: Vec<Incoming>) -> Step {
        if incoming.is_empty() {
            // cppTango reads the list's first element unchecked; omniORB's bound check
            // turns that into BAD_PARAM, which clients of cppTango servers already see.
            return rq.system("BAD_PARAM", minor::BAD_PARAM_INDEX_OUT_OF_RANGE);
        }
        let info = e.info();
        for inc in incoming {
            let name = inc.name().to_owned();
            let Some(i) = info.attribute(&name) else {
                return rq.failed(&attr_not_found(
                    &name,
                    "Device_3Impl::set_attribute_config_3",
                ));
            };
            let def = &info.attributes[i];
            let mut live = e.live();
            let merged = inc.merge(&live.configs[i]);
            match apply_config(&e.name, def, &live.configs[i], merged) {
                Ok(c) => live.configs[i] = c,
                Err(err) => return rq.failed(&err),
            }
        }
        rq.void()
    }

    // -----------------------------------------------------------------------------------
    // Reads
    // -----------------------------------------------------------------------------------

    fn read_slot(
        &self,
        e: &Entry,
        name: &str,
        source: DevSource,
        calls: &mut Vec<Call>,
        now: TimeVal,
    ) -> ReadSlot {
        let info = e.info();
        let fail = |err: DevFailed| ReadSlot::Ready(Box::new(Built::failed(name, err, now)));
        let Some(i) = info.attribute(name) else {
            return fail(attr_not_found(
                name,
                "Device_3Impl::read_attributes_no_except",
            ));
        };
        let def = &info.attributes[i];
        let state = e.ctx.get_state();
        if !def.read_allowed.contains(state) {
            return fail(df(
                "API_AttrNotAllowed",
                format!(
                    "It is currently not allowed to read attribute {}",
                    def.name()
                ),
                "Device_3Impl::read_attributes_no_except",
            ));
        }
        match def.builtin {
            Some(Builtin::State) => {
                calls.push(Call::State);
                return ReadSlot::Call {
                    attr: i,
                    call: calls.len() - 1,
                };
            }
            Some(Builtin::Status) => {
                calls.push(Call::Status);
                return ReadSlot::Call {
                    attr: i,
                    call: calls.len() - 1,
                };
            }
            _ => {}
        }
        if source != DevSource::Dev {
            let table = self
                .shared
                .polling
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if table.is_polled(e.id, PolledKind::Attribute, def.name()) {
                let rec = table.last(e.id, PolledKind::Attribute, def.name()).cloned();
                drop(table);
                return match rec {
                    Some(PollRecord {
                        time,
                        value: PolledValue::Attr(Ok(reading)),
                        ..
                    }) => {
                        let t = reading.time.unwrap_or(time);
                        ReadSlot::Ready(Box::new(self.build(e, i, Some(reading), t)))
                    }
                    Some(PollRecord {
                        value: PolledValue::Attr(Err(err)),
                        ..
                    }) => fail(err),
                    _ => fail(df(
                        "API_NoDataYet",
                        format!("No data available in cache for attribute {}", def.name()),
                        "Device_3Impl::read_attributes_from_cache",
                    )),
                };
            }
            if source == DevSource::Cache {
                return fail(df(
                    "API_AttrNotPolled",
                    format!("Attribute {} not polled", def.name()),
                    "Device_3Impl::read_attributes_from_cache",
                ));
            }
        }
        calls.push(Call::Read(i));
        ReadSlot::Call {
            attr: i,
            call: calls.len() - 1,
        }
    }

    fn read(
        &self,
        e: &Entry,
        rq: &Req<'_>,
        names: &[String],
        source: DevSource,
        form: ReadForm,
    ) -> Step {
        let mut calls = Vec::new();
        let slots: Vec<ReadSlot> = names
            .iter()
            .map(|n| self.read_slot(e, n, source, &mut calls, rq.now))
            .collect();
        if calls.is_empty() {
            let built: Vec<Built> = slots
                .into_iter()
                .map(|s| match s {
                    ReadSlot::Ready(b) => *b,
                    ReadSlot::Call { .. } => unreachable!("no calls"),
                })
                .collect();
            return reply_reads(rq.version, rq.id, rq.respond, form, built);
        }
        rq.job(e.id, calls, Kind::Read(form, slots))
    }

    /// The value of attribute `i` from a reading (or its set point alone).
    fn build(&self, e: &Entry, i: usize, reading: Option<AttrReading>, now: TimeVal) -> Built {
        let info = e.info();
        let def = &info.attributes[i];
        let live = e.live();
        let sp_index = match def.writable() {
            AttrWriteType::ReadWithWrite => info.attribute(&def.config.writable_attr_name),
            _ => Some(i),
        };
        let sp = sp_index
            .and_then(|j| live.set_points.get(j))
            .and_then(Option::as_ref);
        values::build(def, &live.configs[i], reading, sp, now)
    }

    fn finish_read(
        &self,
        e: &Entry,
        slot: ReadSlot,
        outcomes: &mut [Option<Outcome>],
        now: TimeVal,
    ) -> Built {
        let (attr, call) = match slot {
            ReadSlot::Ready(b) => return *b,
            ReadSlot::Call { attr, call } => (attr, call),
        };
        let def = &e.info().attributes[attr];
        let name = def.name();
        match outcomes.get_mut(call).and_then(Option::take) {
            Some(Outcome::State(s)) => Built::state(name, s, now),
            Some(Outcome::Status(s)) => Built::status(name, s, now),
            Some(Outcome::Read(Ok(reading))) => self.build(e, attr, Some(reading), now),
            Some(Outcome::Read(Err(err)))
                if err.reason() == Some("API_NotSupportedFeature")
                    && matches!(
                        def.writable(),
                        AttrWriteType::Write | AttrWriteType::ReadWrite
                    ) =>
            {
                self.build(e, attr, None, now)
            }
            Some(Outcome::Read(Err(err))) => Built::failed(name, err, now),
            _ => Built::failed(name, missing_outcome(), now),
        }
    }

    // -----------------------------------------------------------------------------------
    // Writes
    // -----------------------------------------------------------------------------------

    fn check_write(
        &self,
        e: &Entry,
        name: &str,
        u: AttrValUnion,
        w_dim: AttributeDim,
    ) -> Result<(usize, WriteValue), DevFailed> {
        const ORIGIN: &str = "Device_3Impl::write_attributes";
        let info = e.info();
        let i = info
            .attribute(name)
            .ok_or_else(|| attr_not_found(name, ORIGIN))?;
        let def = &info.attributes[i];
        let name = def.name();
        if !def.is_writable() || def.builtin.is_some() {
            return Err(df(
                "API_AttrNotWritable",
                format!("Attribute {name} is not writable"),
                ORIGIN,
            ));
        }
        let state = e.ctx.get_state();
        if !def.write_allowed.contains(state) {
            return Err(df(
                "API_AttrNotAllowed",
                format!(
                    "It is currently not allowed to write attribute {name}. The device state is {state}"
                ),
                ORIGIN,
            ));
        }
        if values::expected_union(def.data_type) != Some(u.discriminant()) {
            return Err(df(
                "API_IncompatibleAttrDataType",
                format!(
                    "Incompatible attribute type, expected type is : Tango::{}",
                    values::array_type_name(def.data_type)
                ),
                ORIGIN,
            ));
        }
        let n = u.len();
        let incorrect = || {
            df(
                "API_AttrIncorrectDataNumber",
                format!("Incorrect data number for attribute {name}"),
                ORIGIN,
            )
        };
        let too_big = || {
            df(
                "API_WAttrOutsideLimit",
                format!("Written data for attribute {name} exceed its maximum dimensions"),
                ORIGIN,
            )
        };
        let cfg = def.config.clone();
        let (dim_x, dim_y) = match def.format() {
            AttrDataFormat::Scalar => {
                if n != 1 {
                    return Err(incorrect());
                }
                (1, 0)
            }
            AttrDataFormat::Spectrum => {
                if w_dim.dim_x < 0 || w_dim.dim_x as usize != n {
                    return Err(incorrect());
                }
                if w_dim.dim_x > cfg.max_dim_x {
                    return Err(too_big());
                }
                (n, 0)
            }
            _ => {
                let (x, y) = (w_dim.dim_x, w_dim.dim_y);
                if x < 0 || y < 0 || (x as usize).checked_mul(y as usize) != Some(n) {
                    return Err(incorrect());
                }
                if x > cfg.max_dim_x || y > cfg.max_dim_y {
                    return Err(too_big());
                }
                (x as usize, y as usize)
            }
        };
        let data = AttrData::from_union(u, Some(def.data_type)).ok_or_else(incorrect)?;
        let live_cfg = e.live().configs[i].clone();
        if let Some(nums) = values::numbers(&data) {
            if nums.iter().any(|v| !v.is_finite()) {
                return Err(df(
                    "API_WAttrOutsideLimit",
                    format!("Set value for attribute {name} is a NaN or INF value"),
                    ORIGIN,
                ));
            }
            let min = values::limit(&live_cfg.min_value);
            let max = values::limit(&live_cfg.max_value);
            if let Some(k) = nums.iter().position(|v| min.is_some_and(|m| *v < m)) {
                return Err(df(
                    "API_WAttrOutsideLimit",
                    format!(
                        "Set value for attribute {name} is below the minimum authorized (at least element {k})"
                    ),
                    ORIGIN,
                ));
            }
            if let Some(k) = nums.iter().position(|v| max.is_some_and(|m| *v > m)) {
                return Err(df(
                    "API_WAttrOutsideLimit",
                    format!(
                        "Set value for attribute {name} is above the maximum authorized (at least element {k})"
                    ),
                    ORIGIN,
                ));
            }
            if def.data_type == CmdArgType::DevEnum && !live_cfg.enum_labels.is_empty() {
                let max = live_cfg.enum_labels.len() as f64;
                if nums.iter().any(|v| *v < 0.0 || *v >= max) {
                    return Err(df(
                        "API_WAttrOutsideLimit",
                        format!("Set value for attribute {name} is not a valid enumeration index"),
                        ORIGIN,
                    ));
                }
            }
        }
        Ok((
            i,
            WriteValue {
                data,
                format: def.format(),
                dim_x,
                dim_y,
            },
        ))
    }

    fn write(
        &self,
        e: &Entry,
        rq: &Req<'_>,
        values: Vec<(String, AttrValUnion, AttributeDim)>,
        read_names: Option<Vec<String>>,
        form: WriteForm,
    ) -> Step {
        let mut calls = Vec::new();
        let mut slots = Vec::new();
        for (index, (name, u, w_dim)) in values.into_iter().enumerate() {
            match self.check_write(e, &name, u, w_dim) {
                Ok((attr, value)) => {
                    calls.push(Call::Write(attr, value.clone()));
                    slots.push(WriteSlot::Call {
                        name,
                        index,
                        attr,
                        call: calls.len() - 1,
                        value,
                    });
                }
                Err(err) => slots.push(WriteSlot::Failed { name, index, err }),
            }
        }
        let reads: Vec<ReadSlot> = read_names
            .unwrap_or_default()
            .iter()
            .map(|n| self.read_slot(e, n, DevSource::Dev, &mut calls, rq.now))
            .collect();
        rq.job(e.id, calls, Kind::Write(form, slots, reads))
    }

    // -----------------------------------------------------------------------------------
    // Histories
    // -----------------------------------------------------------------------------------

    fn attr_history(&self, e: &Entry, rq: &Req<'_>, name: &str, n: i32) -> Result<Step, DevFailed> {
        const ORIGIN: &str = "Device_5Impl::read_attribute_history_5";
        let info = e.info();
        let i = info
            .attribute(name)
            .ok_or_else(|| attr_not_found(name, ORIGIN))?;
        let def = &info.attributes[i];
        let records: Vec<PollRecord> = {
            let table = self
                .shared
                .polling
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if !table.is_polled(e.id, PolledKind::Attribute, def.name()) {
                return Err(df(
                    "API_AttrNotPolled",
                    format!("Attribute {} not polled", def.name()),
                    ORIGIN,
                ));
            }
            table
                .history(e.id, PolledKind::Attribute, def.name(), n.max(0) as usize)
                .into_iter()
                .cloned()
                .collect()
        };
        let built: Vec<Built> = records
            .into_iter()
            .map(|rec| match rec.value {
                PolledValue::Attr(Ok(reading)) => {
                    let t = reading.time.unwrap_or(rec.time);
                    match def.builtin {
                        Some(Builtin::State) => match &reading.data {
                            AttrData::State(s) if !s.is_empty() => {
                                Built::state(def.name(), s[0], t)
                            }
                            _ => self.build(e, i, Some(reading), t),
                        },
                        Some(Builtin::Status) => match &reading.data {
                            AttrData::String(s) if !s.is_empty() => {
                                Built::status(def.name(), s[0].clone(), t)
                            }
                            _ => self.build(e, i, Some(reading), t),
                        },
                        _ => self.build(e, i, Some(reading), t),
                    }
                }
                PolledValue::Attr(Err(err)) => Built::failed(def.name(), err, rec.time),
                PolledValue::Cmd(_) => Built::failed(def.name(), missing_outcome(), rec.time),
            })
            .collect();
        Ok(match rq.op {
            "read_attribute_history_2" => {
                let v: Vec<DevAttrHistory> = built
                    .into_iter()
                    .map(|b| DevAttrHistory {
                        attr_failed: b.is_failed(),
                        errors: b.errors.clone(),
                        value: b.into_v1(),
                    })
                    .collect();
                rq.ok(&v)
            }
            "read_attribute_history_3" => {
                let v: Vec<DevAttrHistory3> = built
                    .into_iter()
                    .map(|b| DevAttrHistory3 {
                        attr_failed: b.is_failed(),
                        value: b.into_v3(),
                    })
                    .collect();
                rq.ok(&v)
            }
            op => {
                let h = compress_attr_history(def, built);
                if op == "read_attribute_history_4" {
                    rq.ok(&DevAttrHistory4 {
                        name: h.name,
                        dates: h.dates,
                        value: h.value,
                        quals: h.quals,
                        quals_array: h.quals_array,
                        r_dims: h.r_dims,
                        r_dims_array: h.r_dims_array,
                        w_dims: h.w_dims,
                        w_dims_array: h.w_dims_array,
                        errors: h.errors,
                        errors_array: h.errors_array,
                    })
                } else {
                    rq.ok(&h)
                }
            }
        })
    }

    fn cmd_history(&self, e: &Entry, rq: &Req<'_>, name: &str, n: i32) -> Result<Step, DevFailed> {
        const ORIGIN: &str = "Device_4Impl::command_inout_history_4";
        let info = e.info();
        let i = info.command(name).ok_or_else(|| cmd_not_found(name))?;
        let def = &info.commands[i];
        let records: Vec<PollRecord> = {
            let table = self
                .shared
                .polling
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if !table.is_polled(e.id, PolledKind::Command, &def.name) {
                return Err(df(
                    "API_CmdNotPolled",
                    format!("Command {} not polled", def.name),
                    ORIGIN,
                ));
            }
            table
                .history(e.id, PolledKind::Command, &def.name, n.max(0) as usize)
                .into_iter()
                .cloned()
                .collect()
        };
        let results: Vec<(TimeVal, Result<CommandData, DevFailed>)> = records
            .into_iter()
            .map(|r| {
                let v = match r.value {
                    PolledValue::Cmd(v) => v,
                    PolledValue::Attr(_) => Err(missing_outcome()),
                };
                (r.time, v)
            })
            .collect();
        if rq.op == "command_inout_history_2" {
            let v: Vec<DevCmdHistory> = results
                .into_iter()
                .map(|(time, r)| match r {
                    Ok(v) => DevCmdHistory {
                        time,
                        cmd_failed: false,
                        value: Any(v),
                        errors: Vec::new(),
                    },
                    Err(err) => DevCmdHistory {
                        time,
                        cmd_failed: true,
                        value: Any(CommandData::Void),
                        errors: err.errors,
                    },
                })
                .collect();
            return Ok(rq.ok(&v));
        }
        let mut h = DevCmdHistory4 {
            cmd_type: def.out_type as i32,
            ..Default::default()
        };
        let mut all: Option<AttrValUnion> = None;
        for (k, (time, r)) in results.into_iter().enumerate() {
            h.dates.push(time);
            match r {
                Ok(CommandData::Void) => {
                    h.dims.push(AttributeDim::new(0, 0));
                    h.dims_array.push(elt(k));
                }
                Ok(v) => {
                    let scalar = !matches!(
                        v.arg_type().name(),
                        n if n.starts_with("DevVar")
                    );
                    let u = values::command_to_union(v).ok_or_else(|| {
                        df(
                            "API_NotSupportedFeature",
                            format!(
                                "History of command {} is not supported for its type",
                                def.name
                            ),
                            ORIGIN,
                        )
                    })?;
                    let len = u.len() as i32;
                    h.dims.push(if scalar {
                        AttributeDim::new(1, 0)
                    } else {
                        AttributeDim::new(len, 0)
                    });
                    h.dims_array.push(elt(k));
                    all = Some(match all.take() {
                        None => u,
                        Some(prev) => concat_union(prev, u),
                    });
                }
                Err(err) => {
                    h.errors.push(err.errors);
                    h.errors_array.push(elt(k));
                }
            }
        }
        h.value = Any(all.map_or(CommandData::Void, values::union_to_any));
        Ok(rq.ok(&h))
    }

    // -----------------------------------------------------------------------------------
    // Finishing jobs
    // -----------------------------------------------------------------------------------

    /// Answers a job's request with `err` for the whole request, without running its
    /// calls: what a server does when it cannot run device code at all (the Synchronous
    /// adapter when the device's monitor lock cannot be had, as cppTango throws
    /// `API_CommandTimedOut` from its monitor).
    pub fn fail(&self, job: Job, err: &DevFailed, now: TimeVal) -> Step {
        let p = job.pending;
        let rq = Req {
            version: p.version,
            id: p.request_id,
            respond: p.respond,
            op: "",
            host: "",
            now,
        };
        rq.failed(err)
    }

    /// Builds the reply of a job from its outcomes (same order as `job.calls`).
    pub fn finish(&self, job: Job, outcomes: Vec<Outcome>, now: TimeVal) -> Step {
        let Job {
            device, pending, ..
        } = job;
        let p = pending;
        let rq = Req {
            version: p.version,
            id: p.request_id,
            respond: p.respond,
            op: "",
            host: "",
            now,
        };
        let Some(e) = self.entry(device) else {
            return rq.system("OBJECT_NOT_EXIST", minor::OBJECT_NOT_EXIST_NO_MATCH);
        };
        let mut outcomes: Vec<Option<Outcome>> = outcomes.into_iter().map(Some).collect();
        let first = outcomes.first_mut().and_then(Option::take);
        match p.kind {
            Kind::GetState => match first {
                Some(Outcome::State(s)) => rq.ok(&s),
                _ => rq.failed(&missing_outcome()),
            },
            Kind::GetStatus => match first {
                Some(Outcome::Status(s)) => rq.ok(&s),
                _ => rq.failed(&missing_outcome()),
            },
            Kind::Command => {
                let data = match first {
                    Some(Outcome::Command(Ok(v))) => v,
                    Some(Outcome::Command(Err(err))) | Some(Outcome::Done(Err(err))) => {
                        return rq.failed(&err)
                    }
                    Some(Outcome::Done(Ok(()))) => CommandData::Void,
                    Some(Outcome::State(s)) => CommandData::State(s),
                    Some(Outcome::Status(s)) => CommandData::String(s),
                    _ => return rq.failed(&missing_outcome()),
                };
                rq.reply(ReplyStatus::NoException, |w| data.encode_any(w))
            }
            Kind::Read(form, slots) => {
                if let Some(o) = first {
                    outcomes[0] = Some(o);
                }
                let built: Vec<Built> = slots
                    .into_iter()
                    .map(|s| self.finish_read(&e, s, &mut outcomes, now))
                    .collect();
                reply_reads(rq.version, rq.id, rq.respond, form, built)
            }
            Kind::Write(form, slots, reads) => {
                if let Some(o) = first {
                    outcomes[0] = Some(o);
                }
                let mut errors: Vec<NamedDevError> = Vec::new();
                for slot in slots {
                    match slot {
                        WriteSlot::Failed { name, index, err } => errors.push(NamedDevError {
                            name,
                            index_in_call: index as i32,
                            err_list: err.errors,
                        }),
                        WriteSlot::Call {
                            name,
                            index,
                            attr,
                            call,
                            value,
                        } => match outcomes.get_mut(call).and_then(Option::take) {
                            Some(Outcome::Done(Ok(()))) => {
                                e.live().set_points[attr] = Some(value);
                            }
                            Some(Outcome::Done(Err(err))) => errors.push(NamedDevError {
                                name,
                                index_in_call: index as i32,
                                err_list: err.errors,
                            }),
                            _ => errors.push(NamedDevError {
                                name,
                                index_in_call: index as i32,
                                err_list: missing_outcome().errors,
                            }),
                        },
                    }
                }
                if !errors.is_empty() {
                    if form == WriteForm::V1 {
                        let err = DevFailed {
                            errors: errors.swap_remove(0).err_list,
                        };
                        return rq.failed(&err);
                    }
                    let m = MultiDevFailed { errors };
                    return rq.reply(ReplyStatus::UserException, |w| m.encode_exception(w));
                }
                match form {
                    WriteForm::V1 | WriteForm::Multi => rq.void(),
                    WriteForm::Read4 | WriteForm::Read5 => {
                        let built: Vec<Built> = reads
                            .into_iter()
                            .map(|s| self.finish_read(&e, s, &mut outcomes, now))
                            .collect();
                        let f = if form == WriteForm::Read4 {
                            ReadForm::V4
                        } else {
                            ReadForm::V5
                        };
                        reply_reads(rq.version, rq.id, rq.respond, f, built)
                    }
                }
            }
        }
    }
}

fn missing_outcome() -> DevFailed {
    df(
        "API_InternalError",
        "the adapter returned no or the wrong outcome for a device call",
        "Dispatcher::finish",
    )
}

fn reply_reads(
    version: Version,
    id: u32,
    respond: bool,
    form: ReadForm,
    built: Vec<Built>,
) -> Step {
    let rq = Req {
        version,
        id,
        respond,
        op: "",
        host: "",
        now: TimeVal::default(),
    };
    match form {
        ReadForm::V1 => {
            // IDL 1/2 values have no error list: the first failure fails the call.
            if let Some(b) = built.iter().find(|b| b.is_failed()) {
                return rq.failed(&DevFailed {
                    errors: b.errors.clone(),
                });
            }
            rq.ok(&built.into_iter().map(Built::into_v1).collect::<Vec<_>>())
        }
        ReadForm::V3 => rq.ok(&built.into_iter().map(Built::into_v3).collect::<Vec<_>>()),
        ReadForm::V4 => rq.ok(&built.into_iter().map(Built::into_v4).collect::<Vec<_>>()),
        ReadForm::V5 => rq.ok(&built.into_iter().map(Built::into_v5).collect::<Vec<_>>()),
    }
}

fn elt(k: usize) -> EltInArray {
    EltInArray {
        start: k as i32,
        nb_elt: 1,
    }
}

fn concat_union(a: AttrValUnion, b: AttrValUnion) -> AttrValUnion {
    match (
        AttrData::from_union(a.clone(), None),
        AttrData::from_union(b, None),
    ) {
        (Some(x), Some(y)) => values::concat(x, y).into_union(),
        _ => a,
    }
}

fn compress_attr_history(def: &AttrDef, built: Vec<Built>) -> DevAttrHistory5 {
    let mut h = DevAttrHistory5 {
        name: def.name().to_owned(),
        data_format: def.format(),
        data_type: def.data_type as i32,
        ..Default::default()
    };
    let mut all: Option<AttrValUnion> = None;
    for (k, b) in built.into_iter().enumerate() {
        h.dates.push(b.time);
        h.quals.push(if b.is_failed() {
            AttrQuality::Invalid
        } else {
            b.quality
        });
        h.quals_array.push(elt(k));
        h.r_dims.push(b.r_dim);
        h.r_dims_array.push(elt(k));
        h.w_dims.push(b.w_dim);
        h.w_dims_array.push(elt(k));
        if b.is_failed() {
            h.errors.push(b.errors);
            h.errors_array.push(elt(k));
        } else {
            let u = b.value;
            all = Some(match all.take() {
                None => u,
                Some(prev) => concat_union(prev, u),
            });
        }
    }
    h.value = Any(all.map_or(CommandData::Void, values::union_to_any));
    h
}

fn cmd_not_found(name: &str) -> DevFailed {
    df(
        "API_CommandNotFound",
        format!("Command {name} not found"),
        "DeviceClass::command_handler",
    )
}

fn attr_not_found(name: &str, origin: &str) -> DevFailed {
    df(
        "API_AttrNotFound",
        format!("{name} attribute not found"),
        origin,
    )
}

fn v4_names(values: &[AttributeValue4]) -> String {
    values
        .iter()
        .map(|v| v.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn v4_values(values: Vec<AttributeValue4>) -> Vec<(String, AttrValUnion, AttributeDim)> {
    values
        .into_iter()
        .map(|v| (v.name, v.value, v.w_dim))
        .collect()
}

fn cmd_info(c: &crate::device::CmdDef) -> DevCmdInfo {
    DevCmdInfo {
        cmd_name: c.name.clone(),
        cmd_tag: 0,
        in_type: c.in_type as i32,
        out_type: c.out_type as i32,
        in_type_desc: c.in_desc.clone(),
        out_type_desc: c.out_desc.clone(),
    }
}

fn cmd_info_2(c: &crate::device::CmdDef) -> DevCmdInfo2 {
    DevCmdInfo2 {
        cmd_name: c.name.clone(),
        level: c.level,
        cmd_tag: 0,
        in_type: c.in_type as i32,
        out_type: c.out_type as i32,
        in_type_desc: c.in_desc.clone(),
        out_type_desc: c.out_desc.clone(),
    }
}

fn cmd_info_6(c: &crate::device::CmdDef) -> DevCmdInfo6 {
    DevCmdInfo6 {
        cmd_name: c.name.clone(),
        level: c.level,
        cmd_tag: 0,
        in_type: c.in_type as i32,
        out_type: c.out_type as i32,
        in_type_desc: c.in_desc.clone(),
        out_type_desc: c.out_desc.clone(),
        in_enum_labels: c.in_enum_labels.clone(),
        out_enum_labels: c.out_enum_labels.clone(),
    }
}

fn cfg_1(c: AttributeConfig5) -> AttributeConfig {
    AttributeConfig {
        name: c.name,
        writable: c.writable,
        data_format: c.data_format,
        data_type: c.data_type,
        max_dim_x: c.max_dim_x,
        max_dim_y: c.max_dim_y,
        description: c.description,
        label: c.label,
        unit: c.unit,
        standard_unit: c.standard_unit,
        display_unit: c.display_unit,
        format: c.format,
        min_value: c.min_value,
        max_value: c.max_value,
        min_alarm: c.att_alarm.min_alarm,
        max_alarm: c.att_alarm.max_alarm,
        writable_attr_name: c.writable_attr_name,
        extensions: c.extensions,
    }
}

fn cfg_2(c: AttributeConfig5) -> AttributeConfig2 {
    AttributeConfig2 {
        name: c.name,
        writable: c.writable,
        data_format: c.data_format,
        data_type: c.data_type,
        max_dim_x: c.max_dim_x,
        max_dim_y: c.max_dim_y,
        description: c.description,
        label: c.label,
        unit: c.unit,
        standard_unit: c.standard_unit,
        display_unit: c.display_unit,
        format: c.format,
        min_value: c.min_value,
        max_value: c.max_value,
        min_alarm: c.att_alarm.min_alarm,
        max_alarm: c.att_alarm.max_alarm,
        writable_attr_name: c.writable_attr_name,
        level: c.level,
        extensions: c.extensions,
    }
}

/// A configuration sent by `set_attribute_config*`.
enum Incoming {
    V1(AttributeConfig),
    V3(AttributeConfig3),
    V5(AttributeConfig5),
}

impl Incoming {
    fn name(&self) -> &str {
        match self {
            Incoming::V1(c) => &c.name,
            Incoming::V3(c) => &c.name,
            Incoming::V5(c) => &c.name,
        }
    }

    /// The full configuration: the fields the old forms lack come from `current`.
    fn merge(self, current: &AttributeConfig5) -> AttributeConfig5 {
        let mut m = current.clone();
        match self {
            Incoming::V5(c) => m = c,
            Incoming::V3(c) => {
                m.description = c.description;
                m.label = c.label;
                m.unit = c.unit;
                m.standard_unit = c.standard_unit;
                m.display_unit = c.display_unit;
                m.format = c.format;
                m.min_value = c.min_value;
                m.max_value = c.max_value;
                m.level = c.level;
                m.att_alarm = c.att_alarm;
                m.event_prop = c.event_prop;
                m.extensions = c.extensions;
            }
            Incoming::V1(c) => {
                m.description = c.description;
                m.label = c.label;
                m.unit = c.unit;
                m.standard_unit = c.standard_unit;
                m.display_unit = c.display_unit;
                m.format = c.format;
                m.min_value = c.min_value;
                m.max_value = c.max_value;
                m.att_alarm.min_alarm = c.min_alarm;
                m.att_alarm.max_alarm = c.max_alarm;
                m.extensions = c.extensions;
            }
        }
        m
    }
}

/// The new live configuration of attribute `def` after a client's `new` one: the fixed
/// properties (name, type, format, writability, dimensions) are kept; `""` and `"NaN"`
/// return a property to its class default; numeric limits must be numbers.
fn apply_config(
    device: &str,
    def: &AttrDef,
    current: &AttributeConfig5,
    new: AttributeConfig5,
) -> Result<AttributeConfig5, DevFailed> {
    let default = &def.config;
    let mut c = current.clone();
    let pick = |v: String, d: &str| -> String {
        if v.is_empty() || v.eq_ignore_ascii_case("nan") {
            d.to_owned()
        } else {
            v
        }
    };
    c.description = pick(new.description, &default.description);
    c.label = pick(new.label, &default.label);
    c.unit = if new.unit.eq_ignore_ascii_case("nan") {
        default.unit.clone()
    } else {
        new.unit
    };
    c.standard_unit = pick(new.standard_unit, &default.standard_unit);
    c.display_unit = pick(new.display_unit, &default.display_unit);
    c.format = pick(new.format, &default.format);
    c.level = new.level;
    c.min_value = pick(new.min_value, &default.min_value);
    c.max_value = pick(new.max_value, &default.max_value);
    let (a, da) = (new.att_alarm, &default.att_alarm);
    c.att_alarm.min_alarm = pick(a.min_alarm, &da.min_alarm);
    c.att_alarm.max_alarm = pick(a.max_alarm, &da.max_alarm);
    c.att_alarm.min_warning = pick(a.min_warning, &da.min_warning);
    c.att_alarm.max_warning = pick(a.max_warning, &da.max_warning);
    c.att_alarm.delta_t = pick(a.delta_t, &da.delta_t);
    c.att_alarm.delta_val = pick(a.delta_val, &da.delta_val);
    c.att_alarm.extensions = a.extensions;
    let (ev, de) = (new.event_prop, &default.event_prop);
    c.event_prop.ch_event.rel_change = pick(ev.ch_event.rel_change, &de.ch_event.rel_change);
    c.event_prop.ch_event.abs_change = pick(ev.ch_event.abs_change, &de.ch_event.abs_change);
    c.event_prop.ch_event.extensions = ev.ch_event.extensions;
    c.event_prop.per_event.period = pick(ev.per_event.period, &de.per_event.period);
    c.event_prop.per_event.extensions = ev.per_event.extensions;
    c.event_prop.arch_event.rel_change = pick(ev.arch_event.rel_change, &de.arch_event.rel_change);
    c.event_prop.arch_event.abs_change = pick(ev.arch_event.abs_change, &de.arch_event.abs_change);
    c.event_prop.arch_event.period = pick(ev.arch_event.period, &de.arch_event.period);
    c.event_prop.arch_event.extensions = ev.arch_event.extensions;
    c.extensions = new.extensions;
    if def.data_type == CmdArgType::DevEnum && !new.enum_labels.is_empty() {
        c.enum_labels = new.enum_labels;
    }
    // Numeric properties must be numbers (or unset), and ranges must be ranges.
    let numeric = values::zero_of(def.data_type)
        .as_ref()
        .and_then(values::numbers)
        .is_some();
    let unset = |s: &str| s == "Not specified";
    // cppTango's reasons: a property that is not a number is API_AttrOptProp, a range whose
    // low end is not below its high end API_IncoherentValues.
    let not_a_number = |prop: &str, v: &str| {
        df(
            "API_AttrOptProp",
            format!(
                "Device {device}: attribute {}: property {prop} must be a number of the \
                 attribute's type, not {v:?}",
                def.name()
            ),
            "Attribute::set_properties",
        )
    };
    let incoherent = |what: &str, lo: &str, hi: &str| {
        df(
            "API_IncoherentValues",
            format!(
                "Device {device}: attribute {}: {what} must be an increasing range \
                 ({lo} >= {hi})",
                def.name()
            ),
            "Attribute::set_properties",
        )
    };
    let props = [
        ("min_value", &c.min_value),
        ("max_value", &c.max_value),
        ("min_alarm", &c.att_alarm.min_alarm),
        ("max_alarm", &c.att_alarm.max_alarm),
        ("min_warning", &c.att_alarm.min_warning),
        ("max_warning", &c.att_alarm.max_warning),
    ];
    for (prop, v) in props {
        if unset(v) {
            continue;
        }
        if !numeric || values::limit(v).is_none() {
            return Err(not_a_number(prop, v));
        }
    }
    for (lo, hi, what) in [
        (&c.min_value, &c.max_value, "min_value/max_value"),
        (
            &c.att_alarm.min_alarm,
            &c.att_alarm.max_alarm,
            "min_alarm/max_alarm",
        ),
        (
            &c.att_alarm.min_warning,
            &c.att_alarm.max_warning,
            "min_warning/max_warning",
        ),
    ] {
        if let (Some(l), Some(h)) = (values::limit(lo), values::limit(hi)) {
            if l >= h {
                return Err(incoherent(what, lo, hi));
            }
        }
    }
    Ok(c)
}
