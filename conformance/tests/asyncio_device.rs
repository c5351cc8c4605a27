//! The `asyncio_device` example in both server green modes, driven by the blocking client
//! from threads with durations scaled down: while `long_running_command` runs, another
//! attribute of the same device reads at once in Asyncio mode (tokio server, no monitor
//! lock), but waits for the monitor lock in Synchronous mode; the background task of
//! `background_task_command` outlives its command in both.

#[allow(dead_code)]
#[path = "../examples/asyncio_device.rs"]
mod example;

use std::thread;
use std::time::{Duration, Instant};

use example::Durations;
use tango::server::{DeviceServer, ServerArgs};
use tango::{DevState, DeviceProxy};
use tango_tokio::server::{AsyncDeviceServer, ServerOptions};

const DEVICE: &str = "test/asyncio/1";
const LONG: Duration = Duration::from_millis(400);

fn durations() -> Durations {
    Durations {
        long_running: LONG,
        background: Duration::from_millis(300),
        attribute: Duration::from_millis(200),
    }
}

fn proxy(port: u16) -> DeviceProxy {
    DeviceProxy::new(&format!("tango://127.0.0.1:{port}/{DEVICE}#dbase=no")).expect("connect")
}

/// Starts `long_running_command` from a thread (on a connection already open) and, 100 ms
/// later, reads `quick_attribute` from another proxy (its own connection). Returns how
/// long that read took, the state read right after it, and how long the command took.
fn read_during_long_command(port: u16) -> (Duration, DevState, Duration) {
    let reader = proxy(port);
    assert_eq!(reader.state().expect("state"), DevState::On);
    let (ready, go) = std::sync::mpsc::channel();
    let commander = thread::spawn(move || {
        let dev = proxy(port);
        dev.state().expect("connect");
        ready.send(()).unwrap();
        let t = Instant::now();
        dev.command_inout("long_running_command", ())
            .expect("command");
        t.elapsed()
    });
    go.recv().unwrap();
    thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let v: i32 = reader
        .read_attribute("quick_attribute")
        .expect("read")
        .get()
        .expect("i32");
    let read_took = t.elapsed();
    assert_eq!(v, 7);
    let state = reader.state().expect("state");
    let command_took = commander.join().expect("commander");
    (read_took, state, command_took)
}

fn check_background_task(port: u16) {
    let dev = proxy(port);
    let t = Instant::now();
    dev.command_inout("background_task_command", ())
        .expect("background_task_command");
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "it returns at once"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen_insert = false;
    loop {
        match dev.state().expect("state") {
            DevState::Insert => seen_insert = true,
            DevState::Extract => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the background task never ended");
        thread::sleep(Duration::from_millis(10));
    }
    assert!(seen_insert, "INSERT while the task runs");
    let t = Instant::now();
    let v: i32 = dev.read_attribute("test_attribute").unwrap().get().unwrap();
    assert_eq!(v, 42);
    assert!(t.elapsed() >= Duration::from_millis(190));
}

#[test]
fn asyncio_mode_reads_another_attribute_while_the_long_command_runs() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(
            AsyncDeviceServer::new("AsyncioDevice")
                .class(example::asyncio_class(durations()))
                .start(&ServerOptions::new("test", &[DEVICE]).endpoint("127.0.0.1", 0)),
        )
        .expect("start");
    let port = server.port();
    let (read_took, state, command_took) = read_during_long_command(port);
    assert!(
        read_took < Duration::from_millis(150),
        "Asyncio: the read waited {read_took:?}"
    );
    assert_eq!(state, DevState::Open, "read while the command still runs");
    assert!(command_took >= LONG, "{command_took:?}");
    assert_eq!(proxy(port).state().unwrap(), DevState::Close);
    check_background_task(port);
    rt.block_on(server.shutdown());
}

#[test]
fn synchronous_mode_waits_for_the_monitor_lock() {
    let args = ServerArgs {
        instance: "test".to_owned(),
        nodb: true,
        devices: vec![DEVICE.to_owned()],
        host: "127.0.0.1".to_owned(),
        port: 0,
        verbosity: 0,
        extra: Vec::new(),
    };
    let server = DeviceServer::new("AsyncioDevice")
        .class(example::synchronous_class(durations()))
        .start(&args)
        .expect("start");
    let port = server.port();
    let (read_took, state, _) = read_during_long_command(port);
    assert!(
        read_took >= Duration::from_millis(200),
        "Synchronous: the read should wait for the command, took {read_took:?}"
    );
    assert_eq!(state, DevState::Close, "read after the command ended");
    check_background_task(port);
    server.shutdown();
}

#[test]
fn durations_scale() {
    let d = Durations::scaled(0.1);
    assert_eq!(d.long_running, Duration::from_millis(200));
    assert_eq!(d.background, Duration::from_millis(1500));
    assert_eq!(d.attribute, Duration::from_millis(200));
    assert!(matches!(
        example::class_for(tango_conformance::runner::ServerGreenMode::Tokio, d).green_mode(),
        tango_core::device::ServerMode::Asyncio
    ));
}
