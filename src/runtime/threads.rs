//! wasi-threads: one program, several guest threads. `thread-spawn` instantiates the module
//! again, in a store of its own on a new host thread, with the program's one shared memory
//! and the same WASI context (one filesystem, one fd table, behind one lock that is held only
//! for the length of a syscall, never while guest code runs or a call waits), and calls
//! `wasi_thread_start(tid, arg)` there.
//!
//! The first event that ends the program decides its outcome: `proc_exit` in any thread, a
//! trap in any thread, `_start` returning (as `proc_exit(0)`), the time limit. Every other
//! thread is then stopped: interrupted in guest code, woken from `memory.atomic.wait` (which
//! then traps), from sleeps and stdin waits, and refused at its next WASI call.

use super::memory_budget::{self, ProgramMemory};
use super::watchdog::Nudger;
use super::{Error, ExitCode, ResourceLimits, Tracer, WasiState, imports, metering};
use crate::vfs::budget::Budget;
use crate::wasi::ctx::WasiCtx;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};
use wasmer::sys::vm::TrapCode;
use wasmer::{
    Engine, ExternType, FunctionEnv, Imports, Instance, Memory, MemoryType, Module, RuntimeError,
    Store, Value,
};

/// Largest thread id the proposal allows (ids are positive and fit in 29 bits).
const MAX_TID: u32 = 0x1FFF_FFFF;

/// Stack of each guest thread's host thread: wasm runs on it.
const THREAD_STACK: usize = 8 << 20;

/// How often stopping threads are interrupted again (an interrupt can be missed, e.g. by a
/// thread just entering guest code).
const RETRY: Duration = Duration::from_millis(20);

/// How long the end of a run waits for its other threads to stop before leaving them behind
/// (only a thread blocked in a host call strata cannot cut short stays longer).
const GRACE: Duration = Duration::from_secs(5);

/// The main thread's id in traces and in the interrupt table (spawned threads get 1, 2, ...).
pub(crate) const MAIN: u32 = 0;

/// How a threaded program ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Exit(u32),
    Trap(String),
    Timeout,
    OutOfFuel,
}

/// A WASI call refused because the program is ending: it unwinds the calling thread.
#[derive(Debug)]
pub(crate) struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the program ended in another thread")
    }
}

impl std::error::Error for Stopped {}

/// Whether `module` is a wasi-threads program: it imports a shared memory or `thread-spawn`.
pub(crate) fn is_threaded(module: &Module) -> bool {
    module.imports().any(|i| {
        matches!(i.ty(), ExternType::Memory(m) if m.shared)
            || (i.module() == "wasi" && i.name() == "thread-spawn")
    })
}

/// The imported shared memory of a threaded module: (module, name, type).
fn memory_import(module: &Module) -> Result<(String, String, MemoryType), Error> {
    module
        .imports()
        .find_map(|i| match i.ty() {
            ExternType::Memory(m) if m.shared => {
                Some((i.module().to_string(), i.name().to_string(), *m))
            }
            _ => None,
        })
        .ok_or(Error::SharedMemory)
}

struct GroupState {
    /// Threads started by `thread-spawn` that have not finished (the main thread not counted).
    live: u32,
    end: Option<End>,
    /// The stores running guest code now, by thread id.
    running: HashMap<u32, Nudger>,
}

/// The threads of one program and what they share.
pub(crate) struct ThreadGroup {
    module: Module,
    engine: Engine,
    memory: ProgramMemory,
    memory_name: (String, String),
    ctx: Arc<Mutex<WasiCtx>>,
    trace: Option<Arc<Mutex<Tracer>>>,
    budget: Option<Arc<Budget>>,
    max_threads: u32,
    next_tid: AtomicU32,
    stopping: AtomicBool,
    state: Mutex<GroupState>,
    changed: Condvar,
}

/// A guest thread's place in its group (in its `WasiState`).
#[derive(Clone)]
pub(crate) struct ThreadLink {
    pub(crate) tid: u32,
    pub(crate) group: Arc<ThreadGroup>,
}

impl ThreadGroup {
    /// The group of `module`'s main thread, whose WASI state is `ctx` and `trace`; makes the
    /// shared memory (charged to `budget`).
    pub(crate) fn new(
        store: &Store,
        module: &Module,
        ctx: Arc<Mutex<WasiCtx>>,
        trace: Option<Arc<Mutex<Tracer>>>,
        limits: &ResourceLimits,
        budget: Option<Arc<Budget>>,
    ) -> Result<Arc<ThreadGroup>, Error> {
        let (m, n, ty) = memory_import(module)?;
        if ty.maximum.is_none() {
            return Err(Error::Instantiate(format!(
                "the shared memory {m}.{n} has no maximum size"
            )));
        }
        let engine = store.engine().clone();
        let memory = ProgramMemory::new(&engine, &ty, budget.clone())
            .map_err(|e| Error::Instantiate(format!("shared memory {m}.{n}: {e}")))?;
        Ok(Arc::new(ThreadGroup {
            module: module.clone(),
            engine,
            memory,
            memory_name: (m, n),
            ctx,
            trace,
            budget,
            max_threads: limits.max_threads.max(1),
            next_tid: AtomicU32::new(1),
            stopping: AtomicBool::new(false),
            state: Mutex::new(GroupState {
                live: 0,
                end: None,
                running: HashMap::new(),
            }),
            changed: Condvar::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_then<R>(&self, f: impl FnOnce() -> R) -> R {
        let _st = self.lock();
        f()
    }

    /// The imports a thread of this program needs besides WASI: the shared memory (a handle
    /// in `store`) and `wasi.thread-spawn`.
    pub(crate) fn define_imports(
        &self,
        store: &mut Store,
        env: &FunctionEnv<WasiState>,
        imports: &mut Imports,
    ) -> Result<(), Error> {
        let memory: Memory = self
            .memory
            .attach(store)
            .map_err(|e| Error::Instantiate(format!("shared memory: {e}")))?;
        let (m, n) = &self.memory_name;
        imports.define(m, n, memory);
        imports.define("wasi", "thread-spawn", imports::thread_spawn(store, env));
        Ok(())
    }

    /// True once the program is ending: WASI calls are refused, waits end.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` or until the program is ending; true if it is.
    pub(crate) fn wait_stop(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !self.stopping() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The program ends with `end` unless something ended it first; every thread is told
    /// to stop.
    pub(crate) fn end(self: &Arc<Self>, end: End) {
        {
            let mut st = self.lock();
            if st.end.is_none() {
                st.end = Some(end);
            }
        }
        self.stop();
    }

    /// How the program ended, once it has.
    pub(crate) fn outcome(&self) -> Option<End> {
        self.lock().end.clone()
    }

    /// Starts stopping every thread (once): atomic waits trap from now on, waits end, and a
    /// reaper interrupts the threads still in guest code until none is.
    fn stop(self: &Arc<Self>) {
        // Set under the state lock, so that no thread enters guest code after it (`enter`).
        if self.lock_then(|| self.stopping.swap(true, Ordering::AcqRel)) {
            return;
        }
        // Interrupted first, woken from atomic waits (to trap) after: an interrupt landing
        // on a thread already unwinding from a trap is what wasmer's handler cannot take.
        self.interrupt_running();
        self.memory.stop_waiters();
        self.changed.notify_all();
        let group = self.clone();
        // The reaper interrupts again what has not stopped (`join_threads` does if there is
        // no thread for it).
        let _ = std::thread::Builder::new()
            .name("strata-thread-reaper".into())
            .spawn(move || group.reap());
    }

    fn interrupt_running(&self) {
        for n in self.lock().running.values_mut() {
            n.nudge();
        }
    }

    /// Interrupts the threads still running guest code, again and again, until none is (or
    /// the grace period is over).
    fn reap(&self) {
        self.interrupt_until(|st| st.running.is_empty());
    }

    /// Interrupts every thread in guest code every `RETRY` until `done` holds (checked at
    /// each change) or the grace period is over.
    fn interrupt_until(&self, done: impl Fn(&GroupState) -> bool) {
        let give_up = Instant::now() + GRACE;
        let mut st = self.lock();
        while !done(&st) && Instant::now() < give_up {
            for n in st.running.values_mut() {
                n.nudge();
            }
            st = self
                .changed
                .wait_timeout(st, RETRY)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Notes that thread `tid` runs guest code in `store`; false if the program is already
    /// ending (the thread must not start).
    pub(crate) fn enter(&self, tid: u32, store: &Store) -> bool {
        let mut st = self.lock();
        if self.stopping() {
            return false;
        }
        st.running.insert(tid, Nudger::new(store));
        true
    }

    /// Thread `tid` no longer runs guest code.
    pub(crate) fn leave(&self, tid: u32) {
        self.lock().running.remove(&tid);
        self.changed.notify_all();
    }

    /// After the main thread is done: waits for the other threads to stop (they were told
    /// to), up to the grace period; a thread still blocked in a host call then is left to
    /// finish on its own (it stops at its next WASI call).
    pub(crate) fn join_threads(&self) {
        self.interrupt_until(|st| st.live == 0);
    }

    /// `thread-spawn(arg)`: the new thread's id, or `None` if it cannot be started (the
    /// thread limit, the program ending, instantiation failing).
    pub(crate) fn spawn(self: &Arc<Self>, arg: u32) -> Option<u32> {
        {
            let mut st = self.lock();
            // The main thread counts against the limit.
            if self.stopping() || st.live + 1 >= self.max_threads {
                return None;
            }
            st.live += 1;
        }
        let tid = self.next_tid.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let group = self.clone();
        let started = (tid <= MAX_TID)
            .then(|| {
                std::thread::Builder::new()
                    .name(format!("strata-thread-{tid}"))
                    .stack_size(THREAD_STACK)
                    .spawn(move || group.thread_main(tid, arg, tx))
                    .ok()
            })
            .flatten()
            .is_some_and(|_| rx.recv().unwrap_or(false));
        if !started {
            // No thread runs guest code for it (it never started, or gave up before).
            let mut st = self.lock();
            st.live = st.live.saturating_sub(1);
            self.changed.notify_all();
            return None;
        }
        Some(tid)
    }

    fn finish_thread(&self, tid: u32) {
        let mut st = self.lock();
        st.running.remove(&tid);
        st.live = st.live.saturating_sub(1);
        self.changed.notify_all();
    }

    /// Body of a spawned thread: instantiate, tell the spawner, run `wasi_thread_start`.
    fn thread_main(self: Arc<Self>, tid: u32, arg: u32, started: mpsc::Sender<bool>) {
        let Some((mut store, instance)) = self.instantiate(tid) else {
            // Reported as a failed spawn; the spawner gives back the thread's place.
            let _ = started.send(false);
            return;
        };
        let Ok(start) = instance.exports.get_function("wasi_thread_start") else {
            let _ = started.send(false);
            return;
        };
        let start = start.clone();
        if !self.enter(tid, &store) {
            let _ = started.send(false);
            return;
        }
        let _ = started.send(true);
        // Thread ids fit in 29 bits and `arg` is the guest's i32, passed back unchanged.
        let args = [Value::I32(tid as i32), Value::I32(arg as i32)];
        if let Err(e) = start.call(&mut store, &args) {
            let end = ended_by(&mut store, &instance, e);
            self.end(end);
        }
        self.finish_thread(tid);
    }

    fn instantiate(self: &Arc<Self>, tid: u32) -> Option<(Store, Instance)> {
        let mut store = Store::new(self.engine.clone());
        let env = FunctionEnv::new(
            &mut store,
            WasiState {
                ctx: super::CtxCell::Shared(self.ctx.clone()),
                memory: None,
                trace: self.trace.clone(),
                tables: None,
                thread: Some(ThreadLink {
                    tid,
                    group: self.clone(),
                }),
            },
        );
        let mut imports = imports::wasi_imports(&mut store, &env, true);
        self.define_imports(&mut store, &env, &mut imports).ok()?;
        let (instance, tables) = memory_budget::with_budget(self.budget.clone(), || {
            Instance::new(&mut store, &self.module, &imports).ok()
        });
        let instance = instance?;
        let memory = instance.exports.get_memory("memory").ok()?.clone();
        let state = env.as_mut(&mut store);
        state.tables = tables;
        state.memory = Some(memory);
        Some((store, instance))
    }
}

/// How a trap (or `proc_exit`) coming out of guest code ends the program.
pub(crate) fn ended_by(store: &mut Store, instance: &Instance, e: RuntimeError) -> End {
    match e.downcast::<ExitCode>() {
        Ok(ExitCode(code)) => End::Exit(code),
        Err(e) if e.clone().to_trap() == Some(TrapCode::HostInterrupt) => End::Timeout,
        Err(_) if metering::fuel_exhausted(store, instance) => End::OutOfFuel,
        Err(e) => End::Trap(e.message()),
    }
}
