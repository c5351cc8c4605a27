//! Test support for the interop tests of the workspace crates (and, in [`mock_server`], a
//! scripted GIOP server for the failure tests that need no peer).
//!
//! Interop tests talk to REAL Tango peers: Debian's C++ TangoTest 9.3.4 and a PyTango 10.3.1
//! re-implementation of TangoTest (`peers/py_tangotest.py`). The project's test command
//! (`scripts/test`) installs them, starts one shared instance of each and exports:
//!
//! - `TANGO_INTEROP=1`: interop tests must run; a missing peer is a failure, never a skip;
//! - `TANGO_TEST_CPP_DEVICE` / `TANGO_TEST_PY_DEVICE`: the shared devices
//!   (`tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`);
//! - `TANGO_TEST_CPP_SERVER`, `TANGO_TEST_PYTHON`, `TANGO_TEST_PY_SERVER`: how to start private
//!   peers with [`Peer::start`] (for tests that stop, restart or break a server).
//!
//! A typical test:
//!
//! ```no_run
//! #[test]
//! fn reads_double_scalar() {
//!     if !tango_testkit::require_interop() {
//!         return;
//!     }
//!     let device = tango_testkit::cpp_tangotest_device();
//!     // ... connect to `device` ...
//! }
//! ```

pub mod mock_server;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// Line both the C++ and the PyTango servers print once the device is exported.
const READY_MARKER: &str = "Ready to accept request";
/// How long [`Peer::start`] / [`Peer::restart`] wait for the server.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// If the server accepts TCP connections but its log never shows [`READY_MARKER`]
/// (e.g. buffered output), it is considered ready after this grace period.
const MARKER_GRACE: Duration = Duration::from_secs(3);
/// Device exported by both peers.
const DEVICE: &str = "sys/tg_test/1";
/// Instance name used for both peers.
const INSTANCE: &str = "test";

/// True when the test command asked for interop (`TANGO_INTEROP=1`): then a missing peer is a
/// test FAILURE (panic with a message saying what is missing and to run `scripts/test`), never
/// a silent skip.
pub fn interop_enabled() -> bool {
    matches!(
        std::env::var("TANGO_INTEROP").as_deref().map(str::trim),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// When interop is NOT enabled: prints once per process to stderr
/// "interop tests not run: set TANGO_INTEROP=1 or run scripts/test" and returns false;
/// when enabled returns true. Tests call `if !tango_testkit::require_interop() { return; }`.
pub fn require_interop() -> bool {
    static NOTICE: Once = Once::new();
    if interop_enabled() {
        return true;
    }
    NOTICE.call_once(|| {
        // Written straight to the process's stderr: the test harness captures eprintln!
        // of passing tests, and this notice must be seen once per test binary.
        use std::io::Write as _;
        let _ = std::io::stderr()
            .write_all(b"interop tests not run: set TANGO_INTEROP=1 or run scripts/test\n");
    });
    false
}

fn shared_device(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => panic!(
            "{what} is missing: environment variable {var} is not set. \
             The shared peers are started by scripts/test; run `scripts/test` \
             (or `scripts/test -p <crate>`) instead of plain `cargo test`."
        ),
    }
}

/// The shared C++ TangoTest started by `scripts/test` (env `TANGO_TEST_CPP_DEVICE`), or panics
/// clearly.
pub fn cpp_tangotest_device() -> String {
    shared_device("TANGO_TEST_CPP_DEVICE", "the shared C++ TangoTest peer")
}

/// The shared PyTango TangoTest peer started by `scripts/test` (env `TANGO_TEST_PY_DEVICE`), or
/// panics clearly.
pub fn py_tangotest_device() -> String {
    shared_device("TANGO_TEST_PY_DEVICE", "the shared PyTango TangoTest peer")
}

/// A currently free TCP port on 127.0.0.1 (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the port bound on 127.0.0.1:0: {e}"))
        .port()
}

/// The shared Rust TangoTest started by `scripts/test` (env `TANGO_TEST_RUST_DEVICE`), or
/// panics clearly.
pub fn rust_tangotest_device() -> String {
    shared_device("TANGO_TEST_RUST_DEVICE", "the shared Rust TangoTest")
}

/// Our `TangoTest` binary: `$TANGO_TEST_RUST_SERVER`, else the workspace's
/// `target/debug/TangoTest` (cargo builds it with the workspace's tests).
pub fn rust_server_binary() -> PathBuf {
    env_path("TANGO_TEST_RUST_SERVER", || {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target.join("debug").join("TangoTest")
    })
}

/// The workspace root (parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Which real server a [`Peer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// Debian's C++ TangoTest 9.3.4 (`/usr/lib/tango/TangoTest`).
    CppTangoTest,
    /// The PyTango 10.3.1 TangoTest re-implementation (`peers/py_tangotest.py`).
    PyTangoTest,
    /// Our Rust TangoTest (`target/debug/TangoTest`, built by `cargo test --workspace`).
    RustTangoTest,
}

impl PeerKind {
    /// Short name used in log file names.
    pub fn slug(self) -> &'static str {
        match self {
            PeerKind::CppTangoTest => "cpp-tangotest",
            PeerKind::PyTangoTest => "py-tangotest",
            PeerKind::RustTangoTest => "rust-tangotest",
        }
    }
}

fn env_path(var: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => default(),
    }
}

fn require_file(path: &Path, what: &str, var: &str) -> Result<(), String> {
    if path.is_file() {
        return Ok(());
    }
    Err(format!(
        "{what} not found at {} (set {var} to override). \
         Run scripts/install-peers (or scripts/test) to install the Tango peers.",
        path.display()
    ))
}

/// How to launch a peer, beyond its kind: another program, and arguments around cppTango's
/// command line (`<program> <leading_args> test -nodb -dlist sys/tg_test/1 -ORBendPoint
/// giop:tcp:127.0.0.1:PORT <extra_args>`).
///
/// The default launches the kind's usual program with no extra arguments. The conformance
/// matrix uses it to start our `TangoTest` in each server green mode (`extra_args`
/// `--green-mode tokio`), from the path cargo gives integration tests
/// (`CARGO_BIN_EXE_TangoTest`) or from a binary that serves TangoTest behind a hidden
/// option (`leading_args`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// The program to run instead of the kind's default (only [`PeerKind::RustTangoTest`]
    /// and [`PeerKind::CppTangoTest`] use it; the PyTango peer is always the venv's Python).
    pub program: Option<PathBuf>,
    /// Arguments before the instance name.
    pub leading_args: Vec<String>,
    /// Arguments after cppTango's command line (e.g. `--green-mode`, `tokio`).
    pub extra_args: Vec<String>,
}

impl Launch {
    /// Our TangoTest `program` with `extra_args` after the command line.
    pub fn program(program: impl Into<PathBuf>) -> Launch {
        Launch {
            program: Some(program.into()),
            ..Launch::default()
        }
    }

    /// The same launch with `args` appended to the extra arguments.
    pub fn with_extra_args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The same launch with `args` appended to the leading arguments.
    pub fn with_leading_args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.leading_args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// A server process owned by a test: started on a free loopback port, killed (with its process
/// group) on drop, restartable on the SAME port (for reconnection tests), and freezable
/// ([`Peer::pause`] / [`Peer::resume`], for timeout tests).
///
/// Its output goes to `<workspace>/target/peers/<kind>-<port>.log` (appended across restarts).
/// When `TANGO_TEST_PIDDIR` is set (scripts/test sets it), the server's pid (= its process
/// group) is also recorded in `$TANGO_TEST_PIDDIR/<kind>-<port>.pid` while it runs, so that the
/// test command can kill servers whose test process died without dropping the `Peer`.
#[derive(Debug)]
pub struct Peer {
    kind: PeerKind,
    launch: Launch,
    port: u16,
    child: Option<Child>,
    log_path: PathBuf,
}

impl Peer {
    /// Starts a peer of `kind` on a free port and waits (at most 30 s) until it is ready.
    ///
    /// The C++ server is `$TANGO_TEST_CPP_SERVER` (default `/usr/lib/tango/TangoTest`); the
    /// Python one is `$TANGO_TEST_PYTHON $TANGO_TEST_PY_SERVER` (defaults
    /// `<workspace>/.venv/bin/python <workspace>/peers/py_tangotest.py`). Panics with a clear
    /// message if a program is missing or the server does not come up (with its log tail).
    pub fn start(kind: PeerKind) -> Peer {
        Peer::start_with(kind, Launch::default())
    }

    /// [`Peer::start`] with another program or extra arguments (see [`Launch`]).
    pub fn start_with(kind: PeerKind, launch: Launch) -> Peer {
        Peer::try_start_with(kind, launch).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Peer::start_with`] that returns what went wrong (a missing program, a server that
    /// exited or never became ready, with its log tail) instead of panicking.
    pub fn try_start_with(kind: PeerKind, launch: Launch) -> Result<Peer, String> {
        let port = free_port();
        let log_dir = workspace_root().join("target").join("peers");
        fs::create_dir_all(&log_dir)
            .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
        let log_path = log_dir.join(format!("{}-{port}.log", kind.slug()));
        let mut peer = Peer {
            kind,
            launch,
            port,
            child: None,
            log_path,
        };
        peer.spawn_and_wait()?;
        Ok(peer)
    }

    /// Full name of the TangoTest device: `tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`.
    pub fn device_name(&self) -> String {
        format!("tango://127.0.0.1:{}/{DEVICE}#dbase=no", self.port)
    }

    /// Full name of the server's admin device,
    /// `tango://127.0.0.1:PORT/dserver/<server>/test#dbase=no`, where `<server>` is `TangoTest`
    /// for the C++ peer and the script stem (`py_tangotest`) for the PyTango peer (PyTango
    /// names the server after the script file).
    pub fn admin_device_name(&self) -> String {
        format!(
            "tango://127.0.0.1:{}/dserver/{}/{INSTANCE}#dbase=no",
            self.port,
            self.server_name()
        )
    }

    /// The server executable name as Tango sees it (`TangoTest` or `py_tangotest`).
    pub fn server_name(&self) -> String {
        match self.kind {
            PeerKind::CppTangoTest | PeerKind::RustTangoTest => "TangoTest".to_string(),
            PeerKind::PyTangoTest => py_server_script()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "py_tangotest".to_string()),
        }
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Which server this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Where the server's stdout/stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// True while the server process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server (and its process group) and waits for it: the port is released.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The server leads its own process group (see spawn): kill the whole group.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", child.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
        if let Some(path) = self.pid_file() {
            let _ = fs::remove_file(path);
        }
        // The listening socket is closed with the process; make sure before returning.
        let deadline = Instant::now() + Duration::from_secs(5);
        while port_accepts(self.port) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server, then starts it again on the SAME port and waits until it is ready.
    pub fn restart(&mut self) {
        self.try_restart().unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`Peer::restart`] that returns what went wrong instead of panicking.
    pub fn try_restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn_and_wait()
    }

    /// Starts the server again on the SAME port after [`Peer::stop`] (a no-op while it
    /// runs).
    pub fn try_start_again(&mut self) -> Result<(), String> {
        if self.is_running() {
            return Ok(());
        }
        self.child = None;
        self.spawn_and_wait()
    }

    /// Freezes the server: SIGSTOP to its process group. It keeps its port and accepts TCP
    /// connections (the kernel does), but answers nothing until [`Peer::resume`]: what a
    /// hung or overloaded server looks like to a client.
    ///
    /// Returns once every thread of the server is stopped: the signal stops running
    /// threads asynchronously, and a thread still running could answer one more request.
    pub fn pause(&mut self) -> std::io::Result<()> {
        self.signal_group("-STOP")?;
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match all_threads_stopped(pid) {
                Some(true) => return Ok(()),
                // no /proc (not Linux): trust the signal
                None => return Ok(()),
                Some(false) if Instant::now() > deadline => {
                    return Err(std::io::Error::other(format!(
                        "{:?} peer (pid {pid}) not stopped 5 s after SIGSTOP",
                        self.kind
                    )))
                }
                Some(false) => thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// True while every thread of the server is stopped ([`Peer::pause`]); false when it
    /// runs, is not running, or (not Linux) this cannot be told.
    pub fn is_paused(&self) -> bool {
        self.child
            .as_ref()
            .and_then(|c| all_threads_stopped(c.id()))
            .unwrap_or(false)
    }

    /// The server's process id (also its process group), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Lets a [`Peer::pause`]d server run again (SIGCONT to its process group); it then
    /// answers the requests that queued up meanwhile.
    pub fn resume(&mut self) -> std::io::Result<()> {
        self.signal_group("-CONT")
    }

    fn signal_group(&mut self, signal: &str) -> std::io::Result<()> {
        let Some(child) = self.child.as_ref() else {
            return Err(std::io::Error::other(format!(
                "{:?} peer on port {} is not running",
                self.kind, self.port
            )));
        };
        let status = Command::new("kill")
            .arg(signal)
            .arg("--")
            .arg(format!("-{}", child.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "kill {signal} of {:?} peer's process group {} failed: {status}",
                self.kind,
                child.id()
            )))
        }
    }

    /// `$TANGO_TEST_PIDDIR/<kind>-<port>.pid` when scripts/test asked for pid files.
    fn pid_file(&self) -> Option<PathBuf> {
        let dir = std::env::var_os("TANGO_TEST_PIDDIR").filter(|d| !d.is_empty())?;
        let dir = PathBuf::from(dir);
        fs::create_dir_all(&dir).ok()?;
        Some(dir.join(format!("{}-{}.pid", self.kind.slug(), self.port)))
    }

    fn command(&self) -> Result<Command, String> {
        let endpoint = format!("giop:tcp:127.0.0.1:{}", self.port);
        let mut cmd = match self.kind {
            PeerKind::CppTangoTest => {
                let server = self.launch.program.clone().unwrap_or_else(|| {
                    env_path("TANGO_TEST_CPP_SERVER", || {
                        PathBuf::from("/usr/lib/tango/TangoTest")
                    })
                });
                require_file(&server, "C++ TangoTest server", "TANGO_TEST_CPP_SERVER")?;
                Command::new(server)
            }
            PeerKind::PyTangoTest => {
                let python = env_path("TANGO_TEST_PYTHON", || {
                    workspace_root().join(".venv").join("bin").join("python")
                });
                let script = py_server_script();
                require_file(&python, "Python with PyTango", "TANGO_TEST_PYTHON")?;
                require_file(&script, "PyTango TangoTest peer", "TANGO_TEST_PY_SERVER")?;
                let mut cmd = Command::new(python);
                cmd.arg(script).env("PYTHONUNBUFFERED", "1");
                cmd
            }
            PeerKind::RustTangoTest => {
                let server = self
                    .launch
                    .program
                    .clone()
                    .unwrap_or_else(rust_server_binary);
                require_file(&server, "Rust TangoTest server", "TANGO_TEST_RUST_SERVER")?;
                Command::new(server)
            }
        };
        cmd.args(&self.launch.leading_args)
            .args([INSTANCE, "-nodb", "-dlist", DEVICE, "-ORBendPoint"])
            .arg(endpoint)
            .args(&self.launch.extra_args);
        Ok(cmd)
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err(format!("{:?} peer already running", self.kind));
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot clone log handle: {e}"))?;
        let mut cmd = self.command()?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?} peer ({cmd:?}): {e}", self.kind))?;
        if let Some(path) = self.pid_file() {
            // Lets scripts/test kill this server if the test process dies without dropping it.
            let _ = fs::write(&path, format!("{}\n", child.id()));
        }
        self.child = Some(child);
        if let Err(why) = self.wait_ready(log_start) {
            let tail = log_tail(&self.log_path, 40);
            self.stop();
            return Err(format!(
                "{:?} peer on port {} not ready: {why}\n--- {} (tail) ---\n{tail}",
                self.kind,
                self.port,
                self.log_path.display()
            ));
        }
        Ok(())
    }

    fn wait_ready(&mut self, log_start: u64) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        let mut tcp_ok_since: Option<Instant> = None;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("server exited early with {status}"));
                }
            }
            if port_accepts(self.port) {
                let since = *tcp_ok_since.get_or_insert_with(Instant::now);
                if log_contains_since(&self.log_path, log_start, READY_MARKER)
                    || since.elapsed() >= MARKER_GRACE
                {
                    // Small margin for the device to finish exporting.
                    thread::sleep(Duration::from_millis(100));
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no TCP listener / '{READY_MARKER}' within {START_DEADLINE:?}"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn py_server_script() -> PathBuf {
    env_path("TANGO_TEST_PY_SERVER", || {
        workspace_root().join("peers").join("py_tangotest.py")
    })
}

/// True when every thread of process `pid` is stopped (state `T` or `t` in
/// `/proc/<pid>/task/*/stat`); `None` when that cannot be read.
fn all_threads_stopped(pid: u32) -> Option<bool> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks {
        let path = task.ok()?.path().join("stat");
        let Ok(stat) = fs::read_to_string(&path) else {
            continue; // the thread ended meanwhile
        };
        // "tid (comm) S ...": the state follows the last ')'.
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next());
        if !matches!(state, Some('T' | 't')) {
            return Some(false);
        }
    }
    Some(true)
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn log_contains_since(path: &Path, offset: u64, needle: &str) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    if file.read_to_end(&mut buf).is_err() {
        return false;
    }
    String::from_utf8_lossy(&buf).contains(needle)
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read log: {e}>"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("free port should be bindable");
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("testkit").is_dir());
    }

    #[test]
    fn require_interop_matches_interop_enabled() {
        assert_eq!(require_interop(), interop_enabled());
        // Calling it again must not panic (the notice is printed once).
        assert_eq!(require_interop(), interop_enabled());
    }

    #[test]
    fn shared_devices_are_exported_when_interop_is_enabled() {
        if !require_interop() {
            return;
        }
        for device in [cpp_tangotest_device(), py_tangotest_device()] {
            assert!(device.starts_with("tango://127.0.0.1:"), "{device}");
            assert!(device.ends_with("/sys/tg_test/1#dbase=no"), "{device}");
            let port: u16 = device["tango://127.0.0.1:".len()..]
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no port in {device}"));
            assert!(
                port_accepts(port),
                "shared peer {device} does not accept TCP"
            );
        }
    }

    fn exercise(kind: PeerKind, admin_server: &str) {
        let mut peer = Peer::start(kind);
        let port = peer.port();
        assert!(port_accepts(port), "{kind:?} not accepting after start");
        assert_eq!(
            peer.device_name(),
            format!("tango://127.0.0.1:{port}/sys/tg_test/1#dbase=no")
        );
        assert_eq!(
            peer.admin_device_name(),
            format!("tango://127.0.0.1:{port}/dserver/{admin_server}/test#dbase=no")
        );
        assert!(peer.log_path().is_file());

        // Keep a connection open across the restart: the same port must still be reusable.
        let held = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        peer.stop();
        assert!(!port_accepts(port), "{kind:?} still accepting after stop");
        assert!(!peer.is_running());
        drop(held);

        peer.restart();
        assert_eq!(peer.port(), port, "restart must keep the port");
        assert!(peer.is_running());
        assert!(port_accepts(port), "{kind:?} not accepting after restart");

        peer.restart();
        assert!(
            port_accepts(port),
            "{kind:?} not accepting after second restart"
        );
        drop(peer);
        assert!(!port_accepts(port), "{kind:?} still accepting after drop");
    }

    /// The state letter of `/proc/<pid>/stat` (`T` when stopped by a signal).
    fn proc_state(pid: u32) -> char {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
        // "pid (comm) S ...": the state follows the last ')'.
        let after = &stat[stat.rfind(')').expect("comm") + 1..];
        after.trim_start().chars().next().expect("state")
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let launch =
            Launch::program("/nonexistent/TangoTest").with_extra_args(["--green-mode", "tokio"]);
        let err = Peer::try_start_with(PeerKind::RustTangoTest, launch).unwrap_err();
        assert!(err.contains("/nonexistent/TangoTest"), "{err}");
        assert!(err.contains("not found"), "{err}");
    }

    #[test]
    fn launch_arguments_go_around_the_command_line() {
        let launch = Launch::program("/bin/echo")
            .with_leading_args(["--serve"])
            .with_extra_args(["--green-mode", "smol"]);
        let peer = Peer {
            kind: PeerKind::RustTangoTest,
            launch,
            port: 4321,
            child: None,
            log_path: PathBuf::new(),
        };
        let cmd = peer.command().expect("command");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(cmd.get_program(), "/bin/echo");
        assert_eq!(
            args,
            [
                "--serve",
                "test",
                "-nodb",
                "-dlist",
                "sys/tg_test/1",
                "-ORBendPoint",
                "giop:tcp:127.0.0.1:4321",
                "--green-mode",
                "smol"
            ]
        );
    }

    #[test]
    fn cpp_peer_pause_and_resume() {
        if !require_interop() {
            return;
        }
        let mut peer = Peer::start(PeerKind::CppTangoTest);
        let pid = peer.child.as_ref().expect("running").id();
        assert_ne!(proc_state(pid), 'T');
        peer.pause().expect("pause");
        assert_eq!(proc_state(pid), 'T', "SIGSTOP did not stop the server");
        assert_eq!(all_threads_stopped(pid), Some(true), "a thread still runs");
        // the kernel still accepts connections for a frozen server
        assert!(port_accepts(peer.port()));
        peer.resume().expect("resume");
        let deadline = Instant::now() + Duration::from_secs(2);
        while proc_state(pid) == 'T' && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_ne!(proc_state(pid), 'T', "SIGCONT did not resume the server");
        peer.stop();
        assert!(peer.pause().is_err(), "pausing a stopped peer must fail");
    }

    #[test]
    fn cpp_peer_start_stop_restart() {
        if !require_interop() {
            return;
        }
        exercise(PeerKind::CppTangoTest, "TangoTest");
    }

    #[test]
    fn py_peer_start_stop_restart() {
        if !require_interop() {
            return;
        }
        exercise(PeerKind::PyTangoTest, "py_tangotest");
    }
}
