//! The `bench` command: its options, the measurement loop and the output files.
//!
//! For each server in turn: start it, write the spectrum, connect every client, warm each
//! (client, op) up, then measure every (client, op, depth) in interleaved turns (so that a
//! burst of load from elsewhere on the machine hits them alike) until each has had
//! `--seconds`; stop the clients and the server (also on error or panic: both are killed
//! when dropped). Then print the tables and the goals, and write `bench.csv`, `bench.svg`
//! and `bench.txt` (the printed report) under `target/bench/`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::floor::Floor;
use crate::report::{self, Measurement, ServerRun};
use crate::servers::{Executables, Server, ServerKind};
use crate::{ClientKind, Op, Res, Runner, Sample, Stats};

/// Default measured seconds per (server, client, op, depth): the whole default run (7
/// servers, 12 clients, 3 ops, 2 depths) takes about 5 minutes on a 2-core machine.
pub const DEFAULT_SECONDS: f64 = 0.5;
/// The longest turn; a measurement is split into `ceil(seconds / TURN)` turns.
pub const TURN: Duration = Duration::from_millis(125);
/// Warm-up of each (client, op) at the deepest depth, after connecting.
pub const WARMUP: Duration = Duration::from_millis(100);
/// The depths measured by default.
pub const DEPTHS: [usize; 2] = [1, 64];

/// The command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Measured seconds per (server, client, op, depth).
    pub seconds: f64,
    /// The servers, in run order.
    pub servers: Vec<ServerKind>,
    /// The clients, in table order.
    pub clients: Vec<ClientKind>,
    /// The operations.
    pub ops: Vec<Op>,
    /// Calls in flight.
    pub depths: Vec<usize>,
    /// Where the CSV, SVG and text report go.
    pub out_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: DEFAULT_SECONDS,
            servers: ServerKind::ALL.to_vec(),
            clients: ClientKind::ALL.to_vec(),
            ops: Op::ALL.to_vec(),
            depths: DEPTHS.to_vec(),
            out_dir: crate::target_dir().join("bench"),
        }
    }
}

/// The `--help` text.
pub fn usage() -> String {
    format!(
        "usage: throughput [--seconds S] [--servers LIST] [--clients LIST] [--ops LIST] \
         [--depths LIST] [--out DIR]\n\n\
         Measures every client against every server, one server at a time, and writes\n\
         DIR/bench.csv, DIR/bench.svg and DIR/bench.txt (DIR: target/bench).\n\n\
         --seconds S   measured seconds per (server, client, op, depth), default {DEFAULT_SECONDS}\n\
         --servers     {} (rust = all ours)\n\
         --clients     {} (ours, pytango = groups)\n\
         --ops         {}\n\
         --depths      calls in flight, default 1,64\n",
        ServerKind::ALL.map(ServerKind::key).join(","),
        ClientKind::ALL.map(ClientKind::key).join(","),
        Op::ALL.map(Op::key).join(","),
    )
}

/// Parses the arguments (without the program name); `None` for `--help`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Res<Option<Options>> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--seconds" => {
                let v = value()?;
                o.seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .ok_or(format!(
                        "bad --seconds value {v:?} (a number of seconds > 0)"
                    ))?;
            }
            "--servers" => o.servers = ServerKind::parse_list(&value()?)?,
            "--clients" => o.clients = ClientKind::parse_list(&value()?)?,
            "--ops" => {
                let v = value()?;
                let mut ops = Vec::new();
                for s in v.split(',').filter(|s| !s.trim().is_empty()) {
                    let op = Op::parse(s)?;
                    if !ops.contains(&op) {
                        ops.push(op);
                    }
                }
                if ops.is_empty() {
                    return Err("--ops needs at least one op".into());
                }
                ops.sort();
                o.ops = ops;
            }
            "--depths" => {
                let v = value()?;
                let mut depths = Vec::new();
                for s in v.split(',').filter(|s| !s.trim().is_empty()) {
                    let d: usize = s
                        .trim()
                        .parse()
                        .ok()
                        .filter(|d| (1..=1024).contains(d))
                        .ok_or(format!("bad depth {s:?} (1 to 1024 calls in flight)"))?;
                    if !depths.contains(&d) {
                        depths.push(d);
                    }
                }
                if depths.is_empty() {
                    return Err("--depths needs at least one depth".into());
                }
                depths.sort_unstable();
                o.depths = depths;
            }
            "--out" => o.out_dir = PathBuf::from(value()?),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(Some(o))
}

/// Connects `client` to the device `name`.
fn connect(client: ClientKind, name: &str) -> Res<Runner> {
    match client {
        c if c.is_ours() => crate::ours::connect(c, name),
        c if c.is_pytango() => crate::python::connect(c, name),
        ClientKind::Rstango => crate::rstango_client::connect(name),
        ClientKind::Floor => crate::floor::connect(name),
        other => Err(format!("no driver for {}", other.label())),
    }
}

/// What one (client, op, depth) gathered so far.
type Cells = HashMap<(ClientKind, Op, usize), Res<Sample>>;

/// Measures every client against one server.
fn measure_server(kind: ServerKind, exes: &Executables, o: &Options) -> ServerRun {
    let mut run = ServerRun {
        kind,
        error: None,
        notes: Vec::new(),
        rows: Vec::new(),
    };
    let server = match Server::start(kind, exes) {
        Ok(s) => s,
        Err(e) => {
            run.error = Some(e);
            return run;
        }
    };
    let name = server.name();
    let rss = |s: &Server| s.rss_kib().map_or_else(|e| e, |k| format!("{k} KiB"));
    let rss_start = rss(&server);
    eprintln!("{}: pid {} at {name}", kind.label(), server.pid());
    let mut op_errors: HashMap<Op, String> = HashMap::new();
    if o.ops.contains(&Op::ReadSpectrum) {
        match server.prepare_spectrum() {
            Ok(what) => run.notes.push(format!(
                "double_spectrum after writing {} points: a read carries {what}",
                crate::SPECTRUM_POINTS
            )),
            Err(e) => {
                op_errors.insert(Op::ReadSpectrum, e);
            }
        }
    }
    let mut sizes = String::from("message sizes (request/reply bytes):");
    match Floor::connect(&name) {
        Ok(mut f) => {
            for &op in &o.ops {
                match f.message_sizes(op) {
                    Ok((q, r)) => {
                        let _ = write!(sizes, " {} {q}/{r}", op.key());
                    }
                    Err(e) => {
                        let _ = write!(sizes, " {} ? ({e})", op.key());
                    }
                }
            }
        }
        Err(e) => {
            let _ = write!(sizes, " ? ({e})");
        }
    }
    run.notes.push(sizes);

    // Connect every client before any runs (the Coroutine client's first connection is
    // made before the Synchronous client has run 64 threads: may 0.3 crashed connecting
    // after that), then warm each (client, op) up.
    let mut cells: Cells = HashMap::new();
    let mut runners: Vec<(ClientKind, Runner)> = Vec::new();
    for &c in &o.clients {
        eprintln!("  connecting: {}", c.label());
        match connect(c, &name) {
            Ok(r) => runners.push((c, r)),
            Err(e) => {
                for &op in &o.ops {
                    for &d in &o.depths {
                        cells.insert((c, op, d), Err(e.clone()));
                    }
                }
            }
        }
    }
    let max_depth = o.depths.iter().copied().max().unwrap_or(1);
    for (c, r) in &mut runners {
        eprintln!("  warming up: {}", c.label());
        for &op in &o.ops {
            let warm = match op_errors.get(&op) {
                Some(e) => Err(e.clone()),
                None => r(op, max_depth, WARMUP).map(drop),
            };
            for &d in &o.depths {
                cells.insert((*c, op, d), warm.clone().map(|_| Sample::default()));
            }
        }
    }

    let dur = Duration::from_secs_f64(o.seconds);
    let rounds = (dur.as_secs_f64() / TURN.as_secs_f64()).ceil().max(1.0) as u32;
    for round in 0..rounds {
        eprintln!("  turn {}/{rounds}", round + 1);
        for (c, r) in &mut runners {
            for &op in &o.ops {
                for &d in &o.depths {
                    let cell = cells.get_mut(&(*c, op, d)).expect("every cell is set");
                    if let Ok(total) = cell {
                        match r(op, d, dur / rounds) {
                            Ok(s) => total.extend(s),
                            Err(e) => *cell = Err(e),
                        }
                    }
                }
            }
        }
    }
    drop(runners);
    run.notes.insert(
        0,
        format!(
            "pid {}, {name}; resident memory {rss_start} after start, {} after the run",
            server.pid(),
            rss(&server)
        ),
    );
    drop(server);

    for &op in &o.ops {
        for &d in &o.depths {
            for &c in &o.clients {
                let result = cells
                    .remove(&(c, op, d))
                    .expect("every cell is set")
                    .and_then(Stats::new);
                run.rows.push(Measurement {
                    client: c,
                    op,
                    depth: d,
                    result,
                });
            }
        }
    }
    run
}

/// A description of this machine: cores, CPU, kernel, load.
pub fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let load: Vec<&str> = Vec::new();
    let loadavg = read("/proc/loadavg");
    let load = if loadavg.is_empty() {
        load
    } else {
        loadavg.split_whitespace().take(3).collect()
    };
    format!(
        "{cores} cores, {cpu}, Linux {kernel}, load average {}",
        load.join(" ")
    )
}

/// Runs the harness with `o`, printing progress on stderr and the report on stdout, and
/// writes the files. Returns the runs.
pub fn run(o: &Options) -> Res<Vec<ServerRun>> {
    may::config().set_workers(crate::ours::MAY_WORKERS);
    crate::servers::kill_leftovers();
    let needs_rust = o.servers.iter().any(|k| matches!(k, ServerKind::Rust(_)));
    let exes = Executables {
        // Built before any server runs, so the build does not load the measurement.
        rust: if needs_rust {
            crate::servers::rust_tango_test()?
        } else {
            PathBuf::new()
        },
        python: crate::python::interpreter(),
    };
    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tango-bench: {} clients x {} ops x depths {:?} against {} servers, one server at a \
         time; {} s per measurement in turns of at most {} ms, after a {} ms warm-up per \
         client and op\nmachine: {}",
        o.clients.len(),
        o.ops.len(),
        o.depths,
        o.servers.len(),
        o.seconds,
        TURN.as_millis(),
        WARMUP.as_millis(),
        machine()
    );
    print!("{out}");
    let mut runs = Vec::new();
    for &kind in &o.servers {
        let r = measure_server(kind, &exes, o);
        let table = report::server_table(&r);
        print!("{table}");
        out.push_str(&table);
        runs.push(r);
    }
    let goals = report::goals(&runs, &o.ops, &o.clients);
    print!("{goals}");
    out.push_str(&goals);
    let mut csv = String::from(report::CSV_HEADER);
    for r in &runs {
        csv.push_str(&report::csv_rows(r));
    }
    let tail = format!(
        "\nconcurrency at depth N: {}\nwhole run {:.0} s; {}\n",
        o.clients
            .iter()
            .map(|c| format!("{}: {}", c.label(), c.how_concurrent()))
            .collect::<Vec<_>>()
            .join("; "),
        started.elapsed().as_secs_f64(),
        machine()
    );
    print!("{tail}");
    out.push_str(&tail);

    std::fs::create_dir_all(&o.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", o.out_dir.display()))?;
    let write = |name: &str, text: &str| {
        let p = o.out_dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        println!("wrote {}", p.display());
        Ok::<(), String>(())
    };
    write("bench.csv", &csv)?;
    write("bench.txt", &out)?;
    let svg = o.out_dir.join("bench.svg");
    report::write_svg(&svg, &runs, &o.ops, &o.depths, &o.clients)?;
    println!("wrote {}", svg.display());
    Ok(runs)
}

/// The harness binary (`throughput`, and `bench` of `tango-conformance`): parses `std::env::args`, runs, exits 1 on a fatal error (missed
/// goals are not errors).
pub fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{}", usage());
            return;
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&opts) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Res<Option<Options>> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_measure_everything() {
        let o = parse(&[]).unwrap().unwrap();
        assert_eq!(o.servers.len(), 7);
        assert_eq!(o.clients.len(), 12);
        assert_eq!(o.ops, Op::ALL.to_vec());
        assert_eq!(o.depths, vec![1, 64]);
        assert_eq!(o.seconds, DEFAULT_SECONDS);
    }

    #[test]
    fn options_narrow_the_run() {
        let o = parse(&[
            "--servers",
            "cpp",
            "--clients=sync,py-sync,floor",
            "--ops",
            "command,scalar",
            "--depths",
            "64",
            "--seconds",
            "2",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(o.servers, vec![ServerKind::Cpp]);
        assert_eq!(
            o.clients,
            vec![ClientKind::OursSync, ClientKind::PySync, ClientKind::Floor]
        );
        assert_eq!(o.ops, vec![Op::ReadScalar, Op::Command]);
        assert_eq!(o.depths, vec![64]);
        assert_eq!(o.seconds, 2.0);
        assert_eq!(parse(&["--help"]).unwrap(), None);
    }

    #[test]
    fn bad_arguments_get_a_clear_error() {
        for (args, want) in [
            (&["--seconds", "0"][..], "bad --seconds"),
            (&["--seconds", "NaN"][..], "bad --seconds"),
            (&["--seconds"][..], "needs a value"),
            (&["--depths", "0"][..], "bad depth"),
            (&["--ops", "image"][..], "unknown op"),
            (&["--servers", "jtango"][..], "unknown server"),
            (&["--frobnicate"][..], "unknown argument"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn the_machine_line_names_cores_and_kernel() {
        let m = machine();
        assert!(m.contains("cores"), "{m}");
        assert!(m.contains("Linux"), "{m}");
    }
}
