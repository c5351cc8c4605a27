//! The admin device `dserver/<exec>/<instance>` of every server, class `DServer`.
//!
//! It is an ordinary device built with [`ClassBuilder`]: its data is the
//! [`ServerShared`] state of the server (the devices, the polling table, the logging
//! configuration, and the control requests — `Kill`, `RestartServer`, `DevRestart` —
//! that the adapter acts on after replying). Command signatures, argument layouts and
//! error reasons follow cppTango 9.3 (`cppapi/server/dserver*.cpp`, `logging.cpp`).
//!
//! What is not there yet: events (`ZmqEventSubscriptionChange` and friends answer
//! `API_NotSupported`), device locking (`LockDevice` answers `API_NotSupported`; the
//! other locking commands answer as for devices nobody locked), real log sinks (levels
//! and targets are stored and given back), and class/device property wizards (empty).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::device::{ClassBuilder, ClassInfo, Cmd, DeviceClass, DeviceCtx};
use crate::idl::{CmdArgType, DevError, DevFailed, DevState, TimeVal};
use crate::name::TangoName;

use super::polling::{check_period, PollTable, PolledKind};
use super::{DeviceId, ServerConfig};

/// The class name of admin devices.
pub const ADMIN_CLASS: &str = "DServer";

/// Tango logging levels (`Tango::LogLevel`): OFF 0, FATAL 1, ERROR 2, WARN 3, INFO 4,
/// DEBUG 5.
pub const LOG_OFF: i32 = 0;
/// `DEBUG`, the most verbose level.
pub const LOG_DEBUG: i32 = 5;
/// The level a device starts with (`WARN`, cppTango's default `logging_level`).
pub const DEFAULT_LOG_LEVEL: i32 = 3;

/// One device of the server, as the admin device sees it.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// Its id in the dispatcher.
    pub id: DeviceId,
    /// `domain/family/member`, case as declared.
    pub name: String,
    /// Its class name.
    pub class_name: String,
    /// Its class description (to check polled attributes and commands exist).
    pub class_info: Arc<ClassInfo>,
}

/// What the admin device asks the adapter to do once the command's reply is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// `Kill`: stop the server.
    Kill,
    /// `RestartServer`: re-create and re-initialise every device.
    RestartServer,
    /// `DevRestart`: re-create and re-initialise one device.
    RestartDevice(DeviceId),
}

/// Milliseconds on a monotonic clock, and the wall clock, read together.
pub type Clock = dyn Fn() -> (u64, TimeVal) + Send + Sync;

/// Logging configuration of one device.
#[derive(Debug, Clone)]
struct DevLogging {
    level: i32,
    /// Level before `StopLogging`, restored by `StartLogging`.
    saved: Option<i32>,
    /// `type::name` targets, in the order added.
    targets: Vec<String>,
}

impl Default for DevLogging {
    fn default() -> Self {
        DevLogging {
            level: DEFAULT_LOG_LEVEL,
            saved: None,
            targets: Vec::new(),
        }
    }
}

/// The state of a server that its admin device reads and changes, shared with the
/// dispatcher and the adapter.
pub struct ServerShared {
    /// What the server says about itself.
    pub config: ServerConfig,
    /// The polled objects and their rings; the adapter's poll loop drives it with
    /// [`ServerShared::now_ms`] as its clock.
    pub polling: Mutex<PollTable>,
    /// The devices (the admin device may be among them; it is left out of the query
    /// answers).
    pub devices: RwLock<Vec<DeviceRecord>>,
    control: Mutex<VecDeque<Control>>,
    /// Per lower-cased device name.
    logging: Mutex<HashMap<String, DevLogging>>,
    clock: Box<Clock>,
}

impl std::fmt::Debug for ServerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerShared")
            .field("config", &self.config)
            .field("devices", &self.devices)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The wall clock as a `TimeVal`.
pub fn wall_clock() -> TimeVal {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    TimeVal {
        tv_sec: d.as_secs().min(i32::MAX as u64) as i32,
        tv_usec: d.subsec_micros() as i32,
        tv_nsec: 0,
    }
}

impl ServerShared {
    /// The shared state of a server with no device yet, using the system clocks
    /// (monotonic milliseconds since this call).
    pub fn new(config: ServerConfig) -> Arc<Self> {
        let epoch = Instant::now();
        Self::with_clock(
            config,
            Box::new(move || (epoch.elapsed().as_millis() as u64, wall_clock())),
        )
    }

    /// The same with a clock of one's own (tests, simulated time).
    pub fn with_clock(config: ServerConfig, clock: Box<Clock>) -> Arc<Self> {
        Arc::new(ServerShared {
            config,
            polling: Mutex::new(PollTable::new()),
            devices: RwLock::new(Vec::new()),
            control: Mutex::new(VecDeque::new()),
            logging: Mutex::new(HashMap::new()),
            clock,
        })
    }

    /// Monotonic milliseconds: the time base of [`ServerShared::polling`]; the poll loop
    /// must use it too.
    pub fn now_ms(&self) -> u64 {
        (self.clock)().0
    }

    /// The wall clock.
    pub fn now(&self) -> TimeVal {
        (self.clock)().1
    }

    /// Adds a device and starts polling the attributes its class polls from start-up
    /// ([`crate::device::AttrDef::polling_period_ms`]).
    pub fn add_device(&self, record: DeviceRecord) {
        let now_ms = self.now_ms();
        {
            let mut table = lock(&self.polling);
            for a in &record.class_info.attributes {
                if let Some(p) = a.polling_period_ms {
                    let _ = table.add(record.id, PolledKind::Attribute, a.name(), p, now_ms);
                }
            }
        }
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }

    /// Asks the adapter to do something after the current reply (requests queue up; a
    /// repeated one is not queued twice).
    pub fn set_control(&self, c: Control) {
        let mut q = lock(&self.control);
        if !q.contains(&c) {
            q.push_back(c);
        }
    }

    /// The next control request, if any.
    pub fn take_control(&self) -> Option<Control> {
        lock(&self.control).pop_front()
    }

    /// `dserver/<exec>/<instance>`.
    pub fn admin_name(&self) -> String {
        format!("dserver/{}/{}", self.config.exec_name, self.config.instance)
    }

    /// The device named `name`, compared case-insensitively; full names
    /// (`tango://host:port/a/b/c#dbase=no`) are accepted too.
    pub fn find_device(&self, name: &str) -> Option<DeviceRecord> {
        let devices = self.devices.read().unwrap_or_else(|p| p.into_inner());
        let by = |n: &str| {
            devices
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(n))
                .cloned()
        };
        by(name).or_else(|| {
            TangoName::parse_device(name)
                .ok()
                .and_then(|n| by(&n.device))
        })
    }

    /// The devices that are not the admin device, in the order added.
    fn user_devices(&self) -> Vec<DeviceRecord> {
        self.devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|d| d.class_name != ADMIN_CLASS)
            .cloned()
            .collect()
    }

    /// Every device name, the admin device's included (for logging patterns).
    fn all_device_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|d| d.name.clone())
            .collect();
        let admin = self.admin_name();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&admin)) {
            names.push(admin);
        }
        names
    }

    /// The logging level of a device (the default if never set).
    pub fn logging_level(&self, device: &str) -> i32 {
        lock(&self.logging)
            .get(&device.to_lowercase())
            .map_or(DEFAULT_LOG_LEVEL, |l| l.level)
    }

    /// The logging targets of a device (`type::name`).
    pub fn logging_targets(&self, device: &str) -> Vec<String> {
        lock(&self.logging)
            .get(&device.to_lowercase())
            .map(|l| l.targets.clone())
            .unwrap_or_default()
    }
}

/// The error `Util::get_device_by_name` raises.
fn device_not_found(name: &str) -> DevFailed {
    DevFailed::new(
        "API_DeviceNotFound",
        format!("Device {name} not found"),
        "Util::get_device_by_name()",
    )
}

/// `e` with one more error on top, as cppTango's `re_throw_exception` does.
fn rethrow(mut e: DevFailed, reason: &str, desc: String, origin: &str) -> DevFailed {
    e.errors.push(DevError::new(reason, desc, origin));
    e
}

fn not_supported(what: &str, origin: &str) -> DevFailed {
    DevFailed::new("API_NotSupported", what.to_owned(), origin)
}

const EVENTS_DESC: &str = "events are not supported yet by this server";

/// `*` matches any run of characters; the rest compares case-insensitively.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The data of the admin device.
struct Admin {
    shared: Arc<ServerShared>,
}

/// The `(device, kind, class spelling of the name)` a polling request designates.
struct PollTarget {
    dev: DeviceRecord,
    kind: PolledKind,
    name: String,
}

impl Admin {
    fn device(&self, name: &str, origin: &str) -> Result<DeviceRecord, DevFailed> {
        self.shared.find_device(name).ok_or_else(|| {
            rethrow(
                device_not_found(name),
                "API_DeviceNotFound",
                format!("Device {name} not found"),
                origin,
            )
        })
    }

    /// Object type (`attribute`/`command`, any case, optional `_local` suffix) of a
    /// polling request, checked as cppTango does.
    fn obj_type(ty: &str, origin: &str) -> Result<PolledKind, DevFailed> {
        let mut ty = ty.to_lowercase();
        if let Some(stripped) = ty.strip_suffix("_local") {
            ty = stripped.to_owned();
        }
        match ty.as_str() {
            "command" => Ok(PolledKind::Command),
            "attribute" => Ok(PolledKind::Attribute),
            _ => Err(not_supported(
                &format!("Object type {ty} not supported"),
                origin,
            )),
        }
    }

    /// The polled object a `RemObjPolling` / `UpdObjPollingPeriod` designates: `State`
    /// and `Status` commands are polled as attributes.
    fn polled_target(&self, args: &[String], origin: &str) -> Result<PollTarget, DevFailed> {
        let dev = self.device(&args[0], origin)?;
        let table = lock(&self.shared.polling);
        if !table.polled_devices().contains(&dev.id) {
            return Err(DevFailed::new(
                "API_DeviceNotPolled",
                format!("Device {} is not polled", args[0]),
                origin,
            ));
        }
        let mut kind = Self::obj_type(&args[1], origin)?;
        let lower = args[2].to_lowercase();
        if kind == PolledKind::Command && (lower == "state" || lower == "status") {
            kind = PolledKind::Attribute;
        }
        if !table.is_polled(dev.id, kind, &lower) {
            return Err(DevFailed::new(
                "API_PollObjNotFound",
                format!("{lower} not found in list of polled object"),
                "DeviceImpl::get_polled_obj_by_type_name",
            ));
        }
        Ok(PollTarget {
            dev,
            kind,
            name: lower,
        })
    }

    fn add_obj_polling(&self, (l, s): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const ORIGIN: &str = "DServer::add_obj_polling";
        if s.len() != 3 || l.len() != 1 {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                "Incorrect number of inout arguments",
                ORIGIN,
            ));
        }
        let dev = self.device(&s[0], ORIGIN)?;
        let mut kind = Self::obj_type(&s[1], ORIGIN)?;
        let lower = s[2].to_lowercase();
        let info = &dev.class_info;
        let mut name = match kind {
            PolledKind::Command => {
                let Some(i) = info.command(&lower) else {
                    return Err(DevFailed::new(
                        "API_CommandNotFound",
                        format!("Command {lower} not found"),
                        "DeviceImpl::check_command_exists",
                    ));
                };
                if info.commands[i].in_type != CmdArgType::DevVoid {
                    return Err(DevFailed::new(
                        "API_IncompatibleCmdArgumentType",
                        format!("Command {lower} cannot be polled because it needs input value"),
                        "DeviceImpl::check_command_exists",
                    ));
                }
                info.commands[i].name.clone()
            }
            PolledKind::Attribute => match info.attribute(&s[2]) {
                Some(i) => info.attributes[i].name().to_owned(),
                None => {
                    return Err(DevFailed::new(
                        "API_AttrNotFound",
                        format!("{} attribute not found", s[2]),
                        "MultiAttribute::get_attr_by_name",
                    ))
                }
            },
        };
        if kind == PolledKind::Command {
            if lower == "init" {
                return Err(not_supported(
                    "It's not possible to poll the Init command!",
                    ORIGIN,
                ));
            }
            // Since IDL 3, State and Status are polled as attributes.
            if lower == "state" || lower == "status" {
                kind = PolledKind::Attribute;
                if let Some(i) = info.attribute(&lower) {
                    name = info.attributes[i].name().to_owned();
                }
            }
        }
        let now_ms = self.shared.now_ms();
        let mut table = lock(&self.shared.polling);
        if table.is_polled(dev.id, kind, &lower) {
            let word = match kind {
                PolledKind::Command => "Command",
                PolledKind::Attribute => "Attribute",
            };
            return Err(DevFailed::new(
                "API_AlreadyPolled",
                format!("{word} {lower} already polled"),
                ORIGIN,
            ));
        }
        check_period(l[0] as i64, ORIGIN)?;
        table.add(dev.id, kind, &name, l[0] as u32, now_ms)
    }

    fn upd_obj_polling_period(&self, (l, s): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const ORIGIN: &str = "DServer::upd_obj_polling_period";
        if s.len() != 3 || l.len() != 1 {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                "Incorrect number of inout arguments",
                ORIGIN,
            ));
        }
        let t = self.polled_target(&s, ORIGIN)?;
        check_period(l[0] as i64, "DServer::upd_obj_polling")?;
        lock(&self.shared.polling).update_period(t.dev.id, t.kind, &t.name, l[0] as u32)
    }

    fn rem_obj_polling(&self, s: Vec<String>) -> Result<(), DevFailed> {
        const ORIGIN: &str = "DServer::rem_obj_polling";
        if s.len() != 3 {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                "Incorrect number of inout arguments",
                ORIGIN,
            ));
        }
        let t = self.polled_target(&s, ORIGIN)?;
        lock(&self.shared.polling).remove(t.dev.id, t.kind, &t.name)
    }

    fn polled_device(&self) -> Vec<String> {
        let ids = lock(&self.shared.polling).polled_devices();
        let devices = self
            .shared
            .devices
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = devices
            .iter()
            .filter(|d| ids.contains(&d.id))
            .map(|d| d.name.clone())
            .collect();
        names.sort();
        names
    }

    fn dev_poll_status(&self, name: String) -> Result<Vec<String>, DevFailed> {
        let dev = self
            .shared
            .find_device(&name)
            .ok_or_else(|| device_not_found(&name))?;
        let (now_ms, now) = (self.shared.clock)();
        Ok(lock(&self.shared.polling).status(dev.id, &dev.name, now_ms, now))
    }

    /// Device names matching a logging pattern.
    fn matching(&self, pattern: &str) -> Vec<String> {
        self.shared
            .all_device_names()
            .into_iter()
            .filter(|n| glob(pattern, n))
            .collect()
    }

    /// `type::name` of a logging target, normalised as cppTango names its appenders.
    fn target(spec: &str, device: &str, origin: &str) -> Result<String, DevFailed> {
        let spec = spec.to_lowercase();
        let (ty, name) = match spec.find("::") {
            Some(p) => (&spec[..p], &spec[p + 2..]),
            None => (spec.as_str(), ""),
        };
        let name = if name.is_empty() { "default" } else { name };
        match ty {
            "console" => Ok("console::cout".to_owned()),
            "file" if name == "default" => Ok(format!(
                "file::{}.log",
                device.to_lowercase().replace('/', "_")
            )),
            "file" => Ok(format!("file::{name}")),
            "device" if name == "default" => Err(DevFailed::new(
                "API_MethodArgument",
                "Device target name must be specified (no default value)",
                origin,
            )),
            "device" => Ok(format!("device::{name}")),
            _ => Err(DevFailed::new(
                "API_MethodArgument",
                format!("Invalid logging target type specified ({ty})"),
                origin,
            )),
        }
    }

    fn add_logging_target(&self, args: Vec<String>) -> Result<(), DevFailed> {
        const ORIGIN: &str = "Logging::add_logging_target";
        if args.len() % 2 != 0 {
            return Err(DevFailed::new(
                "API_MethodArgument",
                "Incorrect number of inout arguments",
                ORIGIN,
            ));
        }
        for pair in args.chunks(2) {
            let pattern = pair[0].to_lowercase();
            let devs = self.matching(&pattern);
            if devs.is_empty() {
                return Err(DevFailed::new(
                    "API_DeviceNotFound",
                    format!("No device name matching pattern  <{pattern}>"),
                    ORIGIN,
                ));
            }
            for d in devs {
                let t = Self::target(&pair[1], &d, "DeviceImpl::add_logging_target")?;
                let mut logging = lock(&self.shared.logging);
                let entry = logging.entry(d.to_lowercase()).or_default();
                if !entry.targets.contains(&t) {
                    entry.targets.push(t);
                }
            }
        }
        Ok(())
    }

    fn remove_logging_target(&self, args: Vec<String>) -> Result<(), DevFailed> {
        const ORIGIN: &str = "Logging::remove_logging_target";
        if args.len() % 2 != 0 {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                "Incorrect number of inout arguments",
                ORIGIN,
            ));
        }
        for pair in args.chunks(2) {
            let pattern = pair[0].to_lowercase();
            let devs = self.matching(&pattern);
            if devs.is_empty() {
                return Err(DevFailed::new(
                    "API_DeviceNotFound",
                    format!("No device name matching pattern  <{pattern}>"),
                    ORIGIN,
                ));
            }
            let spec = pair[1].to_lowercase();
            let ty = spec.split("::").next().unwrap_or("").to_owned();
            if !matches!(ty.as_str(), "console" | "file" | "device") {
                return Err(DevFailed::new(
                    "API_MethodArgument",
                    format!("Logging target type <{ty}> not supported"),
                    ORIGIN,
                ));
            }
            let all = spec.strip_prefix(&ty).and_then(|r| r.strip_prefix("::")) == Some("*");
            for d in devs {
                let mut logging = lock(&self.shared.logging);
                let entry = logging.entry(d.to_lowercase()).or_default();
                if all {
                    let prefix = format!("{ty}::");
                    entry.targets.retain(|t| !t.starts_with(&prefix));
                } else {
                    let t = Self::target(&spec, &d, ORIGIN)?;
                    entry.targets.retain(|x| *x != t);
                }
            }
        }
        Ok(())
    }

    fn get_logging_target(&self, name: String) -> Result<Vec<String>, DevFailed> {
        let known = self
            .shared
            .all_device_names()
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(&name))
            .or_else(|| self.shared.find_device(&name).map(|d| d.name));
        match known {
            Some(d) => Ok(self.shared.logging_targets(&d)),
            None => Err(rethrow(
                device_not_found(&name),
                "API_DeviceNotFound",
                format!("Device {name} not found"),
                "Logging::get_logging_target",
            )),
        }
    }

    fn set_logging_level(&self, (l, s): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const ORIGIN: &str = "Logging::set_logging_level";
        if l.len() != s.len() {
            return Err(DevFailed::new(
                "API_IncompatibleCmdArgumentType",
                "Imcompatible command argument type, long and string arrays must have the same length",
                ORIGIN,
            ));
        }
        for (level, pattern) in l.iter().zip(&s) {
            if !(LOG_OFF..=LOG_DEBUG).contains(level) {
                return Err(DevFailed::new(
                    "API_MethodArgument",
                    "Invalid argument for command, logging level out of range",
                    ORIGIN,
                ));
            }
            for d in self.matching(pattern) {
                lock(&self.shared.logging)
                    .entry(d.to_lowercase())
                    .or_default()
                    .level = *level;
            }
        }
        Ok(())
    }

    fn get_logging_level(&self, patterns: Vec<String>) -> (Vec<i32>, Vec<String>) {
        let mut out = (Vec::new(), Vec::new());
        for p in patterns {
            for d in self.matching(&p) {
                out.0.push(self.shared.logging_level(&d));
                out.1.push(d);
            }
        }
        out
    }

    fn set_logging(&self, on: bool) {
        let names = self.shared.all_device_names();
        let mut logging = lock(&self.shared.logging);
        for d in names {
            let e = logging.entry(d.to_lowercase()).or_default();
            if on {
                if let Some(l) = e.saved.take() {
                    e.level = l;
                }
            } else if e.saved.is_none() {
                e.saved = Some(e.level);
                e.level = LOG_OFF;
            }
        }
    }

    fn class_known(&self, class: &str) -> bool {
        class.eq_ignore_ascii_case(ADMIN_CLASS)
            || self
                .shared
                .user_devices()
                .iter()
                .any(|d| d.class_name.eq_ignore_ascii_case(class))
    }

    fn wizard(&self, class: String, origin: &str) -> Result<Vec<String>, DevFailed> {
        if self.class_known(&class) {
            Ok(Vec::new())
        } else {
            Err(DevFailed::new(
                "API_ClassNotFound",
                format!("Class {} not found in device server", class.to_lowercase()),
                origin,
            ))
        }
    }
}

type A = Admin;

fn cmd<I, O>(
    name: &str,
    f: impl Fn(&Admin, &DeviceCtx, I) -> Result<O, DevFailed> + Send + Sync + 'static,
) -> Cmd<A>
where
    I: crate::device::CommandType,
    O: crate::device::CommandType,
{
    Cmd::new(name, move |a: &mut A, ctx: &DeviceCtx, arg: I| {
        f(a, ctx, arg)
    })
}

/// The admin device's class `DServer`; its devices hold `shared`.
pub fn admin_class(shared: Arc<ServerShared>) -> DeviceClass {
    const POLL_ARGS: &str =
        "Lg[0]=Upd period. Str[0]=Device name. Str[1]=Object type. Str[2]=Object name";
    const TARGET_ARGS: &str = "Str[i]=Device-name. Str[i+1]=Target-type::Target-name";
    const LEVEL_ARGS: &str = "Lg[i]=Logging Level. Str[i]=Device name.";
    ClassBuilder::new(ADMIN_CLASS, move |_ctx| Admin {
        shared: shared.clone(),
    })
    .description("A device server device !!")
    .init(|_, ctx| {
        ctx.set_state(DevState::On);
        ctx.set_status("The device is ON");
        Ok(())
    })
    .command(
        cmd("DevRestart", |a, _, name: String| {
            let found = a
                .shared
                .find_device(&name)
                .filter(|d| d.class_name != ADMIN_CLASS);
            match found {
                Some(d) => {
                    a.shared.set_control(Control::RestartDevice(d.id));
                    Ok(())
                }
                None => Err(DevFailed::new(
                    "API_DeviceNotFound",
                    format!("Device {name} not found"),
                    "Dserver::restart()",
                )),
            }
        })
        .in_desc("Device name"),
    )
    .command(cmd("RestartServer", |a, _, (): ()| {
        a.shared.set_control(Control::RestartServer);
        Ok(())
    }))
    .command(
        cmd("QueryClass", |a, _, (): ()| {
            let mut classes: Vec<String> = Vec::new();
            for d in a.shared.user_devices() {
                if !classes.contains(&d.class_name) {
                    classes.push(d.class_name);
                }
            }
            Ok(classes)
        })
        .out_desc("Device server class(es) list"),
    )
    .command(
        cmd("QueryDevice", |a, _, (): ()| {
            Ok(a.shared
                .user_devices()
                .into_iter()
                .map(|d| format!("{}::{}", d.class_name, d.name))
                .collect::<Vec<String>>())
        })
        .out_desc("Device server device(s) list"),
    )
    .command(
        cmd("QuerySubDevice", |_, _, (): ()| Ok(Vec::<String>::new()))
            .out_desc("Device server sub device(s) list"),
    )
    .command(cmd("Kill", |a, _, (): ()| {
        a.shared.set_control(Control::Kill);
        Ok(())
    }))
    .command(
        cmd("PolledDevice", |a, _, (): ()| Ok(a.polled_device()))
            .out_desc("Polled device name list"),
    )
    .command(
        cmd("DevPollStatus", |a, _, name: String| {
            a.dev_poll_status(name)
        })
        .in_desc("Device name")
        .out_desc("Device polling status"),
    )
    .command(
        cmd("AddObjPolling", |a, _, arg: (Vec<i32>, Vec<String>)| {
            a.add_obj_polling(arg)
        })
        .in_desc(POLL_ARGS),
    )
    .command(
        cmd(
            "UpdObjPollingPeriod",
            |a, _, arg: (Vec<i32>, Vec<String>)| a.upd_obj_polling_period(arg),
        )
        .in_desc(POLL_ARGS),
    )
    .command(
        cmd("RemObjPolling", |a, _, arg: Vec<String>| {
            a.rem_obj_polling(arg)
        })
        .in_desc("Str[0]=Device name. Str[1]=Object type. Str[2]=Object name"),
    )
    .command(cmd("StopPolling", |a, ctx, (): ()| {
        lock(&a.shared.polling).set_started(false);
        ctx.set_status("The device is ON\nThe polling is OFF");
        Ok(())
    }))
    .command(cmd("StartPolling", |a, ctx, (): ()| {
        lock(&a.shared.polling).set_started(true);
        ctx.set_status("The device is ON\nThe polling is ON");
        Ok(())
    }))
    .command(
        cmd("AddLoggingTarget", |a, _, arg: Vec<String>| {
            a.add_logging_target(arg)
        })
        .in_desc(TARGET_ARGS),
    )
    .command(
        cmd("RemoveLoggingTarget", |a, _, arg: Vec<String>| {
            a.remove_logging_target(arg)
        })
        .in_desc(TARGET_ARGS),
    )
    .command(
        cmd("GetLoggingTarget", |a, _, name: String| {
            a.get_logging_target(name)
        })
        .in_desc("Device name")
        .out_desc("Logging target list"),
    )
    .command(
        cmd("SetLoggingLevel", |a, _, arg: (Vec<i32>, Vec<String>)| {
            a.set_logging_level(arg)
        })
        .in_desc(LEVEL_ARGS),
    )
    .command(
        cmd("GetLoggingLevel", |a, _, arg: Vec<String>| {
            Ok(a.get_logging_level(arg))
        })
        .in_desc("Device list")
        .out_desc(LEVEL_ARGS),
    )
    .command(cmd("StopLogging", |a, _, (): ()| {
        a.set_logging(false);
        Ok(())
    }))
    .command(cmd("StartLogging", |a, _, (): ()| {
        a.set_logging(true);
        Ok(())
    }))
    .command(
        cmd("EventSubscriptionChange", |_, _, _: Vec<String>| {
            Err::<i32, _>(not_supported(
                EVENTS_DESC,
                "DServer::event_subscription_change",
            ))
        })
        .in_desc("Event consumer wants to subscribe to")
        .out_desc("Tango lib release"),
    )
    .command(cmd("ZmqEventSubscriptionChange", |_, _, _: Vec<String>| {
        Err::<(Vec<i32>, Vec<String>), _>(not_supported(
            EVENTS_DESC,
            "DServer::zmq_event_subscription_change",
        ))
    }))
    .command(cmd("EventConfirmSubscription", |_, _, _: Vec<String>| {
        Err::<(), _>(not_supported(
            EVENTS_DESC,
            "DServer::event_confirm_subscription",
        ))
    }))
    .command(
        cmd("QueryWizardClassProperty", |a, _, class: String| {
            a.wizard(class, "DServer::query_class_prop")
        })
        .in_desc("Class name")
        .out_desc("Class property list (name - description and default value)"),
    )
    .command(
        cmd("QueryWizardDevProperty", |a, _, class: String| {
            a.wizard(class, "DServer::query_dev_prop")
        })
        .in_desc("Class name")
        .out_desc("Device property list (name - description and default value)"),
    )
    .command(
        cmd("LockDevice", |_, _, _: (Vec<i32>, Vec<String>)| {
            Err::<(), _>(not_supported(
                "locking not supported yet by this server",
                "DServer::lock_device",
            ))
        })
        .in_desc("Str[0] = Device name. Lg[0] = Lock validity"),
    )
    .command(
        cmd("UnLockDevice", |a, _, (_, s): (Vec<i32>, Vec<String>)| {
            // Nothing is ever locked: check the names, the lock counter is 0.
            for name in &s {
                let admin = a.shared.admin_name();
                if !name.eq_ignore_ascii_case(&admin) && a.shared.find_device(name).is_none() {
                    return Err(device_not_found(name));
                }
            }
            Ok(0i32)
        })
        .in_desc("Str[x] = Device name(s). Lg[0] = Force flag")
        .out_desc("Device global lock counter"),
    )
    .command(
        cmd("ReLockDevices", |a, _, names: Vec<String>| {
            let mut errors = Vec::new();
            for name in &names {
                let e = match a.shared.find_device(name) {
                    None => device_not_found(name),
                    Some(d) => DevFailed::new(
                        "API_DeviceNotLocked",
                        format!("{0}: Device {0} is not locked. Can't re-lock it", d.name),
                        "Device_Impl::relock",
                    ),
                };
                errors.extend(e.errors);
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(DevFailed { errors })
            }
        })
        .in_desc("Device(s) name"),
    )
    .command(
        cmd("DevLockStatus", |a, _, name: String| {
            let d = a
                .shared
                .find_device(&name)
                .ok_or_else(|| device_not_found(&name))?;
            Ok((
                vec![0i32; 6],
                vec![
                    format!("Device {} is not locked", d.name),
                    "Not defined".to_owned(),
                    "Not defined".to_owned(),
                ],
            ))
        })
        .in_desc("Device name")
        .out_desc("Device locking status"),
    )
    .build()
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_patterns() {
        assert!(glob("*", "sys/tg_test/1"));
        assert!(glob("sys/*", "SYS/tg_test/1"));
        assert!(glob("*/tg_test/*", "sys/tg_test/1"));
        assert!(glob("sys/tg_test/1", "sys/TG_TEST/1"));
        assert!(!glob("sys/tg_test/2", "sys/tg_test/1"));
        assert!(!glob("a*b", "acbd"));
        assert!(glob("a*b*", "acbd"));
    }
}
