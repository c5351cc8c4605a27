//! `conformance`: runs the whole conformance matrix and reports it.
//!
//! ```text
//! cargo run -p tango-conformance --release --bin conformance -- \
//!     [--clients tokio,pytango_asyncio] [--servers rust_smol,cpp_tangotest] \
//!     [--cases write:] [--jobs 3] [--pytango-quick] [--out DIR]
//! ```
//!
//! Prints the matrix (rows: clients, columns: servers, cells: passed/applicable) and
//! writes it as `matrix.md` and `matrix.json` under `target/conformance/` (or `--out`).
//! Exits with 1 if any applicable case failed. Our servers are this very binary, started
//! again with the hidden first argument `--serve-tangotest` (it then runs the `TangoTest`
//! server instead), so nothing else needs building; the C++ TangoTest and the PyTango venv
//! must be installed (`scripts/install-peers`).

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tango_conformance::matrix::server::RustServerProgram;
use tango_conformance::matrix::{
    cell_name, report, run_cell, CellResult, Client, RunOptions, Server, Servers,
};

/// The hidden option that makes this binary serve TangoTest (its arguments follow).
const SERVE: &str = "--serve-tangotest";

const USAGE: &str = "usage: conformance [--clients LIST] [--servers LIST] [--cases TEXT] \
                     [--jobs N] [--pytango-quick] [--out DIR]";

struct Args {
    clients: Vec<Client>,
    servers: Vec<Server>,
    options: RunOptions,
    jobs: usize,
    out: std::path::PathBuf,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        clients: Client::all(),
        servers: Server::ALL.to_vec(),
        options: RunOptions::default(),
        jobs: 3,
        out: report::output_dir(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--clients" => {
                let v = value()?;
                parsed.clients = pick(&v, &Client::all(), |c| c.slug())?;
            }
            "--servers" => {
                let v = value()?;
                parsed.servers = pick(&v, &Server::ALL, |s| s.slug().to_owned())?;
            }
            "--cases" => parsed.options.case_filter = Some(value()?),
            "--jobs" => {
                parsed.jobs = value()?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))
                    .and_then(|n: usize| {
                        if n == 0 {
                            Err("--jobs: 0".into())
                        } else {
                            Ok(n)
                        }
                    })?
            }
            "--pytango-quick" => parsed.options.pytango_quick = true,
            "--out" => parsed.out = value()?.into(),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

/// The items whose slug is in the comma-separated `list`.
fn pick<T: Copy>(list: &str, all: &[T], slug: impl Fn(&T) -> String) -> Result<Vec<T>, String> {
    list.split(',')
        .map(|s| {
            all.iter()
                .find(|x| slug(x) == s.trim())
                .copied()
                .ok_or_else(|| {
                    let known: Vec<String> = all.iter().map(&slug).collect();
                    format!("unknown {s:?}; known: {}", known.join(", "))
                })
        })
        .collect()
}

/// Cells waiting, and the servers a worker is using now.
struct Queue {
    pending: Vec<(Client, Server)>,
    busy: HashSet<Server>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(SERVE) {
        std::process::exit(tango_conformance::serve_tangotest(&args[1..]));
    }
    let args = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("conformance: cannot find my own executable: {e}");
            std::process::exit(1);
        }
    };
    let servers = Arc::new(Servers::new(RustServerProgram {
        program,
        leading_args: vec![SERVE.to_owned()],
    }));
    // Row by row, so that the workers start on different servers.
    let mut pending = Vec::new();
    for client in &args.clients {
        for server in &args.servers {
            pending.push((*client, *server));
        }
    }
    let total = pending.len();
    let queue = Arc::new((
        Mutex::new(Queue {
            pending,
            busy: HashSet::new(),
        }),
        Condvar::new(),
    ));
    let results = Arc::new(Mutex::new(Vec::<CellResult>::new()));
    let t = Instant::now();
    let workers: Vec<_> = (0..args.jobs)
        .map(|_| {
            let (queue, results, servers) = (queue.clone(), results.clone(), servers.clone());
            let options = args.options.clone();
            std::thread::spawn(move || loop {
                // the first cell whose server no other worker is using
                let next = {
                    let (lock, cv) = &*queue;
                    let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if q.pending.is_empty() {
                            break None;
                        }
                        if let Some(i) = q.pending.iter().position(|(_, s)| !q.busy.contains(s)) {
                            let cell = q.pending.remove(i);
                            q.busy.insert(cell.1);
                            break Some(cell);
                        }
                        q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                    }
                };
                let Some((client, server)) = next else { return };
                let cell = run_cell(client, server, &servers, &options);
                {
                    let (lock, cv) = &*queue;
                    lock.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .busy
                        .remove(&server);
                    cv.notify_all();
                }
                let mut r = results.lock().unwrap_or_else(|p| p.into_inner());
                r.push(cell.clone());
                eprintln!(
                    "[{}/{total}] {} {} in {:.1} s{}",
                    r.len(),
                    cell_name(client, server),
                    report::cell_text(Some(&cell)),
                    cell.elapsed.as_secs_f64(),
                    if cell.failed() > 0 {
                        format!("\n{}", indent(&cell.failure_report()))
                    } else {
                        String::new()
                    }
                );
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    servers.shutdown();
    let mut cells = std::mem::take(&mut *results.lock().unwrap_or_else(|p| p.into_inner()));
    let order = |c: &CellResult| {
        let row = Client::all().iter().position(|x| *x == c.client);
        let col = Server::ALL.iter().position(|x| *x == c.server);
        (row, col)
    };
    cells.sort_by_key(order);
    println!("{}", report::table(&cells));
    let failed: usize = cells.iter().map(CellResult::failed).sum();
    let passed: usize = cells.iter().map(CellResult::passed).sum();
    let na: usize = cells.iter().map(CellResult::not_applicable).sum();
    println!(
        "{} cells in {:.0} s: {passed} passed, {failed} failed ({na} not applicable)",
        cells.len(),
        t.elapsed().as_secs_f64()
    );
    match report::write(&cells, &args.out) {
        Ok((md, js)) => println!("written: {} and {}", md.display(), js.display()),
        Err(e) => {
            eprintln!(
                "conformance: cannot write the report to {}: {e}",
                args.out.display()
            );
            std::process::exit(1);
        }
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
