//! The coroutine DeviceProxy against real TangoTest servers (C++ and ours): the calls,
//! made from inside may coroutines and from plain threads.

use std::time::Duration;

use tango_core::any::CommandData;
use tango_core::idl::{DevSource, DevState};
use tango_coroutine::{spawn, DeviceProxy, Error};

fn devices() -> Vec<String> {
    vec![
        tango_testkit::cpp_tangotest_device(),
        tango_testkit::rust_tangotest_device(),
    ]
}

/// The checks of one device, all from the calling context.
fn exercise(name: &str) {
    let dev = DeviceProxy::new(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(dev.dev_name(), "sys/tg_test/1");
    assert!(dev.name().contains("sys/tg_test/1"), "{}", dev.name());
    assert_eq!(dev.state().unwrap(), DevState::Running);
    assert!(dev.status().unwrap().contains("RUNNING"));
    assert!(dev.ping().unwrap() < Duration::from_secs(3));
    assert!(dev.get_idl_version().unwrap() >= 5);
    assert_eq!(dev.info().unwrap().dev_class, "TangoTest");

    // read / write round trip
    let x: f64 = dev.read_attribute("double_scalar").unwrap().get().unwrap();
    assert!(x.is_finite());
    let back = dev.write_read_attribute("double_scalar", 12.25).unwrap();
    assert_eq!(back.get_w::<f64>().unwrap(), 12.25);
    let v = dev
        .read_attributes(&["double_scalar", "long_scalar"])
        .unwrap();
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|a| !a.has_failed()));

    // commands
    assert_eq!(
        dev.command_inout("DevString", "grüß gevent").unwrap(),
        CommandData::String("grüß gevent".into())
    );
    assert_eq!(
        dev.command_inout("DevDouble", 2.5).unwrap(),
        CommandData::Double(2.5)
    );
    assert_eq!(dev.command_inout("DevVoid", ()).unwrap(), CommandData::Void);
    assert_eq!(
        dev.command_query("DevLong")
            .unwrap()
            .cmd_name
            .to_lowercase(),
        "devlong"
    );
    assert!(dev.command_list_query().unwrap().len() > 10);

    // queries
    let attrs = dev.get_attribute_list().unwrap();
    assert!(attrs.iter().any(|a| a == "double_scalar"), "{attrs:?}");
    assert_eq!(
        dev.get_attribute_config("double_scalar").unwrap().name,
        "double_scalar"
    );
    assert!(!dev.attribute_list_query().unwrap().is_empty());
    assert!(!dev.attribute_list_query_ex().unwrap().is_empty());
    assert!(!dev.black_box(3).unwrap().is_empty());

    // settings
    dev.set_timeout_millis(1500);
    assert_eq!(dev.get_timeout_millis(), 1500);
    dev.set_source(DevSource::Dev);
    assert_eq!(dev.get_source(), DevSource::Dev);

    // errors keep their Tango reasons
    let err = dev.read_attribute("no_such_attribute").unwrap_err();
    assert!(err.has_reason("API_AttrNotFound"), "{err}");
    let err = dev.command_inout("NoSuchCommand", ()).unwrap_err();
    assert_eq!(err.reason(), "API_CommandNotFound", "{err}");
    let err = dev.write_attribute("short_scalar_ro", 1i16).unwrap_err();
    assert!(err.has_reason("API_AttrNotWritable"), "{err}");
    let other = name.replace("sys/tg_test/1", "no/such/device");
    match DeviceProxy::new(&other) {
        Err(Error::DeviceNotExported { .. }) => {}
        other => panic!("expected DeviceNotExported, got {other:?}"),
    }
    // and the connection is still healthy
    assert_eq!(dev.state().unwrap(), DevState::Running);
}

#[test]
fn every_call_works_inside_a_coroutine() {
    if !tango_testkit::require_interop() {
        return;
    }
    for name in devices() {
        let handle = spawn(move || {
            assert!(may::coroutine::is_coroutine());
            exercise(&name)
        });
        handle.get();
    }
}

#[test]
fn every_call_works_from_a_plain_thread() {
    if !tango_testkit::require_interop() {
        return;
    }
    assert!(!may::coroutine::is_coroutine());
    for name in devices() {
        exercise(&name);
    }
}

#[test]
fn wait_false_hands_back_async_results() {
    if !tango_testkit::require_interop() {
        return;
    }
    for name in devices() {
        let dev = DeviceProxy::new(&name).unwrap();
        let mut pending: Vec<_> = (0..20)
            .map(|i| {
                let dev = dev.clone();
                spawn(move || dev.command_inout("DevLong", i))
            })
            .collect();
        let first = pending.remove(0);
        let mut second = pending.remove(0);
        assert_eq!(
            second.get_timeout(Duration::from_secs(5)).unwrap().unwrap(),
            CommandData::Long(1)
        );
        assert_eq!(first.get().unwrap(), CommandData::Long(0));
        for (i, p) in pending.into_iter().enumerate() {
            while !p.ready() {
                may::coroutine::sleep(Duration::from_millis(1));
            }
            assert_eq!(p.get().unwrap(), CommandData::Long(i as i32 + 2));
        }
    }
}
