//! Our device server (Synchronous mode) driven by our client, in one process: the
//! device-definition API, the state machine, alarms, the monitor lock, the admin device,
//! and a server that keeps serving while a client sends garbage.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tango::server::{DeviceServer, RunningServer, ServerArgs};
use tango::{AttrQuality, CommandData, DevState, DeviceProxy, Error};
use tango_core::device::{Attr, ClassBuilder, Cmd, DeviceClass};
use tango_core::idl::DevFailed;

#[derive(Default)]
struct Motor {
    position: f64,
    velocity: Vec<f64>,
}

fn motor_class() -> DeviceClass {
    ClassBuilder::new("Motor", |_| Motor::default())
        .description("A motor for tests")
        .init(|_, ctx| {
            ctx.set_state(DevState::On);
            Ok(())
        })
        .attr(
            Attr::new::<f64>("position")
                .read_write()
                .unit("mm")
                .min_value(0.0)
                .max_value(100.0)
                .max_warning(80.0)
                .max_alarm(90.0)
                .read(|m: &mut Motor, _| Ok(m.position))
                .write(|m: &mut Motor, _, v: f64| {
                    m.position = v;
                    Ok(())
                }),
        )
        .attr(
            Attr::new::<Vec<f64>>("velocity")
                .read_write()
                .max_dim_x(8)
                .read(|m: &mut Motor, _| Ok(m.velocity.clone()))
                .write(|m: &mut Motor, _, v: Vec<f64>| {
                    m.velocity = v;
                    Ok(())
                }),
        )
        .attr(
            Attr::new::<f64>("broken").read(|_: &mut Motor, _| -> Result<f64, DevFailed> {
                Err(DevFailed::new(
                    "Motor_Broken",
                    "the encoder is unplugged",
                    "Motor::read_broken",
                ))
            }),
        )
        .command(
            Cmd::new("Move", |m: &mut Motor, ctx, to: f64| {
                m.position = to;
                ctx.set_state(DevState::Moving);
                Ok::<(), DevFailed>(())
            })
            .allowed_in(&[DevState::On]),
        )
        .command(Cmd::new("Stop", |_: &mut Motor, ctx, (): ()| {
            ctx.set_state(DevState::On);
            Ok::<(), DevFailed>(())
        }))
        .command(Cmd::new("Sleep", |_: &mut Motor, _, ms: u32| {
            thread::sleep(Duration::from_millis(ms.into()));
            Ok::<(), DevFailed>(())
        }))
        .command(Cmd::new(
            "Panic",
            |_: &mut Motor, _, (): ()| -> Result<(), DevFailed> { panic!("device code bug") },
        ))
        .build()
}

fn start() -> RunningServer {
    let args = ServerArgs::parse(
        "MotorServer",
        &[
            "test",
            "-nodb",
            "-dlist",
            "test/motor/1,test/motor/2",
            "-ORBendPoint",
            "giop:tcp:127.0.0.1:0",
        ]
        .map(String::from),
        &[],
    )
    .unwrap();
    DeviceServer::new("MotorServer")
        .class(motor_class())
        .start(&args)
        .unwrap()
}

#[test]
fn attributes_commands_and_state_machine() {
    let server = start();
    let dev = DeviceProxy::new(&server.device_name("test/motor/1")).unwrap();
    assert_eq!(dev.get_idl_version().unwrap(), 6);
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(dev.status().unwrap(), "The device is in ON state.");
    let info = dev.info().unwrap();
    assert_eq!(info.dev_class, "Motor");
    assert_eq!(info.server_id, "MotorServer/test");
    assert_eq!(dev.description().unwrap(), "A motor for tests");

    dev.write_attribute("position", 42.0).unwrap();
    let a = dev.read_attribute("position").unwrap();
    assert_eq!(a.get::<f64>().unwrap(), 42.0);
    assert_eq!(a.get_w::<f64>().unwrap(), 42.0);
    assert_eq!(a.quality, AttrQuality::Valid);
    // alarm and warning ranges set the quality
    dev.write_attribute("position", 85.0).unwrap();
    assert_eq!(
        dev.read_attribute("position").unwrap().quality,
        AttrQuality::Warning
    );
    dev.write_attribute("position", 95.0).unwrap();
    assert_eq!(
        dev.read_attribute("position").unwrap().quality,
        AttrQuality::Alarm
    );
    // limits are checked before device code runs
    let err = dev.write_attribute("position", 101.0).unwrap_err();
    assert!(err.has_reason("API_WAttrOutsideLimit"), "{err}");
    assert_eq!(
        dev.read_attribute("position")
            .unwrap()
            .get::<f64>()
            .unwrap(),
        95.0
    );
    // spectra, including empty, and their limits
    dev.write_attribute("velocity", vec![1.0, 2.0]).unwrap();
    assert_eq!(
        dev.read_attribute("velocity")
            .unwrap()
            .get::<Vec<f64>>()
            .unwrap(),
        [1.0, 2.0]
    );
    dev.write_attribute("velocity", Vec::<f64>::new()).unwrap();
    assert!(dev
        .read_attribute("velocity")
        .unwrap()
        .get::<Vec<f64>>()
        .unwrap()
        .is_empty());
    assert!(dev.write_attribute("velocity", vec![0.0; 9]).is_err());
    // a failing read carries the device's error
    let err = dev.read_attribute("broken").unwrap_err();
    assert!(err.has_reason("Motor_Broken"), "{err}");
    // config
    let conf = dev.get_attribute_config("position").unwrap();
    assert_eq!(conf.unit, "mm");
    assert_eq!(conf.max_value, "100");
    let names = dev.get_attribute_list().unwrap();
    assert_eq!(names, ["position", "velocity", "broken", "State", "Status"]);

    // state machine: Move only when ON
    dev.command_inout("Move", 10.0).unwrap();
    assert_eq!(dev.state().unwrap(), DevState::Moving);
    let err = dev.command_inout("Move", 20.0).unwrap_err();
    assert!(err.has_reason("API_CommandNotAllowed"), "{err}");
    dev.command_inout("Stop", ()).unwrap();
    dev.command_inout("Move", 20.0).unwrap();
    dev.command_inout("Stop", ()).unwrap();
    assert_eq!(
        dev.read_attribute("position")
            .unwrap()
            .get::<f64>()
            .unwrap(),
        20.0
    );
    // unknown names and wrong types
    assert!(dev
        .command_inout("Fly", ())
        .unwrap_err()
        .has_reason("API_CommandNotFound"));
    assert!(dev
        .read_attribute("nope")
        .unwrap_err()
        .has_reason("API_AttrNotFound"));
    // Init resets the device
    dev.command_inout("Init", ()).unwrap();
    assert_eq!(
        dev.read_attribute("position")
            .unwrap()
            .get::<f64>()
            .unwrap(),
        0.0
    );
    server.shutdown();
}

#[test]
fn a_panicking_command_fails_alone() {
    let server = start();
    let dev = DeviceProxy::new(&server.device_name("test/motor/1")).unwrap();
    let err = dev.command_inout("Panic", ()).unwrap_err();
    assert!(matches!(err, Error::DevFailed(_)), "{err}");
    assert!(err.to_string().contains("device code bug"), "{err}");
    assert_eq!(dev.state().unwrap(), DevState::On);
    server.shutdown();
}

#[test]
fn the_monitor_lock_serialises_one_device_not_two() {
    let server = start();
    let one = DeviceProxy::new(&server.device_name("test/motor/1")).unwrap();
    let other_conn = DeviceProxy::new(&server.device_name("test/motor/2")).unwrap();
    let sleeper = {
        let name = server.device_name("test/motor/1");
        thread::spawn(move || {
            // a proxy of its own: the blocking client holds its connection per call
            let d = DeviceProxy::new(&name).unwrap();
            d.command_inout("Sleep", 600u32).unwrap();
        })
    };
    thread::sleep(Duration::from_millis(100));
    // another device answers at once
    let t = Instant::now();
    other_conn.state().unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // the same device waits for the monitor lock
    let t = Instant::now();
    one.read_attribute("position").unwrap();
    assert!(
        t.elapsed() > Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    sleeper.join().unwrap();
    server.shutdown();
}

#[test]
fn garbage_from_one_client_does_not_stop_the_others() {
    let server = start();
    let good = DeviceProxy::new(&server.device_name("test/motor/1")).unwrap();
    let port = server.port();
    let garbage: [&[u8]; 5] = [
        b"POIG\x01\x00\x01\x00\x00\x00\x00\x00",
        b"GIOP\x01\x09\x01\x00\x00\x00\x00\x00",
        // a request announcing far more bytes than it sends, then silence
        b"GIOP\x01\x00\x01\x00\xff\xff\x00\x00\x00\x00",
        // a request whose body is truncated garbage
        b"GIOP\x01\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00",
        &[0u8; 64],
    ];
    let bad: Vec<TcpStream> = garbage
        .iter()
        .map(|g| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(g).unwrap();
            s
        })
        .collect();
    for _ in 0..20 {
        assert_eq!(good.state().unwrap(), DevState::On);
    }
    // the server closed the connections that sent garbage (or kept the incomplete one)
    for (i, mut s) in bad.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        let r = s.read(&mut buf);
        if i != 2 {
            assert!(matches!(r, Ok(0) | Ok(_) | Err(_)));
        }
    }
    // two clients at once keep working
    let a = good.clone();
    let b = DeviceProxy::new(&server.device_name("test/motor/2")).unwrap();
    let ta =
        thread::spawn(move || (0..100).for_each(|_| drop(a.read_attribute("position").unwrap())));
    let tb =
        thread::spawn(move || (0..100).for_each(|_| assert_eq!(b.state().unwrap(), DevState::On)));
    ta.join().unwrap();
    tb.join().unwrap();
    server.shutdown();
}

#[test]
fn admin_device_answers_and_kill_stops_the_server() {
    let server = start();
    let admin = DeviceProxy::new(&server.admin_device_name()).unwrap();
    assert_eq!(admin.state().unwrap(), DevState::On);
    let classes: Vec<String> =
        tango::extract(admin.command_inout("QueryClass", ()).unwrap()).unwrap();
    assert_eq!(classes, ["Motor"]);
    let devices: Vec<String> =
        tango::extract(admin.command_inout("QueryDevice", ()).unwrap()).unwrap();
    assert_eq!(devices, ["Motor::test/motor/1", "Motor::test/motor/2"]);
    // polling through the admin device, then reading from the cache
    let dev = DeviceProxy::new(&server.device_name("test/motor/1")).unwrap();
    dev.write_attribute("position", 7.0).unwrap();
    admin
        .command_inout(
            "AddObjPolling",
            CommandData::LongStringArray(
                vec![100],
                vec!["test/motor/1".into(), "attribute".into(), "position".into()],
            ),
        )
        .unwrap();
    thread::sleep(Duration::from_millis(350));
    let status: Vec<String> = tango::extract(
        admin
            .command_inout("DevPollStatus", "test/motor/1")
            .unwrap(),
    )
    .unwrap();
    assert!(status[0].contains("position"), "{status:?}");
    dev.set_source(tango::DevSource::Cache);
    assert_eq!(
        dev.read_attribute("position")
            .unwrap()
            .get::<f64>()
            .unwrap(),
        7.0
    );
    assert!(dev
        .read_attribute("velocity")
        .unwrap_err()
        .has_reason("API_AttrNotPolled"));
    // Kill
    admin.command_inout("Kill", ()).unwrap();
    let t = Instant::now();
    while !server.is_stopping() && t.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(server.is_stopping());
    let port = server.port();
    server.wait();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn many_threads_many_devices() {
    let server = Arc::new(start());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let name = server.device_name(if i % 2 == 0 {
                "test/motor/1"
            } else {
                "test/motor/2"
            });
            thread::spawn(move || {
                let d = DeviceProxy::new(&name).unwrap();
                for k in 0..50 {
                    d.write_attribute("velocity", vec![f64::from(k)]).unwrap();
                    d.read_attribute("velocity").unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
