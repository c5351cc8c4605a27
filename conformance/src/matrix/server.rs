//! The servers (columns of the matrix): our TangoTest in each server green mode, Debian's
//! C++ TangoTest 9.3.4 and the PyTango 10.3.1 TangoTest peer, each a real process on a free
//! loopback port, started with [`tango_testkit::Peer`].
//!
//! [`Servers`] owns one shared server per column, started when a cell first needs it and
//! stopped by [`Servers::shutdown`]. A cell holds its column's lock while it runs its
//! shared-server cases ([`Servers::with_shared`]): cases write attributes and change the
//! polling of the device, so the cells of one server run one at a time, while different
//! servers serve cells in parallel. Cases that stop, restart or freeze a server get a
//! private server of the same column ([`Servers::start_private`]).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tango_testkit::{Launch, Peer, PeerKind};

/// A server column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// Our TangoTest, `--green-mode synchronous` (monitor lock per device).
    RustSynchronous,
    /// Our TangoTest, `--green-mode coroutine` (may).
    RustCoroutine,
    /// Our TangoTest, `--green-mode tokio`.
    RustTokio,
    /// Our TangoTest, `--green-mode async-std`.
    RustAsyncStd,
    /// Our TangoTest, `--green-mode smol`.
    RustSmol,
    /// Debian's C++ TangoTest 9.3.4 (cppTango 9.3.4, IDL 5).
    CppTangoTest,
    /// `peers/py_tangotest.py` on PyTango 10.3.1 (cppTango 10, IDL 6).
    PyTangoTest,
}

/// Which implementation a server is: what expectations (IDL version, server name, quirks)
/// and not-applicable entries depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Our TangoTest, whatever its green mode.
    Rust,
    /// Debian's C++ TangoTest 9.3.4.
    Cpp,
    /// The PyTango TangoTest peer.
    PyTango,
}

impl Family {
    /// The server executable name Tango sees (the admin device is `dserver/<it>/test`).
    pub fn server_name(self) -> &'static str {
        match self {
            Family::Rust | Family::Cpp => "TangoTest",
            Family::PyTango => "py_tangotest",
        }
    }

    /// The IDL version the server implements.
    pub fn idl_version(self) -> u32 {
        match self {
            Family::Cpp => 5,
            Family::Rust | Family::PyTango => 6,
        }
    }

    /// The `--server` value of `peers/pytango_client_suite.py`.
    pub fn pytango_suite_name(self) -> &'static str {
        match self {
            Family::Rust => "rust",
            Family::Cpp => "cpp",
            Family::PyTango => "pytango",
        }
    }
}

impl Server {
    /// Every column, in the matrix's order.
    pub const ALL: [Server; 7] = [
        Server::RustSynchronous,
        Server::RustCoroutine,
        Server::RustTokio,
        Server::RustAsyncStd,
        Server::RustSmol,
        Server::CppTangoTest,
        Server::PyTangoTest,
    ];

    /// Our server columns.
    pub const OURS: [Server; 5] = [
        Server::RustSynchronous,
        Server::RustCoroutine,
        Server::RustTokio,
        Server::RustAsyncStd,
        Server::RustSmol,
    ];

    /// Name in test names and reports (`rust_tokio`, `cpp_tangotest`...).
    pub fn slug(self) -> &'static str {
        match self {
            Server::RustSynchronous => "rust_synchronous",
            Server::RustCoroutine => "rust_coroutine",
            Server::RustTokio => "rust_tokio",
            Server::RustAsyncStd => "rust_async_std",
            Server::RustSmol => "rust_smol",
            Server::CppTangoTest => "cpp_tangotest",
            Server::PyTangoTest => "pytango_tangotest",
        }
    }

    /// The implementation.
    pub fn family(self) -> Family {
        match self {
            Server::CppTangoTest => Family::Cpp,
            Server::PyTangoTest => Family::PyTango,
            _ => Family::Rust,
        }
    }

    /// Our server's `--green-mode` value; `None` for the peers.
    pub fn green_mode(self) -> Option<&'static str> {
        match self {
            Server::RustSynchronous => Some("synchronous"),
            Server::RustCoroutine => Some("coroutine"),
            Server::RustTokio => Some("tokio"),
            Server::RustAsyncStd => Some("async-std"),
            Server::RustSmol => Some("smol"),
            Server::CppTangoTest | Server::PyTangoTest => None,
        }
    }

    /// True if the server is an installed peer (C++ TangoTest, the PyTango venv): such
    /// cells run only when interop is asked for (`TANGO_INTEROP=1`).
    pub fn is_peer(self) -> bool {
        self.family() != Family::Rust
    }

    fn peer_kind(self) -> PeerKind {
        match self.family() {
            Family::Rust => PeerKind::RustTangoTest,
            Family::Cpp => PeerKind::CppTangoTest,
            Family::PyTango => PeerKind::PyTangoTest,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Server::RustSynchronous => "ours Synchronous",
            Server::RustCoroutine => "ours Coroutine",
            Server::RustTokio => "ours tokio",
            Server::RustAsyncStd => "ours async-std",
            Server::RustSmol => "ours smol",
            Server::CppTangoTest => "C++ TangoTest 9.3.4",
            Server::PyTangoTest => "PyTango 10.3.1 TangoTest",
        })
    }
}

/// A running server a case talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The column.
    pub server: Server,
    /// Its loopback port.
    pub port: u16,
    /// `tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`.
    pub device: String,
}

impl Target {
    fn of(server: Server, peer: &Peer) -> Target {
        Target {
            server,
            port: peer.port(),
            device: peer.device_name(),
        }
    }
}

/// How to start our TangoTest: which program, with which leading arguments (the green mode
/// is added per column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustServerProgram {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before cppTango's command line (e.g. the hidden option of the
    /// `conformance` binary that makes it serve TangoTest).
    pub leading_args: Vec<String>,
}

/// A column's shared server: started on first use, restarted if a cell left it dead.
#[derive(Default)]
struct Column {
    peer: Option<Peer>,
    restarts: u32,
}

/// The servers of a matrix run: one shared server per column, and private ones on demand.
pub struct Servers {
    rust: RustServerProgram,
    columns: Mutex<HashMap<Server, Arc<Mutex<Column>>>>,
}

impl Servers {
    /// The servers of a run whose TangoTest is `rust`.
    pub fn new(rust: RustServerProgram) -> Servers {
        Servers {
            rust,
            columns: Mutex::new(HashMap::new()),
        }
    }

    fn launch(&self, server: Server) -> Launch {
        match server.green_mode() {
            Some(mode) => Launch::program(&self.rust.program)
                .with_leading_args(self.rust.leading_args.iter().cloned())
                .with_extra_args(["--green-mode", mode]),
            None => Launch::default(),
        }
    }

    fn column(&self, server: Server) -> Arc<Mutex<Column>> {
        let mut columns = self.columns.lock().unwrap_or_else(|p| p.into_inner());
        columns.entry(server).or_default().clone()
    }

    /// Runs `f` with the column's shared server, holding the column's lock: no other cell
    /// uses that server meanwhile. The server is started if it is not running (the first
    /// time, or after a cell crashed it; the restart is logged to stderr).
    pub fn with_shared<T>(&self, server: Server, f: impl FnOnce(Target) -> T) -> Result<T, String> {
        let column = self.column(server);
        let mut col = column.lock().unwrap_or_else(|p| p.into_inner());
        let running = col.peer.as_mut().is_some_and(Peer::is_running);
        if !running {
            if col.peer.is_some() {
                col.restarts += 1;
                eprintln!(
                    "conformance: the shared {server} server had died; starting it again \
                     (restart {})",
                    col.restarts
                );
            }
            col.peer = None;
            col.peer = Some(Peer::try_start_with(
                server.peer_kind(),
                self.launch(server),
            )?);
        }
        let target = match col.peer.as_ref() {
            Some(peer) => Target::of(server, peer),
            None => return Err(format!("the shared {server} server is not running")),
        };
        Ok(f(target))
    }

    /// A new private server of the column, for cases that stop, restart or freeze it.
    pub fn start_private(&self, server: Server) -> Result<(Target, Peer), String> {
        let peer = Peer::try_start_with(server.peer_kind(), self.launch(server))?;
        Ok((Target::of(server, &peer), peer))
    }

    /// Stops every shared server.
    pub fn shutdown(&self) {
        let columns: Vec<_> = self
            .columns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for (_, column) in columns {
            let mut col = column.lock().unwrap_or_else(|p| p.into_inner());
            col.peer = None;
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.shutdown();
    }
}
