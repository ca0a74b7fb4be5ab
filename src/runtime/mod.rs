//! Running modules on wasmer: the builder that turns a filesystem namespace, arguments,
//! environment and stdio into wasmer `Imports` for the user's own `Store`, instantiation with
//! the one import check, and the calls within time and fuel limits. `strata::sandbox` builds
//! every run from these pieces; embedders use them directly. The syscall logic lives in
//! `strata::wasi`; nothing below this module knows wasmer.
//!
//! The embedding API, in the shape of wasmer-wasi's: build the WASI environment, get the
//! `Imports` for your own `Store`, add host functions of your own, instantiate, hand the
//! instance to the environment (it takes the `memory` export), call `_start`:
//!
//! ```
//! use std::sync::Arc;
//! use strata::runtime::{WasiEnv, run_instance};
//! use strata::vfs::{FileData, MemFs, SystemClock, Vfs};
//! let clock = Arc::new(SystemClock);
//! use wasmer::{Function, Instance, Module, Store};
//!
//! // A guest that calls our host function `env.answer`, then writes "hi\n" to a file it
//! // creates in its preopened root (fd 3) and to stdout.
//! let wat = r#"(module
//!   (import "env" "answer" (func $answer (result i32)))
//!   (import "wasi_snapshot_preview1" "path_open"
//!     (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
//!   (import "wasi_snapshot_preview1" "fd_write"
//!     (func $fd_write (param i32 i32 i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (data (i32.const 0) "out.txt")
//!   (data (i32.const 16) "hi\n")
//!   (func (export "_start")
//!     (if (i32.ne (call $answer) (i32.const 42)) (then unreachable))
//!     ;; iovec at 32: { buf = 16, len = 3 }
//!     (i32.store (i32.const 32) (i32.const 16))
//!     (i32.store (i32.const 36) (i32.const 3))
//!     ;; path_open(fd 3, follow, "out.txt", O_CREAT, rights: fd_write, 0, 0, &fd at 48)
//!     (drop (call $path_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 7)
//!       (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 48)))
//!     (drop (call $fd_write (i32.load (i32.const 48)) (i32.const 32) (i32.const 1) (i32.const 52)))
//!     (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 52)))))"#;
//!
//! let mut store = Store::default();
//! let module = Module::new(&store, wat)?;
//!
//! // The guest's filesystem: an in-memory root holding /etc/motd.
//! let mut vfs = Vfs::new(clock.clone());
//! let root = vfs.root();
//! vfs.write_file(root, "etc/motd", FileData::from_bytes("welcome".into()))?;
//! // A second filesystem mounted at /data; no explicit preopens, so fd 3 is the root `/`.
//! let data = MemFs::new(2, clock);
//!
//! let mut builder = WasiEnv::builder("prog")
//!     .args(["--flag"])
//!     .env("HOME", "/")
//!     .fs(vfs)
//!     .mount("/data", data);
//! let stdout = builder.capture_stdout();
//! let wasi = builder.finalize(&mut store)?;
//!
//! let mut imports = wasi.import_object(&mut store, &module)?;
//! imports.define("env", "answer", Function::new_typed(&mut store, || 42i32));
//! let instance = Instance::new(&mut store, &module, &imports)?;
//! wasi.initialize(&mut store, &instance)?;
//!
//! let (exit_code, _) = run_instance(&mut store, &instance, None, &[])?;
//! assert_eq!(exit_code, 0);
//! assert_eq!(stdout.contents(), b"hi\n");
//!
//! // The filesystem the guest left behind.
//! let ctx = wasi.ctx(&mut store);
//! let root = ctx.vfs.root();
//! let file = ctx.vfs.lookup(root, b"out.txt", true)?;
//! let mut buf = [0u8; 8];
//! let n = ctx.vfs.read(file, 0, &mut buf)?;
//! assert_eq!(&buf[..n], b"hi\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cache;
mod copying_memory;
mod error;
mod imports;
pub mod limits;
mod memory_budget;
mod memory_image;
mod metering;
mod stdio;
mod threads;
mod watchdog;

pub use error::{Error, Input as ErrorInput};
pub use limits::ResourceLimits;
pub use memory_budget::budgeted;
pub use memory_image::MemoryImage;
pub use metering::metered_engine;

use crate::vfs::{MemFs, Vfs};
use crate::wasi::ctx::{Capture, HostEnvironment, Input, Output, WasiCtx};
use crate::wasi::faults::{Fault, FaultPlan};
use crate::wasi::trace::{TraceEvent, TraceFilter};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use threads::{End, ThreadGroup, ThreadLink};
use wasmer::sys::vm::TrapCode;
use wasmer::{Engine, ExternType, FunctionEnv, Imports, Instance, Memory, Module, Store};
use watchdog::{DeadlineEnvironment, Watchdog};

/// The version of wasmer strata runs on (wasmer's crates are released in lockstep, so its VM's
/// version is wasmer's), printed by `strata --version` for bug reports.
pub const WASMER_VERSION: &str = wasmer::sys::vm::VERSION;

/// What each argument or environment string costs the run's memory budget besides its bytes
/// and NUL: the host's vector holding it.
pub const ARG_OVERHEAD: u64 = 32;

/// What `argv` (with `argv[0]`) and the environment (`KEY=VALUE` each) cost the run's memory
/// budget: what `args_sizes_get` and `environ_sizes_get` report, plus `ARG_OVERHEAD` each.
pub fn args_env_cost<'a>(
    args: impl IntoIterator<Item = &'a str>,
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u64 {
    let args = args.into_iter().map(|a| a.len() as u64 + 1);
    let env = env
        .into_iter()
        .map(|(k, v)| k.len() as u64 + v.len() as u64 + 2);
    args.chain(env).map(|n| n + ARG_OVERHEAD).sum()
}

/// A guest's `proc_exit(code)`, carried through wasmer as a `RuntimeError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode(pub u32);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest exited with code {}", self.0)
    }
}

impl std::error::Error for ExitCode {}

/// Called after each traced WASI call with the decoded call (`Display` gives the line; see
/// `strata::wasi::trace` for the format).
pub type TraceFn = Box<dyn FnMut(&TraceEvent) + Send>;

/// A trace hook and what it is given.
pub(crate) struct Tracer {
    pub(crate) hook: TraceFn,
    pub(crate) filter: TraceFilter,
    /// Measure each call (`TraceEvent::elapsed`).
    pub(crate) time: bool,
}

/// The data behind every WASI import of one instance.
pub struct WasiState {
    /// The syscall layer's state: filesystem, fds, stdio, clocks; shared by the threads of a
    /// wasi-threads program, each call holding it for its length.
    ctx: CtxCell,
    memory: Option<Memory>,
    trace: Option<Arc<Mutex<Tracer>>>,
    /// What the instance's tables took of the run's budget, given back with the store.
    tables: Option<memory_budget::TableCharge>,
    /// The thread this instance is, in a wasi-threads program.
    thread: Option<ThreadLink>,
}

impl WasiState {
    /// The syscall layer's state (locked, in a wasi-threads program).
    pub fn ctx(&mut self) -> CtxGuard<'_> {
        self.ctx.get()
    }
}

/// A `WasiState`'s context: its own until the program turns out to use threads, then shared
/// by all of them behind a lock (one program never pays for a lock it does not need).
enum CtxCell {
    Owned(Box<WasiCtx>),
    Shared(Arc<Mutex<WasiCtx>>),
}

impl CtxCell {
    fn get(&mut self) -> CtxGuard<'_> {
        CtxGuard(match self {
            CtxCell::Owned(ctx) => Guard::Owned(ctx),
            CtxCell::Shared(ctx) => Guard::Locked(lock(ctx)),
        })
    }

    /// The context, shared from now on.
    fn share(&mut self) -> Arc<Mutex<WasiCtx>> {
        if let CtxCell::Owned(ctx) = self {
            let ctx = std::mem::replace(ctx, Box::new(WasiCtx::new(Vfs::default())));
            *self = CtxCell::Shared(Arc::new(Mutex::new(*ctx)));
        }
        match self {
            CtxCell::Shared(ctx) => ctx.clone(),
            CtxCell::Owned(_) => unreachable!("made shared above"),
        }
    }
}

/// The WASI context of an environment, borrowed (or locked, in a wasi-threads program) for
/// as long as this lives: let it go before calling the guest.
pub struct CtxGuard<'a>(Guard<'a>);

enum Guard<'a> {
    Owned(&'a mut WasiCtx),
    Locked(MutexGuard<'a, WasiCtx>),
}

impl std::ops::Deref for CtxGuard<'_> {
    type Target = WasiCtx;
    fn deref(&self) -> &WasiCtx {
        match &self.0 {
            Guard::Owned(c) => c,
            Guard::Locked(c) => c,
        }
    }
}

impl std::ops::DerefMut for CtxGuard<'_> {
    fn deref_mut(&mut self) -> &mut WasiCtx {
        match &mut self.0 {
            Guard::Owned(c) => c,
            Guard::Locked(c) => c,
        }
    }
}

/// Locks `m`, also after a panic elsewhere (the state stays usable: every syscall leaves it
/// consistent before it can fail).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the WASI environment of one instance, in the shape of wasmer-wasi's builder.
pub struct WasiEnvBuilder {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    vfs: Option<Vfs>,
    mounts: Vec<(String, MemFs)>,
    preopens: Vec<(String, String)>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    /// Whether inherited stdio reports the host stream's kind (default: true).
    host_stdio: bool,
    trace: Option<TraceFn>,
    trace_filter: TraceFilter,
    trace_time: bool,
    /// Preopen the namespace root after the explicit preopens (default: true).
    root_preopen: bool,
    limits: ResourceLimits,
    faults: Vec<Fault>,
}

/// Entry point of the builder: `WasiEnv::builder("prog")`.
pub struct WasiEnv;

impl WasiEnv {
    /// Starts a builder for a guest whose `argv[0]` is `program`.
    pub fn builder(program: impl Into<String>) -> WasiEnvBuilder {
        WasiEnvBuilder {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            vfs: None,
            mounts: Vec::new(),
            preopens: Vec::new(),
            stdin: Input::Inherit,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
            host_stdio: true,
            trace: None,
            trace_filter: TraceFilter::ALL,
            trace_time: false,
            root_preopen: true,
            limits: ResourceLimits::default(),
            faults: Vec::new(),
        }
    }
}

impl WasiEnvBuilder {
    /// Appends one argument after `argv[0]`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments after `argv[0]`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (`KEY=VALUE` for the guest).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The filesystem namespace the guest sees (default: one empty in-memory root).
    pub fn fs(mut self, vfs: Vfs) -> Self {
        self.vfs = Some(vfs);
        self
    }

    /// Mounts `fs` at the guest directory `guest_path` (created if missing), shadowing what
    /// lies there. Mounts apply in order, before preopens.
    pub fn mount(mut self, guest_path: impl Into<String>, fs: MemFs) -> Self {
        self.mounts.push((guest_path.into(), fs));
        self
    }

    /// Preopens the guest directory `guest_path` (which must exist in the namespace) under
    /// the name `name`. Preopens take fds from 3 in the order given; the namespace root is
    /// preopened as `/` after them unless one of them is already named `/`.
    pub fn preopen(mut self, guest_path: impl Into<String>, name: impl Into<String>) -> Self {
        self.preopens.push((guest_path.into(), name.into()));
        self
    }

    /// Stdin: these bytes, then end of file.
    pub fn stdin_bytes(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Input::Bytes {
            data: data.into(),
            pos: 0,
        };
        self
    }

    /// Stdin from anywhere (default: the host's stdin).
    pub fn stdin(mut self, input: Input) -> Self {
        self.stdin = input;
        self
    }

    /// Where stdout goes (default: the host's stdout).
    pub fn stdout(mut self, out: Output) -> Self {
        self.stdout = out;
        self
    }

    /// Where stderr goes (default: the host's stderr).
    pub fn stderr(mut self, out: Output) -> Self {
        self.stderr = out;
        self
    }

    /// Captures stdout into the returned buffer.
    pub fn capture_stdout(&mut self) -> Capture {
        let c = Capture::default();
        self.stdout = Output::Capture(c.clone());
        c
    }

    /// Captures stderr into the returned buffer.
    pub fn capture_stderr(&mut self) -> Capture {
        let c = Capture::default();
        self.stderr = Output::Capture(c.clone());
        c
    }

    /// Whether a stream the guest inherits from the host process reports what the host's
    /// stream is (default: yes): a terminal as one (`CHARACTER_DEVICE`, what wasi-libc's
    /// `isatty` looks for), a regular file as `REGULAR_FILE`, anything else (a pipe, a
    /// socket, `/dev/null`) as `UNKNOWN`. Off, inherited streams report `UNKNOWN` whatever
    /// they are, so the guest's view does not depend on how the host process was started
    /// (deterministic sandboxes turn it off). Bytes, captures, `Null` and files are never
    /// terminals either way: a regular file is `REGULAR_FILE`, the rest `UNKNOWN`.
    pub fn inspect_host_stdio(mut self, on: bool) -> Self {
        self.host_stdio = on;
        self
    }

    /// Whether the namespace root is preopened as `/` after the explicit preopens (default:
    /// yes). Without it, a guest given no preopens has none, as under wasmtime.
    pub fn root_preopen(mut self, on: bool) -> Self {
        self.root_preopen = on;
        self
    }

    /// Calls `f` after every WASI call the trace filter selects (default: every call), with
    /// the call decoded: its arguments read from guest memory before the call, its result
    /// after. Without a hook nothing is decoded.
    pub fn trace(mut self, f: TraceFn) -> Self {
        self.trace = Some(f);
        self
    }

    /// Which calls reach the trace hook (default: `TraceFilter::ALL`).
    pub fn trace_filter(mut self, filter: TraceFilter) -> Self {
        self.trace_filter = filter;
        self
    }

    /// Whether the trace measures each call's host time (`TraceEvent::elapsed`; default: no).
    pub fn trace_time(mut self, on: bool) -> Self {
        self.trace_time = on;
        self
    }

    /// All resource limits at once (default: `ResourceLimits::default()`).
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The run's memory budget (`ResourceLimits::max_memory`): linear memory and tables of
    /// the instance (with an engine made by `budgeted`, as `engine_for` and `run` make),
    /// captured output, arguments and environment, and what the run writes into its
    /// in-memory filesystem; beyond, `memory.grow` returns -1 and writes fail with `ENOSPC`.
    /// What the filesystem holds when the environment is built is its base and does not count.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.limits.max_memory = bytes;
        self
    }

    /// Inodes the run may create (and hold); beyond, `ENOSPC`.
    pub fn max_inodes(mut self, inodes: u64) -> Self {
        self.limits.max_inodes = inodes;
        self
    }

    /// Open fds, stdio and preopens included; beyond, `EMFILE`.
    pub fn max_fds(mut self, fds: u32) -> Self {
        self.limits.max_fds = fds;
        self
    }

    /// Wall-clock time the guest may run (`WasiFunctionEnv::call`, `run`): then it is
    /// stopped with `Error::Timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// Units of fuel (one per WebAssembly operator) the guest may burn: then it is stopped
    /// with `Error::OutOfFuel`. The module must be compiled with `metered_engine(fuel)`
    /// (`run` does so).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.limits.fuel = Some(fuel);
        self
    }

    /// Injects a fault into the guest's calls (see `strata::wasi::faults`); faults add up,
    /// and each counts the calls it matches from the start of the run. E.g.
    /// `.fault(Fault::parse("write:/data/*.log:3:ENOSPC")?)`: the third write to a `.log`
    /// file under `/data` fails with `ENOSPC`.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The WASI context, without wasmer (for driving syscalls directly).
    pub fn build_ctx(self) -> Result<(WasiCtx, Option<TraceFn>), Error> {
        let mut vfs = self.vfs.unwrap_or_default();
        for (path, fs) in self.mounts {
            let root = vfs.root();
            vfs.mkdir_all(root, path.trim_start_matches('/'))
                .and_then(|at| vfs.mount(at, fs))
                .map_err(|errno| Error::GuestPath { path, errno })?;
        }
        let budget = vfs.set_limits(self.limits.max_memory, self.limits.max_inodes);
        // The arguments and environment are held for the whole run: they count against its
        // budget, and a run they do not fit is not started.
        let cost = args_env_cost(
            std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str)),
            self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        budget.charge(cost, 0).map_err(|_| Error::ArgsTooLarge {
            bytes: cost,
            max_memory: self.limits.max_memory,
        })?;
        let mut ctx = WasiCtx::new(vfs);
        ctx.fds.set_max(self.limits.max_fds as usize);
        ctx.args = std::iter::once(self.program)
            .chain(self.args)
            .map(String::into_bytes)
            .collect();
        ctx.env = self
            .env
            .into_iter()
            .map(|(k, v)| format!("{k}={v}").into_bytes())
            .collect();
        ctx.stdio_kinds = [
            stdio::of_input(&self.stdin, self.host_stdio),
            stdio::of_output(&self.stdout, 1, self.host_stdio),
            stdio::of_output(&self.stderr, 2, self.host_stdio),
        ];
        ctx.stdin = self.stdin;
        ctx.stdout = self.stdout;
        ctx.stderr = self.stderr;
        ctx.faults = FaultPlan::new(self.faults);
        let root = ctx.vfs.root();
        let root_named = self.preopens.iter().any(|(_, name)| name == "/");
        for (path, name) in self.preopens {
            let rel = path.trim_start_matches('/');
            let node = if rel.is_empty() {
                Ok(root)
            } else {
                ctx.vfs.lookup_loading(root, rel.as_bytes(), true)
            };
            node.and_then(|n| ctx.preopen(n, &name).map(|_| ()))
                .map_err(|errno| Error::GuestPath { path, errno })?;
        }
        // The namespace root comes last, so absolute paths work anywhere in the (entirely
        // virtual) namespace while the first preopens keep the numbers programs expect.
        if !root_named && self.root_preopen {
            ctx.preopen(root, "/").map_err(|errno| Error::GuestPath {
                path: "/".into(),
                errno,
            })?;
        }
        Ok((ctx, self.trace))
    }

    /// Finishes the environment for `store`.
    pub fn finalize(self, store: &mut Store) -> Result<WasiFunctionEnv, Error> {
        let limits = self.limits;
        let (filter, time) = (self.trace_filter, self.trace_time);
        let (ctx, trace) = self.build_ctx()?;
        let trace = trace.map(|hook| Arc::new(Mutex::new(Tracer { hook, filter, time })));
        let env = FunctionEnv::new(
            store,
            WasiState {
                ctx: CtxCell::Owned(Box::new(ctx)),
                memory: None,
                trace,
                tables: None,
                thread: None,
            },
        );
        Ok(WasiFunctionEnv { env, limits })
    }
}

/// What a one-call run leaves: the exit code and the whole WASI context (filesystem, fds,
/// captured output).
pub struct RunOutcome {
    /// 0 when `_start` returned, `n` after `proc_exit(n)`.
    pub exit_code: u32,
    /// The context after the run: filesystem, fds, captured output.
    pub ctx: WasiCtx,
}

impl WasiEnvBuilder {
    /// The one-call runner: compiles `wasm` (binary or text; with metering if the limits
    /// set fuel), instantiates it with these WASI imports and runs `_start` within the
    /// limits. For images, host directories, module caches and captured outcomes, use
    /// `strata::sandbox`, which runs through the same steps.
    pub fn run(self, wasm: &[u8]) -> Result<RunOutcome, Error> {
        let mut store = Store::new(engine_for(self.limits.fuel));
        let module = Module::new(&store, wasm).map_err(|e| Error::Compile(e.to_string()))?;
        let env = self.finalize(&mut store)?;
        let instance = env.instantiate(&mut store, &module)?;
        let (exit_code, _) = env.call(&mut store, &instance, None, &[])?;
        let ctx = std::mem::replace(&mut *env.ctx(&mut store), WasiCtx::new(Vfs::default()));
        Ok(RunOutcome { exit_code, ctx })
    }
}

/// The engine to compile with under `fuel`: wasmer's default, or a new metered one, with
/// linear memory and tables counted against the run's budget.
pub fn engine_for(fuel: Option<u64>) -> Engine {
    budgeted(match fuel {
        Some(fuel) => metered_engine(fuel),
        None => Engine::default(),
    })
}

/// A finished WASI environment living in a wasmer `Store`.
pub struct WasiFunctionEnv {
    /// The wasmer function environment the imports are bound to.
    pub env: FunctionEnv<WasiState>,
    limits: ResourceLimits,
}

impl WasiFunctionEnv {
    /// The limits the environment was built with.
    pub fn limits(&self) -> &ResourceLimits {
        &self.limits
    }

    /// `run_instance` within the limits' timeout: a watchdog interrupts the guest when its
    /// time is up (`Error::Timeout`), and waits in `poll_oneoff` end by then. In a
    /// wasi-threads program this is the main thread: the call returns when the program
    /// ends, from whichever thread ended it, after the other threads were stopped.
    pub fn call(
        &self,
        store: &mut Store,
        instance: &Instance,
        func: Option<&str>,
        args: &[wasmer::Value],
    ) -> Result<(u32, Box<[wasmer::Value]>), Error> {
        let group = self
            .env
            .as_ref(store)
            .thread
            .as_ref()
            .map(|t| t.group.clone());
        let Some(group) = group else {
            return self.call_within_time(store, instance, func, args, None);
        };
        if !group.enter(threads::MAIN, store) {
            return Err(Error::Host("the program was already run".into()));
        }
        let result = self.call_within_time(store, instance, func, args, Some(&group));
        group.leave(threads::MAIN);
        // `_start` returning ends the program as `proc_exit(0)` would.
        let end = match &result {
            Ok((code, _)) => End::Exit(*code),
            Err(Error::Trap(msg)) => End::Trap(msg.clone()),
            Err(Error::Timeout) => End::Timeout,
            Err(Error::OutOfFuel) => End::OutOfFuel,
            Err(_) => End::Trap("host error".into()),
        };
        group.end(end.clone());
        group.join_threads();
        let outcome = group.outcome().unwrap_or(end.clone());
        match (outcome, result) {
            (outcome, result) if outcome == end => result,
            (End::Exit(code), _) => Ok((code, Box::new([]))),
            (End::Trap(msg), _) => Err(Error::Trap(msg)),
            (End::Timeout, _) => Err(Error::Timeout),
            (End::OutOfFuel, _) => Err(Error::OutOfFuel),
        }
    }

    fn call_within_time(
        &self,
        store: &mut Store,
        instance: &Instance,
        func: Option<&str>,
        args: &[wasmer::Value],
        group: Option<&Arc<ThreadGroup>>,
    ) -> Result<(u32, Box<[wasmer::Value]>), Error> {
        // No timeout, or one too far off to matter (`Duration::MAX`).
        let Some(deadline) = self
            .limits
            .timeout
            .and_then(|t| Instant::now().checked_add(t))
        else {
            return run_instance(store, instance, func, args);
        };
        if cfg!(not(unix)) {
            return Err(Error::Host(
                "timeouts need a unix host (wasmer's host interrupts)".into(),
            ));
        }
        let slot = {
            let mut ctx = self.ctx(store);
            let inner =
                std::mem::replace(&mut ctx.environment, Box::new(HostEnvironment::default()));
            let deadline_env = DeadlineEnvironment::new(inner, deadline);
            let slot = deadline_env.slot();
            ctx.environment = Box::new(deadline_env);
            slot
        };
        // Every thread of the program stops at the deadline.
        let on_fire = group.map(|g| {
            let g = g.clone();
            Box::new(move || g.end(End::Timeout)) as Box<dyn FnOnce() + Send>
        });
        let watchdog = Watchdog::start(store, deadline, on_fire);
        let result = run_instance(store, instance, func, args);
        let fired = watchdog.stop();
        // Give the guest its own environment back for later calls.
        if let Some(inner) = slot.take() {
            self.ctx(store).environment = inner;
        }
        match result {
            Err(Error::Trap(_)) if fired => Err(Error::Timeout),
            // Woken by the deadline from a wait that had longer to go: the guest did not
            // finish in time, even if it returned before the interrupt landed.
            Ok(_) | Err(Error::Trap(_)) if slot.cut_short() => Err(Error::Timeout),
            r => r,
        }
    }

    /// The imports for `module`: both WASI namespaces, and for a wasi-threads program (one
    /// that imports a shared memory) that memory and `wasi.thread-spawn`. Fails, naming the
    /// import, if the module needs a function neither provides.
    pub fn import_object(&self, store: &mut Store, module: &Module) -> Result<Imports, Error> {
        refuse_own_shared_memory(module)?;
        let threaded = threads::is_threaded(module);
        let mut imports = imports::wasi_imports(store, &self.env, threaded);
        if threaded {
            let state = self.env.as_mut(store);
            let (ctx, trace) = (state.ctx.share(), state.trace.clone());
            let budget = lock(&ctx).vfs.budget().cloned();
            let group = ThreadGroup::new(store, module, ctx, trace, &self.limits, budget)?;
            group.define_imports(store, &self.env, &mut imports)?;
            self.env.as_mut(store).thread = Some(ThreadLink {
                tid: threads::MAIN,
                group,
            });
        }
        for import in module.imports() {
            if matches!(import.module(), "wasi_snapshot_preview1" | "wasi_unstable")
                && !imports.exists(import.module(), import.name())
            {
                return Err(Error::MissingImport {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }
        Ok(imports)
    }

    /// Instantiates `module` with these WASI imports and nothing else, and hands it its
    /// memory: fails naming the first import strata does not provide, or if the module uses
    /// a shared memory (see `Error::SharedMemory`).
    pub fn instantiate(&self, store: &mut Store, module: &Module) -> Result<Instance, Error> {
        self.instantiate_imaged(store, module, None)
    }

    /// `instantiate`, with `image` kept beside `module` for all its instances: the first
    /// instance saves its initialised memory into it, and later ones start from a private
    /// copy-on-write mapping of it instead of copying the module's data segments again
    /// (with an engine made by `budgeted`, on Linux, for modules whose initial memory is the
    /// same for every instance; otherwise the image stays empty and changes nothing). An
    /// image must only ever be used with the one module.
    pub fn instantiate_imaged(
        &self,
        store: &mut Store,
        module: &Module,
        image: Option<&MemoryImage>,
    ) -> Result<Instance, Error> {
        let imports = self.import_object(store, module)?;
        Self::check_imports(&imports, module)?;
        // The instance's memories and tables count against the run's budget (engines made
        // by `budgeted`; other engines ignore it).
        let budget = self.ctx(store).vfs.budget().cloned();
        let file = image.and_then(MemoryImage::file);
        let (instance, tables) = memory_budget::with_budget(budget, || {
            memory_budget::with_image(file, || {
                Instance::new(store, module, &imports)
                    .map_err(|e| Error::Instantiate(e.to_string()))
            })
        });
        let instance = instance?;
        if let Some(image) = image {
            image.record(store, module, &instance);
        }
        self.env.as_mut(store).tables = tables;
        self.initialize(store, &instance)?;
        Ok(instance)
    }

    /// Fails, naming the first one, if `module` needs an import that `imports` lacks: a
    /// clearer message than instantiation's, for runners that provide nothing beyond WASI.
    pub fn check_imports(imports: &Imports, module: &Module) -> Result<(), Error> {
        match module
            .imports()
            .find(|i| !imports.exists(i.module(), i.name()))
        {
            Some(i) => Err(Error::MissingImport {
                module: i.module().to_string(),
                name: i.name().to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Gives the environment the instance's exported memory; call after instantiation.
    pub fn initialize(&self, store: &mut Store, instance: &Instance) -> Result<(), Error> {
        let memory = instance
            .exports
            .get_memory("memory")
            .map_err(|_| Error::NoMemory)?
            .clone();
        let state = self.env.as_mut(store);
        // A shared memory is only handed over with the threads machinery that copes with it.
        if state.thread.is_none() && memory.ty(store).shared {
            return Err(Error::SharedMemory);
        }
        self.env.as_mut(store).memory = Some(memory);
        Ok(())
    }

    /// The WASI context (filesystem, fds, captured output) after or between calls (locked:
    /// let it go before calling the guest again).
    pub fn ctx<'a>(&self, store: &'a mut Store) -> CtxGuard<'a> {
        self.env.as_mut(store).ctx.get()
    }
}

/// `Error::SharedMemory` if `module` defines a shared memory of its own (exports one it does
/// not import).
fn refuse_own_shared_memory(module: &Module) -> Result<(), Error> {
    let shared = |t: &ExternType| matches!(t, ExternType::Memory(m) if m.shared);
    let exported = module.exports().any(|e| shared(e.ty()));
    let imported = module.imports().any(|i| shared(i.ty()));
    match exported && !imported {
        true => Err(Error::SharedMemory),
        false => Ok(()),
    }
}

/// Runs the entry point (`_start`, or `func` for reactors after `_initialize`) and returns
/// the guest's exit code: 0 when it returns normally, `n` after `proc_exit(n)`.
pub fn run_instance(
    store: &mut Store,
    instance: &Instance,
    func: Option<&str>,
    args: &[wasmer::Value],
) -> Result<(u32, Box<[wasmer::Value]>), Error> {
    let call = |store: &mut Store,
                name: &str,
                args: &[wasmer::Value]|
     -> Result<Result<Box<[wasmer::Value]>, u32>, Error> {
        let f = instance
            .exports
            .get_function(name)
            .map_err(|_| Error::NoExport(name.to_string()))?;
        match f.call(store, args) {
            Ok(v) => Ok(Ok(v)),
            Err(e) => match e.downcast::<ExitCode>() {
                Ok(ExitCode(code)) => Ok(Err(code)),
                Err(e) if e.clone().to_trap() == Some(TrapCode::HostInterrupt) => {
                    Err(Error::Timeout)
                }
                Err(_) if metering::fuel_exhausted(store, instance) => Err(Error::OutOfFuel),
                Err(e) => Err(Error::Trap(e.message())),
            },
        }
    };
    match func {
        None => match call(store, "_start", &[])? {
            Ok(_) => Ok((0, Box::new([]))),
            Err(code) => Ok((code, Box::new([]))),
        },
        Some(name) => {
            if instance.exports.get_function("_initialize").is_ok()
                && let Err(code) = call(store, "_initialize", &[])?
            {
                return Ok((code, Box::new([])));
            }
            match call(store, name, args)? {
                Ok(v) => Ok((0, v)),
                Err(code) => Ok((code, Box::new([]))),
            }
        }
    }
}
