//! The `main` of a device server that runs in a green mode chosen on its command line:
//! cppTango's command line plus `--green-mode synchronous|tokio`.
//!
//! * `synchronous` (the default): [`tango::server::DeviceServer`], one request at a time
//!   per device under its monitor lock.
//! * `tokio` (alias `asyncio`): [`tango_tokio::server::AsyncDeviceServer`] on a
//!   multi-threaded tokio runtime, for Asyncio classes.
//! * `coroutine` (alias `gevent`): [`tango_coroutine::server::CoDeviceServer`] on may
//!   coroutines, a coroutine per request and no monitor lock. The binary is asked for its
//!   `Synchronous` classes, which are served adapted with
//!   [`tango_core::device::co_from_sync`] (a class that is already a Coroutine class is
//!   served as it is), so every binary of this runner gets the mode for free.
//! * `smol`, `async-std`: the same Asyncio classes as `tokio` (the `classes` callback is
//!   asked for [`ServerGreenMode::Tokio`]'s; [`AsyncioExecutor`] tells the executors apart)
//!   served by [`tango_smol::server::AsyncDeviceServer`] on smol's executor, or by
//!   [`tango_async_std::server::AsyncDeviceServer`] on async-std's.
//!
//! Both stop on the admin device's `Kill` and on SIGINT/SIGTERM, and exit with 0.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tango::server::{ArgsError, DeviceServer, ServerArgs};
use tango_core::device::{co_from_sync, DeviceClass};
use tango_coroutine::server::CoDeviceServer;
use tango_tokio::server::{AsyncDeviceServer, ServerOptions};

/// The option naming the green mode.
pub const GREEN_MODE_OPTION: &str = "--green-mode";

/// The server green modes a binary can run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerGreenMode {
    /// Blocking device code under the monitor lock.
    Synchronous,
    /// Asyncio device code on tokio.
    Tokio,
}

impl fmt::Display for ServerGreenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerGreenMode::Synchronous => "synchronous",
            ServerGreenMode::Tokio => "tokio",
        })
    }
}

impl ServerGreenMode {
    /// Parses a `--green-mode` value (case-insensitive).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "synchronous" | "sync" => Ok(ServerGreenMode::Synchronous),
            "tokio" | "asyncio" => Ok(ServerGreenMode::Tokio),
            m @ ("coroutine" | "gevent") => Err(format!(
                "green mode {m:?} has no ServerGreenMode value: it serves the Synchronous \
                 classes (see is_coroutine)"
            )),
            // Asyncio classes too, on another executor: see `AsyncioExecutor`.
            "smol" | "async-std" | "async_std" => Ok(ServerGreenMode::Tokio),
            m @ "futures" => Err(format!(
                "green mode {m:?} is not supported yet by the device server \
                 (supported: synchronous, tokio, smol, async-std, coroutine)"
            )),
            m => Err(format!(
                "unknown green mode {m:?} (supported: synchronous, tokio, smol, async-std, coroutine)"
            )),
        }
    }

    /// The mode `--green-mode` asked for (the last one given), synchronous by default.
    pub fn of(args: &ServerArgs) -> Result<Self, String> {
        match args
            .extra
            .iter()
            .rev()
            .find(|(k, _)| k == GREEN_MODE_OPTION)
        {
            Some((_, Some(v))) => Self::parse(v),
            Some((k, None)) => Err(format!("{k} needs a value")),
            None => Ok(ServerGreenMode::Synchronous),
        }
    }

    /// True if `--green-mode` (the last one given) asks for the Coroutine server
    /// (`coroutine` or `gevent`, case-insensitive).
    pub fn is_coroutine(args: &ServerArgs) -> bool {
        matches!(
            extra_value(args, GREEN_MODE_OPTION)
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("coroutine" | "gevent")
        )
    }
}

/// The executor of an Asyncio server ([`ServerGreenMode::Tokio`]): `--green-mode smol` and
/// `--green-mode async-std` serve the same Asyncio classes as `tokio`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncioExecutor {
    /// A multi-threaded tokio runtime (`tokio`, `asyncio`).
    Tokio,
    /// smol's global executor (`smol`).
    Smol,
    /// async-std's executor (`async-std`).
    AsyncStd,
}

impl AsyncioExecutor {
    /// The executor `--green-mode` (the last one given) asked for: tokio unless smol or
    /// async-std.
    pub fn of(args: &ServerArgs) -> Self {
        match extra_value(args, GREEN_MODE_OPTION)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("smol") => AsyncioExecutor::Smol,
            Some("async-std" | "async_std") => AsyncioExecutor::AsyncStd,
            _ => AsyncioExecutor::Tokio,
        }
    }
}

/// The value of an extra option (the last one given), if any.
pub fn extra_value<'a>(args: &'a ServerArgs, option: &str) -> Option<&'a str> {
    args.extra
        .iter()
        .rev()
        .find(|(k, _)| k == option)
        .and_then(|(_, v)| v.as_deref())
}

/// Runs the server `exec` from `std::env::args()`: parses cppTango's command line with
/// `--green-mode` and the options `extra_options` (each taking a value, found in
/// [`ServerArgs::extra`]), asks `classes` for the device classes of the chosen mode, and
/// serves until `Kill` or SIGINT/SIGTERM. Returns the exit code: 0 after a clean stop, 1
/// if the server could not start, 2 for a bad command line or an unsupported green mode.
pub fn run_from_args(
    exec: &str,
    extra_options: &[&str],
    classes: impl FnOnce(ServerGreenMode, &ServerArgs) -> Result<Vec<DeviceClass>, String>,
) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(exec, &args, extra_options, classes)
}

/// [`run_from_args`] on the given arguments (those after the executable name).
pub fn run(
    exec: &str,
    args: &[String],
    extra_options: &[&str],
    classes: impl FnOnce(ServerGreenMode, &ServerArgs) -> Result<Vec<DeviceClass>, String>,
) -> i32 {
    let mut known = vec![GREEN_MODE_OPTION];
    known.extend_from_slice(extra_options);
    let parsed = match ServerArgs::parse(exec, args, &known) {
        Ok(a) => a,
        Err(ArgsError::Help(u)) => {
            println!("{u}");
            return 0;
        }
        Err(ArgsError::Invalid(m)) => {
            eprintln!("{m}");
            return 2;
        }
    };
    let coroutine = ServerGreenMode::is_coroutine(&parsed);
    let mode = match ServerGreenMode::of(&parsed) {
        Ok(m) => m,
        Err(_) if coroutine => ServerGreenMode::Synchronous,
        Err(m) => {
            eprintln!("{exec}: {m}");
            return 2;
        }
    };
    let classes = match classes(mode, &parsed) {
        Ok(c) => c,
        Err(m) => {
            eprintln!("{exec}: {m}");
            return 2;
        }
    };
    let result = match mode {
        _ if coroutine => run_coroutine(exec, classes, &parsed),
        ServerGreenMode::Synchronous => run_synchronous(exec, classes, &parsed),
        ServerGreenMode::Tokio => match AsyncioExecutor::of(&parsed) {
            AsyncioExecutor::Tokio => run_tokio(exec, classes, &parsed),
            AsyncioExecutor::Smol => run_smol(exec, classes, &parsed),
            AsyncioExecutor::AsyncStd => run_async_std(exec, classes, &parsed),
        },
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{}: {e}", parsed.instance);
            1
        }
    }
}

fn run_synchronous(
    exec: &str,
    classes: Vec<DeviceClass>,
    args: &ServerArgs,
) -> std::io::Result<()> {
    let server = classes
        .into_iter()
        .fold(DeviceServer::new(exec), DeviceServer::class)
        .start(args)?;
    server.stop_on_signals();
    server.wait();
    Ok(())
}

/// Until the admin device's Kill or SIGINT/SIGTERM.
fn wait_for_stop(exec: &str, is_stopping: impl Fn() -> bool) {
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, signalled.clone()) {
            eprintln!("{exec}: cannot handle signal {sig}: {e}");
        }
    }
    while !signalled.load(Ordering::SeqCst) && !is_stopping() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_coroutine(exec: &str, classes: Vec<DeviceClass>, args: &ServerArgs) -> std::io::Result<()> {
    let opts = tango_coroutine::server::ServerOptions {
        instance: args.instance.clone(),
        devices: args.devices.clone(),
        host: args.host.clone(),
        port: args.port,
        verbosity: args.verbosity,
    };
    let server = classes
        .iter()
        .map(co_from_sync)
        .fold(CoDeviceServer::new(exec), CoDeviceServer::class)
        .start(&opts)?;
    // The main thread watches for a stop; the server runs on may's worker threads.
    wait_for_stop(exec, || server.is_stopping());
    server.shutdown();
    Ok(())
}

fn run_tokio(exec: &str, classes: Vec<DeviceClass>, args: &ServerArgs) -> std::io::Result<()> {
    let opts = ServerOptions {
        instance: args.instance.clone(),
        devices: args.devices.clone(),
        host: args.host.clone(),
        port: args.port,
        verbosity: args.verbosity,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let server = classes
            .into_iter()
            .fold(AsyncDeviceServer::new(exec), AsyncDeviceServer::class)
            .start(&opts)
            .await?;
        let signalled = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            if let Err(e) = signal_hook::flag::register(sig, signalled.clone()) {
                eprintln!("{exec}: cannot handle signal {sig}: {e}");
            }
        }
        // Until the admin device's Kill or a signal.
        while !signalled.load(Ordering::SeqCst) && !server.is_stopping() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.shutdown().await;
        Ok(())
    });
    // The devices are deleted: do not wait long for blocking work device code left behind.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

fn async_io_options(args: &ServerArgs) -> tango_smol::server::ServerOptions {
    tango_smol::server::ServerOptions {
        instance: args.instance.clone(),
        devices: args.devices.clone(),
        host: args.host.clone(),
        port: args.port,
        verbosity: args.verbosity,
    }
}

/// Serves on the async-io server with tasks spawned by `R` until Kill or SIGINT/SIGTERM.
async fn serve_async_io<R: tango_client::AsyncRuntime>(
    exec: &str,
    classes: Vec<DeviceClass>,
    opts: tango_smol::server::ServerOptions,
) -> std::io::Result<()> {
    use tango_smol::server::AsyncDeviceServerOn;
    let server = classes
        .into_iter()
        .fold(
            AsyncDeviceServerOn::<R>::new(exec),
            AsyncDeviceServerOn::class,
        )
        .start(&opts)
        .await?;
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, signalled.clone()) {
            eprintln!("{exec}: cannot handle signal {sig}: {e}");
        }
    }
    // Until the admin device's Kill or a signal.
    while !signalled.load(Ordering::SeqCst) && !server.is_stopping() {
        tango_smol::io::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
    Ok(())
}

fn run_smol(exec: &str, classes: Vec<DeviceClass>, args: &ServerArgs) -> std::io::Result<()> {
    // One executor thread, like an asyncio event loop (and PyTango's Asyncio server): with
    // more, smol's executor hands every woken connection task from the thread that polls
    // the reactor to another one (two or three context switches a request instead of one).
    // Asyncio device code must not block; `SMOL_THREADS` overrides.
    if std::env::var_os("SMOL_THREADS").is_none() {
        std::env::set_var("SMOL_THREADS", "1");
    }
    smol::block_on(serve_async_io::<tango_smol::Smol>(
        exec,
        classes,
        async_io_options(args),
    ))
}

fn run_async_std(exec: &str, classes: Vec<DeviceClass>, args: &ServerArgs) -> std::io::Result<()> {
    // One executor thread, as for smol above (async-std's executor is the same one);
    // `ASYNC_STD_THREAD_COUNT` overrides.
    if std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
        std::env::set_var("ASYNC_STD_THREAD_COUNT", "1");
    }
    async_std::task::block_on(serve_async_io::<tango_async_std::AsyncStd>(
        exec,
        classes,
        async_io_options(args),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn mode_of(s: &str) -> Result<ServerGreenMode, String> {
        let a =
            ServerArgs::parse("X", &args(s), &[GREEN_MODE_OPTION]).map_err(|e| e.to_string())?;
        ServerGreenMode::of(&a)
    }

    #[test]
    fn green_mode_anywhere_after_the_instance() {
        assert_eq!(
            mode_of("t -nodb -dlist a/b/c").unwrap(),
            ServerGreenMode::Synchronous
        );
        assert_eq!(
            mode_of("t --green-mode tokio -nodb -dlist a/b/c").unwrap(),
            ServerGreenMode::Tokio
        );
        assert_eq!(
            mode_of("t -nodb -dlist a/b/c --green-mode=Synchronous").unwrap(),
            ServerGreenMode::Synchronous
        );
        let e = mode_of("t -nodb -dlist a/b/c --green-mode futures").unwrap_err();
        assert!(e.contains("not supported yet"), "{e}");
        // smol and async-std serve the Asyncio classes on their executors
        for (m, x) in [
            ("tokio", AsyncioExecutor::Tokio),
            ("smol", AsyncioExecutor::Smol),
            ("async-std", AsyncioExecutor::AsyncStd),
            ("Async_Std", AsyncioExecutor::AsyncStd),
        ] {
            let line = args(&format!("t -nodb -dlist a/b/c --green-mode {m}"));
            let a = ServerArgs::parse("X", &line, &[GREEN_MODE_OPTION]).unwrap();
            assert_eq!(ServerGreenMode::of(&a).unwrap(), ServerGreenMode::Tokio);
            assert_eq!(AsyncioExecutor::of(&a), x);
        }
        for m in ["coroutine", "Gevent"] {
            let a = ServerArgs::parse(
                "X",
                &args(&format!("t -nodb -dlist a/b/c --green-mode {m}")),
                &[GREEN_MODE_OPTION],
            )
            .unwrap();
            assert!(ServerGreenMode::is_coroutine(&a), "{m}");
        }
        assert!(mode_of("t -nodb -dlist a/b/c --green-mode nope")
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn unsupported_modes_exit_with_2_before_starting() {
        let code = run(
            "X",
            &args("t -nodb -dlist a/b/c --green-mode futures"),
            &[],
            |_, _| panic!("no classes for an unsupported mode"),
        );
        assert_eq!(code, 2);
        let code = run("X", &args("t -nodb"), &[], |_, _| panic!("bad line"));
        assert_eq!(code, 2);
    }
}
