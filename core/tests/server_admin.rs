//! The admin device (`DServer`) and the polling table: scheduling, the `DevPollStatus`
//! texts in cppTango's format, and every admin command run as the adapter runs it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tango_core::any::CommandData;
use tango_core::device::{Attr, Call, ClassBuilder, Cmd, DeviceClass, DeviceCtx, Outcome};
use tango_core::idl::{DevFailed, DevState, TimeVal};
use tango_core::server::admin::{admin_class, Control, DeviceRecord, ServerShared};
use tango_core::server::polling::{
    PollRecord, PollTable, PolledKind, PolledValue, DEFAULT_RING_DEPTH,
};
use tango_core::server::{DeviceId, ServerConfig};

const A: PolledKind = PolledKind::Attribute;
const C: PolledKind = PolledKind::Command;
const D1: DeviceId = DeviceId(1);
const D2: DeviceId = DeviceId(2);

fn tv(sec: i32, usec: i32) -> TimeVal {
    TimeVal {
        tv_sec: sec,
        tv_usec: usec,
        tv_nsec: 0,
    }
}

fn ok_attr(time: TimeVal, duration_us: u64) -> PollRecord {
    PollRecord {
        time,
        duration_us,
        value: PolledValue::Attr(Ok(tango_core::device::AttrReading::new(
            tango_core::value::AttrData::Double(vec![1.5]),
            1,
            0,
        ))),
    }
}

fn failed_cmd(time: TimeVal, duration_us: u64) -> PollRecord {
    PollRecord {
        time,
        duration_us,
        value: PolledValue::Cmd(Err(DevFailed::new("API_Boom", "it broke", "Dev::cmd"))),
    }
}

// ---------------------------------------------------------------------------------------
// The polling table
// ---------------------------------------------------------------------------------------

#[test]
fn scheduling_due_deadline_store() {
    let mut t = PollTable::new();
    assert!(t.is_started());
    assert_eq!(t.next_deadline(), None);
    t.add(D1, A, "double_scalar", 100, 0).unwrap();
    assert!(t.is_polled(D1, A, "DOUBLE_SCALAR"));
    assert!(!t.is_polled(D1, C, "double_scalar"));
    assert_eq!(t.period(D1, A, "Double_Scalar"), Some(100));
    // Due at once, then in flight until stored.
    assert_eq!(t.next_deadline(), Some(0));
    assert_eq!(t.due(0), vec![(D1, A, "double_scalar".to_owned())]);
    assert!(t.due(0).is_empty());
    assert_eq!(t.next_deadline(), Some(100));
    assert!(t.due(99).is_empty());
    t.store(D1, A, "double_scalar", ok_attr(tv(10, 0), 50));
    assert!(t.due(99).is_empty());
    assert_eq!(t.due(100).len(), 1);
    // Still in flight: not handed out twice even when the next deadline passed.
    assert!(t.due(250).is_empty());
    t.store(D1, A, "double_scalar", ok_attr(tv(10, 100_000), 50));
    // Late (deadline 200, now 250): the next deadline stays on the grid, no drift.
    assert_eq!(t.due(250).len(), 1);
    assert_eq!(t.next_deadline(), Some(300));
    t.store(D1, A, "double_scalar", ok_attr(tv(10, 250_000), 50));
    // More than a period behind (deadline 300, now 420): rescheduled from now.
    assert_eq!(t.due(420).len(), 1);
    assert_eq!(t.next_deadline(), Some(520));
    t.store(D1, A, "double_scalar", ok_attr(tv(10, 420_000), 50));

    // A second object; the earliest deadline wins.
    t.add(D2, C, "DevVoid", 1000, 430).unwrap();
    assert_eq!(t.next_deadline(), Some(430));
    assert_eq!(t.polled_devices(), vec![D1, D2]);
    assert_eq!(t.due(450), vec![(D2, C, "DevVoid".to_owned())]);
    t.store(D2, C, "devvoid", failed_cmd(tv(10, 450_000), 50));
    let due = t.due(1450);
    assert_eq!(
        due,
        vec![
            (D1, A, "double_scalar".to_owned()),
            (D2, C, "DevVoid".to_owned())
        ]
    );
    t.store(D1, A, "double_scalar", ok_attr(tv(11, 450_000), 50));
    t.store(D2, C, "devvoid", failed_cmd(tv(11, 450_000), 50));
    assert!(t.last(D2, C, "DEVVOID").is_some());
    assert_eq!(t.history(D2, C, "devvoid", 10).len(), 2);

    // Period update: next due one new period after it was last scheduled (1450).
    t.update_period(D1, A, "double_scalar", 20).unwrap();
    assert_eq!(t.period(D1, A, "double_scalar"), Some(20));
    assert_eq!(t.next_deadline(), Some(1470));

    // Stopped: nothing due, no deadline; started again: due.
    t.set_started(false);
    assert!(!t.is_started());
    assert!(t.due(10_000).is_empty());
    assert_eq!(t.next_deadline(), None);
    t.set_started(true);
    assert_eq!(t.due(10_000).len(), 2);

    // Removal.
    t.remove(D1, A, "DOUBLE_SCALAR").unwrap();
    assert!(!t.is_polled(D1, A, "double_scalar"));
    let e = t.remove(D1, A, "double_scalar").unwrap_err();
    assert_eq!(e.reason(), Some("API_PollObjNotFound"));
    assert_eq!(
        e.errors[0].desc,
        "double_scalar not found in list of polled object"
    );
    let e = t.update_period(D1, A, "double_scalar", 100).unwrap_err();
    assert_eq!(e.reason(), Some("API_PollObjNotFound"));
    assert_eq!(t.polled_devices(), vec![D2]);
    t.remove_device(D2);
    assert!(t.polled_devices().is_empty());
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn externally_triggered_objects_are_never_due() {
    let mut t = PollTable::new();
    t.add(D1, A, "ext", 0, 0).unwrap();
    assert!(t.due(1_000_000).is_empty());
    assert_eq!(t.next_deadline(), None);
    t.store(D1, A, "ext", ok_attr(tv(5, 0), 0));
    assert_eq!(t.history(D1, A, "ext", 5).len(), 1);
}

#[test]
fn add_errors() {
    let mut t = PollTable::new();
    t.add(D1, A, "x", 100, 0).unwrap();
    let e = t.add(D1, A, "X", 200, 0).unwrap_err();
    assert_eq!(e.reason(), Some("API_AlreadyPolled"));
    assert_eq!(e.errors[0].desc, "Attribute x already polled");
    // Same name as a command, or on another device: fine.
    t.add(D1, C, "x", 100, 0).unwrap();
    t.add(D2, A, "x", 100, 0).unwrap();
    let e = t.add(D1, C, "y", 4, 0).unwrap_err();
    assert_eq!(e.reason(), Some("API_NotSupported"));
    assert_eq!(
        e.errors[0].desc,
        "4 is below the min authorized period (5 mS)"
    );
    t.add(D1, C, "y", 5, 0).unwrap();
    let e = t.update_period(D1, C, "y", 3).unwrap_err();
    assert_eq!(e.reason(), Some("API_NotSupported"));
    assert_eq!(t.period(D1, C, "y"), Some(5));
}

#[test]
fn ring_depth_and_history() {
    let mut t = PollTable::new();
    t.add(D1, A, "a", 100, 0).unwrap();
    assert!(t.last(D1, A, "a").is_none());
    assert!(t.history(D1, A, "a", 3).is_empty());
    for i in 0..15 {
        t.store(D1, A, "a", ok_attr(tv(100 + i, 0), 10));
    }
    let all = t.history(D1, A, "a", 100);
    assert_eq!(all.len(), DEFAULT_RING_DEPTH);
    assert_eq!(all[0].time, tv(105, 0));
    assert_eq!(all[9].time, tv(114, 0));
    let three: Vec<i32> = t
        .history(D1, A, "a", 3)
        .iter()
        .map(|r| r.time.tv_sec)
        .collect();
    assert_eq!(three, vec![112, 113, 114]);
    assert_eq!(t.last(D1, A, "A").unwrap().time, tv(114, 0));
    t.set_depth(D1, A, "a", 4).unwrap();
    assert_eq!(t.history(D1, A, "a", 100).len(), 4);
    // Results of objects no longer polled are dropped.
    t.store(D1, A, "gone", ok_attr(tv(1, 0), 1));
    assert!(t.last(D1, A, "gone").is_none());
}

// ---------------------------------------------------------------------------------------
// DevPollStatus texts (cppTango DServer::dev_poll_status, dserverpoll.cpp)
// ---------------------------------------------------------------------------------------

#[test]
fn status_of_an_attribute_read_successfully() {
    let mut t = PollTable::new();
    t.add(D1, A, "double_scalar", 1000, 0).unwrap();
    t.store(D1, A, "double_scalar", ok_attr(tv(1000, 0), 900));
    t.store(D1, A, "double_scalar", ok_attr(tv(1001, 0), 1100));
    t.store(D1, A, "double_scalar", ok_attr(tv(1002, 500), 1234));
    let s = t.status(D1, "sys/tg_test/1", 0, tv(1004, 500_000));
    assert_eq!(s.len(), 1);
    let lines: Vec<&str> = s[0].split('\n').collect();
    assert_eq!(
        lines,
        [
            "Polled attribute name = double_scalar",
            "Polling period (mS) = 1000",
            "Polling ring buffer depth = 10",
            "Time needed for the last attribute reading (mS) = 1.234",
            // 2.4995 s - 1.234 ms
            "Data not updated since 2 S and 498 mS",
            "Delta between last records (in mS) = 1000, 1000",
        ]
    );
}

#[test]
fn status_of_a_failed_command() {
    let mut t = PollTable::new();
    t.add(D1, C, "DevVoid", 500, 0).unwrap();
    t.store(D1, C, "devvoid", failed_cmd(tv(50, 0), 500));
    let s = t.status(D1, "sys/tg_test/1", 0, tv(50, 120_500));
    assert_eq!(
        s,
        ["Polled command name = DevVoid\n\
          Polling period (mS) = 500\n\
          Polling ring buffer depth = 10\n\
          Time needed for the last command execution (mS) = 0.500\n\
          Data not updated since 120 mS\n\
          Last command execution FAILED :\n\
          \tReason = API_Boom\n\
          \tDesc = it broke\n\
          \tOrigin = Dev::cmd"]
    );
}

#[test]
fn status_of_a_failed_attribute_and_long_delays() {
    let mut t = PollTable::new();
    t.add(D1, A, "long_scalar", 3000, 0).unwrap();
    for (i, sec) in [10, 13, 16, 19, 22, 25].iter().enumerate() {
        let mut r = ok_attr(tv(*sec, i as i32 * 1000), 2_000_000);
        if i == 5 {
            r.value = PolledValue::Attr(Err(DevFailed::new(
                "API_AttrValueNotSet",
                "no value",
                "Attr::read",
            )));
        }
        t.store(D1, A, "long_scalar", r);
    }
    // 25.005 s + 125.25 s since the last read started, which took 2 s.
    let s = t.status(D1, "x/y/z", 0, tv(152, 255_000));
    assert_eq!(
        s[0].split('\n').collect::<Vec<_>>(),
        [
            "Polled attribute name = long_scalar",
            "Polling period (mS) = 3000",
            "Polling ring buffer depth = 10",
            "Time needed for the last attribute reading (mS) = 2000.000",
            "Data not updated since 2 MN ,5 S and 250 mS",
            "Delta between last records (in mS) = 3001, 3001, 3001, 3001",
            "Last attribute read FAILED :",
            "\tReason = API_AttrValueNotSet",
            "\tDesc = no value",
            "\tOrigin = Attr::read",
        ]
    );
    // Exactly 3 minutes: no seconds nor milliseconds part.
    let s = t.status(D1, "x/y/z", 0, tv(207, 5000));
    assert!(s[0].contains("\nData not updated since 3 MN\n"), "{}", s[0]);
}

#[test]
fn status_orders_commands_first_and_duplicates_state() {
    let mut t = PollTable::new();
    t.add(D1, A, "ampli", 200, 0).unwrap();
    t.add(D1, A, "State", 3000, 0).unwrap();
    t.add(D1, C, "DevVoid", 0, 0).unwrap();
    t.add(D1, A, "freq", 200, 0).unwrap();
    t.add(D2, A, "other", 200, 0).unwrap();
    t.store(D1, A, "ampli", ok_attr(tv(10, 0), 1500));
    t.store(D1, A, "state", ok_attr(tv(10, 0), 20));
    let s = t.status(D1, "a/b/c", 0, tv(10, 400_000));
    assert_eq!(s.len(), 5);
    assert_eq!(
        s[0],
        "Polled command name = State\nPolling period (mS) = 3000\n\
         Polling ring buffer depth = 10\n\
         Time needed for the last command reading (mS) = 0.020\n\
         Data not updated since 399 mS"
    );
    assert_eq!(
        s[1],
        "Polled command name = DevVoid\nPolling externally triggered\n\
         Polling ring buffer depth = 10\nNo data recorded yet"
    );
    assert_eq!(
        s[2],
        "Polled attribute name = ampli\nPolling period (mS) = 200\n\
         Polling ring buffer depth = 10\n\
         Time needed for the last attributes (ampli + freq) reading (mS) = 1.500\n\
         Data not updated since 398 mS"
    );
    assert!(s[3].starts_with("Polled attribute name = State\n"));
    assert!(s[3].contains("last attribute reading (mS) = 0.020"));
    assert_eq!(
        s[4],
        "Polled attribute name = freq\nPolling period (mS) = 200\n\
         Polling ring buffer depth = 10\nNo data recorded yet"
    );
    // Externally filled buffer.
    t.store(D1, C, "devvoid", failed_cmd(tv(10, 0), 0));
    let s = t.status(D1, "a/b/c", 0, tv(10, 400_000));
    assert!(s[1].contains("\nThe polling buffer is externally filled in\nLast command"));
    assert!(t.status(DeviceId(9), "n/o/ne", 0, tv(0, 0)).is_empty());
}

/// cppTango's client `DeviceProxy::is_polled` (devapi_base.cpp), which PyTango's
/// `is_attribute_polled`, `get_attribute_poll_period` and `get_command_poll_period` call:
/// finds the object in the `DevPollStatus` texts and returns its period.
fn client_poll_period(texts: &[String], attr: bool, name: &str) -> Option<i32> {
    let want = name.to_lowercase();
    for s in texts {
        let pos = s.find(' ').unwrap() + 1;
        let end = s[pos + 1..].find(' ').unwrap() + pos + 1;
        let ty = &s[pos..end];
        if ty == "command" && attr {
            continue;
        }
        if ty == "attribute" && !attr && want != "state" && want != "status" {
            continue;
        }
        let pos = s.find('=').unwrap() + 2;
        let end = s[pos + 1..].find('\n').unwrap() + pos + 1;
        if s[pos..end].to_lowercase() != want {
            continue;
        }
        if s[end..].contains("triggered") {
            return Some(0);
        }
        let pos = s[end..].find('=').unwrap() + end + 2;
        let stop = s[pos + 1..].find('\n').unwrap() + pos + 1;
        return s[pos..stop].parse().ok();
    }
    None
}

#[test]
fn status_parses_as_cpptango_clients_parse_it() {
    let mut t = PollTable::new();
    t.add(D1, A, "double_scalar", 1000, 0).unwrap();
    t.add(D1, C, "SwitchStates", 3000, 0).unwrap();
    t.add(D1, A, "Status", 700, 0).unwrap();
    t.add(D1, C, "DevVoid", 0, 0).unwrap();
    t.store(D1, A, "double_scalar", ok_attr(tv(1, 0), 10));
    let s = t.status(D1, "sys/tg_test/1", 0, tv(2, 0));
    assert_eq!(client_poll_period(&s, true, "DOUBLE_SCALAR"), Some(1000));
    assert_eq!(client_poll_period(&s, false, "double_scalar"), None);
    assert_eq!(client_poll_period(&s, false, "switchstates"), Some(3000));
    assert_eq!(client_poll_period(&s, true, "switchstates"), None);
    assert_eq!(client_poll_period(&s, true, "status"), Some(700));
    assert_eq!(client_poll_period(&s, false, "Status"), Some(700));
    assert_eq!(client_poll_period(&s, false, "DevVoid"), Some(0));
    assert_eq!(client_poll_period(&s, true, "long_scalar"), None);
    // PyTango's own tests read lines[0] after "= " and lines[1] after "= ".
    for text in &s {
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(lines[0].split("= ").nth(1).is_some());
    }
}

// ---------------------------------------------------------------------------------------
// The admin device
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Ps {
    current: f64,
}

fn power_supply() -> DeviceClass {
    ClassBuilder::new("PowerSupply", |_| Ps::default())
        .attr(Attr::new::<f64>("current").read(|p: &mut Ps, _| Ok(p.current)))
        .attr(
            Attr::new::<f64>("voltage")
                .read(|_: &mut Ps, _| Ok(2.0))
                .polling_period(3000),
        )
        .command(Cmd::new("On", |_: &mut Ps, ctx, (): ()| {
            ctx.set_state(DevState::On);
            Ok::<(), DevFailed>(())
        }))
        .command(Cmd::new("SetCurrent", |p: &mut Ps, _, v: f64| {
            p.current = v;
            Ok::<(), DevFailed>(())
        }))
        .build()
}

fn motor() -> DeviceClass {
    ClassBuilder::new("Motor", |_| ())
        .attr(Attr::new::<f64>("Position").read(|_: &mut (), _| Ok(0.0)))
        .build()
}

struct Fixture {
    shared: Arc<ServerShared>,
    clock: Arc<AtomicU64>,
    class: DeviceClass,
    ctx: DeviceCtx,
    device: Box<dyn tango_core::device::SyncDevice>,
}

impl Fixture {
    fn new() -> Self {
        let clock = Arc::new(AtomicU64::new(1_000));
        let c = clock.clone();
        let shared = ServerShared::with_clock(
            ServerConfig::new("PsServer", "test"),
            Box::new(move || {
                let ms = c.load(Ordering::SeqCst);
                (
                    ms,
                    tv(
                        1_700_000_000 + (ms / 1000) as i32,
                        (ms % 1000) as i32 * 1000,
                    ),
                )
            }),
        );
        let admin = admin_class(shared.clone());
        let admin_name = shared.admin_name();
        assert_eq!(admin_name, "dserver/PsServer/test");
        shared.add_device(DeviceRecord {
            id: DeviceId(0),
            name: admin_name.clone(),
            class_name: admin.name().to_owned(),
            class_info: admin.info.clone(),
        });
        let ps = power_supply();
        let m = motor();
        shared.add_device(DeviceRecord {
            id: D1,
            name: "test/ps/1".into(),
            class_name: "PowerSupply".into(),
            class_info: ps.info.clone(),
        });
        shared.add_device(DeviceRecord {
            id: D2,
            name: "test/Motor/1".into(),
            class_name: "Motor".into(),
            class_info: m.info.clone(),
        });
        let ctx = DeviceCtx::new(&admin_name);
        let mut device = admin.new_device(&ctx);
        assert_eq!(
            Outcome::run_sync(&mut *device, &ctx, Call::Init),
            Outcome::Done(Ok(()))
        );
        Fixture {
            shared,
            clock,
            class: admin,
            ctx,
            device,
        }
    }

    fn run(&mut self, cmd: &str, arg: CommandData) -> Result<CommandData, DevFailed> {
        let idx = self
            .class
            .info
            .command(cmd)
            .unwrap_or_else(|| panic!("no admin command {cmd}"));
        match Outcome::run_sync(&mut *self.device, &self.ctx, Call::Command(idx, arg)) {
            Outcome::Command(r) => r,
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    fn ok(&mut self, cmd: &str, arg: CommandData) -> CommandData {
        self.run(cmd, arg)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn err(&mut self, cmd: &str, arg: CommandData) -> DevFailed {
        match self.run(cmd, arg) {
            Err(e) => e,
            Ok(v) => panic!("{cmd} succeeded with {v:?}"),
        }
    }

    fn strings(&mut self, cmd: &str, arg: CommandData) -> Vec<String> {
        match self.ok(cmd, arg) {
            CommandData::StringArray(v) => v,
            other => panic!("{cmd} returned {other:?}"),
        }
    }
}

fn strs(v: &[&str]) -> CommandData {
    CommandData::StringArray(v.iter().map(|s| s.to_string()).collect())
}

fn poll_arg(period: i32, dev: &str, ty: &str, name: &str) -> CommandData {
    CommandData::LongStringArray(vec![period], vec![dev.into(), ty.into(), name.into()])
}

fn s(v: &str) -> CommandData {
    CommandData::String(v.into())
}

#[test]
fn admin_class_interface() {
    let f = Fixture::new();
    let info = &f.class.info;
    assert_eq!(info.name, "DServer");
    let names: Vec<&str> = info.commands.iter().map(|c| c.name.as_str()).collect();
    // cppTango 9.3.4's admin command list (with log4tango), sorted.
    assert_eq!(
        names,
        [
            "AddLoggingTarget",
            "AddObjPolling",
            "DevLockStatus",
            "DevPollStatus",
            "DevRestart",
            "EventConfirmSubscription",
            "EventSubscriptionChange",
            "GetLoggingLevel",
            "GetLoggingTarget",
            "Init",
            "Kill",
            "LockDevice",
            "PolledDevice",
            "QueryClass",
            "QueryDevice",
            "QuerySubDevice",
            "QueryWizardClassProperty",
            "QueryWizardDevProperty",
            "ReLockDevices",
            "RemObjPolling",
            "RemoveLoggingTarget",
            "RestartServer",
            "SetLoggingLevel",
            "StartLogging",
            "StartPolling",
            "State",
            "Status",
            "StopLogging",
            "StopPolling",
            "UnLockDevice",
            "UpdObjPollingPeriod",
            "ZmqEventSubscriptionChange",
        ]
    );
    use tango_core::idl::CmdArgType as T;
    let sig = |n: &str| {
        let c = &info.commands[info.command(n).unwrap()];
        (c.in_type, c.out_type)
    };
    assert_eq!(sig("DevPollStatus"), (T::DevString, T::DevVarStringArray));
    assert_eq!(sig("AddObjPolling"), (T::DevVarLongStringArray, T::DevVoid));
    assert_eq!(
        sig("UpdObjPollingPeriod"),
        (T::DevVarLongStringArray, T::DevVoid)
    );
    assert_eq!(sig("RemObjPolling"), (T::DevVarStringArray, T::DevVoid));
    assert_eq!(
        sig("GetLoggingLevel"),
        (T::DevVarStringArray, T::DevVarLongStringArray)
    );
    assert_eq!(
        sig("SetLoggingLevel"),
        (T::DevVarLongStringArray, T::DevVoid)
    );
    assert_eq!(
        sig("GetLoggingTarget"),
        (T::DevString, T::DevVarStringArray)
    );
    assert_eq!(
        sig("EventSubscriptionChange"),
        (T::DevVarStringArray, T::DevLong)
    );
    assert_eq!(
        sig("ZmqEventSubscriptionChange"),
        (T::DevVarStringArray, T::DevVarLongStringArray)
    );
    assert_eq!(
        sig("EventConfirmSubscription"),
        (T::DevVarStringArray, T::DevVoid)
    );
    assert_eq!(sig("UnLockDevice"), (T::DevVarLongStringArray, T::DevLong));
    assert_eq!(
        sig("DevLockStatus"),
        (T::DevString, T::DevVarLongStringArray)
    );
    assert_eq!(sig("DevRestart"), (T::DevString, T::DevVoid));
    assert_eq!(sig("QueryDevice"), (T::DevVoid, T::DevVarStringArray));
    assert_eq!(f.ctx.get_state(), DevState::On);
    assert_eq!(f.ctx.get_status(), "The device is ON");
}

#[test]
fn query_commands() {
    let mut f = Fixture::new();
    assert_eq!(
        f.strings("QueryClass", CommandData::Void),
        ["PowerSupply", "Motor"]
    );
    assert_eq!(
        f.strings("QueryDevice", CommandData::Void),
        ["PowerSupply::test/ps/1", "Motor::test/Motor/1"]
    );
    assert!(f.strings("QuerySubDevice", CommandData::Void).is_empty());
    assert!(f
        .strings("QueryWizardClassProperty", s("powersupply"))
        .is_empty());
    assert!(f.strings("QueryWizardDevProperty", s("Motor")).is_empty());
    let e = f.err("QueryWizardDevProperty", s("Nope"));
    assert_eq!(e.reason(), Some("API_ClassNotFound"));
    // State and Status of the admin device itself.
    let state = f.class.info.command("State").unwrap();
    assert_eq!(
        Outcome::run_sync(&mut *f.device, &f.ctx, Call::State),
        Outcome::State(DevState::On)
    );
    assert!(f.class.info.commands[state].builtin.is_some());
}

#[test]
fn polling_through_the_admin_device() {
    let mut f = Fixture::new();
    // voltage is polled from start-up (its class says so).
    assert_eq!(f.strings("PolledDevice", CommandData::Void), ["test/ps/1"]);
    let st = f.strings("DevPollStatus", s("TEST/PS/1"));
    assert_eq!(
        st,
        [
            "Polled attribute name = voltage\nPolling period (mS) = 3000\n\
          Polling ring buffer depth = 10\nNo data recorded yet"
        ]
    );

    f.ok(
        "AddObjPolling",
        poll_arg(1000, "test/ps/1", "attribute", "CURRENT"),
    );
    f.ok(
        "AddObjPolling",
        poll_arg(500, "Test/Motor/1", "ATTRIBUTE", "position"),
    );
    f.ok(
        "AddObjPolling",
        poll_arg(2000, "test/ps/1", "command", "on"),
    );
    // The State command is polled as the State attribute.
    f.ok(
        "AddObjPolling",
        poll_arg(700, "test/ps/1", "command", "state"),
    );
    {
        let t = f.shared.polling.lock().unwrap();
        assert_eq!(t.period(D1, PolledKind::Attribute, "current"), Some(1000));
        assert_eq!(t.period(D1, PolledKind::Command, "On"), Some(2000));
        assert_eq!(t.period(D1, PolledKind::Attribute, "state"), Some(700));
        assert!(!t.is_polled(D1, PolledKind::Command, "state"));
        assert_eq!(t.period(D2, PolledKind::Attribute, "position"), Some(500));
    }
    assert_eq!(
        f.strings("PolledDevice", CommandData::Void),
        ["test/Motor/1", "test/ps/1"]
    );

    // Errors, as cppTango raises them.
    let e = f.err(
        "AddObjPolling",
        poll_arg(1000, "test/ps/1", "attribute", "current"),
    );
    assert_eq!(e.reason(), Some("API_AlreadyPolled"));
    assert_eq!(e.errors[0].desc, "Attribute current already polled");
    let e = f.err(
        "AddObjPolling",
        poll_arg(1000, "test/ps/9", "attribute", "current"),
    );
    assert_eq!(e.reason(), Some("API_DeviceNotFound"));
    assert_eq!(e.errors.len(), 2);
    assert_eq!(e.errors[1].desc, "Device test/ps/9 not found");
    assert_eq!(e.errors[1].origin, "DServer::add_obj_polling");
    let e = f.err(
        "AddObjPolling",
        poll_arg(1000, "test/ps/1", "attribute", "nope"),
    );
    assert_eq!(e.reason(), Some("API_AttrNotFound"));
    assert_eq!(e.errors[0].desc, "nope attribute not found");
    let e = f.err(
        "AddObjPolling",
        poll_arg(1000, "test/ps/1", "command", "Nope"),
    );
    assert_eq!(e.reason(), Some("API_CommandNotFound"));
    assert_eq!(e.errors[0].desc, "Command nope not found");
    let e = f.err(
        "AddObjPolling",
        poll_arg(1000, "test/ps/1", "command", "SetCurrent"),
    );
    assert_eq!(e.reason(), Some("API_IncompatibleCmdArgumentType"));
    let e = f.err(
        "AddObjPolling",
        poll_arg(1000, "test/ps/1", "command", "Init"),
    );
    assert_eq!(e.reason(), Some("API_NotSupported"));
    let e = f.err("AddObjPolling", poll_arg(1000, "test/ps/1", "pipe", "x"));
    assert_eq!(e.errors[0].desc, "Object type pipe not supported");
    let e = f.err(
        "AddObjPolling",
        poll_arg(2, "test/ps/1", "command", "status"),
    );
    assert_eq!(e.reason(), Some("API_NotSupported"));
    assert_eq!(
        e.errors[0].desc,
        "2 is below the min authorized period (5 mS)"
    );
    let e = f.err(
        "AddObjPolling",
        CommandData::LongStringArray(vec![1000], vec!["test/ps/1".into()]),
    );
    assert_eq!(e.reason(), Some("API_WrongNumberOfArgs"));

    // Scheduling uses the shared clock; results show up in DevPollStatus.
    let now = f.shared.now_ms();
    let due = f.shared.polling.lock().unwrap().due(now);
    assert_eq!(due.len(), 5);
    assert!(due.contains(&(D1, PolledKind::Attribute, "current".to_owned())));
    assert!(due.contains(&(D1, PolledKind::Command, "On".to_owned())));
    assert!(due.contains(&(D1, PolledKind::Attribute, "State".to_owned())));
    f.shared.polling.lock().unwrap().store(
        D1,
        PolledKind::Attribute,
        "current",
        ok_attr(f.shared.now(), 2500),
    );
    f.clock.fetch_add(250, Ordering::SeqCst);
    let st = f.strings("DevPollStatus", s("test/ps/1"));
    // On, State (as a command), then voltage, current, State.
    assert_eq!(st.len(), 5);
    assert!(st[0].starts_with("Polled command name = On\nPolling period (mS) = 2000\n"));
    assert!(st[1].starts_with("Polled command name = State\nPolling period (mS) = 700\n"));
    assert!(st[2].starts_with("Polled attribute name = voltage\n"));
    assert_eq!(
        st[3],
        "Polled attribute name = current\nPolling period (mS) = 1000\n\
         Polling ring buffer depth = 10\n\
         Time needed for the last attribute reading (mS) = 2.500\n\
         Data not updated since 247 mS"
    );
    assert!(st[4].starts_with("Polled attribute name = State\n"));
    let e = f.err("DevPollStatus", s("no/such/dev"));
    assert_eq!(e.reason(), Some("API_DeviceNotFound"));
    assert!(f
        .strings("DevPollStatus", s(&f.shared.admin_name()))
        .is_empty());

    // Period update and removal.
    f.ok(
        "UpdObjPollingPeriod",
        poll_arg(1500, "test/ps/1", "attribute", "Current"),
    );
    assert_eq!(
        f.shared
            .polling
            .lock()
            .unwrap()
            .period(D1, PolledKind::Attribute, "current"),
        Some(1500)
    );
    f.ok(
        "UpdObjPollingPeriod",
        poll_arg(900, "test/ps/1", "command", "State"),
    );
    let e = f.err(
        "UpdObjPollingPeriod",
        poll_arg(1500, "test/ps/1", "attribute", "nope"),
    );
    assert_eq!(e.reason(), Some("API_PollObjNotFound"));
    let e = f.err(
        "UpdObjPollingPeriod",
        poll_arg(1, "test/ps/1", "attribute", "current"),
    );
    assert_eq!(e.reason(), Some("API_NotSupported"));

    f.ok(
        "RemObjPolling",
        strs(&["test/motor/1", "attribute", "Position"]),
    );
    let e = f.err(
        "RemObjPolling",
        strs(&["test/motor/1", "attribute", "Position"]),
    );
    assert_eq!(e.reason(), Some("API_DeviceNotPolled"));
    assert_eq!(e.errors[0].desc, "Device test/motor/1 is not polled");
    let e = f.err("RemObjPolling", strs(&["test/ps/1", "command", "current"]));
    assert_eq!(e.reason(), Some("API_PollObjNotFound"));
    f.ok("RemObjPolling", strs(&["test/ps/1", "command", "STATE"]));
    let e = f.err("RemObjPolling", strs(&["test/ps/1", "attribute"]));
    assert_eq!(e.reason(), Some("API_WrongNumberOfArgs"));
    assert_eq!(f.strings("PolledDevice", CommandData::Void), ["test/ps/1"]);
    assert_eq!(f.strings("DevPollStatus", s("test/ps/1")).len(), 3);

    // Stop and start.
    f.ok("StopPolling", CommandData::Void);
    assert!(!f.shared.polling.lock().unwrap().is_started());
    assert_eq!(f.ctx.get_status(), "The device is ON\nThe polling is OFF");
    f.ok("StartPolling", CommandData::Void);
    assert!(f.shared.polling.lock().unwrap().is_started());
    assert_eq!(f.ctx.get_status(), "The device is ON\nThe polling is ON");
}

#[test]
fn control_commands() {
    let mut f = Fixture::new();
    assert_eq!(f.shared.take_control(), None);
    f.ok("DevRestart", s("TEST/MOTOR/1"));
    assert_eq!(f.shared.take_control(), Some(Control::RestartDevice(D2)));
    assert_eq!(f.shared.take_control(), None);
    let e = f.err("DevRestart", s("test/motor/2"));
    assert_eq!(e.reason(), Some("API_DeviceNotFound"));
    assert_eq!(e.errors[0].desc, "Device test/motor/2 not found");
    assert_eq!(f.shared.take_control(), None);
    // Full names are accepted.
    f.ok(
        "DevRestart",
        s("tango://localhost:10000/test/ps/1#dbase=no"),
    );
    f.ok("RestartServer", CommandData::Void);
    f.ok("Kill", CommandData::Void);
    assert_eq!(f.shared.take_control(), Some(Control::RestartDevice(D1)));
    assert_eq!(f.shared.take_control(), Some(Control::RestartServer));
    assert_eq!(f.shared.take_control(), Some(Control::Kill));
    assert_eq!(f.shared.take_control(), None);
}

#[test]
fn logging_commands_round_trip() {
    let mut f = Fixture::new();
    let levels = |f: &mut Fixture, pats: &[&str]| match f.ok("GetLoggingLevel", strs(pats)) {
        CommandData::LongStringArray(l, s) => (l, s),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        levels(&mut f, &["test/ps/1"]),
        (vec![3], vec!["test/ps/1".to_owned()])
    );
    f.ok(
        "SetLoggingLevel",
        CommandData::LongStringArray(vec![5, 1], vec!["test/*".into(), "test/motor/1".into()]),
    );
    let (l, names) = levels(&mut f, &["test/*"]);
    assert_eq!(names, ["test/ps/1", "test/Motor/1"]);
    assert_eq!(l, [5, 1]);
    let e = f.err(
        "SetLoggingLevel",
        CommandData::LongStringArray(vec![6], vec!["test/ps/1".into()]),
    );
    assert_eq!(e.reason(), Some("API_MethodArgument"));
    let e = f.err(
        "SetLoggingLevel",
        CommandData::LongStringArray(vec![1, 2], vec!["test/ps/1".into()]),
    );
    assert_eq!(e.reason(), Some("API_IncompatibleCmdArgumentType"));

    // Stop sets every level to OFF, start restores them.
    f.ok("StopLogging", CommandData::Void);
    assert_eq!(levels(&mut f, &["test/*"]).0, [0, 0]);
    f.ok("StartLogging", CommandData::Void);
    assert_eq!(levels(&mut f, &["test/*"]).0, [5, 1]);

    // Targets.
    assert!(f.strings("GetLoggingTarget", s("test/ps/1")).is_empty());
    f.ok(
        "AddLoggingTarget",
        strs(&[
            "test/ps/1",
            "device::log/viewer/1",
            "test/ps/1",
            "console",
            "test/*",
            "file::/tmp/x.log",
        ]),
    );
    assert_eq!(
        f.strings("GetLoggingTarget", s("TEST/PS/1")),
        ["device::log/viewer/1", "console::cout", "file::/tmp/x.log"]
    );
    assert_eq!(
        f.strings("GetLoggingTarget", s("test/motor/1")),
        ["file::/tmp/x.log"]
    );
    // Adding again does not duplicate.
    f.ok("AddLoggingTarget", strs(&["test/ps/1", "Console::"]));
    assert_eq!(f.strings("GetLoggingTarget", s("test/ps/1")).len(), 3);
    f.ok("RemoveLoggingTarget", strs(&["test/ps/1", "console"]));
    assert_eq!(
        f.strings("GetLoggingTarget", s("test/ps/1")),
        ["device::log/viewer/1", "file::/tmp/x.log"]
    );
    f.ok("RemoveLoggingTarget", strs(&["*", "file::*"]));
    assert_eq!(
        f.strings("GetLoggingTarget", s("test/ps/1")),
        ["device::log/viewer/1"]
    );
    assert!(f.strings("GetLoggingTarget", s("test/motor/1")).is_empty());

    // Errors.
    let e = f.err("AddLoggingTarget", strs(&["test/ps/1"]));
    assert_eq!(e.reason(), Some("API_MethodArgument"));
    let e = f.err("AddLoggingTarget", strs(&["x/*", "console"]));
    assert_eq!(e.reason(), Some("API_DeviceNotFound"));
    let e = f.err("AddLoggingTarget", strs(&["test/ps/1", "printer::lp0"]));
    assert_eq!(e.reason(), Some("API_MethodArgument"));
    let e = f.err("AddLoggingTarget", strs(&["test/ps/1", "device"]));
    assert_eq!(e.reason(), Some("API_MethodArgument"));
    let e = f.err("RemoveLoggingTarget", strs(&["test/ps/1", "printer"]));
    assert_eq!(e.reason(), Some("API_MethodArgument"));
    let e = f.err("GetLoggingTarget", s("no/such/dev"));
    assert_eq!(e.reason(), Some("API_DeviceNotFound"));
    // The admin device has a logger too.
    let admin = f.shared.admin_name();
    assert!(f.strings("GetLoggingTarget", s(&admin)).is_empty());
}

#[test]
fn events_and_locking() {
    let mut f = Fixture::new();
    for cmd in [
        "EventSubscriptionChange",
        "ZmqEventSubscriptionChange",
        "EventConfirmSubscription",
    ] {
        let e = f.err(cmd, strs(&["test/ps/1", "current", "change"]));
        assert_eq!(e.reason(), Some("API_NotSupported"), "{cmd}");
        assert_eq!(
            e.errors[0].desc, "events are not supported yet by this server",
            "{cmd}"
        );
    }
    let e = f.err(
        "LockDevice",
        CommandData::LongStringArray(vec![10], vec!["test/ps/1".into()]),
    );
    assert_eq!(e.reason(), Some("API_NotSupported"));
    assert_eq!(
        f.ok(
            "UnLockDevice",
            CommandData::LongStringArray(vec![0], vec!["test/ps/1".into()])
        ),
        CommandData::Long(0)
    );
    let e = f.err("ReLockDevices", strs(&["test/ps/1"]));
    assert_eq!(e.reason(), Some("API_DeviceNotLocked"));
    assert_eq!(
        f.ok("DevLockStatus", s("test/ps/1")),
        CommandData::LongStringArray(
            vec![0; 6],
            vec![
                "Device test/ps/1 is not locked".into(),
                "Not defined".into(),
                "Not defined".into()
            ]
        )
    );
    let e = f.err("DevLockStatus", s("a/b/c"));
    assert_eq!(e.reason(), Some("API_DeviceNotFound"));
}
