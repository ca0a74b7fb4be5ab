//! Wall-clock limits on wasmer: a watchdog thread that interrupts the store when the run's
//! time is up (wasmer's `experimental-host-interrupt`: a signal to the running thread, which
//! wasmer turns into a `HostInterrupt` trap inside guest code or at the return of the host
//! call it is in), and an environment wrapper that ends the guest's waits by the deadline.

#![forbid(unsafe_code)]

use crate::wasi::ctx::{Environment, HostEnvironment};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmer::sys::vm::{StoreId, interrupt_registry};
use wasmer::{Interrupter, Store};

/// Interrupts one store's running guest, again when an interrupt may have been missed, but
/// not again and again while it unwinds: wasmer's signal handler is not safe against a
/// second interrupt landing while the thread takes the trap's backtrace (it can deadlock on
/// the unwinder's lock). Until the store is marked interrupted (it was not running guest
/// code yet) every `nudge` interrupts; after that, once per `RENUDGE` at most, for the rare
/// interrupt that lands in a libcall (wasmer checks the mark when a host function returns,
/// not when a libcall does).
pub(super) struct Nudger {
    interrupter: Interrupter,
    store: StoreId,
    sent: Option<Instant>,
}

/// Least time between two interrupts of a store already marked interrupted.
const RENUDGE: Duration = Duration::from_secs(1);

impl Nudger {
    pub(super) fn new(store: &Store) -> Nudger {
        Nudger {
            interrupter: store.interrupter(),
            store: store.id(),
            sent: None,
        }
    }

    pub(super) fn nudge(&mut self) {
        let marked = interrupt_registry::is_interrupted(self.store);
        if marked && self.sent.is_some_and(|t| t.elapsed() < RENUDGE) {
            return;
        }
        self.interrupter.interrupt();
        self.sent = Some(Instant::now());
    }
}

/// Interrupts a store's running guest once its time is up; `stop` ends it.
pub(super) struct Watchdog {
    /// Set when the run is over.
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<bool>>,
}

/// How often an interrupt is repeated until the run reports that it stopped (a signal can be
/// missed, e.g. while the thread is just entering guest code).
const RETRY: Duration = Duration::from_millis(20);

impl Watchdog {
    /// Interrupts `store` at `deadline`, after calling `on_fire` (which stops the other
    /// threads of a threaded program).
    #[cfg(unix)]
    pub(super) fn start(
        store: &Store,
        deadline: Instant,
        on_fire: Option<Box<dyn FnOnce() + Send>>,
    ) -> Watchdog {
        let mut nudger = Nudger::new(store);
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let shared = done.clone();
        let thread = std::thread::Builder::new()
            .name("strata-timeout".into())
            .spawn(move || {
                let (lock, cv) = &*shared;
                let mut over = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if *over {
                        return false;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    over = cv
                        .wait_timeout(over, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if let Some(f) = on_fire {
                    // Not under the lock: stopping threads takes other locks.
                    drop(over);
                    f();
                    over = lock.lock().unwrap_or_else(|e| e.into_inner());
                }
                loop {
                    nudger.nudge();
                    over = cv
                        .wait_timeout(over, RETRY)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    if *over {
                        return true;
                    }
                }
            })
            .expect("cannot start the timeout thread");
        Watchdog {
            done,
            thread: Some(thread),
        }
    }

    /// Ends the watchdog; true if the time ran out.
    pub(super) fn stop(mut self) -> bool {
        self.finish()
    }

    fn finish(&mut self) -> bool {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        self.thread
            .take()
            .is_some_and(|t| t.join().unwrap_or(false))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The guest's environment with a deadline: waits end by it, and `expired` tells the
/// syscall layer to stop waiting, so that a guest blocked in `poll_oneoff` returns to guest
/// code, where the interrupt stops it. The wrapped environment is handed back through
/// `EnvSlot::take` when the call is over.
pub(super) struct DeadlineEnvironment {
    slot: EnvSlot,
    deadline: Instant,
}

/// Holds the environment a `DeadlineEnvironment` wraps, and whether the deadline cut a
/// wait short.
#[derive(Clone)]
pub(super) struct EnvSlot(Arc<SlotInner>);

struct SlotInner {
    env: Mutex<Option<Box<dyn Environment>>>,
    cut_short: AtomicBool,
}

impl EnvSlot {
    /// The wrapped environment; the wrapper then behaves as a plain host environment.
    pub(super) fn take(&self) -> Option<Box<dyn Environment>> {
        self.0.env.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// True if the deadline ended a wait of the guest's early: it did not finish in time,
    /// whatever it did after.
    pub(super) fn cut_short(&self) -> bool {
        self.0.cut_short.load(Ordering::Relaxed)
    }
}

impl DeadlineEnvironment {
    pub(super) fn new(inner: Box<dyn Environment>, deadline: Instant) -> Self {
        DeadlineEnvironment {
            slot: EnvSlot(Arc::new(SlotInner {
                env: Mutex::new(Some(inner)),
                cut_short: AtomicBool::new(false),
            })),
            deadline,
        }
    }

    pub(super) fn slot(&self) -> EnvSlot {
        self.slot.clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut dyn Environment) -> R) -> R {
        let mut guard = self.slot.0.env.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(env) => f(env.as_mut()),
            None => f(&mut HostEnvironment::default()),
        }
    }
}

impl Environment for DeadlineEnvironment {
    fn realtime_ns(&mut self) -> u64 {
        self.with(|e| e.realtime_ns())
    }

    fn monotonic_ns(&mut self) -> u64 {
        self.with(|e| e.monotonic_ns())
    }

    fn cputime_ns(&mut self) -> u64 {
        self.with(|e| e.cputime_ns())
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> crate::vfs::Result<()> {
        self.with(|e| e.fill_random(buf))
    }

    fn sleep_ns(&mut self, ns: u64) {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let left = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
        if ns > left {
            self.slot.0.cut_short.store(true, Ordering::Relaxed);
        }
        self.with(|e| e.sleep_ns(ns.min(left)));
    }

    fn waits_for_real(&self) -> bool {
        self.with(|e| e.waits_for_real())
    }

    /// Asked by a wait that has time left: true ends it early.
    fn expired(&self) -> bool {
        let over = Instant::now() >= self.deadline || self.with(|e| e.expired());
        if over {
            self.slot.0.cut_short.store(true, Ordering::Relaxed);
        }
        over
    }
}
