//! The device monitor lock of the Synchronous server: one request at a time per device,
//! given up after a timeout as cppTango's `TangoMonitor` does, and the errors a request
//! gets when it cannot have the lock.

use std::hash::{BuildHasher, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tango_core::idl::DevFailed;

/// How long a request waits for a device's monitor lock by default: cppTango's default
/// (`DEFAULT_TIMEOUT` of its `TangoMonitor`, 3200 ms), a little longer than a client's
/// default timeout (3 s), so that a client gives up before the server does.
pub const DEFAULT_MONITOR_TIMEOUT: Duration = Duration::from_millis(3200);

/// The reason of the error a request gets when it cannot have the monitor lock, as
/// cppTango's.
pub const MONITOR_TIMEOUT_REASON: &str = "API_CommandTimedOut";

/// Where our monitor errors say they come from.
const ORIGIN: &str = "tango::server::DeviceServer (monitor lock)";

/// A value behind a monitor: [`Monitor::lock`] waits at most a given time, and tells
/// which acquisition (activation) holds it.
pub(super) struct Monitor<T> {
    /// What it protects, for errors (the device name).
    name: String,
    gate: Mutex<Gate>,
    freed: Condvar,
    value: Mutex<T>,
}

#[derive(Default)]
struct Gate {
    /// The activation holding the lock; 0 when it is free.
    holder: u64,
    /// Threads waiting for it (a release wakes one only if there is one).
    waiting: u32,
}

/// The monitor held: access to the value; released when dropped.
pub(super) struct Held<'a, T> {
    /// `Some` until dropped (the value's guard goes before the monitor is released).
    value: Option<MutexGuard<'a, T>>,
    monitor: &'a Monitor<T>,
}

impl<T> Monitor<T> {
    pub(super) fn new(name: String, value: T) -> Self {
        Monitor {
            name,
            gate: Mutex::default(),
            freed: Condvar::new(),
            value: Mutex::new(value),
        }
    }

    /// What it protects (the device name).
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The activation holding the lock now (0: free).
    pub(super) fn holder(&self) -> u64 {
        self.gate().holder
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lock for `activation` (not 0), waiting at most `timeout` (`None`: as long
    /// as it takes). `None` when the time ran out.
    pub(super) fn lock(&self, activation: u64, timeout: Option<Duration>) -> Option<Held<'_, T>> {
        debug_assert_ne!(activation, 0);
        let mut gate = self.gate();
        if gate.holder != 0 {
            let deadline = timeout.map(|t| Instant::now() + t);
            gate.waiting += 1;
            while gate.holder != 0 {
                gate = match deadline {
                    None => self.freed.wait(gate).unwrap_or_else(|p| p.into_inner()),
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            gate.waiting -= 1;
                            return None;
                        }
                        self.freed
                            .wait_timeout(gate, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                };
            }
            gate.waiting -= 1;
        }
        gate.holder = activation;
        drop(gate);
        // Uncontended: only the holder of the monitor locks the value.
        let value = self.value.lock().unwrap_or_else(|p| p.into_inner());
        Some(Held {
            value: Some(value),
            monitor: self,
        })
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        self.value.take();
        let mut gate = self.monitor.gate();
        gate.holder = 0;
        let someone_waits = gate.waiting > 0;
        drop(gate);
        if someone_waits {
            self.monitor.freed.notify_one();
        }
    }
}

impl<T> Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("held until dropped")
    }
}

impl<T> DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("held until dropped")
    }
}

/// The error of a request that waited `timeout` for `device`'s monitor lock in vain.
pub(super) fn timed_out(device: &str, timeout: Duration) -> DevFailed {
    DevFailed::new(
        MONITOR_TIMEOUT_REASON,
        format!(
            "Device {device} was busy for longer than the monitor timeout ({} ms): \
             its lock, which lets one request at a time run its code, could not be taken",
            timeout.as_millis()
        ),
        ORIGIN,
    )
}

/// The error of a request made by `device`'s own code (directly or through other
/// devices) while that code holds the device's lock: waiting could only time out.
pub(super) fn self_call(device: &str) -> DevFailed {
    DevFailed::new(
        MONITOR_TIMEOUT_REASON,
        format!(
            "Request to {device} refused at once: it comes from the code of {device} itself \
             (directly or through other devices), which holds the device's lock while it \
             waits for this reply, so in Synchronous mode it could only time out. Serve the \
             device in Asyncio or Coroutine green mode (no lock) to let its code call itself"
        ),
        ORIGIN,
    )
}

/// A random number for this server instance (the call chain's server nonce): std's
/// per-process random hash keys, mixed with the time and the process id.
pub(super) fn instance_nonce() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_busy_monitor_times_out_and_a_free_one_is_taken() {
        let m = Arc::new(Monitor::new("test/monitor/1".to_owned(), 0u32));
        let mut held = m.lock(1, Some(Duration::ZERO)).unwrap();
        *held += 1;
        assert_eq!(m.holder(), 1);
        let waiter = {
            let m = m.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let got = m.lock(2, Some(Duration::from_millis(50))).is_some();
                (got, started.elapsed())
            })
        };
        let (got, waited) = waiter.join().unwrap();
        assert!(!got);
        assert!(waited >= Duration::from_millis(50));
        // a waiter gets the monitor as soon as it is released
        let waiter = {
            let m = m.clone();
            std::thread::spawn(move || {
                let held = m.lock(3, Some(Duration::from_secs(10))).unwrap();
                (*held, m.holder())
            })
        };
        assert!(m.lock(9, Some(Duration::ZERO)).is_none(), "still held");
        drop(held);
        assert_eq!(waiter.join().unwrap(), (1, 3));
        assert_eq!(m.holder(), 0);
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(instance_nonce(), instance_nonce());
    }
}
