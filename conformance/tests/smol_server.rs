//! Our `TangoTest` binary run with `--green-mode smol` and `--green-mode async-std` (the
//! same class served as an Asyncio class by tango-smol's async-io server, on smol's or
//! async-std's executor): our own client reads, writes and runs commands, the admin `Kill`
//! and SIGTERM stop it; with `TANGO_INTEROP=1`, PyTango 10.3.1's client suite
//! `peers/pytango_client_suite.py` (synchronous green mode) passes all its cases against
//! each.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tango::{DevState, DeviceProxy};
use tango_testkit::{require_interop, workspace_root};

/// A TangoTest process, killed if a test fails before stopping it.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    /// `TangoTest test -nodb -dlist sys/tg_test/1 -ORBendPoint giop:tcp:127.0.0.1:0
    /// --green-mode <mode>`; the port is read from the endpoint it prints.
    fn start(mode: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_TangoTest"))
            .args(["test", "-nodb", "-dlist", "sys/tg_test/1"])
            .args(["-ORBendPoint", "giop:tcp:127.0.0.1:0", "--green-mode", mode])
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
        let port = port.unwrap_or_else(|| panic!("{mode}: the endpoint is printed at start"));
        Server { child, port }
    }

    fn device(&self) -> String {
        format!("tango://127.0.0.1:{}/sys/tg_test/1#dbase=no", self.port)
    }

    fn admin(&self) -> String {
        format!(
            "tango://127.0.0.1:{}/dserver/TangoTest/test#dbase=no",
            self.port
        )
    }

    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < within {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

const MODES: [&str; 2] = ["smol", "async-std"];

#[test]
fn reads_writes_and_commands() {
    for mode in MODES {
        let server = Server::start(mode);
        let dev = DeviceProxy::new(&server.device()).unwrap();
        assert_eq!(dev.state().unwrap(), DevState::Running, "{mode}");
        let echoed: f64 = tango::extract(dev.command_inout("DevDouble", 2.5f64).unwrap()).unwrap();
        assert_eq!(echoed, 2.5, "{mode}");
        let echoed: String =
            tango::extract(dev.command_inout("DevString", "hello").unwrap()).unwrap();
        assert_eq!(echoed, "hello", "{mode}");
        dev.write_attribute("long_scalar_w", 12i32).unwrap();
        let back: i32 = dev.read_attribute("long_scalar_w").unwrap().get().unwrap();
        assert_eq!(back, 12, "{mode}");
        dev.write_attribute("double_scalar_w", 3.25f64).unwrap();
        let back: f64 = dev
            .read_attribute("double_scalar_w")
            .unwrap()
            .get()
            .unwrap();
        assert_eq!(back, 3.25, "{mode}");
        let admin = DeviceProxy::new(&server.admin()).unwrap();
        let info: Vec<String> =
            tango::extract(admin.command_inout("QueryDevice", ()).unwrap()).unwrap();
        assert_eq!(info, ["TangoTest::sys/tg_test/1"], "{mode}");
        // many calls in flight from several threads
        std::thread::scope(|s| {
            for i in 0..4 {
                let dev = &dev;
                s.spawn(move || {
                    for j in 0..20 {
                        let v = f64::from(i * 100 + j);
                        let got: f64 =
                            tango::extract(dev.command_inout("DevDouble", v).unwrap()).unwrap();
                        assert_eq!(got, v);
                    }
                });
            }
        });
    }
}

#[test]
fn stops_on_kill_and_on_sigterm() {
    for mode in MODES {
        let mut server = Server::start(mode);
        let admin = DeviceProxy::new(&server.admin()).unwrap();
        admin.command_inout("Kill", ()).unwrap();
        assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0), "{mode}");

        let mut server = Server::start(mode);
        let dev = DeviceProxy::new(&server.device()).unwrap();
        assert_eq!(dev.state().unwrap(), DevState::Running, "{mode}");
        let ok = Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
        assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0), "{mode}");
        assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
    }
}

fn python() -> PathBuf {
    std::env::var_os("TANGO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// Runs the PyTango client suite (synchronous client) against a fresh TangoTest in `mode`.
fn run_suite(mode: &str) {
    let server = Server::start(mode);
    let out = Command::new(python())
        .arg(workspace_root().join("peers/pytango_client_suite.py"))
        .args(["--device", &server.device(), "--admin", &server.admin()])
        .args(["--green-mode", "synchronous", "--server", "rust"])
        .output()
        .expect("run the PyTango client suite (is the venv installed? run scripts/test)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        out.status.success() && failures.is_empty(),
        "PyTango client against TangoTest --green-mode {mode}: {summary}\n{}\n{}",
        failures.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.contains("154 passed, 0 failed"),
        "PyTango client against --green-mode {mode}: {summary}"
    );
}

#[test]
fn pytango_client_against_smol_tangotest() {
    if !require_interop() {
        return;
    }
    run_suite("smol");
}

#[test]
fn pytango_client_against_async_std_tangotest() {
    if !require_interop() {
        return;
    }
    run_suite("async-std");
}
