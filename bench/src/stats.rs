//! Samples (how long a turn took, each call's latency) and what they add up to.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::Res;

/// What measured turns gave: their total length and every completed call's latency (from
/// the moment the call was started to the moment its result was seen), in nanoseconds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sample {
    /// The turns' total wall-clock time.
    pub elapsed: Duration,
    /// One entry per completed call.
    pub lat_ns: Vec<u64>,
}

impl Sample {
    /// A sample of a turn that started at `t0` and ends now.
    pub fn since(t0: Instant, lat_ns: Vec<u64>) -> Sample {
        Sample {
            elapsed: t0.elapsed(),
            lat_ns,
        }
    }

    /// Adds another turn.
    pub fn extend(&mut self, other: Sample) {
        self.elapsed += other.elapsed;
        self.lat_ns.extend(other.lat_ns);
    }

    /// Completed calls.
    pub fn ops(&self) -> usize {
        self.lat_ns.len()
    }
}

/// Nanoseconds from `t` to now.
pub fn ns_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Throughput and latency of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Completed calls.
    pub ops: usize,
    /// Completed calls per second of measured time.
    pub ops_per_s: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
}

impl Stats {
    /// The statistics of a sample; an error if no call completed.
    pub fn new(mut s: Sample) -> Res<Stats> {
        if s.lat_ns.is_empty() || s.elapsed.is_zero() {
            return Err("no operation completed".into());
        }
        s.lat_ns.sort_unstable();
        let lat = &s.lat_ns;
        Ok(Stats {
            ops: lat.len(),
            ops_per_s: lat.len() as f64 / s.elapsed.as_secs_f64(),
            p50_us: percentile(lat, 0.50) as f64 / 1000.0,
            p99_us: percentile(lat, 0.99) as f64 / 1000.0,
        })
    }
}

/// Nearest-rank percentile `p` (0 < p <= 1) of sorted, non-empty values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Calls `call` back to back for `dur` (one call in flight), timing each.
pub fn sequential(dur: Duration, mut call: impl FnMut() -> Res<()>) -> Res<Sample> {
    let mut lat_ns = Vec::with_capacity(1 << 14);
    let t0 = Instant::now();
    let stop = t0 + dur;
    let mut now = t0;
    while now < stop {
        call()?;
        let t = Instant::now();
        lat_ns.push(u64::try_from((t - now).as_nanos()).unwrap_or(u64::MAX));
        now = t;
    }
    Ok(Sample {
        elapsed: now - t0,
        lat_ns,
    })
}

/// `depth` OS threads each calling `call` back to back for `dur` (a thread that started a
/// call finishes it); one sample of all their calls. The clock starts once every thread
/// is running, so creating them is not measured.
pub fn threads(dur: Duration, depth: usize, call: impl Fn() -> Res<()> + Sync) -> Res<Sample> {
    let ready = Barrier::new(depth + 1);
    let (per_thread, t0): (Vec<Res<Vec<u64>>>, Instant) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..depth)
            .map(|_| {
                s.spawn(|| -> Res<Vec<u64>> {
                    let mut lat = Vec::with_capacity(1 << 10);
                    ready.wait();
                    let mut now = Instant::now();
                    let stop = now + dur;
                    while now < stop {
                        call()?;
                        let t = Instant::now();
                        lat.push(u64::try_from((t - now).as_nanos()).unwrap_or(u64::MAX));
                        now = t;
                    }
                    Ok(lat)
                })
            })
            .collect();
        ready.wait();
        let t0 = Instant::now();
        let results = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a calling thread panicked".into()))
            })
            .collect();
        (results, t0)
    });
    let mut lat_ns = Vec::new();
    for r in per_thread {
        lat_ns.extend(r?);
    }
    Ok(Sample::since(t0, lat_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        let s = Stats::new(Sample {
            elapsed: Duration::from_secs(2),
            lat_ns: vec![3000, 1000, 2000, 4000],
        })
        .unwrap();
        assert_eq!(s.ops, 4);
        assert_eq!(s.ops_per_s, 2.0);
        assert_eq!(s.p50_us, 2.0);
        assert_eq!(s.p99_us, 4.0);
    }

    #[test]
    fn an_empty_sample_is_an_error_not_a_division_by_zero() {
        assert!(Stats::new(Sample::default()).is_err());
    }

    #[test]
    fn threads_run_each_call_and_stop_on_the_first_error() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let s = threads(Duration::from_millis(20), 4, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        })
        .unwrap();
        assert_eq!(s.ops(), calls.into_inner());
        assert!(s.ops() >= 4);
        let e = threads(Duration::from_millis(20), 3, || Err("boom".into())).unwrap_err();
        assert_eq!(e, "boom");
    }
}
