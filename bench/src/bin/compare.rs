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
use std::io::{BufRead, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const TANGO_TEST: &str = "/usr/lib/tango/TangoTest";
const DEVICE: &str = "sys/tg_test/1";
const ATTR: &str = "double_scalar";
const WARMUP: Duration = Duration::from_millis(500);
/// Goal ratios of ours over PyTango sync and over rstango.
const GOAL_VS_PYTANGO: f64 = 2.0;
const GOAL_VS_RSTANGO: f64 = 1.2;

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

/// Throughput and latency of one client.
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

/// A runner for an in-process client whose one call is `op`, after a warm-up.
fn in_process(mut op: impl FnMut() -> Res<()> + 'static) -> Res<Runner> {
    timed_loop(WARMUP, &mut op)?;
    Ok(Box::new(move |dur| timed_loop(dur, &mut op)))
}

fn ours(name: &str) -> Res<Runner> {
    let dev = tango::DeviceProxy::new(name).map_err(|e| e.to_string())?;
    in_process(move || {
        dev.read_attribute(ATTR)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

fn rstango(name: &str) -> Res<Runner> {
    let dev = rstango::dev::DevProxy::try_new(name)
        .ok_or_else(|| format!("rstango does not take {name} as a device name"))?;
    in_process(move || {
        dev.read_attr::<f64, _>(ATTR)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// The floor: the same request bytes written on a bare socket and the reply read back,
/// with nothing but `tango_core`'s codec in between. No client can beat the server's own
/// turnaround measured this way.
fn floor(name: &str) -> Res<Runner> {
    use std::io::{Read, Write};
    use tango_core::client::{ClientConnection, Event};
    use tango_core::ops::ReadAttributes5;
    let parsed = tango_core::name::TangoName::parse_device(name).map_err(|e| e.to_string())?;
    let (host, port) = match parsed.endpoint(None).map_err(|e| e.to_string())? {
        tango_core::name::Endpoint::Device { host, port } => (host, port),
        other => return Err(format!("{other:?} is not a no-database device")),
    };
    let mut stream =
        std::net::TcpStream::connect((host.as_str(), port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let key = parsed.object_key();
    let mut conn = ClientConnection::new(tango_core::giop::Version::V1_0);
    let op = ReadAttributes5 {
        names: vec![ATTR.to_owned()],
        source: tango_core::idl::DevSource::CacheDev,
        ident: tango_core::idl::ClntIdent::Cpp(std::process::id()),
    };
    let mut buf = vec![0u8; 64 * 1024];
    in_process(move || {
        let (_, bytes) = conn.encode_request(&key, &op);
        stream.write_all(&bytes).map_err(|e| e.to_string())?;
        loop {
            if let Some(Event::Reply(_)) = conn.poll_event().map_err(|e| e.to_string())? {
                return Ok(());
            }
            let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("server closed the connection".into());
            }
            conn.handle_input(&buf[..n]);
        }
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
                Some(g) if r >= g => format!("{r:.3}x PASS (>= {g}x)"),
                Some(g) => format!("{r:.3}x MISS (< {g}x)"),
                None => format!("{r:.3}x"),
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
         {secs} s per client in 1 s turns after {} ms warm-up, {} cores",
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

    // Connect and warm up every client, then measure them in turns of about a second,
    // so that a burst of load from elsewhere on the machine hits all of them alike.
    type Setup = fn(&str) -> Res<Runner>;
    let clients: [(&str, Setup); 4] = [
        ("ours (tango::DeviceProxy)", ours),
        ("PyTango 10.3.1 sync", pytango),
        ("rstango 0.3", rstango),
        ("floor: bare socket + core", floor),
    ];
    let mut runners: Vec<(&str, Res<Runner>, Sample)> = clients
        .iter()
        .map(|(label, setup)| (*label, setup(&name), Sample::default()))
        .collect();
    let rounds = secs.ceil().max(1.0) as u32;
    for _ in 0..rounds {
        for (_, runner, total) in &mut runners {
            if let Ok(run) = runner {
                match run(dur / rounds) {
                    Ok(sample) => total.extend(sample),
                    Err(e) => *runner = Err(e),
                }
            }
        }
    }
    let results: Vec<(&str, Res<Stats>)> = runners
        .into_iter()
        .map(|(label, runner, total)| (label, runner.and_then(|_| Stats::new(total))))
        .collect();
    drop(server);

    let py = results[1].1.as_ref().ok();
    let rs = results[2].1.as_ref().ok();
    let mut table = String::new();
    let mut csv =
        String::from("client,ops_per_s,p50_us,p99_us,ratio_vs_pytango_sync,ratio_vs_rstango\n");
    let _ = writeln!(
        table,
        "{:<27} {:>9} {:>9} {:>9}  {:<22} vs rstango",
        "client", "ops/s", "p50 µs", "p99 µs", "vs PyTango sync"
    );
    for (i, (label, res)) in results.iter().enumerate() {
        match res {
            Ok(s) => {
                let goals = |g| if i == 0 { Some(g) } else { None };
                let vs_py = ratio(Some(s), py, goals(GOAL_VS_PYTANGO));
                let vs_rs = ratio(Some(s), rs, goals(GOAL_VS_RSTANGO));
                let _ = writeln!(
                    table,
                    "{label:<27} {:>9.0} {:>9.1} {:>9.1}  {vs_py:<22} {vs_rs}",
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
    if let (Ok(o), Some(Ok(f))) = (&results[0].1, results.get(3).map(|r| &r.1)) {
        let _ = writeln!(
            table,
            "ours reaches {:.0}% of the floor (the server's own turnaround bounds every client)",
            100.0 * o.ops_per_s / f.ops_per_s
        );
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
