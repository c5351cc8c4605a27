//! The polling table: which attributes and commands of which devices are polled, how
//! often, and the ring buffer of their last results.
//!
//! Pure data, no clock: every method that needs the time takes it (`now_ms`, monotonic
//! milliseconds, for scheduling; a wall-clock [`TimeVal`] for the texts). The adapter's
//! poll loop asks [`PollTable::due`] what to read, runs the reads on the devices (the same
//! [`crate::device::Call`]s a client request would make), and gives the results back with
//! [`PollTable::store`]; [`PollTable::next_deadline`] tells it how long it may sleep.
//!
//! [`PollTable::status`] writes the `DevPollStatus` texts of the admin device in
//! cppTango's exact format (`DServer::dev_poll_status`, `cppapi/server/dserverpoll.cpp`),
//! which cppTango's and PyTango's `DeviceProxy::is_polled` / `get_attribute_poll_period`
//! / `polling_status` parse.

use std::collections::{BTreeMap, VecDeque};

use crate::any::CommandData;
use crate::device::{AttrReading, Builtin, Call, ClassInfo, Outcome};
use crate::idl::{DevFailed, TimeVal};
use crate::value::AttrData;

use super::DeviceId;

/// What is polled: an attribute or a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolledKind {
    /// An attribute (`State` and `Status` are always polled as attributes).
    Attribute,
    /// A command without argument.
    Command,
}

impl PolledKind {
    fn word(self) -> &'static str {
        match self {
            PolledKind::Attribute => "Attribute",
            PolledKind::Command => "Command",
        }
    }
}

/// One result of a poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    /// When the read started (wall clock).
    pub time: TimeVal,
    /// How long the read took, in microseconds (0: the buffer was filled externally).
    pub duration_us: u64,
    /// The value read, or the error.
    pub value: PolledValue,
}

/// The result of reading a polled attribute or running a polled command.
#[derive(Debug, Clone, PartialEq)]
pub enum PolledValue {
    /// An attribute reading.
    Attr(Result<AttrReading, DevFailed>),
    /// A command result.
    Cmd(Result<CommandData, DevFailed>),
}

impl PolledValue {
    fn error(&self) -> Option<&DevFailed> {
        match self {
            PolledValue::Attr(Err(e)) | PolledValue::Cmd(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// Ring buffer depth of a polled object (cppTango's `DefaultPollRingDepth`).
pub const DEFAULT_RING_DEPTH: usize = 10;

/// The smallest polling period, in milliseconds (cppTango's `MIN_POLL_PERIOD`); 0 is
/// also accepted and means "externally triggered" (never polled by the server).
pub const MIN_POLL_PERIOD_MS: u32 = 5;

/// One polled object.
#[derive(Debug, Clone)]
struct PollObj {
    dev: DeviceId,
    kind: PolledKind,
    /// Lower-cased name (the key).
    key: String,
    /// The name as the class spells it (used in texts and given back by `due`).
    name: String,
    period_ms: u32,
    depth: usize,
    ring: VecDeque<PollRecord>,
    /// When it was last scheduled (added, or handed out by `due`).
    scheduled_ms: u64,
    next_due_ms: u64,
    in_flight: bool,
}

impl PollObj {
    fn is(&self, dev: DeviceId, kind: PolledKind, key: &str) -> bool {
        self.dev == dev && self.kind == kind && self.key == key
    }
}

/// Every polled object of the server, and whether polling runs (`StartPolling` /
/// `StopPolling`; it runs from the start).
#[derive(Debug, Clone)]
pub struct PollTable {
    /// In the order they were added (the order of the `DevPollStatus` texts).
    objs: Vec<PollObj>,
    started: bool,
}

impl Default for PollTable {
    fn default() -> Self {
        Self::new()
    }
}

fn not_polled(name: &str) -> DevFailed {
    DevFailed::new(
        "API_PollObjNotFound",
        format!("{name} not found in list of polled object"),
        "DeviceImpl::get_polled_obj_by_type_name",
    )
}

/// The error of a period below [`MIN_POLL_PERIOD_MS`] (0 is allowed).
pub fn check_period(period_ms: i64, origin: &str) -> Result<(), DevFailed> {
    if period_ms != 0 && period_ms < MIN_POLL_PERIOD_MS as i64 {
        return Err(DevFailed::new(
            "API_NotSupported",
            format!("{period_ms} is below the min authorized period ({MIN_POLL_PERIOD_MS} mS)"),
            origin,
        ));
    }
    Ok(())
}

impl PollTable {
    /// An empty table, polling started.
    pub fn new() -> Self {
        PollTable {
            objs: Vec::new(),
            started: true,
        }
    }

    fn find(&self, dev: DeviceId, kind: PolledKind, name: &str) -> Option<usize> {
        let key = name.to_lowercase();
        self.objs.iter().position(|o| o.is(dev, kind, &key))
    }

    /// Starts polling `name` every `period_ms` (0: externally triggered, never due), with
    /// a ring of [`DEFAULT_RING_DEPTH`]. It is due at once. `name` is kept as given for
    /// the texts: pass the class's spelling.
    pub fn add(
        &mut self,
        dev: DeviceId,
        kind: PolledKind,
        name: &str,
        period_ms: u32,
        now_ms: u64,
    ) -> Result<(), DevFailed> {
        if self.find(dev, kind, name).is_some() {
            return Err(DevFailed::new(
                "API_AlreadyPolled",
                format!("{} {} already polled", kind.word(), name.to_lowercase()),
                "DServer::add_obj_polling",
            ));
        }
        check_period(period_ms as i64, "DServer::add_obj_polling")?;
        self.objs.push(PollObj {
            dev,
            kind,
            key: name.to_lowercase(),
            name: name.to_owned(),
            period_ms,
            depth: DEFAULT_RING_DEPTH,
            ring: VecDeque::with_capacity(DEFAULT_RING_DEPTH),
            scheduled_ms: now_ms,
            next_due_ms: now_ms,
            in_flight: false,
        });
        Ok(())
    }

    /// Stops polling `name` (its ring is dropped).
    pub fn remove(&mut self, dev: DeviceId, kind: PolledKind, name: &str) -> Result<(), DevFailed> {
        let i = self
            .find(dev, kind, name)
            .ok_or_else(|| not_polled(&name.to_lowercase()))?;
        self.objs.remove(i);
        Ok(())
    }

    /// Changes the period of a polled object; the next read is due one new period after
    /// the last one was scheduled.
    pub fn update_period(
        &mut self,
        dev: DeviceId,
        kind: PolledKind,
        name: &str,
        period_ms: u32,
    ) -> Result<(), DevFailed> {
        let i = self
            .find(dev, kind, name)
            .ok_or_else(|| not_polled(&name.to_lowercase()))?;
        check_period(period_ms as i64, "DServer::upd_obj_polling")?;
        let o = &mut self.objs[i];
        o.period_ms = period_ms;
        o.next_due_ms = o.scheduled_ms + period_ms as u64;
        Ok(())
    }

    /// Changes the ring depth of a polled object (oldest records dropped if needed).
    pub fn set_depth(
        &mut self,
        dev: DeviceId,
        kind: PolledKind,
        name: &str,
        depth: usize,
    ) -> Result<(), DevFailed> {
        let i = self
            .find(dev, kind, name)
            .ok_or_else(|| not_polled(&name.to_lowercase()))?;
        let o = &mut self.objs[i];
        o.depth = depth.max(1);
        while o.ring.len() > o.depth {
            o.ring.pop_front();
        }
        Ok(())
    }

    /// Forgets every polled object of a device.
    pub fn remove_device(&mut self, dev: DeviceId) {
        self.objs.retain(|o| o.dev != dev);
    }

    /// `StartPolling` (true) / `StopPolling` (false).
    pub fn set_started(&mut self, on: bool) {
        self.started = on;
    }

    /// Is polling running?
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Is `name` polled (case-insensitive)?
    pub fn is_polled(&self, dev: DeviceId, kind: PolledKind, name: &str) -> bool {
        self.find(dev, kind, name).is_some()
    }

    /// The polling period of `name`, if polled.
    pub fn period(&self, dev: DeviceId, kind: PolledKind, name: &str) -> Option<u32> {
        self.find(dev, kind, name).map(|i| self.objs[i].period_ms)
    }

    /// The newest record of `name`.
    pub fn last(&self, dev: DeviceId, kind: PolledKind, name: &str) -> Option<&PollRecord> {
        self.find(dev, kind, name)
            .and_then(|i| self.objs[i].ring.back())
    }

    /// The `n` newest records of `name`, oldest first.
    pub fn history(
        &self,
        dev: DeviceId,
        kind: PolledKind,
        name: &str,
        n: usize,
    ) -> Vec<&PollRecord> {
        match self.find(dev, kind, name) {
            Some(i) => {
                let ring = &self.objs[i].ring;
                ring.iter().skip(ring.len().saturating_sub(n)).collect()
            }
            None => Vec::new(),
        }
    }

    /// The objects whose period elapsed (none when polling is stopped): the poll loop
    /// reads them and [`store`](Self::store)s the results. Each is marked in flight (not
    /// handed out again before its result is stored) and rescheduled one period later
    /// (from its previous deadline, or from `now_ms` if it fell behind by a period).
    /// Names are the class's spelling.
    pub fn due(&mut self, now_ms: u64) -> Vec<(DeviceId, PolledKind, String)> {
        if !self.started {
            return Vec::new();
        }
        let mut out = Vec::new();
        for o in &mut self.objs {
            if o.period_ms == 0 || o.in_flight || o.next_due_ms > now_ms {
                continue;
            }
            let period = o.period_ms as u64;
            let mut next = o.next_due_ms + period;
            if next <= now_ms {
                next = now_ms + period;
            }
            o.in_flight = true;
            o.scheduled_ms = now_ms;
            o.next_due_ms = next;
            out.push((o.dev, o.kind, o.name.clone()));
        }
        out
    }

    /// The earliest deadline of the polled objects, `None` if nothing is polled
    /// periodically or polling is stopped.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.started {
            return None;
        }
        self.objs
            .iter()
            .filter(|o| o.period_ms != 0)
            .map(|o| o.next_due_ms)
            .min()
    }

    /// Stores a result in the ring of `name` (dropping the oldest beyond the depth) and
    /// clears its in-flight mark. Ignored if `name` is not polled any more.
    pub fn store(&mut self, dev: DeviceId, kind: PolledKind, name: &str, record: PollRecord) {
        if let Some(i) = self.find(dev, kind, name) {
            let o = &mut self.objs[i];
            o.in_flight = false;
            o.ring.push_back(record);
            while o.ring.len() > o.depth {
                o.ring.pop_front();
            }
        }
    }

    /// The devices with at least one polled object, in the order they were first polled.
    pub fn polled_devices(&self) -> Vec<DeviceId> {
        let mut out: Vec<DeviceId> = Vec::new();
        for o in &self.objs {
            if !out.contains(&o.dev) {
                out.push(o.dev);
            }
        }
        out
    }

    /// Names (class spelling) and periods of the polled objects of one device, in the
    /// order they were added.
    pub fn objects(&self, dev: DeviceId) -> Vec<(PolledKind, String, u32)> {
        self.objs
            .iter()
            .filter(|o| o.dev == dev)
            .map(|o| (o.kind, o.name.clone(), o.period_ms))
            .collect()
    }

    /// The `DevPollStatus` answer for one device: one text per polled object, commands
    /// first, then attributes, each group in the order they were added; a polled `State`
    /// or `Status` attribute also appears among the commands, "attribute" replaced by
    /// "command", as cppTango does. `now` is the wall clock, for "Data not updated
    /// since"; `now_ms` is unused by the text but kept for symmetry with the scheduler.
    pub fn status(
        &self,
        dev: DeviceId,
        device_name: &str,
        now_ms: u64,
        now: TimeVal,
    ) -> Vec<String> {
        let _ = (device_name, now_ms);
        let objs: Vec<&PollObj> = self.objs.iter().filter(|o| o.dev == dev).collect();
        // Attributes polled with the same period are read together by cppTango 9's
        // poll thread, and the text names them together.
        let mut together: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for o in objs.iter().filter(|o| o.kind == PolledKind::Attribute) {
            together.entry(o.period_ms).or_default().push(&o.name);
        }
        let mut cmds = Vec::new();
        let mut attrs = Vec::new();
        for o in &objs {
            let text = object_status(o, &together, now);
            match o.kind {
                PolledKind::Command => cmds.push(text),
                PolledKind::Attribute => {
                    if o.key == "state" || o.key == "status" {
                        cmds.push(text.replace("attribute", "command"));
                    }
                    attrs.push(text);
                }
            }
        }
        cmds.extend(attrs);
        cmds
    }
}

/// Microseconds since the epoch.
fn micros(t: TimeVal) -> i64 {
    t.tv_sec as i64 * 1_000_000 + t.tv_usec as i64
}

/// One `DevPollStatus` text, line by line as `DServer::dev_poll_status` writes it.
fn object_status(o: &PollObj, together: &BTreeMap<u32, Vec<&str>>, now: TimeVal) -> String {
    let attr = o.kind == PolledKind::Attribute;
    let mut s = String::new();
    s += if attr {
        "Polled attribute name = "
    } else {
        "Polled command name = "
    };
    s += &o.name;
    if o.period_ms == 0 {
        s += "\nPolling externally triggered";
    } else {
        s += &format!("\nPolling period (mS) = {}", o.period_ms);
    }
    s += &format!("\nPolling ring buffer depth = {}", o.depth);
    let Some(last) = o.ring.back() else {
        s += "\nNo data recorded yet";
        return s;
    };
    // Time needed by the last read, in ms, as cppTango computes it from a timeval.
    let needed_ms = (last.duration_us / 1_000_000) as f64 * 1000.0
        + (last.duration_us % 1_000_000) as f64 / 1000.0;
    if needed_ms == 0.0 {
        s += "\nThe polling buffer is externally filled in";
    } else if o.period_ms != 0 {
        s += "\nTime needed for the last ";
        if !attr {
            s += "command execution (mS) = ";
        } else {
            match together.get(&o.period_ms) {
                Some(names) if names.len() > 1 => {
                    s += "attributes (";
                    s += &names.join(" + ");
                    s += ") reading (mS) = ";
                }
                Some(_) => s += "attribute reading (mS) = ",
                None => s += "attribute reading(ms) = ",
            }
        }
        s += &format!("{needed_ms:.3}");
        s += "\nData not updated since ";
        let diff = (micros(now) - micros(last.time)) as f64 / 1e6 - needed_ms / 1000.0;
        if diff < 1.0 {
            s += &format!("{} mS", (diff * 1000.0) as i64);
        } else if diff < 60.0 {
            let sec = diff as i64;
            let ms = ((diff - sec as f64) * 1000.0) as i64;
            s += &format!("{sec} S and {ms} mS");
        } else {
            let min = (diff / 60.0) as i64;
            let sec = (diff - (60 * min) as f64) as i64;
            let ms = ((diff - (diff as i64) as f64) * 1000.0) as i64;
            s += &format!("{min} MN");
            if sec != 0 {
                s += &format!(" ,{sec} S");
            }
            if ms != 0 {
                s += &format!(" and {ms} mS");
            }
        }
    }
    if o.ring.len() >= 2 {
        // Up to 4 deltas between successive records, newest first.
        let times: Vec<i64> = o.ring.iter().rev().map(|r| micros(r.time)).collect();
        let deltas: Vec<String> = times
            .windows(2)
            .take(4)
            .map(|w| ((w[0] - w[1]) / 1000).to_string())
            .collect();
        s += "\nDelta between last records (in mS) = ";
        s += &deltas.join(", ");
    }
    if let Some(e) = last.value.error() {
        s += if attr {
            "\nLast attribute read FAILED :"
        } else {
            "\nLast command execution FAILED :"
        };
        let (reason, desc, origin) = e
            .errors
            .first()
            .map(|e| (e.reason.as_str(), e.desc.as_str(), e.origin.as_str()))
            .unwrap_or(("", "", ""));
        s += &format!("\n\tReason = {reason}\n\tDesc = {desc}\n\tOrigin = {origin}");
    }
    s
}

/// The device call that reads the polled object `name` of `kind` (State and Status are
/// served by `dev_state`/`dev_status`), or `None` if the class has no such object. Every
/// adapter's polling loop runs this call, then [`polled_value`] on its outcome.
pub fn poll_call(info: &ClassInfo, kind: PolledKind, name: &str) -> Option<Call> {
    let (builtin, call) = match kind {
        PolledKind::Attribute => {
            let i = info.attribute(name)?;
            (info.attributes[i].builtin, Call::Read(i))
        }
        PolledKind::Command => {
            let i = info.command(name)?;
            (
                info.commands[i].builtin,
                Call::Command(i, CommandData::Void),
            )
        }
    };
    Some(match builtin {
        Some(Builtin::State) => Call::State,
        Some(Builtin::Status) => Call::Status,
        _ => call,
    })
}

/// What the outcome of a [`poll_call`] stores in the ring buffer; `None` for an outcome
/// that does not belong to a poll (it is dropped).
pub fn polled_value(kind: PolledKind, outcome: Outcome) -> Option<PolledValue> {
    let scalar = |data| AttrReading::new(data, 1, 0);
    Some(match (kind, outcome) {
        (PolledKind::Attribute, Outcome::Read(r)) => PolledValue::Attr(r),
        (PolledKind::Attribute, Outcome::State(s)) => {
            PolledValue::Attr(Ok(scalar(AttrData::State(vec![s]))))
        }
        (PolledKind::Attribute, Outcome::Status(s)) => {
            PolledValue::Attr(Ok(scalar(AttrData::String(vec![s]))))
        }
        (PolledKind::Command, Outcome::Command(r)) => PolledValue::Cmd(r),
        (PolledKind::Command, Outcome::State(s)) => PolledValue::Cmd(Ok(CommandData::State(s))),
        (PolledKind::Command, Outcome::Status(s)) => PolledValue::Cmd(Ok(CommandData::String(s))),
        (PolledKind::Attribute, Outcome::Done(Err(e))) => PolledValue::Attr(Err(e)),
        (PolledKind::Command, Outcome::Done(Err(e))) => PolledValue::Cmd(Err(e)),
        _ => return None,
    })
}
