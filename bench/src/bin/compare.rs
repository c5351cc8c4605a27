//! Sequential `read_attribute("double_scalar")` throughput and latency of three Tango
//! clients against one C++ TangoTest, in one run:
//!
//! * ours: `tango::DeviceProxy`;
//! * PyTango 10.3.1's synchronous `tango.DeviceProxy` (from `<repo>/.venv`, made by
//!   `scripts/install-peers`; `TANGO_TEST_PYTHON` names another interpreter);
//! * rstango 0.3, another pure-Rust Tango implementation (`DevProxy::read_attr`).
//!
//! ```sh
//! cargo run -p tango-bench --release --bin compare -- --seconds 5
//! ```
//!
//! The program starts `/usr/lib/tango/TangoTest test -nodb` on a free loopback port,
//! measures each client for a fixed time after a warm-up, prints a table and writes it
//! to `target/bench/compare.csv`. The server is killed at the end, also on error or panic.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TANGO_TEST: &str = "/usr/lib/tango/TangoTest";
const DEVICE: &str = "sys/tg_test/1";
const ATTR: &str = "double_scalar";
const WARMUP: Duration = Duration::from_millis(500);
/// Goal ratios of ours over PyTango sync and over rstango.
const GOAL_VS_PYTANGO: f64 = 2.0;
const GOAL_VS_RSTANGO: f64 = 1.2;

/// The PyTango side: the same loop, printing the elapsed time then one latency per line
/// (nanoseconds).
const PY_SCRIPT: &str = r#"
import sys, time, tango
name, attr, warm, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
d = tango.DeviceProxy(name)
end = time.perf_counter() + warm
while time.perf_counter() < end:
    d.read_attribute(attr)
lat = []
t0 = now = time.perf_counter_ns()
stop = t0 + int(secs * 1e9)
while now < stop:
    d.read_attribute(attr)
    t = time.perf_counter_ns()
    lat.append(t - now)
    now = t
out = [str(now - t0)]
out.extend(map(str, lat))
sys.stdout.write("\n".join(out) + "\n")
"#;

type Res<T> = Result<T, String>;

/// A TangoTest process, killed when dropped (normal exit, `?` or panic unwinding).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Res<Server> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let child = Command::new(TANGO_TEST)
            .args(["test", "-nodb", "-dlist", DEVICE, "-ORBendPoint"])
            .arg(format!("giop:tcp:127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {TANGO_TEST} (run scripts/install-peers): {e}"))?;
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("TangoTest exited early: {status}"));
            }
            if Instant::now() > deadline {
                return Err("TangoTest did not accept connections within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn name(&self) -> String {
        format!("tango://127.0.0.1:{}/{DEVICE}#dbase=no", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Throughput and latency of one client.
struct Stats {
    ops_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

impl Stats {
    fn new(elapsed: Duration, mut lat_ns: Vec<u64>) -> Res<Stats> {
        if lat_ns.is_empty() {
            return Err("no operation completed".into());
        }
        lat_ns.sort_unstable();
        // Nearest-rank percentile.
        let pct = |p: f64| {
            let rank = ((p * lat_ns.len() as f64).ceil() as usize).clamp(1, lat_ns.len());
            lat_ns[rank - 1] as f64 / 1000.0
        };
        Ok(Stats {
            ops_per_s: lat_ns.len() as f64 / elapsed.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
        })
    }
}

/// Runs `op` for `WARMUP`, then back to back for `dur`, timing each call.
fn measure(dur: Duration, mut op: impl FnMut() -> Res<()>) -> Res<Stats> {
    let warm_end = Instant::now() + WARMUP;
    while Instant::now() < warm_end {
        op()?;
    }
    let mut lat = Vec::with_capacity(1 << 16);
    let t0 = Instant::now();
    let mut now = t0;
    while now - t0 < dur {
        op()?;
        let t = Instant::now();
        lat.push((t - now).as_nanos() as u64);
        now = t;
    }
    Stats::new(now - t0, lat)
}

fn bench_ours(name: &str, dur: Duration) -> Res<Stats> {
    let dev = tango::DeviceProxy::new(name).map_err(|e| e.to_string())?;
    measure(dur, || {
        dev.read_attribute(ATTR)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

fn bench_rstango(name: &str, dur: Duration) -> Res<Stats> {
    let dev = rstango::dev::DevProxy::try_new(name)
        .ok_or_else(|| format!("rstango does not take {name} as a device name"))?;
    measure(dur, || {
        dev.read_attr::<f64, _>(ATTR)
            .map(drop)
            .map_err(|e| e.to_string())
    })
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

fn bench_pytango(name: &str, dur: Duration) -> Res<Stats> {
    let out = Command::new(python()?)
        .args(["-c", PY_SCRIPT, name, ATTR])
        .arg(WARMUP.as_secs_f64().to_string())
        .arg(dur.as_secs_f64().to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").to_owned();
        return Err(format!("PyTango loop failed ({}): {last}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut nums = text.lines().map(|l| l.trim().parse::<u64>());
    let parse_err = |_| "unreadable output from the PyTango loop".to_string();
    let elapsed = nums.next().ok_or("no output from the PyTango loop")?;
    let elapsed = Duration::from_nanos(elapsed.map_err(parse_err)?);
    let lat = nums.collect::<Result<Vec<_>, _>>().map_err(parse_err)?;
    Stats::new(elapsed, lat)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

fn parse_seconds() -> Res<f64> {
    let mut args = std::env::args().skip(1);
    let mut seconds = 5.0;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                let v = args.next().ok_or("--seconds needs a value")?;
                seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .ok_or(format!("bad --seconds value {v:?}"))?;
            }
            "-h" | "--help" => {
                println!("usage: compare [--seconds N]   (default 5 s per client)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(seconds)
}

/// `ours / other` formatted, with PASS/MISS against `goal` when given.
fn ratio(ours: Option<&Stats>, other: Option<&Stats>, goal: Option<f64>) -> String {
    match (ours, other) {
        (Some(a), Some(b)) => {
            let r = a.ops_per_s / b.ops_per_s;
            match goal {
                Some(g) if r >= g => format!("{r:.2}x PASS (>= {g}x)"),
                Some(g) => format!("{r:.2}x MISS (< {g}x)"),
                None => format!("{r:.2}x"),
            }
        }
        _ => "n/a".into(),
    }
}

fn run() -> Res<()> {
    let secs = parse_seconds()?;
    let dur = Duration::from_secs_f64(secs);
    let server = Server::start()?;
    let name = server.name();
    println!(
        "TangoTest (C++) at {name}; sequential read_attribute(\"{ATTR}\"), \
         {secs} s per client after {} ms warm-up, {} cores",
        WARMUP.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    // The device may be exported a moment after the port opens: retry the first contact.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tango::DeviceProxy::new(&name).and_then(|d| d.read_attribute(ATTR)) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => return Err(format!("TangoTest not ready: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }

    type BenchFn = fn(&str, Duration) -> Res<Stats>;
    let clients: [(&str, BenchFn); 3] = [
        ("ours (tango::DeviceProxy)", bench_ours),
        ("PyTango 10.3.1 sync", bench_pytango),
        ("rstango 0.3", bench_rstango),
    ];
    let results: Vec<(&str, Res<Stats>)> = clients
        .iter()
        .map(|(label, f)| (*label, f(&name, dur)))
        .collect();
    drop(server);

    let py = results[1].1.as_ref().ok();
    let rs = results[2].1.as_ref().ok();
    let mut table = String::new();
    let mut csv =
        String::from("client,ops_per_s,p50_us,p99_us,ratio_vs_pytango_sync,ratio_vs_rstango\n");
    let _ = writeln!(
        table,
        "{:<27} {:>9} {:>9} {:>9}  {:<22} {:<22}",
        "client", "ops/s", "p50 µs", "p99 µs", "vs PyTango sync", "vs rstango"
    );
    for (i, (label, res)) in results.iter().enumerate() {
        match res {
            Ok(s) => {
                let goals = |g| if i == 0 { Some(g) } else { None };
                let vs_py = ratio(Some(s), py, goals(GOAL_VS_PYTANGO));
                let vs_rs = ratio(Some(s), rs, goals(GOAL_VS_RSTANGO));
                let _ = writeln!(
                    table,
                    "{label:<27} {:>9.0} {:>9.1} {:>9.1}  {vs_py:<22} {vs_rs:<22}",
                    s.ops_per_s, s.p50_us, s.p99_us
                );
                let r = |o: Option<&Stats>| {
                    o.map_or(String::new(), |o| {
                        format!("{:.3}", s.ops_per_s / o.ops_per_s)
                    })
                };
                let _ = writeln!(
                    csv,
                    "{label},{:.1},{:.1},{:.1},{},{}",
                    s.ops_per_s,
                    s.p50_us,
                    s.p99_us,
                    r(py),
                    r(rs)
                );
            }
            Err(e) => {
                let _ = writeln!(table, "{label:<27} error: {e}");
                let _ = writeln!(csv, "{label},,,,,");
            }
        }
    }
    print!("{table}");

    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from)
        .join("bench");
    let path = dir.join("compare.csv");
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, csv))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}
