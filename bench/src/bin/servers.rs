//! Our Rust TangoTest, in each server green mode, against Debian's C++ TangoTest 9.3.4, in
//! one run: sequential `read_attribute("double_scalar")` throughput and latency of two
//! clients against each server, and each server's resident memory.
//!
//! * servers: `/usr/lib/tango/TangoTest` (C++) and the `TangoTest` binary of
//!   `tango-conformance` (Rust, built here with `cargo build --release` first) once per
//!   `--modes` entry (default `synchronous,tokio,smol,async-std,coroutine`), all started
//!   as `TangoTest test -nodb -dlist sys/tg_test/1 -ORBendPoint giop:tcp:127.0.0.1:PORT`
//!   (plus `--green-mode MODE` for ours) on a free loopback port;
//! * clients: PyTango 10.3.1's synchronous `tango.DeviceProxy` (from `<repo>/.venv`, made
//!   by `scripts/install-peers`; `TANGO_TEST_PYTHON` names another interpreter) and ours,
//!   `tango::DeviceProxy`.
//!
//! ```sh
//! cargo run -p tango-bench --release --bin servers -- --seconds 5 [--modes synchronous,tokio]
//! ```
//!
//! Every (client, server) pair connects and warms up, then the pairs are measured in
//! turns of about a second until each has had `--seconds`. The table is printed and
//! written to `target/bench/servers.csv`, with each client's ratio of every green mode to
//! our Synchronous server and the issue's goal: PyTango's synchronous client against our
//! Asyncio servers (tokio, smol, async-std) within 1.3x of its rate against our
//! Synchronous server. All servers are killed at the end, also on error or panic.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CPP_TANGO_TEST: &str = "/usr/lib/tango/TangoTest";
const DEVICE: &str = "sys/tg_test/1";
const ATTR: &str = "double_scalar";
const WARMUP: Duration = Duration::from_millis(500);
const READY_MARKER: &str = "Ready to accept request";

/// The PyTango side: warms up, prints `ready`, then for each line `SECONDS` read on stdin
/// runs the loop that long and prints one line: elapsed ns, then each latency in ns.
const PY_SCRIPT: &str = r#"
import sys, time, tango
name, attr, warm = sys.argv[1], sys.argv[2], float(sys.argv[3])
d = tango.DeviceProxy(name)
end = time.perf_counter() + warm
while time.perf_counter() < end:
    d.read_attribute(attr)
print("ready", flush=True)
for line in sys.stdin:
    lat = []
    t0 = now = time.perf_counter_ns()
    stop = t0 + int(float(line) * 1e9)
    while now < stop:
        d.read_attribute(attr)
        t = time.perf_counter_ns()
        lat.append(t - now)
        now = t
    print(now - t0, *lat, flush=True)
"#;

type Res<T> = Result<T, String>;

/// A TangoTest process, killed when dropped (normal exit, `?` or panic unwinding).
struct Server {
    label: String,
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `exe` on a free loopback port and waits until it prints the ready marker
    /// and serves a read of the attribute.
    fn start(label: String, exe: &Path, extra: &[&str]) -> Res<Server> {
        // The C++ server crashes if the port is taken: take one the kernel just gave out.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut child = Command::new(exe)
            .args(["test", "-nodb", "-dlist", DEVICE, "-ORBendPoint"])
            .arg(format!("giop:tcp:127.0.0.1:{port}"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {label} ({}): {e}", exe.display()))?;
        // Drain its output on a thread (so the pipe never fills), reporting the marker.
        let stdout = child.stdout.take().expect("piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY_MARKER) {
                    let _ = ready_tx.send(());
                }
            }
        });
        let mut server = Server {
            label: label.clone(),
            child,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait().map_err(|e| e.to_string())?;
                    return Err(format!("{label} exited before it was ready: {status}"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                    return Err(format!("{label} did not print {READY_MARKER:?} in 20 s"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        // The device may be exported a moment after the marker: retry the first read.
        let name = server.name();
        loop {
            match tango::DeviceProxy::new(&name).and_then(|d| d.read_attribute(ATTR)) {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("{label} is not serving reads: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Ok(server)
    }

    fn name(&self) -> String {
        format!("tango://127.0.0.1:{}/{DEVICE}#dbase=no", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS from `/proc/<pid>/status`, in KiB.
    fn rss_kib(&self) -> Res<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no VmRSS line in {path}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one measured slice gave: its length and each call's latency in nanoseconds.
#[derive(Default)]
struct Sample {
    elapsed: Duration,
    lat_ns: Vec<u64>,
}

impl Sample {
    fn extend(&mut self, other: Sample) {
        self.elapsed += other.elapsed;
        self.lat_ns.extend(other.lat_ns);
    }
}

/// A connected, warmed-up client: runs back-to-back reads for the given time.
type Runner = Box<dyn FnMut(Duration) -> Res<Sample>>;

/// Throughput and latency of one (client, server) pair.
struct Stats {
    ops_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

impl Stats {
    fn new(mut s: Sample) -> Res<Stats> {
        if s.lat_ns.is_empty() {
            return Err("no operation completed".into());
        }
        s.lat_ns.sort_unstable();
        let lat = &s.lat_ns;
        // Nearest-rank percentile.
        let pct = |p: f64| {
            let rank = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
            lat[rank - 1] as f64 / 1000.0
        };
        Ok(Stats {
            ops_per_s: lat.len() as f64 / s.elapsed.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
        })
    }
}

/// Calls `op` back to back for `dur`, timing each call.
fn timed_loop(dur: Duration, mut op: impl FnMut() -> Res<()>) -> Res<Sample> {
    let mut lat_ns = Vec::with_capacity(1 << 16);
    let t0 = Instant::now();
    let mut now = t0;
    while now - t0 < dur {
        op()?;
        let t = Instant::now();
        lat_ns.push((t - now).as_nanos() as u64);
        now = t;
    }
    Ok(Sample {
        elapsed: now - t0,
        lat_ns,
    })
}

fn ours(name: &str) -> Res<Runner> {
    let dev = tango::DeviceProxy::new(name).map_err(|e| e.to_string())?;
    let mut op = move || {
        dev.read_attribute(ATTR)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    timed_loop(WARMUP, &mut op)?;
    Ok(Box::new(move |dur| timed_loop(dur, &mut op)))
}

fn python() -> Res<PathBuf> {
    if let Some(p) = std::env::var_os("TANGO_TEST_PYTHON") {
        return Ok(p.into());
    }
    let p = repo_root().join(".venv/bin/python");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} is missing: run scripts/install-peers to create the PyTango venv",
            p.display()
        ))
    }
}

/// The PyTango loop process, killed when dropped.
struct PyLoop {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PyLoop {
    fn line(&mut self) -> Res<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Ok(line),
            _ => Err("the PyTango loop died (its error is above)".into()),
        }
    }

    fn run(&mut self, dur: Duration) -> Res<Sample> {
        writeln!(self.stdin, "{}", dur.as_secs_f64())
            .map_err(|e| format!("cannot talk to the PyTango loop: {e}"))?;
        let line = self.line()?;
        let mut nums = line.split_whitespace().map(str::parse::<u64>);
        let bad = || "unreadable output from the PyTango loop".to_string();
        let elapsed = nums.next().ok_or_else(bad)?.map_err(|_| bad())?;
        let lat_ns = nums.collect::<Result<Vec<_>, _>>().map_err(|_| bad())?;
        Ok(Sample {
            elapsed: Duration::from_nanos(elapsed),
            lat_ns,
        })
    }
}

impl Drop for PyLoop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pytango(name: &str) -> Res<Runner> {
    let mut child = Command::new(python()?)
        .args(["-c", PY_SCRIPT, name, ATTR])
        .arg(WARMUP.as_secs_f64().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python: {e}"))?;
    let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
    let mut py = PyLoop {
        child,
        stdin: stdin.expect("piped"),
        stdout: BufReader::new(stdout.expect("piped")),
    };
    if py.line()?.trim() != "ready" {
        return Err("the PyTango loop did not start".into());
    }
    Ok(Box::new(move |dur| py.run(dur)))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
}

/// Our TangoTest binary: `$TANGO_RS_TANGOTEST` if set, else built now with cargo (a no-op
/// when up to date), else an existing `target/release/TangoTest`.
fn rust_tango_test() -> Res<PathBuf> {
    if let Some(p) = std::env::var_os("TANGO_RS_TANGOTEST") {
        return Ok(p.into());
    }
    let exe = target_dir().join("release/TangoTest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "-p", "tango-conformance", "--bin"])
        .arg("TangoTest")
        .current_dir(repo_root())
        .status();
    match built {
        Ok(s) if s.success() => Ok(exe),
        _ if exe.exists() => {
            eprintln!(
                "servers: cargo build failed; using the existing {}",
                exe.display()
            );
            Ok(exe)
        }
        Ok(s) => Err(format!("cargo build of our TangoTest failed: {s}")),
        Err(e) => Err(format!("cannot run cargo to build our TangoTest: {e}")),
    }
}

/// Our server green modes, in the order they are started and shown; `synchronous` is the
/// baseline of the mode ratios.
const MODES: [&str; 5] = ["synchronous", "tokio", "smol", "async-std", "coroutine"];
/// The Asyncio server modes of the goal.
const ASYNCIO_MODES: [&str; 3] = ["tokio", "smol", "async-std"];
/// The goal: PyTango's synchronous client against an Asyncio server within this factor of
/// its rate against our Synchronous server.
const GOAL: f64 = 1.3;

struct Options {
    seconds: f64,
    modes: Vec<&'static str>,
}

fn parse_mode(m: &str) -> Res<&'static str> {
    Ok(match m.trim().to_ascii_lowercase().as_str() {
        "synchronous" | "sync" => "synchronous",
        "tokio" | "asyncio" => "tokio",
        "smol" => "smol",
        "async-std" | "async_std" => "async-std",
        "coroutine" | "gevent" => "coroutine",
        other => {
            return Err(format!(
                "unknown green mode {other:?} (one of {})",
                MODES.join(", ")
            ))
        }
    })
}

fn parse_args() -> Res<Options> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        seconds: 5.0,
        modes: MODES.to_vec(),
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                let v = args.next().ok_or("--seconds needs a value")?;
                opts.seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .ok_or(format!("bad --seconds value {v:?}"))?;
            }
            "--modes" => {
                let v = args.next().ok_or("--modes needs a value")?;
                let mut modes = Vec::new();
                for m in v.split(',').filter(|m| !m.trim().is_empty()) {
                    let m = parse_mode(m)?;
                    if !modes.contains(&m) {
                        modes.push(m);
                    }
                }
                if modes.is_empty() {
                    return Err("--modes needs at least one green mode".into());
                }
                // Shown in the canonical order, the baseline first.
                modes.sort_by_key(|m| MODES.iter().position(|x| x == m));
                opts.modes = modes;
            }
            "-h" | "--help" => {
                println!(
                    "usage: servers [--seconds N] [--modes {}]\n  \
                     (default 5 s per client and server, all five modes)",
                    MODES.join(",")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(opts)
}

fn rss_text(r: &Res<u64>) -> String {
    match r {
        Ok(kib) => format!("{kib} KiB"),
        Err(e) => format!("? ({e})"),
    }
}

fn run() -> Res<()> {
    let Options {
        seconds: secs,
        modes,
    } = parse_args()?;
    let dur = Duration::from_secs_f64(secs);
    let rust_exe = rust_tango_test()?;
    // Index 0 is the C++ server, then ours in each mode; all live until the end of this
    // function. `None` is the C++ server's mode.
    let mut servers = vec![Server::start(
        "C++ TangoTest 9.3.4".into(),
        Path::new(CPP_TANGO_TEST),
        &[],
    )?];
    let mut server_modes: Vec<Option<&str>> = vec![None];
    for &mode in &modes {
        servers.push(Server::start(
            format!("Rust TangoTest {mode}"),
            &rust_exe,
            &["--green-mode", mode],
        )?);
        server_modes.push(Some(mode));
    }
    let rss_start: Vec<Res<u64>> = servers.iter().map(Server::rss_kib).collect();
    println!(
        "sequential read_attribute(\"{ATTR}\"), {secs} s per client and server in 1 s turns \
         after {} ms warm-up, {} cores",
        WARMUP.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    for s in &servers {
        println!("  {:<26} pid {:<7} {}", s.label, s.pid(), s.name());
    }

    // Connect and warm up every pair, then measure them in turns of about a second, so
    // that a burst of load from elsewhere on the machine hits all of them alike.
    type Setup = fn(&str) -> Res<Runner>;
    let clients: [(&str, Setup); 2] = [
        ("PyTango 10.3.1 sync", pytango),
        ("ours (tango::DeviceProxy)", ours),
    ];
    let mut pairs: Vec<(&str, usize, Res<Runner>, Sample)> = Vec::new();
    for (label, setup) in clients {
        for (si, server) in servers.iter().enumerate() {
            pairs.push((label, si, setup(&server.name()), Sample::default()));
        }
    }
    let rounds = secs.ceil().max(1.0) as u32;
    for _ in 0..rounds {
        for (_, _, runner, total) in &mut pairs {
            if let Ok(run) = runner {
                match run(dur / rounds) {
                    Ok(sample) => total.extend(sample),
                    Err(e) => *runner = Err(e),
                }
            }
        }
    }
    let results: Vec<(&str, usize, Res<Stats>)> = pairs
        .into_iter()
        .map(|(label, si, runner, total)| (label, si, runner.and_then(|_| Stats::new(total))))
        .collect();
    let rss_end: Vec<Res<u64>> = servers.iter().map(Server::rss_kib).collect();
    let labels: Vec<String> = servers.iter().map(|s| s.label.clone()).collect();
    drop(servers);
    let sync_index = server_modes.iter().position(|m| *m == Some("synchronous"));

    let mut table = String::new();
    let mut goal = String::new();
    let mut csv = String::from(
        "client,server,ops_per_s,p50_us,p99_us,ratio_rust_over_cpp,server_rss_start_kib,\
         server_rss_end_kib,green_mode,ratio_over_rust_synchronous,goal\n",
    );
    let _ = writeln!(
        table,
        "{:<27} {:<26} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "client", "server", "ops/s", "p50 µs", "p99 µs", "/C++", "/Rust sync"
    );
    let n = labels.len();
    for pair in results.chunks(n) {
        let client = pair[0].0;
        let rate = |si: usize| pair[si].2.as_ref().ok().map(|s| s.ops_per_s);
        let cpp_rate = rate(0);
        let sync_rate = sync_index.and_then(rate);
        for (si, (_, _, res)) in pair.iter().enumerate() {
            let server = &labels[si];
            let mode = server_modes[si].unwrap_or("");
            let rss = |r: &Res<u64>| r.as_ref().map_or(String::new(), u64::to_string);
            let (rss0, rss1) = (rss(&rss_start[si]), rss(&rss_end[si]));
            // The goal is judged for PyTango's client against the Asyncio modes only.
            let judged = client.starts_with("PyTango") && ASYNCIO_MODES.contains(&mode);
            match res {
                Ok(s) => {
                    let over_cpp = cpp_rate.filter(|_| si > 0).map(|c| s.ops_per_s / c);
                    let over_sync = sync_rate.filter(|_| si > 0).map(|r| s.ops_per_s / r);
                    let x = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.3}x"));
                    let row = format!(
                        "{client:<27} {server:<26} {:>9.0} {:>9.1} {:>9.1} {:>9} {:>10}",
                        s.ops_per_s,
                        s.p50_us,
                        s.p99_us,
                        x(over_cpp),
                        x(over_sync)
                    );
                    let _ = writeln!(table, "{}", row.trim_end());
                    let verdict = match (judged, sync_rate) {
                        (true, Some(r)) => {
                            let pass = s.ops_per_s >= r / GOAL;
                            let _ = writeln!(
                                goal,
                                "goal {client} vs Rust TangoTest {mode}: {:.0} ops/s against \
                                 {r:.0} on synchronous = {:.3}x (>= {:.3}x needed): {}",
                                s.ops_per_s,
                                s.ops_per_s / r,
                                1.0 / GOAL,
                                if pass { "PASS" } else { "FAIL" }
                            );
                            if pass {
                                "PASS"
                            } else {
                                "FAIL"
                            }
                        }
                        _ => "",
                    };
                    let f = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.3}"));
                    let _ = writeln!(
                        csv,
                        "{client},{server},{:.1},{:.1},{:.1},{},{rss0},{rss1},{mode},{},{verdict}",
                        s.ops_per_s,
                        s.p50_us,
                        s.p99_us,
                        f(over_cpp),
                        f(over_sync)
                    );
                }
                Err(e) => {
                    let _ = writeln!(table, "{client:<27} {server:<26} error: {e}");
                    if judged {
                        let _ = writeln!(
                            goal,
                            "goal {client} vs Rust TangoTest {mode}: no rate ({e}): FAIL"
                        );
                    }
                    let verdict = if judged { "FAIL" } else { "" };
                    let _ = writeln!(csv, "{client},{server},,,,,{rss0},{rss1},{mode},,{verdict}");
                }
            }
        }
    }
    for (si, server) in labels.iter().enumerate() {
        let _ = writeln!(
            table,
            "RSS {server:<26} after start {:>10}, after the benchmark {:>10}",
            rss_text(&rss_start[si]),
            rss_text(&rss_end[si])
        );
    }
    if sync_index.is_none() {
        let _ = writeln!(goal, "goal not judged: --modes has no synchronous baseline");
    } else if goal.is_empty() {
        let _ = writeln!(goal, "goal not judged: --modes has no Asyncio mode");
    }
    print!("{table}{goal}");

    let dir = target_dir().join("bench");
    let path = dir.join("servers.csv");
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, csv))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("servers: {e}");
        std::process::exit(1);
    }
}
