//! The conformance matrix as ordinary tests: one trial per (client, server) cell, named
//! `client_<client>__server_<server>` (e.g. `client_tokio__server_cpp_tangotest`), so that
//! `cargo test -p tango-conformance --test matrix -- <filter>` filters, lists and reports
//! like libtest. A failing cell's message lists each failed case with its error.
//!
//! Cells of our clients against our servers need nothing installed and always run. Cells
//! with the C++ TangoTest, the PyTango peer or PyTango's client need the peers: they run
//! with `TANGO_INTEROP=1` (scripts/test) and are ignored otherwise.
//!
//! The servers (one shared server per column, started on first use) are stopped when the
//! trials are done; the test binary is our `TangoTest`'s sibling, so our servers are
//! `CARGO_BIN_EXE_TangoTest`. PyTango's client runs its full suite (154 cases) here too:
//! it takes about two seconds a cell.

use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use tango_conformance::matrix::server::RustServerProgram;
use tango_conformance::matrix::{
    cell_name, needs_peers, report, run_cell, Client, RunOptions, Server, Servers,
};

fn main() {
    let mut args = Arguments::from_args();
    let interop = tango_testkit::require_interop();
    let servers = Arc::new(Servers::new(RustServerProgram {
        program: env!("CARGO_BIN_EXE_TangoTest").into(),
        leading_args: Vec::new(),
    }));
    // Cells wait on servers far more than they compute: run more of them at once than
    // there are cores (cells of one server still run one at a time).
    if args.test_threads.is_none() {
        args.test_threads = Some(4);
    }
    // Column by column within each row, so that the threads start on different servers.
    let mut trials = Vec::new();
    for client in Client::all() {
        for server in Server::ALL {
            let servers = servers.clone();
            let ignored = needs_peers(client, server) && !interop;
            let trial = Trial::test(cell_name(client, server), move || {
                let cell = run_cell(client, server, &servers, &RunOptions::default());
                if cell.failed() == 0 {
                    return Ok(());
                }
                Err(Failed::from(format!(
                    "{client} client against the {server} server: {}\n{}",
                    report::cell_text(Some(&cell)),
                    cell.failure_report()
                )))
            });
            trials.push(trial.with_ignored_flag(ignored));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    servers.shutdown();
    conclusion.exit();
}
