//! The TangoTest server processes: Debian's C++ one, the PyTango peer and ours in each
//! server green mode, each started as
//! `TangoTest test -nodb -dlist sys/tg_test/1 -ORBendPoint giop:tcp:127.0.0.1:PORT` on a
//! free loopback port and killed when dropped (normal exit, `?` or panic unwinding).

use std::io::{BufRead, BufReader, Read as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{es, Res, DEVICE, SCALAR_ATTR, SPECTRUM_ATTR, SPECTRUM_POINTS};

/// Debian's C++ TangoTest (package `tango-test`, installed by `scripts/install-peers`).
pub const CPP_TANGO_TEST: &str = "/usr/lib/tango/TangoTest";
/// What every TangoTest prints once it serves requests.
pub const READY_MARKER: &str = "Ready to accept request";
/// How long a server may take to start (the PyTango one imports a lot).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// Debian's C++ TangoTest 9.3.4.
    Cpp,
    /// `peers/py_tangotest.py` on PyTango 10.3.1.
    PyTango,
    /// Our `TangoTest` binary with `--green-mode` this mode.
    Rust(&'static str),
}

impl ServerKind {
    /// Every server, in run order.
    pub const ALL: [ServerKind; 7] = [
        ServerKind::Cpp,
        ServerKind::PyTango,
        ServerKind::Rust("synchronous"),
        ServerKind::Rust("coroutine"),
        ServerKind::Rust("tokio"),
        ServerKind::Rust("async-std"),
        ServerKind::Rust("smol"),
    ];

    /// The command-line and CSV name: `cpp`, `pytango` or the green mode.
    pub fn key(self) -> &'static str {
        match self {
            ServerKind::Cpp => "cpp",
            ServerKind::PyTango => "pytango",
            ServerKind::Rust(mode) => mode,
        }
    }

    /// The name shown in tables.
    pub fn label(self) -> String {
        match self {
            ServerKind::Cpp => "C++ TangoTest 9.3.4".into(),
            ServerKind::PyTango => "PyTango 10.3.1 TangoTest".into(),
            ServerKind::Rust(mode) => format!("our TangoTest {mode}"),
        }
    }

    /// A short name for the chart's axis.
    pub fn short(self) -> String {
        match self {
            ServerKind::Cpp => "C++".into(),
            ServerKind::PyTango => "PyTango".into(),
            ServerKind::Rust(mode) => format!("ours {mode}"),
        }
    }

    /// Parses [`ServerKind::key`]; `rust` or `ours` means all our modes.
    pub fn parse_list(s: &str) -> Res<Vec<ServerKind>> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let item = item.to_ascii_lowercase();
            let found: Vec<ServerKind> = match item.as_str() {
                "rust" | "ours" => ServerKind::ALL
                    .into_iter()
                    .filter(|k| matches!(k, ServerKind::Rust(_)))
                    .collect(),
                "c++" => vec![ServerKind::Cpp],
                "sync" => vec![ServerKind::Rust("synchronous")],
                "async_std" => vec![ServerKind::Rust("async-std")],
                other => ServerKind::ALL
                    .into_iter()
                    .filter(|k| k.key() == other)
                    .collect(),
            };
            if found.is_empty() {
                return Err(format!(
                    "unknown server {item:?} (one of {}, or rust for all ours)",
                    ServerKind::ALL.map(ServerKind::key).join(", ")
                ));
            }
            for k in found {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        if out.is_empty() {
            return Err("--servers needs at least one server".into());
        }
        out.sort_by_key(|k| ServerKind::ALL.iter().position(|x| x == k));
        Ok(out)
    }
}

/// The executables the servers run from.
#[derive(Debug, Clone)]
pub struct Executables {
    /// Our `TangoTest` binary.
    pub rust: PathBuf,
    /// The Python interpreter with PyTango (for the PyTango server).
    pub python: Res<PathBuf>,
}

/// A running TangoTest process, killed when dropped.
pub struct Server {
    /// Which server this is.
    pub kind: ServerKind,
    child: Child,
    port: u16,
}

impl Server {
    /// Starts the server on a free loopback port and waits until it prints
    /// [`READY_MARKER`] and serves a read of `double_scalar`.
    pub fn start(kind: ServerKind, exes: &Executables) -> Res<Server> {
        let label = kind.label();
        // The C++ server crashes if the port is taken: take one the kernel just gave out.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut cmd = match kind {
            ServerKind::Cpp => Command::new(CPP_TANGO_TEST),
            ServerKind::PyTango => {
                let mut c = Command::new(exes.python.clone()?);
                c.arg(crate::repo_root().join("peers/py_tangotest.py"));
                c
            }
            ServerKind::Rust(_) => Command::new(&exes.rust),
        };
        cmd.args(["test", "-nodb", "-dlist", DEVICE, "-ORBendPoint"])
            .arg(format!("giop:tcp:127.0.0.1:{port}"));
        if let ServerKind::Rust(mode) = kind {
            cmd.args(["--green-mode", mode]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {label}: {e} (run scripts/install-peers)"))?;
        // Drain its output on threads (so the pipes never fill), reporting the marker and
        // keeping the end of stderr for an error message.
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY_MARKER) {
                    let _ = ready_tx.send(());
                }
            }
        });
        let err_tail = Arc::new(Mutex::new(String::new()));
        let tail = Arc::clone(&err_tail);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.push_str(&String::from_utf8_lossy(&buf[..n]));
                if t.len() > 2000 {
                    let cut = t.len() - 2000;
                    let cut = (cut..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(0);
                    t.drain(..cut);
                }
            }
        });
        record(child.id());
        let mut server = Server { kind, child, port };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait().map_err(es)?;
                    std::thread::sleep(Duration::from_millis(50));
                    let tail = err_tail.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    return Err(format!(
                        "{label} exited before it was ready: {status}: {}",
                        tail.trim()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                    return Err(format!(
                        "{label} did not print {READY_MARKER:?} in {} s",
                        START_TIMEOUT.as_secs()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        // The device may be exported a moment after the marker: retry the first read.
        let name = server.name();
        loop {
            match tango::DeviceProxy::new(&name).and_then(|d| d.read_attribute(SCALAR_ATTR)) {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("{label} is not serving reads: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Ok(server)
    }

    /// The device's name: `tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`.
    pub fn name(&self) -> String {
        format!("tango://127.0.0.1:{}/{DEVICE}#dbase=no", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory (`VmRSS` of `/proc/<pid>/status`), KiB.
    pub fn rss_kib(&self) -> Res<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no VmRSS line in {path}"))
    }

    /// Writes [`SPECTRUM_POINTS`] values into [`SPECTRUM_ATTR`] and reads it back; returns
    /// what a read then carries, e.g. `read 4096 + set point 4096 points`.
    pub fn prepare_spectrum(&self) -> Res<String> {
        let dev = tango::DeviceProxy::new(&self.name()).map_err(es)?;
        let points: Vec<f64> = (0..SPECTRUM_POINTS).map(|i| i as f64 * 0.5).collect();
        dev.write_attribute(SPECTRUM_ATTR, points).map_err(|e| {
            format!("cannot write {SPECTRUM_POINTS} points into {SPECTRUM_ATTR}: {e}")
        })?;
        let a = dev.read_attribute(SPECTRUM_ATTR).map_err(es)?;
        if a.dim_x != SPECTRUM_POINTS && a.w_dim_x != SPECTRUM_POINTS {
            return Err(format!(
                "{SPECTRUM_ATTR} holds {} read and {} written points after writing \
                 {SPECTRUM_POINTS}",
                a.dim_x, a.w_dim_x
            ));
        }
        Ok(format!("read {} + set point {} points", a.dim_x, a.w_dim_x))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        forget(self.child.id());
    }
}

/// Where the running servers' pids are noted (`PID STARTTIME OWNER_PID OWNER_STARTTIME`
/// lines), so that a run that died without unwinding (a signal) leaves nothing behind: the
/// next run kills them once their owner is gone.
fn pid_file() -> PathBuf {
    crate::target_dir().join("bench/servers.pids")
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), to tell it from a
/// later process that reuses the pid.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // A zombie (state Z) is dead, only not yet reaped.
    (rest.first() != Some(&"Z"))
        .then(|| rest.get(19).map(|s| (*s).to_owned()))
        .flatten()
}

fn record(pid: u32) {
    let me = std::process::id();
    let (Some(start), Some(my_start)) = (start_time(pid), start_time(me)) else {
        return;
    };
    let path = pid_file();
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!("{pid} {start} {me} {my_start}\n"));
    let _ = std::fs::create_dir_all(path.parent().expect("has a parent"));
    let _ = std::fs::write(&path, text);
}

fn forget(pid: u32) {
    let path = pid_file();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let kept: String = text
        .lines()
        .filter(|l| l.split_whitespace().next() != Some(&pid.to_string()))
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = std::fs::write(&path, kept);
}

/// Kills the servers that an earlier run started and left running (it died of a signal
/// before it could stop them), and forgets them; a run still going keeps its servers.
/// Returns how many were killed.
pub fn kill_leftovers() -> usize {
    let path = pid_file();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return 0;
    };
    let alive = |pid: &str, start: &str| {
        pid.parse::<u32>()
            .ok()
            .and_then(start_time)
            .is_some_and(|s| s == start)
    };
    let (mut killed, mut kept) = (0, String::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [pid, start, owner, owner_start] = f[..] else {
            continue;
        };
        if alive(owner, owner_start) {
            kept.push_str(line);
            kept.push('\n');
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if alive(pid, start) && String::from_utf8_lossy(&cmdline).contains(DEVICE) {
            let status = Command::new("kill").args(["-9", pid]).status();
            if status.is_ok_and(|s| s.success()) {
                eprintln!("bench: killed server pid {pid} left running by an earlier run");
                killed += 1;
            }
        }
    }
    let _ = std::fs::write(&path, kept);
    killed
}

/// Our TangoTest binary: `$TANGO_RS_TANGOTEST` if set, else built now with
/// `cargo build --release -p tango-conformance --bin TangoTest` (a no-op when up to date),
/// else an existing `target/release/TangoTest`.
pub fn rust_tango_test() -> Res<PathBuf> {
    if let Some(p) = std::env::var_os("TANGO_RS_TANGOTEST") {
        return Ok(p.into());
    }
    let exe = crate::target_dir().join("release/TangoTest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "-p", "tango-conformance", "--bin"])
        .arg("TangoTest")
        .current_dir(crate::repo_root())
        .status();
    match built {
        Ok(s) if s.success() => Ok(exe),
        _ if exe.exists() => {
            eprintln!(
                "cargo build of our TangoTest failed; using the existing {}",
                exe.display()
            );
            Ok(exe)
        }
        Ok(s) => Err(format!("cargo build of our TangoTest failed: {s}")),
        Err(e) => Err(format!("cannot run cargo to build our TangoTest: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_tell_live_processes_from_gone_ones() {
        let me = start_time(std::process::id()).expect("this process is alive");
        assert_eq!(start_time(std::process::id()), Some(me));
        // Past the kernel's pid_max: no such process.
        assert_eq!(start_time(u32::MAX), None);
    }

    #[test]
    fn server_lists_parse_in_run_order_with_aliases() {
        assert_eq!(
            ServerKind::parse_list("tokio, cpp,tokio").unwrap(),
            vec![ServerKind::Cpp, ServerKind::Rust("tokio")]
        );
        assert_eq!(ServerKind::parse_list("rust").unwrap().len(), 5);
        assert_eq!(
            ServerKind::parse_list("sync,async_std").unwrap(),
            vec![
                ServerKind::Rust("synchronous"),
                ServerKind::Rust("async-std")
            ]
        );
        assert!(ServerKind::parse_list("jtango")
            .unwrap_err()
            .contains("unknown server"));
        assert!(ServerKind::parse_list(" , ").is_err());
    }
}
