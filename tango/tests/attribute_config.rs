//! Interop: `set_attribute_config` against real Tango servers, Debian's C++ TangoTest 9.3.4
//! (IDL 5), the PyTango 10.3.1 TangoTest peer (IDL 6) and our Rust TangoTest (IDL 6).
//!
//! These servers are shared with other tests: each test uses its own attribute (tests run
//! in parallel) and puts the original configuration back when it ends, even when it
//! fails (a guard restores it on drop). Without `TANGO_INTEROP=1` these tests return at
//! once (and say so once).
//!
//! Debian's C++ TangoTest 9.3.4 runs without a database, and cppTango 9.3.4 then dies on
//! any `set_attribute_config` that changes a property (it stores the change through the
//! database it does not have; PyTango's client kills it the same way). So against it the
//! shared-server tests only send what it accepts without storing (unchanged
//! configurations) and what it refuses (unknown attributes, incoherent or non-numeric
//! limits); [`cpp_without_database_dies_on_a_change`] shows the crash on a private peer.

use std::time::{Duration, Instant};

use std::future::Future;

use tango::tango_core::idl::{AttributeConfig3, ClntIdent};
use tango::tango_core::ops::{self, Operation};
use tango::{AttributeInfoEx, AttributeProxy, CallSite, Connection, DeviceProxy, Error, Transport};
use tango_testkit::{Peer, PeerKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpp,
    Py,
    Rust,
}

fn device(kind: Kind) -> String {
    match kind {
        Kind::Cpp => tango_testkit::cpp_tangotest_device(),
        Kind::Py => tango_testkit::py_tangotest_device(),
        Kind::Rust => tango_testkit::rust_tangotest_device(),
    }
}

fn proxy(kind: Kind) -> DeviceProxy {
    let dev = DeviceProxy::new(&device(kind)).expect("connect");
    dev.set_timeout_millis(10_000);
    dev
}

/// Whether the server survives a configuration change (see the module documentation).
fn can_change(kind: Kind) -> bool {
    kind != Kind::Cpp
}

/// Puts an attribute's original configuration back when dropped, and checks (outside a
/// panic) that the server then reports exactly the original again: a configuration read
/// and sent back unchanged must leave the server's unchanged.
struct Restore {
    dev: DeviceProxy,
    original: AttributeInfoEx,
}

impl Restore {
    fn new(dev: &DeviceProxy, attr: &str) -> Restore {
        Restore {
            dev: dev.clone(),
            original: dev
                .get_attribute_config(attr)
                .expect("get_attribute_config"),
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let restored = self.dev.set_attribute_config(&self.original);
        if std::thread::panicking() {
            return;
        }
        restored.expect("restoring the original configuration");
        let now = self
            .dev
            .get_attribute_config(&self.original.name)
            .expect("get_attribute_config after restoring");
        assert_eq!(now, self.original, "the original configuration came back");
    }
}

/// `info` with label, unit, format, description, limits and alarms changed.
fn changed(info: &AttributeInfoEx, tag: &str) -> AttributeInfoEx {
    let mut c = info.clone();
    c.label = format!("{tag} label");
    c.unit = "mm".into();
    c.format = "%7.3f".into();
    c.description = format!("{tag}: changed by tango-rs");
    // Non-negative: the PyTango peer stores "-100" as "100" on unsigned attributes.
    c.min_value = "10".into();
    c.max_value = "100".into();
    c.alarms.min_alarm = "20".into();
    c.alarms.max_alarm = "50".into();
    c
}

/// The fields [`changed`] sets, as read back, and a few it leaves alone.
fn assert_changed(back: &AttributeInfoEx, wanted: &AttributeInfoEx) {
    assert_eq!(back.name, wanted.name);
    assert_eq!(back.label, wanted.label);
    assert_eq!(back.unit, wanted.unit);
    assert_eq!(back.format, wanted.format);
    assert_eq!(back.description, wanted.description);
    assert_eq!(back.min_value, wanted.min_value);
    assert_eq!(back.max_value, wanted.max_value);
    assert_eq!(back.alarms.min_alarm, wanted.alarms.min_alarm);
    assert_eq!(back.alarms.max_alarm, wanted.alarms.max_alarm);
    assert_eq!(back.data_type, wanted.data_type);
    assert_eq!(back.writable, wanted.writable);
    assert_eq!(back.data_format, wanted.data_format);
    assert_eq!(back.disp_level, wanted.disp_level);
    assert_eq!(back.alarms.min_warning, wanted.alarms.min_warning);
    assert_eq!(back.events.per_event, wanted.events.per_event);
}

/// `double_scalar`: change, read back, writes checked against the new limits, restore.
fn set_and_read_back(kind: Kind) {
    let dev = proxy(kind);
    let guard = Restore::new(&dev, "double_scalar");
    let wanted = changed(&guard.original, "double");
    assert_ne!(wanted, guard.original, "the test changes something");
    dev.set_attribute_config(&wanted).unwrap();
    let back = dev.get_attribute_config("double_scalar").unwrap();
    assert_changed(&back, &wanted);
    assert_eq!(
        dev.get_attribute_config_list(&["double_scalar"]).unwrap(),
        vec![back]
    );
    // The new limits hold for writes.
    let err = dev.write_attribute("double_scalar", 150.0).unwrap_err();
    assert!(matches!(err, Error::DevFailed(_)), "{err:?}");
    assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
    let err = dev.write_attribute("double_scalar", 9.5).unwrap_err();
    assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
    dev.write_attribute("double_scalar", 99.5).unwrap();
    let set_point: f64 = dev
        .read_attribute("double_scalar")
        .unwrap()
        .get_w()
        .unwrap();
    assert_eq!(set_point, 99.5);
    drop(guard);
    // The original limits are back: 150 is accepted again.
    dev.write_attribute("double_scalar", 150.0).unwrap();
    dev.write_attribute("double_scalar", 0.0).unwrap();
}

/// `long_scalar` and `short_scalar` in one `set_attribute_config_list`.
fn set_config_list(kind: Kind) {
    let dev = proxy(kind);
    let long = Restore::new(&dev, "long_scalar");
    let short = Restore::new(&dev, "short_scalar");
    let wanted = vec![
        changed(&long.original, "long"),
        changed(&short.original, "short"),
    ];
    dev.set_attribute_config_list(&wanted).unwrap();
    let back = dev
        .get_attribute_config_list(&["long_scalar", "short_scalar"])
        .unwrap();
    assert_eq!(back.len(), 2);
    assert_changed(&back[0], &wanted[0]);
    assert_changed(&back[1], &wanted[1]);
    let err = dev.write_attribute("short_scalar", 101i16).unwrap_err();
    assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
    let err = dev.write_attribute("long_scalar", 9i32).unwrap_err();
    assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
    dev.write_attribute("long_scalar", 10i32).unwrap();
    drop(short);
    drop(long);
}

/// Sending back what was read changes nothing, for attributes of several types at once.
fn unchanged_configs_round_trip(kind: Kind) {
    let dev = proxy(kind);
    let names = [
        "float_scalar",
        "string_scalar",
        "boolean_scalar",
        "uchar_scalar",
        "double_spectrum",
    ];
    let before = dev.get_attribute_config_list(&names).unwrap();
    dev.set_attribute_config_list(&before).unwrap();
    assert_eq!(dev.get_attribute_config_list(&names).unwrap(), before);
    dev.set_attribute_config(&before[0]).unwrap();
    assert_eq!(dev.get_attribute_config(names[0]).unwrap(), before[0]);
    // An empty list sets nothing (and is not sent: cppTango servers refuse it).
    dev.set_attribute_config_list(&[]).unwrap();
    assert_eq!(dev.get_attribute_config_list(&names).unwrap(), before);
}

/// The reasons every server gives, cppTango's: `API_IncoherentValues` for incoherent
/// limits (min >= max), `API_AttrOptProp` for a limit that is not a number.
fn refusal_reasons(_kind: Kind) -> (&'static [&'static str], &'static [&'static str]) {
    (&["API_IncoherentValues"], &["API_AttrOptProp"])
}

fn assert_refused(err: Error, reasons: &[&str]) {
    assert!(matches!(err, Error::DevFailed(_)), "{err:?}");
    assert!(reasons.contains(&err.reason()), "{err}");
}

/// Unknown attributes and invalid values get the server's reasons; a refused
/// configuration leaves the attribute's unchanged.
fn refused_configs(kind: Kind) {
    let dev = proxy(kind);
    let guard = Restore::new(&dev, "ushort_scalar");
    let (incoherent, not_a_number) = refusal_reasons(kind);

    let mut unknown = guard.original.clone();
    unknown.name = "no_such_attribute".into();
    let err = dev.set_attribute_config(&unknown).unwrap_err();
    assert!(matches!(err, Error::DevFailed(_)), "{err:?}");
    assert_eq!(err.reason(), "API_AttrNotFound", "{err}");

    // What the refusals below are measured against.
    let base = if can_change(kind) {
        let mut c = guard.original.clone();
        c.min_value = "0".into();
        c.max_value = "50".into();
        c.alarms.min_alarm = "10".into();
        c.alarms.max_alarm = "40".into();
        dev.set_attribute_config(&c).unwrap();
        dev.get_attribute_config("ushort_scalar").unwrap()
    } else {
        guard.original.clone()
    };
    let mut attempts = Vec::new();
    if can_change(kind) {
        // One limit crossing the other, which is already set. (Both at once from unset is
        // not refused by PyTango 10.3.1's server: each is checked against the other's
        // current value.)
        let mut c = base.clone();
        c.min_value = "60".into();
        attempts.push((c, incoherent));
        let mut c = base.clone();
        c.alarms.min_alarm = "45".into();
        attempts.push((c, incoherent));
    } else {
        let mut c = base.clone();
        c.min_value = "100".into();
        c.max_value = "10".into();
        attempts.push((c, incoherent));
        let mut c = base.clone();
        c.alarms.min_alarm = "60".into();
        c.alarms.max_alarm = "50".into();
        attempts.push((c, incoherent));
    }
    let mut c = base.clone();
    c.max_value = "lots".into();
    attempts.push((c, not_a_number));
    let mut c = base.clone();
    c.alarms.min_alarm = "1x".into();
    attempts.push((c, not_a_number));
    for (config, reasons) in attempts {
        assert_refused(dev.set_attribute_config(&config).unwrap_err(), reasons);
        assert_eq!(dev.get_attribute_config("ushort_scalar").unwrap(), base);
    }
    // The list form is refused the same way.
    let mut bad = base.clone();
    bad.max_value = "lots".into();
    let err = dev
        .set_attribute_config_list(std::slice::from_ref(&bad))
        .unwrap_err();
    assert_refused(err, not_a_number);
    assert_eq!(dev.get_attribute_config("ushort_scalar").unwrap(), base);
    drop(guard);
}

/// Through the green-mode proxies (Synchronous mode): `DeviceProxy` and `AttributeProxy`.
fn green_mode(kind: Kind) {
    use tango::green::{self, GreenMode};
    let dev = green::DeviceProxy::new_with_mode(&device(kind), GreenMode::Synchronous)
        .wait()
        .unwrap();
    let guard = Restore::new(&proxy(kind), "ulong_scalar");
    let original = guard.original.clone();
    let name = device(kind).replace("#dbase=no", "/ulong_scalar#dbase=no");
    let attr = green::AttributeProxy::new_with_mode(&name, GreenMode::Synchronous)
        .wait()
        .unwrap();

    let mut unknown = original.clone();
    unknown.name = "no_such_attribute".into();
    let err = dev.set_attribute_config(&unknown).wait().unwrap_err();
    assert_eq!(err.reason(), "API_AttrNotFound", "{err}");
    let err = attr.set_config(&unknown).wait().unwrap_err();
    assert_eq!(err.reason(), "API_AttrNotFound", "{err}");

    // Unchanged, through both.
    dev.set_attribute_config(&original).wait().unwrap();
    attr.set_config(&attr.get_config().wait().unwrap())
        .wait()
        .unwrap();
    dev.set_attribute_config_list(std::slice::from_ref(&original))
        .wait()
        .unwrap();
    assert_eq!(attr.get_config().wait().unwrap(), original);
    if !can_change(kind) {
        return;
    }

    let wanted = changed(&original, "green");
    dev.set_attribute_config(&wanted).wait().unwrap();
    assert_changed(
        &dev.get_attribute_config("ulong_scalar").wait().unwrap(),
        &wanted,
    );
    let err = dev
        .write_attribute("ulong_scalar", 101u32)
        .wait()
        .unwrap_err();
    assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
    dev.set_attribute_config_list(std::slice::from_ref(&original))
        .wait()
        .unwrap();
    assert_eq!(
        dev.get_attribute_config("ulong_scalar").wait().unwrap(),
        original
    );

    let mut labelled = attr.get_config().wait().unwrap();
    labelled.label = "green attribute proxy".into();
    attr.set_config(&labelled).wait().unwrap();
    assert_eq!(attr.get_config().wait().unwrap(), labelled);
    drop(guard);
}

/// `AttributeProxy::set_config` (Synchronous).
fn attribute_proxy(kind: Kind) {
    let name = device(kind).replace("#dbase=no", "/long64_scalar#dbase=no");
    let attr = AttributeProxy::new(&name).unwrap();
    let guard = Restore::new(attr.get_device_proxy(), "long64_scalar");
    let original = attr.get_config().unwrap();
    attr.set_config(&original).unwrap();
    assert_eq!(attr.get_config().unwrap(), original);
    let mut bad = original.clone();
    bad.min_value = "minus one".into();
    assert_refused(attr.set_config(&bad).unwrap_err(), refusal_reasons(kind).1);
    if can_change(kind) {
        let wanted = changed(&original, "long64");
        attr.set_config(&wanted).unwrap();
        assert_changed(&attr.get_config().unwrap(), &wanted);
        let err = attr.write(101i64).unwrap_err();
        assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
        attr.write(100i64).unwrap();
    }
    drop(guard);
}

/// Runs one operation on the device's connection, as a proxy would.
fn send<O: Operation + Sync>(dev: &DeviceProxy, op: &O) -> tango::Result<O::Output>
where
    O::Output: Send,
{
    let name = dev.tango_name();
    let (host, port) = (name.host.clone().unwrap(), name.port.unwrap());
    let conn = Connection::for_endpoint(&host, port);
    let key = name.object_key();
    let site = CallSite {
        device: &name.device,
        object_key: &key,
        timeout: Duration::from_secs(10),
    };
    let mut call = std::pin::pin!(conn.call(site, op));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match call.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => panic!("the blocking transport is never pending"),
    }
}

/// The IDL 4 and IDL 3 forms the client sends to older servers, checked against these
/// servers (which still serve them): `set_attribute_config_4` and `_3` with what an
/// `AttributeInfoEx` converts to.
fn idl_4_and_3_operations(kind: Kind) {
    let dev = proxy(kind);
    let guard = Restore::new(&dev, "ulong64_scalar");
    let config = |info: &AttributeInfoEx| AttributeConfig3::from(info);
    let ident = ClntIdent::Cpp(std::process::id());
    let unchanged = config(&guard.original);
    send(
        &dev,
        &ops::SetAttributeConfig4 {
            configs: vec![unchanged.clone()],
            ident: ident.clone(),
        },
    )
    .unwrap();
    send(
        &dev,
        &ops::SetAttributeConfig3 {
            configs: vec![unchanged],
        },
    )
    .unwrap();
    assert_eq!(
        dev.get_attribute_config("ulong64_scalar").unwrap(),
        guard.original
    );
    let mut unknown = config(&guard.original);
    unknown.name = "no_such_attribute".into();
    let err = send(
        &dev,
        &ops::SetAttributeConfig3 {
            configs: vec![unknown],
        },
    )
    .unwrap_err();
    assert_eq!(err.reason(), "API_AttrNotFound", "{err}");
    let mut bad = guard.original.clone();
    bad.max_value = "lots".into();
    let err = send(
        &dev,
        &ops::SetAttributeConfig4 {
            configs: vec![config(&bad)],
            ident: ident.clone(),
        },
    )
    .unwrap_err();
    assert_refused(err, refusal_reasons(kind).1);
    if can_change(kind) {
        let wanted = changed(&guard.original, "idl 4");
        send(
            &dev,
            &ops::SetAttributeConfig4 {
                configs: vec![config(&wanted)],
                ident,
            },
        )
        .unwrap();
        assert_changed(
            &dev.get_attribute_config("ulong64_scalar").unwrap(),
            &wanted,
        );
        let mut relabelled = wanted.clone();
        relabelled.label = "idl 3 label".into();
        send(
            &dev,
            &ops::SetAttributeConfig3 {
                configs: vec![config(&relabelled)],
            },
        )
        .unwrap();
        assert_eq!(
            dev.get_attribute_config("ulong64_scalar").unwrap(),
            relabelled
        );
    }
    drop(guard);
}

/// The peer quirk the C++ cases work around: without a database, cppTango 9.3.4 dies on
/// a configuration change (here on a private server, not the shared one).
fn cpp_without_database_dies_on_a_change(kind: Kind) {
    assert_eq!(kind, Kind::Cpp);
    let mut peer = Peer::start(PeerKind::CppTangoTest);
    let dev = DeviceProxy::new(&peer.device_name()).unwrap();
    dev.set_timeout_millis(5_000);
    let mut c = dev.get_attribute_config("double_scalar").unwrap();
    dev.set_attribute_config(&c).unwrap();
    c.label = "changed".into();
    let err = dev.set_attribute_config(&c).unwrap_err();
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err:?}");
    let t = Instant::now();
    while peer.is_running() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!peer.is_running(), "the C++ TangoTest survived");
}

macro_rules! against {
    ($kind:ident: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if !tango_testkit::require_interop() {
                    return;
                }
                super::$case(super::Kind::$kind);
            }
        )*
    };
}

/// Against Debian's C++ TangoTest 9.3.4 (IDL 5): no changes on the shared server.
mod cpp_tangotest {
    against!(Cpp:
        idl_4_and_3_operations,
        unchanged_configs_round_trip,
        refused_configs,
        green_mode,
        attribute_proxy,
        cpp_without_database_dies_on_a_change,
    );
}

/// Against the PyTango 10.3.1 TangoTest peer (IDL 6).
mod pytango_tangotest {
    against!(Py:
        idl_4_and_3_operations,
        set_and_read_back,
        set_config_list,
        unchanged_configs_round_trip,
        refused_configs,
        green_mode,
        attribute_proxy,
    );
}

/// Against our own Rust TangoTest (IDL 6), run as a separate process.
mod rust_tangotest {
    against!(Rust:
        idl_4_and_3_operations,
        set_and_read_back,
        set_config_list,
        unchanged_configs_round_trip,
        refused_configs,
        green_mode,
        attribute_proxy,
    );
}
