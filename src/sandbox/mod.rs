//! The run specification and the one place a run is assembled. A [`SandboxBuilder`] holds
//! everything a run can be given (images, host directories, files, arguments, environment,
//! stdio, preopens, limits, faults, determinism, trace, entry point, exports); `build`
//! prepares the filesystem once, and [`Sandbox::run`] runs a [`Program`] on an O(1)
//! copy-on-write fork of it, any number of times, on any number of threads. The `strata`
//! command line is a translation of flags into this builder.
//!
//! ```
//! use strata::sandbox::{Program, Sandbox, Status};
//!
//! // A guest that prints "ok" and the first 4 random bytes it gets.
//! let wat = r#"(module
//!   (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
//!   (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (data (i32.const 8) "ok\n")
//!   (func (export "_start")
//!     (i32.store (i32.const 0) (i32.const 8)) (i32.store (i32.const 4) (i32.const 3))
//!     (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100)))
//!     (drop (call $r (i32.const 200) (i32.const 4)))
//!     (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 4))
//!     (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100)))))"#;
//! let program = Program::from_bytes(wat)?;
//! let sandbox = Sandbox::builder()
//!     .file("/etc/motd", "hello")
//!     .deterministic(42)
//!     .build()?;
//! let a = sandbox.run(&program)?;
//! let b = sandbox.run(&program)?;
//! assert_eq!(a.status, Status::Exited(0));
//! assert!(a.stdout.starts_with(b"ok\n"));
//! assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
//! assert_eq!(a.read("/etc/motd")?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod namespace;
mod outcome;
mod program;

/// Managing the on-disk module cache (what `strata cache` shows and prunes): entries, their
/// sizes and last use, least-recently-used pruning to a size, and removal of entries other
/// strata versions wrote. Its directory is `CachePolicy::Default.disk_dir()`.
pub mod module_cache {
    pub use crate::runtime::cache::{
        DEFAULT_COMPRESS_FROM, DEFAULT_MAX_BYTES, DEFAULT_ZSTD_LEVEL, EntryInfo, Pruned,
        compress_from, compression_level, entries, max_bytes, prune, prune_other_generations,
    };
}

pub use crate::image::Image;
pub use crate::runtime::cache::CacheOutcome;
pub use crate::runtime::{Error, ErrorInput, ResourceLimits, WASMER_VERSION};
pub use crate::wasi::faults::Fault;
pub use crate::wasi::trace::{TraceEvent, TraceFilter};
pub use outcome::{Outcome, Status, Value};
pub use program::{CachePolicy, Program, ProgramOptions};

use crate::runtime::{TraceFn, WasiEnv};
use crate::vfs::{Clock, SteppingClock, SystemClock};
use crate::wasi::ctx::{Capture, Input, Output, WasiCtx};
use crate::wasi::deterministic::{DeterministicEnvironment, REALTIME_START_NS, STEP_NS};
use bytes::Bytes;
use namespace::Prepared;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmer::{Store, Type};

/// Where an image layer comes from.
#[derive(Clone)]
pub enum ImageSource {
    /// An image already loaded (shared, never copied).
    Shared(Arc<Image>),
    /// A tar or tar.gz file, loaded through the process-wide `ImageCache` (memory-mapped).
    File(PathBuf),
    /// A tar or tar.gz in memory, loaded through the `ImageCache` by content digest.
    Bytes(Bytes),
}

/// Whether the guest may write to a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Writes go to the run's copy-on-write layer above it.
    #[default]
    ReadWrite,
    /// Every write through it fails with `EROFS`.
    ReadOnly,
}

/// Where the guest's stdin comes from. What the guest is told it is (`fd_fdstat_get`, so
/// wasi-libc's `isatty`): `Inherit` is what strata's own stdin is (a terminal, a regular
/// file, or `UNKNOWN` for a pipe, a socket or anything else; always `UNKNOWN` in
/// deterministic runs), `File` is `REGULAR_FILE` (`UNKNOWN` if it is no regular file),
/// `Empty` and `Bytes` are `UNKNOWN`, like a pipe. Only a terminal reads as a terminal.
#[derive(Clone, Debug, Default)]
pub enum Stdin {
    /// At end of file at once.
    #[default]
    Empty,
    /// These bytes, then end of file.
    Bytes(Bytes),
    /// This host file, opened afresh by every run.
    File(PathBuf),
    /// The host process's own stdin.
    Inherit,
}

/// Where the guest's stdout or stderr goes. What the guest is told it is, as for `Stdin`:
/// `Inherit` is what strata's own stream is (`UNKNOWN` in deterministic runs), `File` is
/// `REGULAR_FILE`, `Capture` and `Null` are `UNKNOWN`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Stream {
    /// Into the outcome (`Outcome::stdout`, `Outcome::stderr`).
    #[default]
    Capture,
    /// The host process's own stream, written through as the guest writes.
    Inherit,
    /// This host file, created (or truncated) by every run and written through.
    File(PathBuf),
    /// Nowhere.
    Null,
}

/// Which directories the guest gets as preopened fds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preopens {
    /// The host directories from fd 3 in the order given, then the namespace root as `/`
    /// (unless a directory was already mounted at `/`): absolute paths work anywhere.
    #[default]
    DirsThenRoot,
    /// Exactly the host directories, as under wasmtime.
    DirsOnly,
}

/// Receives one line per traced WASI call, without a newline, e.g.
/// `path_open(3, "etc/motd", lookup=SYMLINK_FOLLOW, ...) = 4` (the format is described in
/// `strata::wasi::trace`).
pub type TraceSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the WASI call trace goes: one line per call, the same lines whichever the
/// destination (stderr only prefixes them). Which calls, and whether timed:
/// `SandboxBuilder::trace_filter` and `trace_time`.
#[derive(Clone, Default)]
pub enum Trace {
    /// Nowhere, and nothing is decoded.
    #[default]
    Off,
    /// To the host's stderr, each line prefixed with `strata: trace: `.
    Stderr,
    /// To this host file, created (or truncated) by every run; a write error fails the run
    /// (`ErrorInput::TraceFile`).
    File(PathBuf),
    /// To a function of the embedder's.
    Sink(TraceSink),
}

#[derive(Clone)]
struct ImageLayer {
    source: ImageSource,
    guest: String,
    mode: Mode,
}

#[derive(Clone)]
struct DirLayer {
    host: PathBuf,
    guest: String,
    mode: Mode,
}

/// An exported function to call instead of `_start`, with its arguments as text (parsed by
/// the export's parameter types: `i32`, `i64`, `f32`, `f64`).
#[derive(Clone, Debug)]
struct Invoke {
    func: String,
    args: Vec<String>,
}

/// Collects what a sandbox holds; see the module documentation.
#[derive(Default)]
pub struct SandboxBuilder {
    images: Vec<ImageLayer>,
    dirs: Vec<DirLayer>,
    files: Vec<(String, Bytes)>,
    spec: RunSpec,
}

/// What every run of a sandbox is given besides its filesystem.
#[derive(Clone, Default)]
struct RunSpec {
    argv0: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Stdin,
    stdout: Stream,
    stderr: Stream,
    preopens: Preopens,
    seed: Option<u64>,
    limits: ResourceLimits,
    faults: Vec<Fault>,
    trace: Trace,
    trace_filter: TraceFilter,
    trace_time: bool,
    invoke: Option<Invoke>,
    export_fs: Option<PathBuf>,
    export_diff: Option<PathBuf>,
}

impl SandboxBuilder {
    /// Mounts an image (shared, never copied) at `/`.
    pub fn image(self, image: Arc<Image>) -> Self {
        self.image_at(image, "/")
    }

    /// Mounts an image at `guest` (created if missing); each run writes into a fork of it.
    pub fn image_at(self, image: Arc<Image>, guest: impl Into<String>) -> Self {
        self.layer(ImageSource::Shared(image), guest, Mode::ReadWrite)
    }

    /// Mounts the tar or tar.gz file at `path` at `guest`, loaded once per process through
    /// the `ImageCache` however many sandboxes name it.
    pub fn image_file(self, path: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.layer(ImageSource::File(path.into()), guest, Mode::ReadWrite)
    }

    /// Mounts an image layer at `guest`. Layers at the same guest path stack as OCI layers
    /// in the order given, lowest first (`.wh.` whiteouts and opaque markers apply); the
    /// stack at `/` is the root. `Mode::ReadOnly` on any layer of a stack makes it read-only.
    pub fn layer(mut self, source: ImageSource, guest: impl Into<String>, mode: Mode) -> Self {
        self.images.push(ImageLayer {
            source,
            guest: guest.into(),
            mode,
        });
        self
    }

    /// Imports the host directory `host` at `guest` and preopens it, lazily: `build` only opens
    /// it; each directory is read when a run first needs it, each file's contents when first
    /// opened (see `image::host` for what a run sees if the host changes); the host is never
    /// written. At `/` the tree is
    /// merged into the root (over any image there); elsewhere it is mounted on a filesystem
    /// of its own. Directories are imported after every image, in the order given.
    pub fn dir(self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dir_with(host, guest, Mode::ReadWrite)
    }

    /// `dir` with a mode: `Mode::ReadOnly` makes every write beneath it fail with `EROFS`.
    pub fn dir_with(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        mode: Mode,
    ) -> Self {
        self.dirs.push(DirLayer {
            host: host.into(),
            guest: guest.into(),
            mode,
        });
        self
    }

    /// Writes a file (parents created) into the prepared filesystem, after images and
    /// directories.
    pub fn file(mut self, guest: impl Into<String>, contents: impl Into<Bytes>) -> Self {
        self.files.push((guest.into(), contents.into()));
        self
    }

    /// The guest's `argv[0]` (default: the program's file name).
    pub fn argv0(mut self, name: impl Into<String>) -> Self {
        self.spec.argv0 = Some(name.into());
        self
    }

    /// Arguments after `argv[0]`.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.spec.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.env.push((key.into(), value.into()));
        self
    }

    /// Stdin of every run: these bytes (default: empty).
    pub fn stdin(self, data: impl Into<Bytes>) -> Self {
        self.stdin_from(Stdin::Bytes(data.into()))
    }

    /// Stdin of every run, from anywhere (`Stdin::File`, `Stdin::Inherit`, ...).
    pub fn stdin_from(mut self, stdin: Stdin) -> Self {
        self.spec.stdin = stdin;
        self
    }

    /// Where stdout goes (default: captured into the outcome).
    pub fn stdout(mut self, stream: Stream) -> Self {
        self.spec.stdout = stream;
        self
    }

    /// Where stderr goes (default: captured into the outcome).
    pub fn stderr(mut self, stream: Stream) -> Self {
        self.spec.stderr = stream;
        self
    }

    /// Which directories are preopened (default: the host directories, then `/`).
    pub fn preopens(mut self, preopens: Preopens) -> Self {
        self.spec.preopens = preopens;
        self
    }

    /// Every resource limit at once (default: `ResourceLimits::default()`).
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.spec.limits = limits;
        self
    }

    /// The memory budget of each run (`ResourceLimits::max_memory`, `--max-memory`): its
    /// linear memory, tables, captured output, arguments and environment, and what it writes
    /// into its filesystem layers beyond the prepared filesystem (shared, not counted).
    /// Beyond it `memory.grow` returns -1 and writes and creations fail with `ENOSPC`.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.spec.limits.max_memory = bytes;
        self
    }

    /// Inodes each run may create; beyond, `ENOSPC`.
    pub fn max_inodes(mut self, inodes: u64) -> Self {
        self.spec.limits.max_inodes = inodes;
        self
    }

    /// Open fds of each run, stdio and preopens included; beyond, `EMFILE`.
    pub fn max_fds(mut self, fds: u32) -> Self {
        self.spec.limits.max_fds = fds;
        self
    }

    /// Guest threads a wasi-threads program may run at once, its main thread included
    /// (`ResourceLimits::max_threads`, `--max-threads`); a `thread-spawn` beyond fails.
    pub fn max_threads(mut self, threads: u32) -> Self {
        self.spec.limits.max_threads = threads;
        self
    }

    /// Wall-clock time of each run; then it stops with `Status::TimedOut`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.spec.limits.timeout = Some(timeout);
        self
    }

    /// Fuel of each run (one unit per WebAssembly operator); then it stops with
    /// `Status::OutOfFuel`. Programs are compiled once more with metering (cached).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.spec.limits.fuel = Some(fuel);
        self
    }

    /// Injects a fault into every run (see `strata::wasi::faults`), counted afresh in each
    /// run, so every run fails the same calls. Faults add up.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.spec.faults.push(fault);
        self
    }

    /// Deterministic runs: virtual clocks from 2000-01-01 advancing 1 µs per reading,
    /// file timestamps from the same kind of clock (the prepared filesystem's too, mount
    /// points included), random bytes from a ChaCha generator seeded with `seed`; inherited
    /// stdio reports `UNKNOWN`, never a terminal. Same inputs, same seed: byte-identical
    /// outputs and filesystem.
    pub fn deterministic(mut self, seed: u64) -> Self {
        self.spec.seed = Some(seed);
        self
    }

    /// Where the WASI call trace goes (default: nowhere). Deterministic runs trace the same
    /// lines every time.
    pub fn trace(mut self, trace: Trace) -> Self {
        self.spec.trace = trace;
        self
    }

    /// Which calls are traced (default: all), e.g. `TraceFilter::parse("fs,!fd_write")?`.
    pub fn trace_filter(mut self, filter: TraceFilter) -> Self {
        self.spec.trace_filter = filter;
        self
    }

    /// Whether each trace line ends with the host time the call took, ` <0.000001234>`
    /// (default: no). Ignored by deterministic runs, whose traces are byte-identical.
    pub fn trace_time(mut self, on: bool) -> Self {
        self.spec.trace_time = on;
        self
    }

    /// Calls the export `func` (after `_initialize`, if exported) instead of `_start`, with
    /// `args` parsed by its parameter types; `Outcome::results` holds what it returns.
    pub fn invoke<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        func: impl Into<String>,
        args: I,
    ) -> Self {
        self.spec.invoke = Some(Invoke {
            func: func.into(),
            args: args.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// After each run, writes the whole final filesystem as a reproducible tar to `path`.
    pub fn export_fs(mut self, path: impl Into<PathBuf>) -> Self {
        self.spec.export_fs = Some(path.into());
        self
    }

    /// After each run, writes what it changed as a tar layer with OCI whiteouts to `path`.
    pub fn export_diff(mut self, path: impl Into<PathBuf>) -> Self {
        self.spec.export_diff = Some(path.into());
        self
    }

    /// Loads the images and host directories and prepares the filesystem every run forks.
    pub fn build(self) -> Result<Sandbox, Error> {
        let prepared = namespace::assemble(
            &self.images,
            &self.dirs,
            &self.files,
            run_clock(self.spec.seed),
        )?;
        Ok(Sandbox {
            prepared,
            spec: self.spec,
        })
    }
}

/// The clock of a run's filesystem: virtual and restarted for every deterministic run, so
/// timestamps repeat exactly.
fn run_clock(seed: Option<u64>) -> Arc<dyn Clock> {
    match seed {
        Some(_) => Arc::new(SteppingClock::new(REALTIME_START_NS, STEP_NS)),
        None => Arc::new(SystemClock),
    }
}

/// A prepared filesystem plus everything else a run is given: run programs in it.
pub struct Sandbox {
    prepared: Prepared,
    spec: RunSpec,
}

impl Sandbox {
    /// Starts describing a sandbox; see [`SandboxBuilder`].
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// Runs `program` on a fresh fork of the prepared filesystem. A trap, a timeout or
    /// running out of fuel is an outcome (`Outcome::status`); `Err` means the run could not
    /// be set up (or its exports written).
    pub fn run(&self, program: &Program) -> Result<Outcome, Error> {
        let spec = &self.spec;
        let mut vfs = self.prepared.vfs.clone();
        if spec.seed.is_some() {
            vfs.set_clock(run_clock(spec.seed));
        }
        let argv0 = spec.argv0.clone().unwrap_or_else(|| program.name().into());
        // Refused before they are copied for the run (the runtime charges the copy).
        let args: &[String] = match spec.invoke {
            None => &spec.args,
            Some(_) => &[],
        };
        let cost = crate::runtime::args_env_cost(
            std::iter::once(argv0.as_str()).chain(args.iter().map(String::as_str)),
            spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if cost > spec.limits.max_memory {
            return Err(Error::ArgsTooLarge {
                bytes: cost,
                max_memory: spec.limits.max_memory,
            });
        }
        let mut builder = WasiEnv::builder(argv0)
            .fs(vfs)
            .limits(spec.limits)
            .root_preopen(spec.preopens == Preopens::DirsThenRoot)
            // A deterministic run's guest must not learn whether strata's own streams are
            // terminals, pipes or files: inherited ones are all `UNKNOWN`.
            .inspect_host_stdio(spec.seed.is_none())
            .stdin(stdin(&spec.stdin)?);
        if spec.invoke.is_none() {
            builder = builder.args(spec.args.iter().cloned());
        }
        for (k, v) in &spec.env {
            builder = builder.env(k, v);
        }
        for (path, name) in &self.prepared.preopens {
            builder = builder.preopen(path.clone(), name.clone());
        }
        for f in &spec.faults {
            builder = builder.fault(f.clone());
        }
        let (stdout, out) = output(&spec.stdout)?;
        let (stderr, err) = output(&spec.stderr)?;
        builder = builder.stdout(out).stderr(err);
        let trace_file = match &spec.trace {
            Trace::File(p) => Some(TraceFile::create(p)?),
            _ => None,
        };
        let hook: Option<TraceFn> = match &spec.trace {
            Trace::Off => None,
            Trace::Stderr => Some(Box::new(|event| eprintln!("strata: trace: {event}"))),
            Trace::File(_) => trace_file.as_ref().map(TraceFile::hook),
            Trace::Sink(sink) => {
                let sink = sink.clone();
                Some(Box::new(move |event| sink(&event.to_string())))
            }
        };
        if let Some(hook) = hook {
            builder = builder
                .trace(hook)
                .trace_filter(spec.trace_filter)
                // Host times would make deterministic traces differ.
                .trace_time(spec.trace_time && spec.seed.is_none());
        }

        let (module, engine, image) = program.for_fuel(spec.limits.fuel)?;
        let mut store = Store::new(engine);
        let env = builder.finalize(&mut store)?;
        if let Some(seed) = spec.seed {
            env.ctx(&mut store).environment = Box::new(DeterministicEnvironment::new(seed));
        }
        let instance = env.instantiate_imaged(&mut store, &module, Some(&image))?;
        let called = match &spec.invoke {
            None => env.call(&mut store, &instance, None, &[]),
            Some(inv) => {
                let values = invoke_args(&mut store, &instance, inv)?;
                env.call(&mut store, &instance, Some(&inv.func), &values)
            }
        };
        let (status, results) = match called {
            Ok((code, results)) => (Status::Exited(code), results.iter().map(value).collect()),
            Err(Error::Trap(msg)) => (Status::Trapped(msg), Vec::new()),
            Err(Error::Timeout) => (
                Status::TimedOut(spec.limits.timeout.unwrap_or_default()),
                Vec::new(),
            ),
            Err(Error::OutOfFuel) => (
                Status::OutOfFuel(spec.limits.fuel.unwrap_or_default()),
                Vec::new(),
            ),
            Err(e) => return Err(e),
        };
        if let Some(f) = trace_file {
            f.finish()?;
        }
        let ctx = std::mem::replace(&mut *env.ctx(&mut store), WasiCtx::new(Default::default()));
        let outcome = Outcome {
            status,
            // Moved, not copied: a run that filled its budget with output must not need twice
            // that to hand it over.
            stdout: stdout.map(|c| c.take()).unwrap_or_default(),
            stderr: stderr.map(|c| c.take()).unwrap_or_default(),
            results,
            fs: ctx.into_vfs(),
            mounts: self.prepared.mounts.clone(),
            bases: self
                .prepared
                .mounts
                .iter()
                .filter_map(|(_, id)| self.prepared.vfs.fs(*id).ok().cloned())
                .collect(),
        };
        self.write_exports(&outcome)?;
        Ok(outcome)
    }

    fn write_exports(&self, outcome: &Outcome) -> Result<(), Error> {
        let create = |p: &PathBuf| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|e| Error::input(ErrorInput::ExportFile(p.clone()), e))
        };
        let fail = |p: &PathBuf, e: &dyn std::fmt::Display| {
            Error::input(ErrorInput::ExportFile(p.clone()), e)
        };
        let flush = |p: &PathBuf, mut w: std::io::BufWriter<std::fs::File>| {
            std::io::Write::flush(&mut w).map_err(|e| fail(p, &e))
        };
        if let Some(p) = &self.spec.export_fs {
            let w = outcome.write_fs(create(p)?).map_err(|e| fail(p, &e))?;
            flush(p, w)?;
        }
        if let Some(p) = &self.spec.export_diff {
            let w = outcome.write_diff(create(p)?).map_err(|e| fail(p, &e))?;
            flush(p, w)?;
        }
        Ok(())
    }
}

/// The syscall layer's stdin for one run.
fn stdin(stdin: &Stdin) -> Result<Input, Error> {
    Ok(match stdin {
        Stdin::Empty => Input::Null,
        Stdin::Bytes(b) => Input::Bytes {
            data: b.to_vec(),
            pos: 0,
        },
        Stdin::File(p) => Input::File(
            std::fs::File::open(p)
                .map_err(|e| Error::input(ErrorInput::StdinFile(p.clone()), e))?,
        ),
        Stdin::Inherit => Input::Inherit,
    })
}

/// The syscall layer's output for one run, and the buffer that captures it.
fn output(stream: &Stream) -> Result<(Option<Capture>, Output), Error> {
    Ok(match stream {
        Stream::Capture => {
            let c = Capture::default();
            (Some(c.clone()), Output::Capture(c))
        }
        Stream::Inherit => (None, Output::Inherit),
        Stream::File(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| Error::input(ErrorInput::OutputFile(p.clone()), e))?;
            (None, Output::File(Arc::new(f)))
        }
        Stream::Null => (None, Output::Null),
    })
}

/// A run's trace file: lines are buffered, and the first write error is kept for `finish`.
struct TraceFile {
    path: PathBuf,
    out: Arc<Mutex<(BufWriter<File>, Option<std::io::Error>)>>,
}

impl TraceFile {
    fn create(path: &Path) -> Result<TraceFile, Error> {
        let f = File::create(path)
            .map_err(|e| Error::input(ErrorInput::TraceFile(path.to_path_buf()), e))?;
        Ok(TraceFile {
            path: path.to_path_buf(),
            out: Arc::new(Mutex::new((BufWriter::new(f), None))),
        })
    }

    fn hook(&self) -> TraceFn {
        let out = self.out.clone();
        Box::new(move |event| {
            if let Ok(mut guard) = out.lock() {
                let (w, err) = &mut *guard;
                if err.is_none()
                    && let Err(e) = writeln!(w, "{event}")
                {
                    *err = Some(e);
                }
            }
        })
    }

    /// Flushes the file; the first error writing it, if any.
    fn finish(self) -> Result<(), Error> {
        let fail = |e: std::io::Error| Error::input(ErrorInput::TraceFile(self.path.clone()), e);
        let mut guard = self
            .out
            .lock()
            .map_err(|_| Error::Host("trace file lock poisoned".into()))?;
        let (w, err) = &mut *guard;
        match err.take() {
            Some(e) => Err(fail(e)),
            None => w.flush().map_err(fail),
        }
    }
}

/// `inv.args` parsed by the types of the export's parameters.
fn invoke_args(
    store: &mut Store,
    instance: &wasmer::Instance,
    inv: &Invoke,
) -> Result<Vec<wasmer::Value>, Error> {
    let func = &inv.func;
    let f = instance
        .exports
        .get_function(func)
        .map_err(|_| Error::NoExport(func.clone()))?;
    let ty = f.ty(store);
    if ty.params().len() != inv.args.len() {
        return Err(Error::Invoke(format!(
            "{func} expects {} argument(s), got {}",
            ty.params().len(),
            inv.args.len()
        )));
    }
    ty.params()
        .iter()
        .zip(&inv.args)
        .map(|(t, s)| parse_value(t, s))
        .collect()
}

fn parse_value(ty: &Type, s: &str) -> Result<wasmer::Value, Error> {
    use wasmer::Value as V;
    let bad = || Error::Invoke(format!("argument {s:?} is not a valid {ty}"));
    Ok(match ty {
        Type::I32 => V::I32(
            s.parse::<i32>()
                .or_else(|_| s.parse::<u32>().map(|v| v as i32))
                .map_err(|_| bad())?,
        ),
        Type::I64 => V::I64(
            s.parse::<i64>()
                .or_else(|_| s.parse::<u64>().map(|v| v as i64))
                .map_err(|_| bad())?,
        ),
        Type::F32 => V::F32(s.parse().map_err(|_| bad())?),
        Type::F64 => V::F64(s.parse().map_err(|_| bad())?),
        _ => {
            return Err(Error::Invoke(format!(
                "cannot pass a {ty} parameter as text"
            )));
        }
    })
}

fn value(v: &wasmer::Value) -> Value {
    match v {
        wasmer::Value::I32(v) => Value::I32(*v),
        wasmer::Value::I64(v) => Value::I64(*v),
        wasmer::Value::F32(v) => Value::F32(*v),
        wasmer::Value::F64(v) => Value::F64(*v),
        other => Value::Other(format!("{other:?}")),
    }
}
