//! Our `TangoTest` binary run with `--green-mode tokio`, `smol`, `async-std` and
//! `coroutine` (the same class served by each server green mode): PyTango 10.3.1's client
//! suite `peers/pytango_client_suite.py` in each of PyTango's four green modes must pass all its
//! cases, as against the Synchronous server (only with `TANGO_INTEROP=1`). Without
//! interop: our own client, SIGINT/SIGTERM, the admin `Kill`, and the green modes the
//! server does not support yet.

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
    /// --green-mode tokio`; the port is read from the endpoint it prints.
    fn start_tokio() -> Server {
        Server::start("tokio")
    }

    /// The same in server green mode `mode`.
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
        let port = port.expect("the endpoint is printed at start");
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

fn python() -> PathBuf {
    std::env::var_os("TANGO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// Runs the PyTango client suite in `mode` against a fresh TangoTest in `server_mode`.
fn run_suite(server_mode: &str, mode: &str) {
    let server = Server::start(server_mode);
    let out = Command::new(python())
        .arg(workspace_root().join("peers/pytango_client_suite.py"))
        .args(["--device", &server.device(), "--admin", &server.admin()])
        .args(["--green-mode", mode, "--server", "rust"])
        .output()
        .expect("run the PyTango client suite (is the venv installed? run scripts/test)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        out.status.success() && failures.is_empty(),
        "PyTango {mode} client against TangoTest --green-mode {server_mode}: {summary}\n{}\n{}",
        failures.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.contains("154 passed, 0 failed"),
        "PyTango {mode} client: {summary}"
    );
}

/// One test per PyTango client green mode against TangoTest in one server green mode.
macro_rules! server_mode {
    ($module:ident, $server:literal) => {
        mod $module {
            macro_rules! client_mode {
                ($name:ident, $mode:literal) => {
                    #[test]
                    fn $name() {
                        if !super::require_interop() {
                            return;
                        }
                        super::run_suite($server, $mode);
                    }
                };
            }
            client_mode!(pytango_synchronous_client, "synchronous");
            client_mode!(pytango_futures_client, "futures");
            client_mode!(pytango_gevent_client, "gevent");
            client_mode!(pytango_asyncio_client, "asyncio");
        }
    };
}

server_mode!(tokio_server, "tokio");
server_mode!(smol_server, "smol");
server_mode!(async_std_server, "async-std");
server_mode!(coroutine_server, "coroutine");

#[test]
fn tokio_tangotest_serves_and_stops_on_signals() {
    for sig in ["-TERM", "-INT"] {
        let mut server = Server::start_tokio();
        let dev = DeviceProxy::new(&server.device()).unwrap();
        assert_eq!(dev.state().unwrap(), DevState::Running);
        let echoed: f64 = tango::extract(dev.command_inout("DevDouble", 2.5f64).unwrap()).unwrap();
        assert_eq!(echoed, 2.5);
        dev.write_attribute("long_scalar_w", 12i32).unwrap();
        let back: i32 = dev.read_attribute("long_scalar_w").unwrap().get().unwrap();
        assert_eq!(back, 12);
        let admin = DeviceProxy::new(&server.admin()).unwrap();
        let info: Vec<String> =
            tango::extract(admin.command_inout("QueryDevice", ()).unwrap()).unwrap();
        assert_eq!(info, ["TangoTest::sys/tg_test/1"]);
        let ok = Command::new("kill")
            .args([sig, &server.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
        assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0), "{sig}");
        assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
    }
}

#[test]
fn tokio_tangotest_stops_on_kill() {
    let mut server = Server::start_tokio();
    let admin = DeviceProxy::new(&server.admin()).unwrap();
    admin.command_inout("Kill", ()).unwrap();
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn green_modes_without_a_server_yet_are_refused() {
    let mode = "futures";
    let out = Command::new(env!("CARGO_BIN_EXE_TangoTest"))
        .args([
            "test",
            "--green-mode",
            mode,
            "-nodb",
            "-dlist",
            "sys/tg_test/1",
        ])
        .args(["-ORBendPoint", "giop:tcp:127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{mode}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not supported yet"), "{mode}: {err}");
}
