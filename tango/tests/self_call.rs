//! A Synchronous device calling itself must not deadlock: device code that calls its own
//! device through a client proxy (directly, through another device of the server, or
//! through another server: A → B → A) gets a clear `API_CommandTimedOut` at once,
//! instead of waiting for its own monitor lock until the client times out; calling other
//! devices works; a request that waits for a busy device's lock longer than the monitor
//! timeout fails as in cppTango; and the server serves other clients throughout. With
//! `TANGO_INTEROP=1`, the C++ TangoTest answers a request carrying our call-chain
//! service context normally.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tango::green::{self, GreenMode};
use tango::server::{DeviceServer, RunningServer, ServerArgs, MONITOR_TIMEOUT_REASON};
use tango::{DevState, DeviceProxy};
use tango_client::call_chain::{with_call_chain, CallChain, Link};
use tango_core::device::{Attr, ClassBuilder, Cmd, DeviceClass};
use tango_core::idl::DevFailed;

/// The clients' timeout, in the test and in device code.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// A refused self-call must come well before the client timeout.
const AT_ONCE: Duration = Duration::from_secs(1);

struct Looper {
    value: f64,
}

fn proxy(name: &str) -> Result<DeviceProxy, DevFailed> {
    DeviceProxy::with_timeout(name, CLIENT_TIMEOUT).map_err(|e| e.to_dev_failed())
}

fn read_value(name: &str) -> Result<f64, DevFailed> {
    let dev = proxy(name)?;
    dev.read_attribute("value")
        .and_then(|a| a.get::<f64>())
        .map_err(|e| e.to_dev_failed())
}

fn green_read_value(name: &str, mode: GreenMode) -> Result<f64, DevFailed> {
    let dev = green::DeviceProxy::new_with_mode(name, mode)
        .wait()
        .map_err(|e| e.to_dev_failed())?;
    dev.read_attribute("value")
        .timeout(CLIENT_TIMEOUT)
        .wait()
        .and_then(|a| a.get::<f64>())
        .map_err(|e| e.to_dev_failed())
}

/// Two string arguments: `[via, target]`.
fn pair(args: &[String]) -> Result<(&str, &str), DevFailed> {
    match args {
        [via, target] => Ok((via, target)),
        _ => Err(DevFailed::new(
            "Loop_BadArgs",
            "expected [via, target]",
            "Looper",
        )),
    }
}

fn loop_class() -> DeviceClass {
    let class = ClassBuilder::new("Looper", |ctx| Looper {
        // each device reads back something of its own
        value: if ctx.name().ends_with('a') { 1.5 } else { 2.5 },
    })
    .init(|_, ctx| {
        ctx.set_state(DevState::On);
        Ok(())
    })
    .attr(Attr::new::<f64>("value").read(|d: &mut Looper, _| Ok(d.value)))
    // reads `value` of another device (or of itself) through the Synchronous proxy
    .command(Cmd::new("ReadFrom", |_: &mut Looper, _, name: String| {
        read_value(&name)
    }))
    // the same through a green-mode proxy: Futures queues it on the shared connection
    // (submitted from this thread, its reply read by whoever waits)
    .command(Cmd::new(
        "FuturesReadFrom",
        |_: &mut Looper, _, name: String| green_read_value(&name, GreenMode::Futures),
    ))
    .command(Cmd::new(
        "GreenReadFrom",
        |_: &mut Looper, _, name: String| green_read_value(&name, GreenMode::Synchronous),
    ))
    // asks `via` to read `target`: A.AskToRead([B, A]) is the cycle A → B → A
    .command(Cmd::new(
        "AskToRead",
        |_: &mut Looper, _, args: Vec<String>| -> Result<f64, DevFailed> {
            let (via, target) = pair(&args)?;
            let out = proxy(via)?
                .command_inout("ReadFrom", target.to_owned())
                .map_err(|e| e.to_dev_failed())?;
            tango::extract::<f64>(out).map_err(|e| e.to_dev_failed())
        },
    ))
    // the device's own state and a ping: they need no lock, or the lock, respectively
    .command(Cmd::new("PingOf", |_: &mut Looper, _, name: String| {
        proxy(&name)?.ping().map_err(|e| e.to_dev_failed())?;
        Ok::<(), DevFailed>(())
    }))
    .command(Cmd::new("StateOf", |_: &mut Looper, _, name: String| {
        proxy(&name)?.state().map_err(|e| e.to_dev_failed())
    }))
    // a call made from a thread of its own: no call chain, so only the monitor timeout
    .command(Cmd::new(
        "ReadFromThread",
        |_: &mut Looper, _, name: String| {
            thread::spawn(move || read_value(&name))
                .join()
                .unwrap_or_else(|_| Err(DevFailed::new("Loop_Panic", "thread panicked", "Looper")))
        },
    ))
    // holds the device's lock for a while
    .command(Cmd::new("Hold", |_: &mut Looper, _, ms: u32| {
        thread::sleep(Duration::from_millis(ms.into()));
        Ok::<(), DevFailed>(())
    }));
    #[cfg(feature = "coroutine")]
    let class = class.command(Cmd::new(
        "CoroutineReadFrom",
        |_: &mut Looper, _, name: String| green_read_value(&name, GreenMode::Coroutine),
    ));
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    let class = class.command(Cmd::new(
        "AsyncioReadFrom",
        |_: &mut Looper, _, name: String| green_read_value(&name, GreenMode::Asyncio),
    ));
    class.build()
}

fn start(instance: &str, devices: &str, monitor_timeout: Option<Duration>) -> RunningServer {
    let args = ServerArgs::parse(
        "LoopServer",
        &[
            instance,
            "-nodb",
            "-dlist",
            devices,
            "-ORBendPoint",
            "giop:tcp:127.0.0.1:0",
        ]
        .map(String::from),
        &[],
    )
    .unwrap();
    let server = DeviceServer::new("LoopServer").class(loop_class());
    let server = match monitor_timeout {
        Some(t) => server.monitor_timeout(t),
        None => server,
    };
    server.start(&args).unwrap()
}

fn client(name: &str) -> DeviceProxy {
    DeviceProxy::with_timeout(name, CLIENT_TIMEOUT).unwrap()
}

/// Runs `f` and returns its result and how long it took.
fn timed<T>(f: impl FnOnce() -> tango::Result<T>) -> (tango::Result<T>, Duration) {
    let started = Instant::now();
    let r = f();
    (r, started.elapsed())
}

/// The error is our refused self-call: cppTango's reason, our explanation, well before
/// the client timeout (not a client timeout, not the monitor timeout).
fn assert_refused_at_once<T: std::fmt::Debug>(r: tango::Result<T>, took: Duration, what: &str) {
    let err = r.expect_err(what);
    assert!(
        err.has_reason(MONITOR_TIMEOUT_REASON),
        "{what}: expected {MONITOR_TIMEOUT_REASON}, got {err}"
    );
    let text = format!("{:?}", err.to_dev_failed());
    assert!(
        text.contains("refused at once") && text.contains("Asyncio or Coroutine"),
        "{what}: the error says why and what to do: {text}"
    );
    assert!(took < AT_ONCE, "{what}: took {took:?}");
}

#[test]
fn a_device_calling_itself_gets_a_clear_error_at_once() {
    let server = start("self", "test/loop/a,test/loop/b", None);
    let a_name = server.device_name("test/loop/a");
    let b_name = server.device_name("test/loop/b");
    let a = client(&a_name);
    let b = client(&b_name);

    // another client keeps being served throughout
    let stop = Arc::new(AtomicBool::new(false));
    let bystander = {
        let (stop, a_name, b_name) = (stop.clone(), a_name.clone(), b_name.clone());
        thread::spawn(move || {
            let (a, b) = (client(&a_name), client(&b_name));
            let mut reads = 0u32;
            while !stop.load(Ordering::SeqCst) {
                assert_eq!(
                    a.read_attribute("value").unwrap().get::<f64>().unwrap(),
                    1.5
                );
                assert_eq!(
                    b.read_attribute("value").unwrap().get::<f64>().unwrap(),
                    2.5
                );
                reads += 1;
            }
            reads
        })
    };

    // the Synchronous proxy, a green proxy in Synchronous mode, and one in Futures mode
    // (the call runs on a worker thread: the chain goes with it)
    for cmd in ["ReadFrom", "GreenReadFrom", "FuturesReadFrom"] {
        let (r, took) = timed(|| a.command_inout(cmd, a_name.clone()));
        assert_refused_at_once(r, took, cmd);
    }
    // the device's own state runs device code under the lock: refused too
    let (r, took) = timed(|| a.command_inout("StateOf", a_name.clone()));
    assert_refused_at_once(r, took, "StateOf itself");

    // what needs no device code works on itself (ping, and the proxy's own queries)
    a.command_inout("PingOf", a_name.clone()).unwrap();
    // another device of the same server works, in every client form
    for cmd in ["ReadFrom", "GreenReadFrom", "FuturesReadFrom"] {
        let got = tango::extract::<f64>(a.command_inout(cmd, b_name.clone()).unwrap()).unwrap();
        assert_eq!(got, 2.5, "{cmd} of b");
    }
    let state =
        tango::extract::<DevState>(a.command_inout("StateOf", b_name.clone()).unwrap()).unwrap();
    assert_eq!(state, DevState::On);

    // and the device still answers normally afterwards
    assert_eq!(
        a.read_attribute("value").unwrap().get::<f64>().unwrap(),
        1.5
    );
    assert_eq!(
        tango::extract::<f64>(b.command_inout("ReadFrom", a_name.clone()).unwrap()).unwrap(),
        1.5
    );
    stop.store(true, Ordering::SeqCst);
    assert!(bystander.join().unwrap() > 0);
}

/// Asyncio (when a runtime feature is on): the call's future carries the chain into the
/// async transport.
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
#[test]
fn an_asyncio_proxy_in_device_code_carries_the_chain() {
    let server = start("asyncio", "test/loop/a,test/loop/b", None);
    let a_name = server.device_name("test/loop/a");
    let b_name = server.device_name("test/loop/b");
    let a = client(&a_name);
    let (r, took) = timed(|| a.command_inout("AsyncioReadFrom", a_name.clone()));
    assert_refused_at_once(r, took, "AsyncioReadFrom itself");
    let got = a.command_inout("AsyncioReadFrom", b_name).unwrap();
    assert_eq!(tango::extract::<f64>(got).unwrap(), 2.5);
}

/// Coroutine (with the `coroutine` feature): device code calling on the server's thread
/// runs the call there, and the may transport attaches the chain too.
#[cfg(feature = "coroutine")]
#[test]
fn a_coroutine_proxy_in_device_code_carries_the_chain() {
    let server = start("coroutine", "test/loop/a,test/loop/b", None);
    let a_name = server.device_name("test/loop/a");
    let b_name = server.device_name("test/loop/b");
    let a = client(&a_name);
    let (r, took) = timed(|| a.command_inout("CoroutineReadFrom", a_name.clone()));
    assert_refused_at_once(r, took, "CoroutineReadFrom itself");
    let got = a.command_inout("CoroutineReadFrom", b_name).unwrap();
    assert_eq!(tango::extract::<f64>(got).unwrap(), 2.5);
}

#[test]
fn a_cycle_through_another_device_is_detected_at_once() {
    let server = start("cycle", "test/loop/a,test/loop/b", None);
    let a_name = server.device_name("test/loop/a");
    let b_name = server.device_name("test/loop/b");
    let a = client(&a_name);
    // a asks b to read a: a → b → a
    let (r, took) = timed(|| a.command_inout("AskToRead", vec![b_name.clone(), a_name.clone()]));
    assert_refused_at_once(r, took, "a → b → a");
    // a asks b to read b: a → b → b is b calling itself
    let (r, took) = timed(|| a.command_inout("AskToRead", vec![b_name.clone(), b_name.clone()]));
    assert_refused_at_once(r, took, "a → b → b");
    // no cycle: a → b works
    assert_eq!(
        tango::extract::<f64>(a.command_inout("ReadFrom", b_name.clone()).unwrap()).unwrap(),
        2.5
    );
}

#[test]
fn a_cycle_across_two_servers_is_detected_at_once() {
    let one = start("one", "test/loop/a,test/loop/b", None);
    let two = start("two", "test/loop/c", None);
    let a_name = one.device_name("test/loop/a");
    let b_name = one.device_name("test/loop/b");
    let c_name = two.device_name("test/loop/c");
    let a = client(&a_name);
    // a (server one) → c (server two) → a
    let (r, took) = timed(|| a.command_inout("AskToRead", vec![c_name.clone(), a_name.clone()]));
    assert_refused_at_once(r, took, "a → c → a");
    // a → c → b crosses the servers twice without a cycle: works
    assert_eq!(
        tango::extract::<f64>(
            a.command_inout("AskToRead", vec![c_name.clone(), b_name.clone()])
                .unwrap()
        )
        .unwrap(),
        2.5
    );
    // and c reading a directly works (c's server is not in a's lock)
    assert_eq!(
        tango::extract::<f64>(client(&c_name).command_inout("ReadFrom", a_name).unwrap()).unwrap(),
        1.5
    );
}

#[test]
fn waiting_longer_than_the_monitor_timeout_fails_and_the_server_goes_on() {
    let timeout = Duration::from_millis(300);
    let server = start("busy", "test/loop/a,test/loop/b", Some(timeout));
    let a_name = server.device_name("test/loop/a");
    let b_name = server.device_name("test/loop/b");
    let a = client(&a_name);
    let b = client(&b_name);

    // a holds its lock for 1.5 s
    let started = Arc::new(Barrier::new(2));
    let holder = {
        let (a_name, started) = (a_name.clone(), started.clone());
        thread::spawn(move || {
            let a = client(&a_name);
            started.wait();
            a.command_inout("Hold", 1500u32)
        })
    };
    started.wait();
    thread::sleep(Duration::from_millis(200)); // let Hold take the lock
    let hold_ends = Instant::now() + Duration::from_millis(1300);
    for what in ["read", "state"] {
        let (r, took) = timed(|| match what {
            "read" => a.read_attribute("value").map(|_| ()),
            _ => a.state().map(|_| ()),
        });
        let err = r.expect_err(what);
        assert!(
            err.has_reason(MONITOR_TIMEOUT_REASON),
            "{what}: expected {MONITOR_TIMEOUT_REASON}, got {err}"
        );
        let text = format!("{:?}", err.to_dev_failed());
        assert!(text.contains("monitor timeout (300 ms)"), "{text}");
        assert!(took >= timeout, "{what}: gave up after {took:?}");
        assert!(
            Instant::now() < hold_ends,
            "{what}: the error came from the monitor timeout, before Hold ended"
        );
        // the other device is served meanwhile
        assert_eq!(
            b.read_attribute("value").unwrap().get::<f64>().unwrap(),
            2.5
        );
    }
    holder.join().unwrap().unwrap();
    // once free, a is served again
    assert_eq!(
        a.read_attribute("value").unwrap().get::<f64>().unwrap(),
        1.5
    );
    assert_eq!(a.state().unwrap(), DevState::On);
}

#[test]
fn a_self_call_without_the_chain_gets_the_monitor_timeout() {
    let timeout = Duration::from_millis(300);
    let server = start("thread", "test/loop/a", Some(timeout));
    let a_name = server.device_name("test/loop/a");
    let a = client(&a_name);
    // from a thread the device code starts, the call carries no chain: it waits for the
    // lock its own device holds, until the monitor timeout (then the command ends)
    let (r, took) = timed(|| a.command_inout("ReadFromThread", a_name.clone()));
    let err = r.expect_err("self-call from a thread");
    assert!(err.has_reason(MONITOR_TIMEOUT_REASON), "{err}");
    let text = format!("{:?}", err.to_dev_failed());
    assert!(text.contains("monitor timeout"), "{text}");
    assert!(took >= timeout && took < CLIENT_TIMEOUT, "{took:?}");
    assert_eq!(
        a.read_attribute("value").unwrap().get::<f64>().unwrap(),
        1.5
    );
}

#[test]
fn a_chain_naming_another_activation_waits_normally() {
    // a request whose chain names this server's device but not the code holding its lock
    // now (a stale or foreign link) is served as usual
    let server = start("stale", "test/loop/a", None);
    let a = client(&server.device_name("test/loop/a"));
    let mut chain = CallChain::new();
    chain.push(Link {
        server: 1,
        activation: 1,
        device: 1,
    });
    let value = with_call_chain(chain, || a.read_attribute("value"))
        .unwrap()
        .get::<f64>()
        .unwrap();
    assert_eq!(value, 1.5);
}

#[test]
fn the_cpp_tangotest_answers_a_request_carrying_a_call_chain() {
    if !tango_testkit::require_interop() {
        return;
    }
    let dev = DeviceProxy::new(&tango_testkit::cpp_tangotest_device()).unwrap();
    let mut chain = CallChain::new();
    for i in 0..3 {
        chain.push(Link {
            server: 0x0123_4567_89ab_cdef,
            activation: 10 + i,
            device: i as u32,
        });
    }
    with_call_chain(chain, || {
        assert_eq!(dev.state().unwrap(), DevState::Running);
        let echo = dev.command_inout("DevString", "with a call chain").unwrap();
        assert_eq!(tango::extract::<String>(echo).unwrap(), "with a call chain");
        dev.write_attribute("double_scalar", 4.25).unwrap();
        let read = dev.read_attribute("double_scalar").unwrap();
        assert_eq!(read.get_w::<f64>().unwrap(), 4.25);
    });
    // and without it, the same connection goes on
    assert_eq!(dev.state().unwrap(), DevState::Running);
}
