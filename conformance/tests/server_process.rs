//! The `TangoTest` binary as tools launch it: cppTango's command line, port 0, the
//! endpoint printed at start, clean shutdown on SIGTERM/SIGINT and on the admin `Kill` in
//! every server green mode, and a green mode the server does not have refused.
//!
//! (What clients see of each server green mode is the conformance matrix's job:
//! tests/matrix.rs.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tango::{DevState, DeviceProxy};

/// Starts our TangoTest on a free port; returns the process and the port it printed.
fn start(extra: &[&str]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_TangoTest"))
        .args(["test", "-ORBendPoint", "giop:tcp:127.0.0.1:0", "-nodb"])
        .args(extra)
        .args(["-dlist", "sys/tg_test/1,sys/tg_test/2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start TangoTest");
    let stdout = child.stdout.take().expect("stdout");
    let mut port = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        if let Some(rest) = line.split("giop:tcp:127.0.0.1:").nth(1) {
            port = rest.trim().parse().ok();
        }
        if line.contains("Ready to accept request") {
            break;
        }
    }
    (child, port.expect("the endpoint is printed at start"))
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let t = Instant::now();
    while t.elapsed() < within {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
}

/// The server green modes of `--green-mode`.
const GREEN_MODES: [&str; 5] = ["synchronous", "coroutine", "tokio", "smol", "async-std"];

#[test]
fn every_green_mode_stops_cleanly_on_signals_and_kill() {
    for mode in GREEN_MODES {
        for sig in ["-TERM", "-INT"] {
            let (mut child, port) = start(&["--green-mode", mode]);
            let dev = DeviceProxy::new(&format!("tango://127.0.0.1:{port}/sys/tg_test/1#dbase=no"))
                .unwrap();
            assert_eq!(dev.state().unwrap(), DevState::Running, "{mode}");
            let echoed: f64 =
                tango::extract(dev.command_inout("DevDouble", 2.5f64).unwrap()).unwrap();
            assert_eq!(echoed, 2.5, "{mode}");
            signal(&child, sig);
            assert_eq!(
                wait_exit(&mut child, Duration::from_secs(5)),
                Some(0),
                "{mode} {sig}"
            );
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                "{mode} {sig}: still listening"
            );
        }
        let (mut child, port) = start(&["--green-mode", mode]);
        let admin = DeviceProxy::new(&format!(
            "tango://127.0.0.1:{port}/dserver/TangoTest/test#dbase=no"
        ))
        .unwrap();
        admin.command_inout("Kill", ()).unwrap();
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(5)),
            Some(0),
            "{mode} Kill"
        );
    }
}

#[test]
fn a_green_mode_without_a_server_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_TangoTest"))
        .args(["test", "--green-mode", "futures", "-nodb", "-dlist"])
        .args(["sys/tg_test/1", "-ORBendPoint", "giop:tcp:127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not supported yet"), "{err}");
}

#[test]
fn sigterm_and_sigint_stop_the_server_cleanly() {
    for sig in ["-TERM", "-INT"] {
        let (mut child, port) = start(&["-v2"]);
        let dev =
            DeviceProxy::new(&format!("tango://127.0.0.1:{port}/sys/tg_test/2#dbase=no")).unwrap();
        assert_eq!(dev.state().unwrap(), DevState::Running);
        signal(&child, sig);
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(5)),
            Some(0),
            "{sig}"
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

#[test]
fn kill_through_the_admin_device() {
    let (mut child, port) = start(&[]);
    // the admin device of `TangoTest test`, lower-cased object key as cppTango's
    let admin = DeviceProxy::new(&format!(
        "tango://127.0.0.1:{port}/dserver/TangoTest/test#dbase=no"
    ))
    .unwrap();
    let devices: Vec<String> =
        tango::extract(admin.command_inout("QueryDevice", ()).unwrap()).unwrap();
    assert_eq!(
        devices,
        ["TangoTest::sys/tg_test/1", "TangoTest::sys/tg_test/2"]
    );
    admin.command_inout("Kill", ()).unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(5)), Some(0));
}

#[test]
fn command_line_errors_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_TangoTest"))
        .arg("-h")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-dlist"));
    let out = Command::new(env!("CARGO_BIN_EXE_TangoTest"))
        .args(["test", "-dlist", "sys/tg_test/1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-nodb"));
}
