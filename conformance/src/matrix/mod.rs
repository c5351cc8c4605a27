//! The conformance matrix: every client against every server, one list of cases.
//!
//! * Rows ([`Client`]): our six clients — `tango::green` proxies in Synchronous, Futures
//!   and Coroutine modes, and in Asyncio mode on tokio, async-std and smol
//!   ([`client::OurClient`]) — and PyTango 10.3.1's client in its four green modes
//!   ([`pytango::PyClient`]).
//! * Columns ([`Server`]): our TangoTest in each server green mode (Synchronous,
//!   Coroutine, tokio, async-std, smol), Debian's C++ TangoTest 9.3.4 and the PyTango
//!   10.3.1 TangoTest peer, each a real process on a free loopback port ([`server`]).
//! * Cells ([`run_cell`]): our clients run [`cases::CASES`] (written once, as async
//!   functions over a [`client::Cx`]); PyTango's run `peers/pytango_client_suite.py`.
//!   Cases a server cannot support are listed, with the reason, in [`na`]; they are not
//!   run and count as not applicable.
//!
//! `cargo test -p tango-conformance --test matrix` runs one test per cell
//! (`client_tokio__server_cpp_tangotest`); `cargo run -p tango-conformance --release --bin
//! conformance` prints the table and writes it as Markdown and JSON ([`report`]).
//!
//! How a cell of ours runs: under its column's lock, the shared-server cases against the
//! column's shared server (cells of one server run one at a time: cases write); then, on a
//! private server of the same column started for the cell, the cases that freeze, stop and
//! restart it. A watchdog fails a case that runs longer than [`CASE_LIMIT`] (and the
//! cases after it) instead of hanging the run.

pub mod cases;
pub mod client;
pub mod na;
pub mod pytango;
pub mod report;
pub mod server;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cases::{Case, Needs, CASES};
use client::{CatchUnwind, Cx, OurClient, PrivatePeer};
use pytango::PyClient;
pub use server::{Family, Server, Servers, Target};

/// A row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Client {
    /// One of our clients.
    Ours(OurClient),
    /// PyTango's client in a green mode.
    PyTango(PyClient),
}

impl Client {
    /// Every row, ours first.
    pub fn all() -> Vec<Client> {
        OurClient::ALL
            .into_iter()
            .map(Client::Ours)
            .chain(PyClient::ALL.into_iter().map(Client::PyTango))
            .collect()
    }

    /// Name in test names and reports (`tokio`, `pytango_asyncio`).
    pub fn slug(self) -> String {
        match self {
            Client::Ours(c) => c.slug().to_owned(),
            Client::PyTango(p) => format!("pytango_{}", p.slug()),
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Ours(c) => write!(f, "{c}"),
            Client::PyTango(p) => write!(f, "{p}"),
        }
    }
}

/// True if the cell needs the installed peers (C++ TangoTest, the PyTango venv): then it
/// runs only when interop is asked for.
pub fn needs_peers(client: Client, server: Server) -> bool {
    server.is_peer() || matches!(client, Client::PyTango(_))
}

/// The test name of a cell: `client_<client>__server_<server>`.
pub fn cell_name(client: Client, server: Server) -> String {
    format!("client_{}__server_{}", client.slug(), server.slug())
}

/// What happened to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It passed.
    Passed,
    /// It failed: why.
    Failed(String),
    /// Not run: the reviewed reason.
    NotApplicable(String),
}

/// One case's outcome in a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// The case name.
    pub case: String,
    /// Its verdict.
    pub verdict: Verdict,
}

/// A cell's outcome.
#[derive(Debug, Clone)]
pub struct CellResult {
    /// The row.
    pub client: Client,
    /// The column.
    pub server: Server,
    /// Each case's outcome.
    pub outcomes: Vec<CaseOutcome>,
    /// How long the cell took.
    pub elapsed: Duration,
}

impl CellResult {
    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(&o.verdict)).count()
    }

    /// Cases passed.
    pub fn passed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Passed))
    }

    /// Cases failed.
    pub fn failed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Failed(_)))
    }

    /// Cases not applicable.
    pub fn not_applicable(&self) -> usize {
        self.count(|v| matches!(v, Verdict::NotApplicable(_)))
    }

    /// The names of the failed cases.
    pub fn failures(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Failed(_)))
            .map(|o| o.case.as_str())
            .collect()
    }

    /// One line per failed case: `name: why`.
    pub fn failure_report(&self) -> String {
        self.outcomes
            .iter()
            .filter_map(|o| match &o.verdict {
                Verdict::Failed(why) => Some(format!("{}: {why}", o.case)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// How a run treats its cells.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run PyTango's reduced case list (`--quick`) in its cells.
    pub pytango_quick: bool,
    /// Only our cases whose name contains this (all when `None`; PyTango's suite always
    /// runs whole).
    pub case_filter: Option<String>,
}

/// The longest a case may run before the watchdog fails it.
pub const CASE_LIMIT: Duration = Duration::from_secs(90);

/// Runs one cell.
pub fn run_cell(
    client: Client,
    server: Server,
    servers: &Servers,
    options: &RunOptions,
) -> CellResult {
    let t = Instant::now();
    let outcomes = match client {
        Client::Ours(ours) => run_ours(ours, server, servers, options),
        Client::PyTango(py) => {
            let admin = |target: &Target| {
                format!(
                    "tango://127.0.0.1:{}/dserver/{}/test#dbase=no",
                    target.port,
                    server.family().server_name()
                )
            };
            servers
                .with_shared(server, |target| {
                    pytango::run_suite(py, &target, &admin(&target), options.pytango_quick)
                })
                .unwrap_or_else(|why| {
                    vec![CaseOutcome {
                        case: "pytango_client_suite".to_owned(),
                        verdict: Verdict::Failed(format!("shared server: {why}")),
                    }]
                })
        }
    };
    CellResult {
        client,
        server,
        outcomes,
        elapsed: t.elapsed(),
    }
}

fn run_ours(
    client: OurClient,
    server: Server,
    servers: &Servers,
    options: &RunOptions,
) -> Vec<CaseOutcome> {
    let mut outcomes = Vec::new();
    let mut shared = Vec::new();
    let mut private = Vec::new();
    for case in CASES {
        if let Some(f) = &options.case_filter {
            if !case.name.contains(f.as_str()) {
                continue;
            }
        }
        if let Some(reason) = na::not_applicable(server, case.name) {
            outcomes.push(CaseOutcome {
                case: case.name.to_owned(),
                verdict: Verdict::NotApplicable(reason.to_owned()),
            });
            continue;
        }
        match case.needs {
            Needs::Shared => shared.push(case),
            Needs::Private => private.push(case),
        }
    }
    if !shared.is_empty() {
        let ran = servers.with_shared(server, |target| run_phase(client, target, None, &shared));
        outcomes
            .extend(ran.unwrap_or_else(|why| fail_all(&shared, &format!("shared server: {why}"))));
    }
    if !private.is_empty() {
        match servers.start_private(server) {
            Ok((target, peer)) => {
                let peer: PrivatePeer = Arc::new(Mutex::new(Some(peer)));
                outcomes.extend(run_phase(client, target, Some(peer.clone()), &private));
                stop_private(&peer);
            }
            Err(why) => outcomes.extend(fail_all(&private, &format!("private server: {why}"))),
        }
    }
    outcomes
}

fn fail_all(cases: &[&'static Case], why: &str) -> Vec<CaseOutcome> {
    cases
        .iter()
        .map(|c| CaseOutcome {
            case: c.name.to_owned(),
            verdict: Verdict::Failed(why.to_owned()),
        })
        .collect()
}

/// Stops a private server, even one a hung case still holds (after a few seconds).
fn stop_private(peer: &PrivatePeer) {
    let t = Instant::now();
    loop {
        match peer.try_lock() {
            Ok(mut p) => {
                *p = None;
                return;
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                *p.into_inner() = None;
                return;
            }
            Err(std::sync::TryLockError::WouldBlock) if t.elapsed() > Duration::from_secs(40) => {
                return;
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// What the driving thread reports to the watchdog.
#[derive(Default)]
struct Progress {
    /// The case running now (index) and since when.
    current: Option<(usize, Instant)>,
    outcomes: Vec<CaseOutcome>,
}

/// Runs `cases` in order on a new thread driven by `client`, watching each against
/// [`CASE_LIMIT`]. Private phases restart and resume the server before each case.
fn run_phase(
    client: OurClient,
    target: Target,
    private: Option<PrivatePeer>,
    cases: &[&'static Case],
) -> Vec<CaseOutcome> {
    let progress = Arc::new(Mutex::new(Progress::default()));
    let list: Vec<&'static Case> = cases.to_vec();
    let report = progress.clone();
    let worker = std::thread::Builder::new()
        .name(format!("cell-{}", client.slug()))
        .spawn(move || {
            client.drive(move || async move {
                let lock = || report.lock().unwrap_or_else(|p| p.into_inner());
                let is_private = private.is_some();
                let cx = Cx::new(client, target, private);
                for (i, case) in list.iter().enumerate() {
                    lock().current = Some((i, Instant::now()));
                    let mut verdict = None;
                    if is_private {
                        let ready = cx
                            .peer(|p| {
                                let _ = p.resume();
                                p.try_start_again()
                            })
                            .await;
                        if let Err(why) = ready {
                            verdict = Some(Verdict::Failed(format!("private server: {why}")));
                        }
                    }
                    let verdict = match verdict {
                        Some(v) => v,
                        None => match CatchUnwind((case.run)(&cx)).await {
                            Ok(Ok(())) => Verdict::Passed,
                            Ok(Err(why)) | Err(why) => Verdict::Failed(why),
                        },
                    };
                    let mut p = lock();
                    p.outcomes.push(CaseOutcome {
                        case: case.name.to_owned(),
                        verdict,
                    });
                    p.current = None;
                }
            })
        });
    let worker = match worker {
        Ok(w) => w,
        Err(e) => return fail_all(cases, &format!("cannot start a thread: {e}")),
    };
    let lock = || progress.lock().unwrap_or_else(|p| p.into_inner());
    let hung = loop {
        if worker.is_finished() {
            break None;
        }
        if let Some((i, since)) = lock().current {
            if since.elapsed() > CASE_LIMIT {
                break Some(i);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let driver_error = match hung {
        None => match worker.join() {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(p) => Some(client::panic_message(p.as_ref())),
        },
        // the thread is left behind; its private server is stopped by the caller
        Some(_) => None,
    };
    let mut outcomes = std::mem::take(&mut lock().outcomes);
    for case in &cases[outcomes.len()..] {
        let why = match (hung, &driver_error) {
            (Some(i), _) if cases[i].name == case.name => {
                format!("no result within {CASE_LIMIT:?} (hung)")
            }
            (Some(i), _) => format!("not run: {} hung before it", cases[i].name),
            (None, Some(e)) => format!("not run: the {client} driver failed: {e}"),
            (None, None) => "not run".to_owned(),
        };
        outcomes.push(CaseOutcome {
            case: case.name.to_owned(),
            verdict: Verdict::Failed(why),
        });
    }
    outcomes
}
