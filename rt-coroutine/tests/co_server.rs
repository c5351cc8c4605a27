//! The Coroutine device server (`tango_coroutine::server`) with a `CoClassBuilder` class,
//! reached by the blocking client from threads: a command that sleeps (parking its
//! coroutine) does not hold up a read of the same device, a panic fails one request
//! only, `Kill` stops the server, and classes of other modes are refused.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tango_client::DeviceProxy;
use tango_core::any::CommandData;
use tango_core::device::{ClassBuilder, CoAttr, CoClassBuilder, CoCmd, DeviceClass};
use tango_core::idl::{DevFailed, DevState};
use tango_coroutine::server::{CoDeviceServer, RunningServer, ServerOptions};

#[derive(Default)]
struct Motor {
    position: AtomicI64,
    sleeps: AtomicI64,
}

fn motor_class() -> DeviceClass {
    CoClassBuilder::new("CoMotor", |_| Motor::default())
        .init(|m, ctx| {
            m.position.store(3, Ordering::SeqCst);
            ctx.set_state(DevState::On);
            Ok(())
        })
        .attr(
            CoAttr::new::<i64>("position")
                .read_write()
                .read(|m: &Motor, _| Ok(m.position.load(Ordering::SeqCst)))
                .write(|m: &Motor, _, v: i64| {
                    m.position.store(v, Ordering::SeqCst);
                    Ok(())
                }),
        )
        .attr(CoAttr::new::<i64>("sleeps").read(|m: &Motor, _| Ok(m.sleeps.load(Ordering::SeqCst))))
        .command(CoCmd::new("Sleep", |m: &Motor, ctx, ms: u32| {
            ctx.set_state(DevState::Moving);
            may::coroutine::sleep(Duration::from_millis(ms.into()));
            m.sleeps.fetch_add(1, Ordering::SeqCst);
            ctx.set_state(DevState::On);
            Ok::<(), DevFailed>(())
        }))
        .command(CoCmd::new("ReadMyself", |_m: &Motor, _, (): ()| {
            // A device calling itself through a client proxy: no monitor lock in
            // Coroutine mode, so the nested request is served while this one waits.
            let name = SELF_NAME
                .get()
                .expect("the test sets the device's own name");
            let dev = tango_coroutine::DeviceProxy::new(name).map_err(|e| e.to_dev_failed())?;
            let a = dev
                .read_attribute("position")
                .map_err(|e| e.to_dev_failed())?;
            a.get::<i64>().map_err(|e| e.to_dev_failed())
        }))
        .command(CoCmd::new("Boom", |_m: &Motor, _, (): ()| {
            if true {
                panic!("kaboom");
            }
            Ok::<(), DevFailed>(())
        }))
        .build()
}

/// The full name of `co/motor/1` in the running server, for `ReadMyself`.
static SELF_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn serve() -> RunningServer {
    let opts = ServerOptions::new("test", &["co/motor/1"]).endpoint("127.0.0.1", 0);
    CoDeviceServer::new("CoMotorServer")
        .class(motor_class())
        .start(&opts)
        .expect("start the coroutine server")
}

#[test]
fn a_sleeping_command_does_not_block_reads_of_the_same_device() {
    let server = serve();
    let name = server.device_name("co/motor/1");
    let dev = DeviceProxy::new(&name).unwrap();
    assert_eq!(dev.state().unwrap(), DevState::On);
    let sleeper = {
        let name = name.clone();
        std::thread::spawn(move || {
            let dev = DeviceProxy::new(&name).unwrap();
            let t = Instant::now();
            dev.command_inout("Sleep", 400u32).unwrap();
            t.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(dev.state().unwrap(), DevState::Moving);
    let t = Instant::now();
    let p: i64 = dev.read_attribute("position").unwrap().get().unwrap();
    let took = t.elapsed();
    assert_eq!(p, 3);
    assert!(
        took < Duration::from_millis(150),
        "the read waited {took:?}"
    );
    let s: i64 = dev.read_attribute("sleeps").unwrap().get().unwrap();
    assert_eq!(s, 0, "the read ran while Sleep was still sleeping");
    let slept = sleeper.join().unwrap();
    assert!(slept >= Duration::from_millis(400), "{slept:?}");
    let s: i64 = dev.read_attribute("sleeps").unwrap().get().unwrap();
    assert_eq!(s, 1);
    dev.write_attribute("position", 42i64).unwrap();
    let p: i64 = dev.read_attribute("position").unwrap().get().unwrap();
    assert_eq!(p, 42);
    server.shutdown();
}

#[test]
fn many_sleeps_run_at_once() {
    let server = serve();
    let name = server.device_name("co/motor/1");
    let t = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let name = name.clone();
            std::thread::spawn(move || {
                DeviceProxy::new(&name)
                    .unwrap()
                    .command_inout("Sleep", 300u32)
                    .unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    let dev = DeviceProxy::new(&name).unwrap();
    let s: i64 = dev.read_attribute("sleeps").unwrap().get().unwrap();
    assert_eq!(s, 8);
    server.shutdown();
}

#[test]
fn a_panicking_command_fails_and_the_server_goes_on() {
    let server = serve();
    let dev = DeviceProxy::new(&server.device_name("co/motor/1")).unwrap();
    let err = dev.command_inout("Boom", ()).unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("API_DeviceCodePanicked"), "{text}");
    assert!(text.contains("kaboom"), "{text}");
    assert_eq!(dev.state().unwrap(), DevState::On);
    let p: i64 = dev.read_attribute("position").unwrap().get().unwrap();
    assert_eq!(p, 3);
    // Init re-creates the data
    dev.write_attribute("position", 9i64).unwrap();
    dev.command_inout("Init", ()).unwrap();
    let p: i64 = dev.read_attribute("position").unwrap().get().unwrap();
    assert_eq!(p, 3);
    server.shutdown();
}

#[test]
fn kill_stops_the_server() {
    let server = serve();
    let port = server.port();
    let admin = DeviceProxy::new(&server.admin_device_name()).unwrap();
    let info = admin.command_inout("QueryDevice", ()).unwrap();
    assert_eq!(
        info,
        CommandData::StringArray(vec!["CoMotor::co/motor/1".to_owned()])
    );
    admin.command_inout("Kill", ()).unwrap();
    let t = Instant::now();
    while !server.is_stopping() {
        assert!(t.elapsed() < Duration::from_secs(2), "Kill did not stop it");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.wait();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn classes_of_other_modes_are_refused() {
    let sync = ClassBuilder::new("Plain", |_| ()).build();
    let opts = ServerOptions::new("test", &["a/b/c"]).endpoint("127.0.0.1", 0);
    let err = CoDeviceServer::new("X")
        .class(sync)
        .start(&opts)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Plain is Synchronous; this server runs Coroutine classes only"),
        "{err}"
    );
    // adapted, it is served
    let co = tango_core::device::co_from_sync(&ClassBuilder::new("Plain", |_| ()).build());
    let server = CoDeviceServer::new("X").class(co).start(&opts).unwrap();
    let dev = DeviceProxy::new(&server.device_name("a/b/c")).unwrap();
    dev.state().unwrap();
    server.shutdown();
}

#[test]
fn a_device_can_call_itself() {
    let server = serve();
    let name = server.device_name("co/motor/1");
    let _ = SELF_NAME.set(name.clone());
    let dev = DeviceProxy::new(&name).unwrap();
    dev.write_attribute("position", 42i64).unwrap();
    let t = Instant::now();
    let got: i64 = tango_client::DeviceProxy::new(&name)
        .unwrap()
        .command_inout("ReadMyself", ())
        .map(|d| match d {
            CommandData::Long64(v) => v,
            other => panic!("{other:?}"),
        })
        .unwrap();
    assert_eq!(got, 42);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    server.shutdown();
}
