//! Concurrent `read_attribute("double_scalar")` throughput, 64 requests in flight (and 1
//! for reference), of every client mode we have, PyTango's three concurrent modes and a
//! bare-socket floor, against Debian's C++ TangoTest 9.3.4 and then our Rust TangoTest
//! (one server running at a time):
//!
//! * ours: `tango::green::DeviceProxy` in `GreenMode::Futures` (64 submitted calls kept
//!   in flight), `tango_coroutine::DeviceProxy` from 64 may coroutines (2 may workers),
//!   `tango_tokio` / `tango_smol` / `tango_async_std` proxies with 64 calls in a
//!   `FuturesUnordered` on one thread, and the blocking `tango::DeviceProxy` from 64
//!   threads (pipelined on its one connection);
//! * PyTango 10.3.1 (`<repo>/.venv`, or `TANGO_TEST_PYTHON`): `tango.futures` with
//!   `wait=False` (64 outstanding), `tango.gevent` (64 greenlets), `tango.asyncio`
//!   (64 tasks);
//! * the floor: one pre-encoded `read_attributes_5` request written 64 times on one bare
//!   TCP connection, a new copy written for each reply read back (replies counted with
//!   `tango_core::giop::FrameDecoder`).
//!
//! ```sh
//! cargo run -p tango-bench --release --bin concurrent -- --seconds 3
//! ```
//!
//! Every client connects and warms up, then the (client, in-flight) pairs are measured in
//! turns of about a second until each has had `--seconds`. A table per server is printed
//! (with the goals: >= 5x PyTango Asyncio against the C++ server, >= 0.7x the floor
//! against ours; a MISS does not fail the process) and all rows go to
//! `target/bench/concurrent.csv`. Servers and Python processes are killed at the end,
//! also on error or panic.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt as _};

const CPP_TANGO_TEST: &str = "/usr/lib/tango/TangoTest";
const DEVICE: &str = "sys/tg_test/1";
const ATTR: &str = "double_scalar";
const WARMUP: Duration = Duration::from_millis(500);
const READY_MARKER: &str = "Ready to accept request";
/// Requests in flight: the measured load, then the sequential reference.
const DEPTHS: [usize; 2] = [64, 1];
/// Against the C++ TangoTest, each of our modes at 64 in flight vs PyTango Asyncio.
const GOAL_VS_PY_ASYNCIO: f64 = 5.0;
/// Against our TangoTest, each of our modes at 64 in flight vs the floor.
const GOAL_VS_FLOOR: f64 = 0.7;
const MAY_WORKERS: usize = 2;

/// The PyTango side, one process per mode: connects, warms up at 64 in flight, prints
/// `ready`, then for each line `SECONDS DEPTH` on stdin keeps DEPTH reads in flight for
/// SECONDS (no new read started after that, the outstanding ones waited for) and prints
/// `COUNT ELAPSED_NS`.
const PY_SCRIPT: &str = r#"
import sys, time, tango
name, attr, mode, warm = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if mode == "futures":
    import collections
    from tango.futures import DeviceProxy
    d = DeviceProxy(name)
    def run(secs, depth):
        t0 = time.perf_counter()
        stop = t0 + secs
        q = collections.deque(d.read_attribute(attr, wait=False) for _ in range(depth))
        n = 0
        while q:
            q.popleft().result()
            n += 1
            if time.perf_counter() < stop:
                q.append(d.read_attribute(attr, wait=False))
        return n, time.perf_counter() - t0
elif mode == "gevent":
    import gevent
    from tango.gevent import DeviceProxy
    d = DeviceProxy(name)
    def run(secs, depth):
        t0 = time.perf_counter()
        stop = t0 + secs
        def worker():
            n = 0
            while time.perf_counter() < stop:
                d.read_attribute(attr)
                n += 1
            return n
        gs = [gevent.spawn(worker) for _ in range(depth)]
        gevent.joinall(gs, raise_error=True)
        return sum(g.value for g in gs), time.perf_counter() - t0
elif mode == "asyncio":
    import asyncio
    from tango.asyncio import DeviceProxy
    # PyTango's asyncio proxy binds to the loop it is made in: run everything in one.
    async def main():
        d = await DeviceProxy(name)
        async def run(secs, depth):
            t0 = time.perf_counter()
            stop = t0 + secs
            async def worker():
                n = 0
                while time.perf_counter() < stop:
                    await d.read_attribute(attr)
                    n += 1
                return n
            counts = await asyncio.gather(*(worker() for _ in range(depth)))
            return sum(counts), time.perf_counter() - t0
        await run(warm, 64)
        print("ready", flush=True)
        for line in sys.stdin:
            secs, depth = line.split()
            n, elapsed = await run(float(secs), int(depth))
            print(n, int(elapsed * 1e9), flush=True)
    asyncio.run(main())
    sys.exit(0)
else:
    sys.exit("unknown mode " + mode)
run(warm, 64)
print("ready", flush=True)
for line in sys.stdin:
    secs, depth = line.split()
    n, elapsed = run(float(secs), int(depth))
    print(n, int(elapsed * 1e9), flush=True)
"#;

type Res<T> = Result<T, String>;

fn es(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A TangoTest process, killed when dropped (normal exit, `?` or panic unwinding).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `exe` on a free loopback port and waits until it prints the ready marker
    /// and serves a read of the attribute.
    fn start(label: &str, exe: &Path) -> Res<Server> {
        // The C++ server crashes if the port is taken: take one the kernel just gave out.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut child = Command::new(exe)
            .args(["test", "-nodb", "-dlist", DEVICE, "-ORBendPoint"])
            .arg(format!("giop:tcp:127.0.0.1:{port}"))
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
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait().map_err(es)?;
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What measured turns gave: their total length and the reads completed in them.
#[derive(Default, Clone, Copy)]
struct Sample {
    elapsed: Duration,
    ops: u64,
}

impl Sample {
    fn since(t0: Instant, ops: u64) -> Sample {
        Sample {
            elapsed: t0.elapsed(),
            ops,
        }
    }

    fn ops_per_s(&self) -> Option<f64> {
        (self.ops > 0).then(|| self.ops as f64 / self.elapsed.as_secs_f64())
    }
}

/// A connected client: keeps `depth` reads in flight for the given time (then starts no
/// new read and waits for the outstanding ones, counted too).
type Runner = Box<dyn FnMut(Duration, usize) -> Res<Sample>>;

/// Warms `run` up at full depth, then boxes it.
fn warmed(mut run: impl FnMut(Duration, usize) -> Res<Sample> + 'static) -> Res<Runner> {
    run(WARMUP, DEPTHS[0])?;
    Ok(Box::new(run))
}

/// Keeps `depth` futures made by `call` in flight on the current task for `dur`.
async fn keep_in_flight<T, E, Fut>(
    dur: Duration,
    depth: usize,
    mut call: impl FnMut() -> Fut,
) -> Res<Sample>
where
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let t0 = Instant::now();
    let stop = t0 + dur;
    let mut set: FuturesUnordered<Fut> = (0..depth).map(|_| call()).collect();
    let mut ops = 0;
    while let Some(r) = set.next().await {
        r.map_err(es)?;
        ops += 1;
        if Instant::now() < stop {
            set.push(call());
        }
    }
    Ok(Sample::since(t0, ops))
}

fn green_futures(name: &str) -> Res<Runner> {
    use tango::green::{DeviceProxy, GreenMode};
    let dev = DeviceProxy::new_with_mode(name, GreenMode::Futures)
        .wait()
        .map_err(es)?;
    warmed(move |dur, depth| {
        let t0 = Instant::now();
        let stop = t0 + dur;
        let mut queue: VecDeque<_> = (0..depth)
            .map(|_| dev.read_attribute(ATTR).submit())
            .collect();
        let mut ops = 0;
        while let Some(pending) = queue.pop_front() {
            pending.result().map_err(es)?;
            ops += 1;
            if Instant::now() < stop {
                queue.push_back(dev.read_attribute(ATTR).submit());
            }
        }
        Ok(Sample::since(t0, ops))
    })
}

fn coroutine(name: &str) -> Res<Runner> {
    let dev = tango_coroutine::DeviceProxy::new(name).map_err(es)?;
    warmed(move |dur, depth| {
        let t0 = Instant::now();
        let stop = t0 + dur;
        let workers: Vec<_> = (0..depth)
            .map(|_| {
                let dev = dev.clone();
                tango_coroutine::spawn(move || -> Res<u64> {
                    let mut n = 0;
                    while Instant::now() < stop {
                        dev.read_attribute(ATTR).map_err(es)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut ops = 0;
        for w in workers {
            ops += w.get()?;
        }
        Ok(Sample::since(t0, ops))
    })
}

fn tokio_client(name: &str) -> Res<Runner> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(es)?;
    let dev = rt.block_on(tango_tokio::connect(name)).map_err(es)?;
    warmed(move |dur, depth| rt.block_on(keep_in_flight(dur, depth, || dev.read_attribute(ATTR))))
}

fn smol_client(name: &str) -> Res<Runner> {
    let dev = smol::block_on(tango_smol::connect(name)).map_err(es)?;
    warmed(move |dur, depth| {
        smol::block_on(keep_in_flight(dur, depth, || dev.read_attribute(ATTR)))
    })
}

fn async_std_client(name: &str) -> Res<Runner> {
    let dev = async_std::task::block_on(tango_async_std::connect(name)).map_err(es)?;
    warmed(move |dur, depth| {
        async_std::task::block_on(keep_in_flight(dur, depth, || dev.read_attribute(ATTR)))
    })
}

fn blocking_threads(name: &str) -> Res<Runner> {
    let dev = tango::DeviceProxy::new(name).map_err(es)?;
    warmed(move |dur, depth| {
        let t0 = Instant::now();
        let stop = t0 + dur;
        let ops = std::thread::scope(|s| {
            let threads: Vec<_> = (0..depth)
                .map(|_| {
                    s.spawn(|| -> Res<u64> {
                        let mut n = 0;
                        while Instant::now() < stop {
                            dev.read_attribute(ATTR).map_err(es)?;
                            n += 1;
                        }
                        Ok(n)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .map_err(|_| "a reader thread panicked".to_string())?
                })
                .sum::<Res<u64>>()
        })?;
        Ok(Sample::since(t0, ops))
    })
}

/// The floor: one `read_attributes_5` request encoded once with `tango_core`, `depth`
/// copies kept written on one bare TCP connection, replies only framed and counted.
fn floor(name: &str) -> Res<Runner> {
    use tango_core::client::ClientConnection;
    use tango_core::giop::{FrameDecoder, MsgType};
    use tango_core::ops::ReadAttributes5;
    let parsed = tango_core::name::TangoName::parse_device(name).map_err(es)?;
    let (host, port) = match parsed.endpoint(None).map_err(es)? {
        tango_core::name::Endpoint::Device { host, port } => (host, port),
        other => return Err(format!("{other:?} is not a no-database device")),
    };
    let mut stream = TcpStream::connect((host.as_str(), port)).map_err(es)?;
    stream.set_nodelay(true).map_err(es)?;
    let op = ReadAttributes5 {
        names: vec![ATTR.to_owned()],
        source: tango_core::idl::DevSource::CacheDev,
        ident: tango_core::idl::ClntIdent::Cpp(std::process::id()),
    };
    let (_, request) = ClientConnection::new(tango_core::giop::Version::V1_0)
        .encode_request(&parsed.object_key(), &op);
    let mut frames = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    warmed(move |dur, depth| {
        let t0 = Instant::now();
        let stop = t0 + dur;
        out.clear();
        for _ in 0..depth {
            out.extend_from_slice(&request);
        }
        stream.write_all(&out).map_err(es)?;
        let (mut in_flight, mut ops) = (depth, 0u64);
        while in_flight > 0 {
            let n = stream.read(&mut buf).map_err(es)?;
            if n == 0 {
                return Err("server closed the connection".into());
            }
            frames.push(&buf[..n]);
            let mut replies = 0;
            while let Some(msg) = frames.next_message().map_err(es)? {
                if msg.header.msg_type != MsgType::Reply {
                    return Err(format!(
                        "unexpected {} from the server",
                        msg.header.msg_type
                    ));
                }
                replies += 1;
            }
            in_flight -= replies;
            ops += replies as u64;
            if replies > 0 && Instant::now() < stop {
                out.clear();
                for _ in 0..replies {
                    out.extend_from_slice(&request);
                }
                stream.write_all(&out).map_err(es)?;
                in_flight += replies;
            }
        }
        Ok(Sample::since(t0, ops))
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

/// A PyTango loop process, killed when dropped.
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

    fn run(&mut self, dur: Duration, depth: usize) -> Res<Sample> {
        writeln!(self.stdin, "{} {depth}", dur.as_secs_f64())
            .map_err(|e| format!("cannot talk to the PyTango loop: {e}"))?;
        let line = self.line()?;
        let bad = || format!("unreadable output from the PyTango loop: {line:?}");
        let mut nums = line.split_whitespace().map(str::parse::<u64>);
        let ops = nums.next().ok_or_else(bad)?.map_err(|_| bad())?;
        let ns = nums.next().ok_or_else(bad)?.map_err(|_| bad())?;
        Ok(Sample {
            elapsed: Duration::from_nanos(ns),
            ops,
        })
    }
}

impl Drop for PyLoop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pytango(name: &str, mode: &str) -> Res<Runner> {
    let mut child = Command::new(python()?)
        .args(["-c", PY_SCRIPT, name, ATTR, mode])
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
        return Err(format!("the PyTango {mode} loop did not start"));
    }
    Ok(Box::new(move |dur, depth| py.run(dur, depth)))
}

fn py_futures(name: &str) -> Res<Runner> {
    pytango(name, "futures")
}

fn py_gevent(name: &str) -> Res<Runner> {
    pytango(name, "gevent")
}

fn py_asyncio(name: &str) -> Res<Runner> {
    pytango(name, "asyncio")
}

type Setup = fn(&str) -> Res<Runner>;

/// The clients, ours first (`ours` rows carry the goals).
const CLIENTS: [(&str, bool, Setup); 10] = [
    ("ours Futures (green)", true, green_futures),
    ("ours Coroutine (may, 2 workers)", true, coroutine),
    ("ours tokio (current_thread)", true, tokio_client),
    ("ours smol", true, smol_client),
    ("ours async-std", true, async_std_client),
    ("ours blocking, N threads", true, blocking_threads),
    ("PyTango Futures", false, py_futures),
    ("PyTango Gevent", false, py_gevent),
    ("PyTango Asyncio", false, py_asyncio),
    ("floor: bare socket, 1 conn", false, floor),
];
const PY_ASYNCIO: usize = 8;
const FLOOR: usize = 9;

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
                "concurrent: cargo build failed; using the existing {}",
                exe.display()
            );
            Ok(exe)
        }
        Ok(s) => Err(format!("cargo build of our TangoTest failed: {s}")),
        Err(e) => Err(format!("cannot run cargo to build our TangoTest: {e}")),
    }
}

/// The command line: `--seconds N`, and for profiling one client or server at a time,
/// `--only TEXT` (clients whose label contains it), `--server TEXT` (likewise) and
/// `--in-flight 64|1` (that depth only).
struct Args {
    seconds: f64,
    only: Option<String>,
    server: Option<String>,
    in_flight: Option<usize>,
}

fn parse_args() -> Res<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        seconds: 3.0,
        only: None,
        server: None,
        in_flight: None,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => {
                let v = value()?;
                parsed.seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .ok_or(format!("bad --seconds value {v:?}"))?;
            }
            "--only" => parsed.only = Some(value()?.to_lowercase()),
            "--server" => parsed.server = Some(value()?.to_lowercase()),
            "--in-flight" => {
                let v = value()?;
                parsed.in_flight = Some(
                    v.parse()
                        .ok()
                        .filter(|d| DEPTHS.contains(d))
                        .ok_or(format!("--in-flight takes one of {DEPTHS:?}, not {v:?}"))?,
                );
            }
            "-h" | "--help" => {
                println!(
                    "usage: concurrent [--seconds N] [--only CLIENT-TEXT] [--server SERVER-TEXT] \
                     [--in-flight 64|1]\n\
                     (default 3 s per client, server and depth; all clients, both servers)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(parsed)
}

/// True when `filter` is unset or `label` contains it (case-insensitive).
fn selected(label: &str, filter: &Option<String>) -> bool {
    filter
        .as_ref()
        .is_none_or(|f| label.to_lowercase().contains(f.as_str()))
}

/// Which goal a server's table checks.
#[derive(Clone, Copy)]
enum Goal {
    VsPyAsyncio,
    VsFloor,
}

/// Every client against one server: per client, its result at each depth of [`DEPTHS`].
fn measure(name: &str, args: &Args) -> Vec<Res<[Sample; 2]>> {
    let (secs, only) = (args.seconds, &args.only);
    let dur = Duration::from_secs_f64(secs);
    let mut runners: Vec<(Res<Runner>, [Sample; 2])> = CLIENTS
        .iter()
        .map(|(label, _, setup)| {
            if !selected(label, only) {
                return (Err("skipped (--only)".into()), [Sample::default(); 2]);
            }
            eprintln!("  connecting and warming up: {label}");
            (setup(name), [Sample::default(); 2])
        })
        .collect();
    // Turns of about a second, so that a burst of load from elsewhere on the machine
    // hits all clients alike.
    let rounds = secs.ceil().max(1.0) as u32;
    for _ in 0..rounds {
        for (runner, totals) in &mut runners {
            for (depth, total) in DEPTHS.iter().zip(totals.iter_mut()) {
                if args.in_flight.is_some_and(|d| d != *depth) {
                    continue;
                }
                if let Ok(run) = runner {
                    match run(dur / rounds, *depth) {
                        Ok(s) => {
                            total.elapsed += s.elapsed;
                            total.ops += s.ops;
                        }
                        Err(e) => *runner = Err(e),
                    }
                }
            }
        }
    }
    runners
        .into_iter()
        .map(|(runner, totals)| runner.map(|_| totals))
        .collect()
}

/// The table of one server, and its CSV rows.
fn report(server: &str, goal: Goal, results: &[Res<[Sample; 2]>], csv: &mut String) -> String {
    let ops =
        |client: usize, d: usize| results[client].as_ref().ok().and_then(|s| s[d].ops_per_s());
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<32} {:>9} {:>11} {:>9}  {:<22} {:>9} {:>9}",
        "client", "ops/s@64", "vs PyAsyncio", "vs floor", "goal", "ops/s@1", "@1/floor"
    );
    for (i, (label, ours, _)) in CLIENTS.iter().enumerate() {
        if let Err(e) = &results[i] {
            let _ = writeln!(t, "{label:<32} error: {e}");
            let _ = writeln!(csv, "{server},{label},,,,,,");
            continue;
        }
        let ratio = |d: usize, other: usize| match (ops(i, d), ops(other, d)) {
            (Some(a), Some(b)) => Some(a / b),
            _ => None,
        };
        let fmt = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{r:.3}x"));
        let verdict = match (ours, goal) {
            (false, _) => String::new(),
            (true, Goal::VsPyAsyncio) => match ratio(0, PY_ASYNCIO) {
                Some(r) if r >= GOAL_VS_PY_ASYNCIO => format!("PASS (>= {GOAL_VS_PY_ASYNCIO}x Py)"),
                Some(_) => format!("MISS (< {GOAL_VS_PY_ASYNCIO}x Py)"),
                None => "n/a".into(),
            },
            (true, Goal::VsFloor) => match ratio(0, FLOOR) {
                Some(r) if r >= GOAL_VS_FLOOR => format!("PASS (>= {GOAL_VS_FLOOR}x floor)"),
                Some(_) => format!("MISS (< {GOAL_VS_FLOOR}x floor)"),
                None => "n/a".into(),
            },
        };
        let _ = writeln!(
            t,
            "{label:<32} {:>9.0} {:>11} {:>9}  {verdict:<22} {:>9.0} {:>9}",
            ops(i, 0).unwrap_or(0.0),
            fmt(ratio(0, PY_ASYNCIO)),
            fmt(ratio(0, FLOOR)),
            ops(i, 1).unwrap_or(0.0),
            fmt(ratio(1, FLOOR)),
        );
        for (d, depth) in DEPTHS.iter().enumerate() {
            let num = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.3}"));
            let v = if d == 0 {
                verdict.split(' ').next().unwrap_or("")
            } else {
                ""
            };
            let _ = writeln!(
                csv,
                "{server},{label},{depth},{:.1},{},{},{v}",
                ops(i, d).unwrap_or(0.0),
                num(ratio(d, PY_ASYNCIO)),
                num(ratio(d, FLOOR)),
            );
        }
    }
    t
}

fn run() -> Res<()> {
    let args = parse_args()?;
    let secs = args.seconds;
    may::config().set_workers(MAY_WORKERS);
    // Built before any server runs, so the build does not load the measurement.
    let rust_exe = rust_tango_test()?;
    println!(
        "read_attribute(\"{ATTR}\") with {} and {} requests in flight, {secs} s per client \
         and depth in 1 s turns after {} ms warm-up, one server at a time, {} cores",
        DEPTHS[0],
        DEPTHS[1],
        WARMUP.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let servers: [(&str, PathBuf, Goal); 2] = [
        (
            "C++ TangoTest 9.3.4",
            PathBuf::from(CPP_TANGO_TEST),
            Goal::VsPyAsyncio,
        ),
        ("Rust TangoTest", rust_exe, Goal::VsFloor),
    ];
    let mut csv = String::from(
        "server,client,in_flight,ops_per_s,ratio_vs_pytango_asyncio,ratio_vs_floor,goal\n",
    );
    for (label, exe, goal) in &servers {
        if !selected(label, &args.server) {
            continue;
        }
        let server = Server::start(label, exe)?;
        let name = server.name();
        eprintln!("{label}: pid {} at {name}", server.child.id());
        let results = measure(&name, &args);
        drop(server);
        println!("\n{label} (tango://127.0.0.1:PORT/{DEVICE}#dbase=no)");
        print!("{}", report(label, *goal, &results, &mut csv));
    }
    let dir = target_dir().join("bench");
    let path = dir.join("concurrent.csv");
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, csv))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("concurrent: {e}");
        std::process::exit(1);
    }
}
