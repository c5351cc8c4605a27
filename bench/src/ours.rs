//! Our client modes as [`Runner`]s: the blocking `tango::DeviceProxy` (N threads at depth
//! N), `tango::green` in `GreenMode::Futures`, `tango_coroutine` on may, and the typed
//! async proxies of `tango_tokio`, `tango_async_std` and `tango_smol`.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tango_client::{AsyncDeviceProxy, AsyncRuntime};

use crate::stats::{ns_since, sequential, threads};
use crate::{es, ClientKind, Op, Res, Runner, Sample};
use crate::{COMMAND, COMMAND_ARG, SCALAR_ATTR, SPECTRUM_ATTR};

/// may worker threads for the Coroutine client (one per core of the reference machine).
pub const MAY_WORKERS: usize = 2;

/// Connects our client `kind` to the device `name`.
pub fn connect(kind: ClientKind, name: &str) -> Res<Runner> {
    match kind {
        ClientKind::OursSync => synchronous(name),
        ClientKind::OursFutures => futures(name),
        ClientKind::OursCoroutine => coroutine(name),
        ClientKind::OursTokio => tokio_client(name),
        ClientKind::OursAsyncStd => async_std_client(name),
        ClientKind::OursSmol => smol_client(name),
        other => Err(format!("{} is not one of our clients", other.label())),
    }
}

/// The blocking proxy: back-to-back calls at depth 1, `depth` threads sharing the proxy
/// otherwise (its one connection pipelines their requests).
fn synchronous(name: &str) -> Res<Runner> {
    let dev = tango::DeviceProxy::new(name).map_err(es)?;
    Ok(Box::new(move |op, depth, dur| {
        let call = || -> Res<()> {
            match op {
                Op::ReadScalar => dev.read_attribute(SCALAR_ATTR).map(drop),
                Op::Command => dev.command_inout(COMMAND, COMMAND_ARG).map(drop),
                Op::ReadSpectrum => dev.read_attribute(SPECTRUM_ATTR).map(drop),
            }
            .map_err(es)
        };
        if depth == 1 {
            sequential(dur, call)
        } else {
            threads(dur, depth, call)
        }
    }))
}

/// `tango::green` in `GreenMode::Futures`: `depth` submitted calls, the oldest waited for
/// and replaced by a new one.
fn futures(name: &str) -> Res<Runner> {
    use tango::green::{DeviceProxy, GreenMode};
    let dev = DeviceProxy::new_with_mode(name, GreenMode::Futures)
        .wait()
        .map_err(es)?;
    Ok(Box::new(move |op, depth, dur| {
        let submit = || -> Box<dyn FnOnce() -> Res<()>> {
            match op {
                Op::ReadScalar => {
                    let p = dev.read_attribute(SCALAR_ATTR).submit();
                    Box::new(move || p.result().map(drop).map_err(es))
                }
                Op::Command => {
                    let p = dev.command_inout(COMMAND, COMMAND_ARG).submit();
                    Box::new(move || p.result().map(drop).map_err(es))
                }
                Op::ReadSpectrum => {
                    let p = dev.read_attribute(SPECTRUM_ATTR).submit();
                    Box::new(move || p.result().map(drop).map_err(es))
                }
            }
        };
        let t0 = Instant::now();
        let stop = t0 + dur;
        let mut queue: VecDeque<_> = (0..depth).map(|_| (Instant::now(), submit())).collect();
        let mut lat = Vec::with_capacity(1 << 14);
        while let Some((started, pending)) = queue.pop_front() {
            pending()?;
            lat.push(ns_since(started));
            if Instant::now() < stop {
                queue.push_back((Instant::now(), submit()));
            }
        }
        Ok(Sample::since(t0, lat))
    }))
}

/// `tango_coroutine::DeviceProxy` from `depth` may coroutines (each calling back to back).
fn coroutine(name: &str) -> Res<Runner> {
    let dev = tango_coroutine::DeviceProxy::new(name).map_err(es)?;
    // Connect from one coroutine before many share the proxy.
    let first = dev.clone();
    tango_coroutine::spawn(move || first.read_attribute(SCALAR_ATTR).map(drop).map_err(es))
        .get()?;
    Ok(Box::new(move |op, depth, dur| {
        let t0 = Instant::now();
        let stop = t0 + dur;
        let workers: Vec<_> = (0..depth)
            .map(|_| {
                let dev = dev.clone();
                tango_coroutine::spawn(move || -> Res<Vec<u64>> {
                    let mut lat = Vec::with_capacity(1 << 10);
                    let mut now = Instant::now();
                    while now < stop {
                        match op {
                            Op::ReadScalar => dev.read_attribute(SCALAR_ATTR).map(drop),
                            Op::Command => dev.command_inout(COMMAND, COMMAND_ARG).map(drop),
                            Op::ReadSpectrum => dev.read_attribute(SPECTRUM_ATTR).map(drop),
                        }
                        .map_err(es)?;
                        let t = Instant::now();
                        lat.push(u64::try_from((t - now).as_nanos()).unwrap_or(u64::MAX));
                        now = t;
                    }
                    Ok(lat)
                })
            })
            .collect();
        let mut lat = Vec::new();
        let mut first_err = None;
        for w in workers {
            match w.get() {
                Ok(l) => lat.extend(l),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(Sample::since(t0, lat)),
        }
    }))
}

/// Keeps `depth` futures made by `call` in flight on the current task for `dur`, timing
/// each from its creation to its completion.
pub async fn in_flight<T, E, Fut>(
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
    let timed = |f: Fut| {
        let started = Instant::now();
        async move { (f.await, started) }
    };
    let mut set = FuturesUnordered::new();
    for _ in 0..depth {
        set.push(timed(call()));
    }
    let mut lat = Vec::with_capacity(1 << 14);
    while let Some((r, started)) = set.next().await {
        r.map_err(es)?;
        lat.push(ns_since(started));
        if Instant::now() < stop {
            set.push(timed(call()));
        }
    }
    Ok(Sample::since(t0, lat))
}

/// One turn of a typed async proxy on any runtime.
async fn async_turn<R: AsyncRuntime>(
    dev: &AsyncDeviceProxy<R>,
    op: Op,
    depth: usize,
    dur: Duration,
) -> Res<Sample> {
    match op {
        Op::ReadScalar => in_flight(dur, depth, || dev.read_attribute(SCALAR_ATTR)).await,
        Op::Command => in_flight(dur, depth, || dev.command_inout(COMMAND, COMMAND_ARG)).await,
        Op::ReadSpectrum => in_flight(dur, depth, || dev.read_attribute(SPECTRUM_ATTR)).await,
    }
}

fn tokio_client(name: &str) -> Res<Runner> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(es)?;
    let dev = rt.block_on(tango_tokio::connect(name)).map_err(es)?;
    Ok(Box::new(move |op, depth, dur| {
        rt.block_on(async_turn(&dev, op, depth, dur))
    }))
}

fn async_std_client(name: &str) -> Res<Runner> {
    let dev = async_std::task::block_on(tango_async_std::connect(name)).map_err(es)?;
    Ok(Box::new(move |op, depth, dur| {
        async_std::task::block_on(async_turn(&dev, op, depth, dur))
    }))
}

fn smol_client(name: &str) -> Res<Runner> {
    let dev = smol::block_on(tango_smol::connect(name)).map_err(es)?;
    Ok(Box::new(move |op, depth, dur| {
        smol::block_on(async_turn(&dev, op, depth, dur))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_keeps_depth_calls_and_times_each() {
        use std::cell::Cell;
        let (live, peak) = (Cell::new(0usize), Cell::new(0usize));
        let s = smol::block_on(in_flight(Duration::from_millis(30), 8, || {
            live.set(live.get() + 1);
            peak.set(peak.get().max(live.get()));
            let live = &live;
            async move {
                smol::Timer::after(Duration::from_millis(2)).await;
                live.set(live.get() - 1);
                Ok::<(), String>(())
            }
        }))
        .unwrap();
        assert_eq!(peak.get(), 8);
        assert_eq!(live.get(), 0, "every started call was waited for");
        assert!(s.ops() >= 8);
        assert!(s.lat_ns.iter().all(|&l| l >= 2_000_000), "{:?}", s.lat_ns);
    }

    #[test]
    fn in_flight_reports_the_first_failure() {
        let e = smol::block_on(in_flight(Duration::from_millis(10), 4, || async {
            Err::<(), _>("refused")
        }))
        .unwrap_err();
        assert_eq!(e, "refused");
    }

    #[test]
    fn other_clients_are_refused() {
        assert!(connect(ClientKind::Floor, "x").is_err());
    }
}
