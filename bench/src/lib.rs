//! The throughput harness of tango-rs: every client mode of ours, PyTango's four client
//! green modes and rstango, against each TangoTest server (Debian's C++ one, the PyTango
//! peer, ours in every server green mode), one server at a time, with a bare-socket floor
//! that sends the same request bytes.
//!
//! The binary is `throughput` (`cargo run -p tango-bench --release --bin throughput`, or
//! the same as `bench` of `tango-conformance`); [`harness::main`] is all it does. The
//! parts:
//!
//! * [`servers`]: the server processes (started on a free loopback port, killed on drop);
//! * [`ours`], [`python`], [`rstango_client`], [`floor`]: the clients, each a [`Runner`];
//! * [`stats`]: samples and their ops/s and latency percentiles;
//! * [`report`]: the tables, the CSV and the SVG chart;
//! * [`harness`]: the command line and the measurement loop (interleaved turns).

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod floor;
pub mod harness;
pub mod ours;
pub mod python;
pub mod report;
pub mod rstango_client;
pub mod servers;
pub mod stats;

pub use stats::{Sample, Stats};

/// Errors are reported as text: every failure ends up in a table cell or on stderr.
pub type Res<T> = Result<T, String>;

/// Turns any displayable error into the harness's error text.
pub fn es(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The device every server exports.
pub const DEVICE: &str = "sys/tg_test/1";
/// The scalar attribute read by [`Op::ReadScalar`].
pub const SCALAR_ATTR: &str = "double_scalar";
/// The command run by [`Op::Command`] (argument [`COMMAND_ARG`], echoed back).
pub const COMMAND: &str = "DevDouble";
/// The argument of [`COMMAND`].
pub const COMMAND_ARG: f64 = 1.5;
/// The spectrum attribute read by [`Op::ReadSpectrum`]: a writable double spectrum
/// (max 4096 points) into which [`SPECTRUM_POINTS`] values are written before measuring.
pub const SPECTRUM_ATTR: &str = "double_spectrum";
/// Points written into [`SPECTRUM_ATTR`].
pub const SPECTRUM_POINTS: usize = 4096;

/// One measured operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `read_attribute("double_scalar")`.
    ReadScalar,
    /// `command_inout("DevDouble", 1.5)`.
    Command,
    /// `read_attribute("double_spectrum")` holding 4096 written points.
    ReadSpectrum,
}

impl Op {
    /// Every operation, in table order.
    pub const ALL: [Op; 3] = [Op::ReadScalar, Op::Command, Op::ReadSpectrum];

    /// The short name used on the command line and in the CSV.
    pub fn key(self) -> &'static str {
        match self {
            Op::ReadScalar => "scalar",
            Op::Command => "command",
            Op::ReadSpectrum => "spectrum",
        }
    }

    /// What the call is, for tables and the chart.
    pub fn label(self) -> &'static str {
        match self {
            Op::ReadScalar => "read_attribute(\"double_scalar\")",
            Op::Command => "command_inout(\"DevDouble\", 1.5)",
            Op::ReadSpectrum => "read_attribute(\"double_spectrum\"), 4096 points written",
        }
    }

    /// Parses [`Op::key`].
    pub fn parse(s: &str) -> Res<Op> {
        Op::ALL
            .into_iter()
            .find(|o| o.key() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown op {s:?} (one of {})",
                    Op::ALL.map(Op::key).join(", ")
                )
            })
    }
}

/// One client: a mode of ours, of PyTango, rstango, or the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKind {
    /// `tango::DeviceProxy` (blocking); at depth 64, 64 threads share the one proxy.
    OursSync,
    /// `tango::green::DeviceProxy` in `GreenMode::Futures`: submitted calls.
    OursFutures,
    /// `tango_coroutine::DeviceProxy` from may coroutines.
    OursCoroutine,
    /// `tango_tokio::DeviceProxy`, futures on a `current_thread` runtime.
    OursTokio,
    /// `tango_async_std::DeviceProxy`.
    OursAsyncStd,
    /// `tango_smol::DeviceProxy`.
    OursSmol,
    /// PyTango's `tango.DeviceProxy`; at depth 64, 64 Python threads share it.
    PySync,
    /// PyTango's `tango.futures.DeviceProxy` with `wait=False`.
    PyFutures,
    /// PyTango's `tango.gevent.DeviceProxy` from greenlets.
    PyGevent,
    /// PyTango's `tango.asyncio.DeviceProxy` from asyncio tasks.
    PyAsyncio,
    /// rstango 0.3's `DevProxy` (blocking calls; `*_async` futures at depth 64).
    Rstango,
    /// The same request bytes on a bare TCP connection (no client library).
    Floor,
}

impl ClientKind {
    /// Every client, in table order.
    pub const ALL: [ClientKind; 12] = [
        ClientKind::OursSync,
        ClientKind::OursFutures,
        ClientKind::OursCoroutine,
        ClientKind::OursTokio,
        ClientKind::OursAsyncStd,
        ClientKind::OursSmol,
        ClientKind::PySync,
        ClientKind::PyFutures,
        ClientKind::PyGevent,
        ClientKind::PyAsyncio,
        ClientKind::Rstango,
        ClientKind::Floor,
    ];

    /// The command-line and CSV name.
    pub fn key(self) -> &'static str {
        match self {
            ClientKind::OursSync => "sync",
            ClientKind::OursFutures => "futures",
            ClientKind::OursCoroutine => "coroutine",
            ClientKind::OursTokio => "tokio",
            ClientKind::OursAsyncStd => "async-std",
            ClientKind::OursSmol => "smol",
            ClientKind::PySync => "py-sync",
            ClientKind::PyFutures => "py-futures",
            ClientKind::PyGevent => "py-gevent",
            ClientKind::PyAsyncio => "py-asyncio",
            ClientKind::Rstango => "rstango",
            ClientKind::Floor => "floor",
        }
    }

    /// The name shown in tables and the chart.
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::OursSync => "ours Synchronous",
            ClientKind::OursFutures => "ours Futures",
            ClientKind::OursCoroutine => "ours Coroutine",
            ClientKind::OursTokio => "ours tokio",
            ClientKind::OursAsyncStd => "ours async-std",
            ClientKind::OursSmol => "ours smol",
            ClientKind::PySync => "PyTango Synchronous",
            ClientKind::PyFutures => "PyTango Futures",
            ClientKind::PyGevent => "PyTango Gevent",
            ClientKind::PyAsyncio => "PyTango Asyncio",
            ClientKind::Rstango => "rstango 0.3",
            ClientKind::Floor => "floor: bare socket",
        }
    }

    /// How the client keeps more than one call in flight.
    pub fn how_concurrent(self) -> &'static str {
        match self {
            ClientKind::OursSync => "N threads share one proxy (pipelined on its connection)",
            ClientKind::OursFutures => "N submitted calls, the oldest waited for and replaced",
            ClientKind::OursCoroutine => "N may coroutines (2 may workers) share one proxy",
            ClientKind::OursTokio => "N futures in a FuturesUnordered, current_thread runtime",
            ClientKind::OursAsyncStd => "N futures in a FuturesUnordered, task::block_on",
            ClientKind::OursSmol => "N futures in a FuturesUnordered, smol::block_on",
            ClientKind::PySync => "N Python threads share one proxy",
            ClientKind::PyFutures => "N calls with wait=False, the oldest .result() first",
            ClientKind::PyGevent => "N greenlets share one proxy",
            ClientKind::PyAsyncio => "N tasks of one asyncio loop share one proxy",
            ClientKind::Rstango => "N read_attr_async/command_async futures in a FuturesUnordered",
            ClientKind::Floor => "N requests pipelined on one bare TCP connection",
        }
    }

    /// One of our client modes.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            ClientKind::OursSync
                | ClientKind::OursFutures
                | ClientKind::OursCoroutine
                | ClientKind::OursTokio
                | ClientKind::OursAsyncStd
                | ClientKind::OursSmol
        )
    }

    /// One of PyTango's client green modes.
    pub fn is_pytango(self) -> bool {
        matches!(
            self,
            ClientKind::PySync
                | ClientKind::PyFutures
                | ClientKind::PyGevent
                | ClientKind::PyAsyncio
        )
    }

    /// Parses a comma-separated list of [`ClientKind::key`]s; `ours` and `pytango` name
    /// the groups.
    pub fn parse_list(s: &str) -> Res<Vec<ClientKind>> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let item = item.to_ascii_lowercase().replace('_', "-");
            let found: Vec<ClientKind> = match item.as_str() {
                "ours" | "rust" => ClientKind::ALL
                    .into_iter()
                    .filter(|c| c.is_ours())
                    .collect(),
                "pytango" | "py" => ClientKind::ALL
                    .into_iter()
                    .filter(|c| c.is_pytango())
                    .collect(),
                "synchronous" => vec![ClientKind::OursSync],
                "py-synchronous" => vec![ClientKind::PySync],
                other => ClientKind::ALL
                    .into_iter()
                    .filter(|c| c.key() == other)
                    .collect(),
            };
            if found.is_empty() {
                return Err(format!(
                    "unknown client {item:?} (one of {}, or the groups ours, pytango)",
                    ClientKind::ALL.map(ClientKind::key).join(", ")
                ));
            }
            for c in found {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        if out.is_empty() {
            return Err("--clients needs at least one client".into());
        }
        out.sort();
        Ok(out)
    }
}

/// A connected client: runs `op` with `depth` calls in flight for about `dur` (then
/// starts no new call and waits for the outstanding ones, which count too), and gives
/// every completed call's latency.
pub type Runner = Box<dyn FnMut(Op, usize, Duration) -> Res<Sample>>;

/// The repository's root (the parent of `bench/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` or `<repo>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_keys_round_trip_and_unknown_ops_are_refused() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.key()), Ok(op));
        }
        assert_eq!(Op::parse(" Spectrum "), Ok(Op::ReadSpectrum));
        let e = Op::parse("image").unwrap_err();
        assert!(e.contains("scalar, command, spectrum"), "{e}");
    }

    #[test]
    fn client_lists_parse_groups_and_keys_in_table_order() {
        for c in ClientKind::ALL {
            assert_eq!(ClientKind::parse_list(c.key()), Ok(vec![c]));
        }
        assert_eq!(
            ClientKind::parse_list("floor,py_asyncio,sync").unwrap(),
            vec![
                ClientKind::OursSync,
                ClientKind::PyAsyncio,
                ClientKind::Floor
            ]
        );
        assert_eq!(ClientKind::parse_list("ours").unwrap().len(), 6);
        assert_eq!(ClientKind::parse_list("pytango,py-sync").unwrap().len(), 4);
        assert!(ClientKind::parse_list("jtango")
            .unwrap_err()
            .contains("unknown client"));
        assert!(ClientKind::parse_list("").is_err());
    }
}
