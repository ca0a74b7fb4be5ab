//! The sandbox builder for tests and tools: prepare a filesystem once (images, host
//! directories, setup writes), then run modules in it any number of times, on any number of
//! threads. Each run works on an O(1) copy-on-write fork of the prepared filesystem, so runs
//! never see each other's writes and cost memory only for what they write. Compiled modules
//! are cached in memory by content hash (and, on request, on disk).
//!
//! ```
//! use strata::sandbox::{Program, Sandbox};
//!
//! // A guest that prints its first argument and the first 4 random bytes it gets.
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
//! let program = Program::from_bytes(wat.as_bytes())?;
//! let sandbox = Sandbox::builder()
//!     .file("/etc/motd", "hello")
//!     .deterministic(42)
//!     .build()?;
//! let a = sandbox.run(&program)?;
//! let b = sandbox.run(&program)?;
//! assert_eq!(a.exit_code, 0);
//! assert!(a.stdout.starts_with(b"ok\n"));
//! assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
//! assert_eq!(a.read("/etc/motd")?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::image::{ExportOptions, Image, ImageCache, LoadOptions, export_vfs, write_diff};
use crate::limits::ResourceLimits;
use crate::runtime::{Error, WasiEnv, WasiFunctionEnv, metered_engine};
use crate::vfs::{Clock, FileData, MemFs, NodeId, SteppingClock, SystemClock, Vfs};
use crate::wasi::ctx::WasiCtx;
use crate::wasi::deterministic::{DeterministicEnvironment, REALTIME_START_NS, STEP_NS};
use crate::wasi::faults::Fault;
use dashmap::DashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use wasmer::{Engine, Instance, Module, Store};

/// One engine for every sandbox of the process, so compiled modules can be shared.
static ENGINE: LazyLock<Engine> = LazyLock::new(Engine::default);

/// A compiled module and the engine it belongs to.
type Compiled = (Module, Engine);

/// The blake3 hash of a module's bytes and the fuel it is metered with.
type ModuleKey = ([u8; 32], Option<u64>);

/// Compiled modules by the blake3 hash of their bytes and the fuel they were metered with:
/// metering is compiled into the code (and the fuel into its initial state), so a metered
/// module is another module. Metered ones each have their own engine (the metering
/// middleware serves one module).
static MODULES: LazyLock<DashMap<ModuleKey, Compiled>> = LazyLock::new(DashMap::new);

/// The module for `wasm` compiled under `fuel`, from the cache or compiled now.
fn compiled(key: [u8; 32], wasm: &[u8], fuel: Option<u64>) -> Result<Compiled, Error> {
    if let Some(c) = MODULES.get(&(key, fuel)) {
        return Ok(c.clone());
    }
    let engine = match fuel {
        Some(fuel) => metered_engine(fuel),
        None => ENGINE.clone(),
    };
    let module = Module::new(&engine, wasm).map_err(|e| Error::Compile(e.to_string()))?;
    let c = (module, engine);
    MODULES.insert((key, fuel), c.clone());
    Ok(c)
}

/// A compiled module, shareable across sandboxes and threads.
#[derive(Clone)]
pub struct Program {
    module: Module,
    name: String,
    key: [u8; 32],
    /// The module's bytes, for compiling it with metering when a sandbox sets fuel.
    wasm: bytes::Bytes,
}

impl Program {
    /// Compiles `wasm` (binary or text), or takes it from the in-memory cache.
    pub fn from_bytes(wasm: &[u8]) -> Result<Program, Error> {
        let key = *blake3::hash(wasm).as_bytes();
        let (module, _) = compiled(key, wasm, None)?;
        Ok(Program {
            module,
            name: "main.wasm".into(),
            key,
            wasm: bytes::Bytes::copy_from_slice(wasm),
        })
    }

    /// The module and its engine for a run under `fuel`.
    fn for_fuel(&self, fuel: Option<u64>) -> Result<Compiled, Error> {
        match fuel {
            None => Ok((self.module.clone(), ENGINE.clone())),
            Some(_) => compiled(self.key, &self.wasm, fuel),
        }
    }

    /// Reads and compiles the module at `path` (argv[0] is its file name).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Program, Error> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|e| Error::Host(format!("{}: {e}", path.display())))?;
        let mut p = Program::from_bytes(&bytes)?;
        if let Some(n) = path.file_name() {
            p.name = n.to_string_lossy().into_owned();
        }
        Ok(p)
    }
}

enum Setup {
    Image(Arc<Image>, String),
    ImageFile(PathBuf, String),
    Dir(PathBuf, String),
    File(String, Vec<u8>),
}

/// Collects what a sandbox holds; see the module documentation.
#[derive(Default)]
pub struct SandboxBuilder {
    setup: Vec<Setup>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    seed: Option<u64>,
    limits: ResourceLimits,
    faults: Vec<Fault>,
}

impl SandboxBuilder {
    /// Injects a fault into every run (see `strata::wasi::faults`), counted afresh in each
    /// run, so every run fails the same calls. Faults add up.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Every resource limit of each run at once (default: `ResourceLimits::default()`).
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Bytes each run may hold in its filesystem layers beyond the prepared filesystem
    /// (which is shared and does not count); beyond, `ENOSPC`.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.limits.max_memory = bytes;
        self
    }

    /// Inodes each run may create; beyond, `ENOSPC`.
    pub fn max_inodes(mut self, inodes: u64) -> Self {
        self.limits.max_inodes = inodes;
        self
    }

    /// Open fds of each run, stdio and preopens included; beyond, `EMFILE`.
    pub fn max_fds(mut self, fds: u32) -> Self {
        self.limits.max_fds = fds;
        self
    }

    /// Wall-clock time of each run; then it stops with `Error::Timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// Fuel of each run (one unit per WebAssembly operator); then it stops with
    /// `Error::OutOfFuel`. Programs are compiled once more with metering (cached).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.limits.fuel = Some(fuel);
        self
    }

    /// Mounts an image (shared, never copied) at `/`.
    pub fn image(self, image: Arc<Image>) -> Self {
        self.image_at(image, "/")
    }

    /// Mounts an image at `guest` (created if missing); the run writes into a fork of it.
    pub fn image_at(mut self, image: Arc<Image>, guest: impl Into<String>) -> Self {
        self.setup.push(Setup::Image(image, guest.into()));
        self
    }

    /// Mounts the tar or tar.gz image file at `path` at `guest`, loaded through the
    /// process-wide `ImageCache`: any number of sandboxes naming the same file share one
    /// loaded image.
    pub fn image_file(mut self, path: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.setup.push(Setup::ImageFile(path.into(), guest.into()));
        self
    }

    /// Mounts the host directory `host` at `guest` (read lazily, never written) and
    /// preopens it.
    pub fn dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.setup.push(Setup::Dir(host.into(), guest.into()));
        self
    }

    /// Writes a file (parents created) into the prepared filesystem.
    pub fn file(mut self, guest: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.setup.push(Setup::File(guest.into(), contents.into()));
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Stdin of every run (default: empty).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = data.into();
        self
    }

    /// Deterministic runs: virtual clocks from 2000-01-01 advancing 1 µs per reading,
    /// file timestamps from the same kind of clock, random bytes from a ChaCha generator
    /// seeded with `seed`. Same inputs, same seed: byte-identical outputs and filesystem.
    pub fn deterministic(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub fn build(self) -> Result<Sandbox, Error> {
        let clock: Arc<dyn Clock> = match self.seed {
            Some(_) => Arc::new(SteppingClock::new(REALTIME_START_NS, STEP_NS)),
            None => Arc::new(SystemClock),
        };
        let mut vfs = Vfs::new(clock.clone());
        let mut preopens = Vec::new();
        let mut mounts = vec![("/".to_string(), vfs.root())];
        let guest_err = |path: &str, errno| Error::GuestPath {
            path: path.to_string(),
            errno,
        };
        for s in self.setup {
            match s {
                Setup::Image(img, guest) => {
                    let mut fs = img.fs.fork();
                    fs.set_abs_symlinks_in_root(true);
                    let id = mount(&mut vfs, &guest, fs).map_err(|e| guest_err(&guest, e))?;
                    record_mount(&mut mounts, &guest, id);
                }
                Setup::ImageFile(path, guest) => {
                    let img = ImageCache::global()
                        .load_path(&path, &LoadOptions::oci())
                        .map_err(|e| Error::Host(format!("{}: {e}", path.display())))?;
                    let mut fs = img.fs.fork();
                    fs.set_abs_symlinks_in_root(true);
                    let id = mount(&mut vfs, &guest, fs).map_err(|e| guest_err(&guest, e))?;
                    record_mount(&mut mounts, &guest, id);
                }
                Setup::Dir(host, guest) => {
                    let mut fs = MemFs::new(0, clock.clone());
                    fs.set_abs_symlinks_in_root(true);
                    let at = mount(&mut vfs, &guest, fs).map_err(|e| guest_err(&guest, e))?;
                    record_mount(&mut mounts, &guest, at);
                    crate::image::host::import_dir(&mut vfs, at, &host)
                        .map_err(|e| Error::Host(format!("{}: {e}", host.display())))?;
                    preopens.push(guest);
                }
                Setup::File(path, data) => {
                    let rel = path.trim_start_matches('/');
                    let root = vfs.root();
                    if let Some((dir, _)) = rel.rsplit_once('/') {
                        vfs.mkdir_all(root, dir).map_err(|e| guest_err(&path, e))?;
                    }
                    vfs.write_file(root, rel, FileData::from_bytes(data.into()))
                        .map_err(|e| guest_err(&path, e))?;
                }
            }
        }
        Ok(Sandbox {
            prepared: vfs,
            mounts,
            preopens,
            args: self.args,
            env: self.env,
            stdin: self.stdin,
            seed: self.seed,
            limits: self.limits,
            faults: self.faults,
        })
    }
}

/// Notes the filesystem mounted at `guest` (a new root replaces everything before it).
fn record_mount(mounts: &mut Vec<(String, NodeId)>, guest: &str, id: NodeId) {
    let rel = guest.trim_matches('/');
    if rel.is_empty() {
        *mounts = vec![("/".to_string(), id)];
    } else {
        mounts.push((format!("/{rel}"), id));
    }
}

/// Mounts `fs` at `guest`: as the root for `/`, else on a directory created for it.
fn mount(vfs: &mut Vfs, guest: &str, fs: MemFs) -> crate::vfs::Result<crate::vfs::NodeId> {
    let rel = guest.trim_matches('/');
    if rel.is_empty() {
        let clock = vfs.clock().clone();
        *vfs = Vfs::with_root(fs, clock);
        return Ok(vfs.root());
    }
    let root = vfs.root();
    let at = vfs.mkdir_all(root, rel)?;
    vfs.mount(at, fs)
}

/// A prepared filesystem plus arguments, environment and stdin: run modules in it.
pub struct Sandbox {
    prepared: Vfs,
    /// Guest path and root of every filesystem of `prepared`, the root first.
    mounts: Vec<(String, NodeId)>,
    preopens: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    seed: Option<u64>,
    limits: ResourceLimits,
    faults: Vec<Fault>,
}

/// What a run produced.
pub struct Outcome {
    pub exit_code: u32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The filesystem the run left behind.
    pub fs: Vfs,
    mounts: Vec<(String, NodeId)>,
    /// The filesystems as the run found them (O(1) clones), in `mounts` order.
    bases: Vec<MemFs>,
}

impl Outcome {
    /// Contents of the file at the absolute guest path `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        let err = |errno| Error::GuestPath {
            path: path.to_string(),
            errno,
        };
        let root = self.fs.root();
        let id = self
            .fs
            .lookup(root, path.trim_start_matches('/').as_bytes(), true)
            .map_err(err)?;
        let size = self.fs.stat_node(id).map_err(err)?.size;
        let mut buf = vec![0u8; usize::try_from(size).map_err(|_| err(crate::vfs::Errno::Fbig))?];
        let n = self.fs.read(id, 0, &mut buf).map_err(err)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Names in the directory at `path`, in readdir order (without `.` and `..`).
    pub fn list(&self, path: &str) -> Result<Vec<String>, Error> {
        let err = |errno| Error::GuestPath {
            path: path.to_string(),
            errno,
        };
        let root = self.fs.root();
        let rel = path.trim_matches('/');
        let dir = if rel.is_empty() {
            root
        } else {
            self.fs.lookup(root, rel.as_bytes(), true).map_err(err)?
        };
        Ok(self
            .fs
            .readdir(dir, 2)
            .map_err(err)?
            .into_iter()
            .map(|(_, n, _, _)| n.to_string())
            .collect())
    }

    /// What the run changed, as a reproducible tar layer with OCI whiteouts for what it
    /// deleted (`--save-diff`); stacking it over the starting image gives the final tree.
    pub fn diff_tar(&self) -> Result<Vec<u8>, Error> {
        write_diff(&self.fs, &self.mounts, &self.bases, Vec::new())
            .map_err(|e| Error::Host(e.to_string()))
    }

    /// The whole final filesystem as a reproducible tar.
    pub fn export_tar(&self) -> Result<Vec<u8>, Error> {
        export_vfs(
            &self.fs,
            self.fs.root(),
            Vec::new(),
            &ExportOptions::default(),
        )
        .map_err(|e| Error::Host(e.to_string()))
    }
}

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// Runs `program`'s `_start` on a fresh fork of the prepared filesystem.
    pub fn run(&self, program: &Program) -> Result<Outcome, Error> {
        let mut vfs = self.prepared.clone();
        if self.seed.is_some() {
            // Every run restarts the same virtual clock, so timestamps repeat exactly.
            vfs.set_clock(Arc::new(SteppingClock::new(REALTIME_START_NS, STEP_NS)));
        }
        let mut builder = WasiEnv::builder(program.name.clone())
            .args(self.args.iter().cloned())
            .fs(vfs)
            .limits(self.limits)
            .stdin_bytes(self.stdin.clone());
        for (k, v) in &self.env {
            builder = builder.env(k, v);
        }
        for p in &self.preopens {
            builder = builder.preopen(p.clone(), p.clone());
        }
        for f in &self.faults {
            builder = builder.fault(f.clone());
        }
        let stdout = builder.capture_stdout();
        let stderr = builder.capture_stderr();
        let (module, engine) = program.for_fuel(self.limits.fuel)?;
        let mut store = Store::new(engine);
        let env = builder.finalize(&mut store)?;
        if let Some(seed) = self.seed {
            env.ctx(&mut store).environment = Box::new(DeterministicEnvironment::new(seed));
        }
        let imports = env.import_object(&mut store, &module)?;
        WasiFunctionEnv::check_imports(&imports, &module)?;
        let instance = Instance::new(&mut store, &module, &imports)
            .map_err(|e| Error::Instantiate(e.to_string()))?;
        env.initialize(&mut store, &instance)?;
        let (exit_code, _) = env.call(&mut store, &instance, None, &[])?;
        let ctx = std::mem::replace(env.ctx(&mut store), WasiCtx::new(Vfs::default()));
        Ok(Outcome {
            exit_code,
            stdout: stdout.contents(),
            stderr: stderr.contents(),
            fs: ctx.into_vfs(),
            mounts: self.mounts.clone(),
            bases: self
                .mounts
                .iter()
                .filter_map(|(_, id)| self.prepared.fs(*id).ok().cloned())
                .collect(),
        })
    }
}
