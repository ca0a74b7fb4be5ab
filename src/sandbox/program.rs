//! Programs: a module's bytes and its compiled code, shared by every run in the process.
//! Compiled code is cached in memory (by content hash and fuel) and, by default, on disk
//! (`crate::runtime::cache`), so a second process pays no compilation either.

use crate::runtime::cache::{self, CacheOutcome};
use crate::runtime::{Error, ErrorInput, MemoryImage, budgeted, metered_engine};
use bytes::Bytes;
use dashmap::DashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use wasmer::{Engine, Module};

/// One engine for every unmetered program of the process, so compiled modules are shared.
static ENGINE: LazyLock<Engine> = LazyLock::new(|| budgeted(Engine::default()));

/// A compiled module, the engine it belongs to, and the image of its initialised memory
/// that its instances after the first start from.
pub(super) type Compiled = (Module, Engine, MemoryImage);

/// Compiled modules by the blake3 hash of their bytes and the fuel they were metered with:
/// metering is compiled into the code (and the fuel into its initial state), so a metered
/// module is another module, each with its own engine (the middleware serves one module).
static MODULES: LazyLock<DashMap<ModuleKey, Compiled>> = LazyLock::new(DashMap::new);

/// The blake3 hash of a module's bytes and the fuel it is metered with.
type ModuleKey = ([u8; 32], Option<u64>);

/// Where compiled modules are kept between processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CachePolicy {
    /// In memory, and on disk in `$STRATA_CACHE_DIR`, else `$XDG_CACHE_HOME/strata/modules`,
    /// else `~/.cache/strata/modules`.
    #[default]
    Default,
    /// In memory, and on disk in this directory.
    Dir(PathBuf),
    /// In memory only: every new process compiles again.
    MemoryOnly,
}

impl CachePolicy {
    /// The directory compiled modules are cached in under this policy, as it resolves now
    /// (`Default` reads the environment): `None` for `MemoryOnly`, or for `Default` when
    /// neither `$STRATA_CACHE_DIR`, `$XDG_CACHE_HOME` nor `$HOME` is set.
    pub fn disk_dir(&self) -> Option<PathBuf> {
        match self {
            CachePolicy::Default => std::env::var_os("STRATA_CACHE_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(cache::default_dir),
            CachePolicy::Dir(d) => Some(d.clone()),
            CachePolicy::MemoryOnly => None,
        }
    }
}

/// How a program is compiled up front.
#[derive(Clone, Debug, Default)]
pub struct ProgramOptions {
    /// Where compiled code is kept (default: memory and the user's cache directory).
    pub cache: CachePolicy,
    /// Compile the metered variant for this fuel now (the one a sandbox with this fuel runs)
    /// instead of the plain one; other variants are compiled when a run first needs them.
    pub fuel: Option<u64>,
}

/// Where a program's bytes are found again, to compile another variant when a run sets
/// other fuel.
#[derive(Clone)]
enum Source {
    /// Given by the caller: kept.
    Bytes(Bytes),
    /// Read from this file only when a variant must be compiled (and checked against the
    /// digest): a module found compiled in a cache never has its bytes resident (a 69 MB
    /// module's 69 MB were a fifth of its run's peak RSS).
    File(PathBuf),
}

/// A compiled module, shareable across sandboxes and threads (cloning is cheap).
#[derive(Clone)]
pub struct Program {
    name: String,
    digest: [u8; 32],
    source: Source,
    cache: CachePolicy,
    fuel: Option<u64>,
    compiled: Compiled,
    outcome: CacheOutcome,
}

impl Program {
    /// Compiles `wasm` (binary or text), or takes it from the caches (`CachePolicy::Default`).
    pub fn from_bytes(wasm: impl AsRef<[u8]>) -> Result<Program, Error> {
        Program::from_bytes_with(wasm, &ProgramOptions::default())
    }

    /// As `from_bytes`, with a cache policy and the fuel to compile for.
    pub fn from_bytes_with(
        wasm: impl AsRef<[u8]>,
        opts: &ProgramOptions,
    ) -> Result<Program, Error> {
        let wasm = Bytes::copy_from_slice(wasm.as_ref());
        let digest = *blake3::hash(&wasm).as_bytes();
        Program::new(digest, Source::Bytes(wasm), opts)
    }

    fn new(digest: [u8; 32], source: Source, opts: &ProgramOptions) -> Result<Program, Error> {
        let (compiled, outcome) = compile(&digest, &source, opts.fuel, &opts.cache)?;
        Ok(Program {
            name: "main.wasm".into(),
            digest,
            source,
            cache: opts.cache.clone(),
            fuel: opts.fuel,
            compiled,
            outcome,
        })
    }

    /// Reads and compiles the module at `path` (its file name is the guest's `argv[0]`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Program, Error> {
        Program::from_file_with(path, &ProgramOptions::default())
    }

    /// As `from_file`, with a cache policy and the fuel to compile for.
    pub fn from_file_with(path: impl AsRef<Path>, opts: &ProgramOptions) -> Result<Program, Error> {
        let path = path.as_ref();
        let input = || ErrorInput::Module(path.to_path_buf());
        // Hashed as it is read: the bytes themselves are only needed if no cache has the
        // module compiled.
        let mut hasher = blake3::Hasher::new();
        std::fs::File::open(path)
            .and_then(|f| hasher.update_reader(f).map(drop))
            .map_err(|e| Error::input(input(), e))?;
        let digest = *hasher.finalize().as_bytes();
        let source = Source::File(path.to_path_buf());
        let mut p = Program::new(digest, source, opts).map_err(|e| match e {
            Error::Compile(m) => Error::input(input(), format!("not a valid wasm module: {m}")),
            other => other,
        })?;
        if let Some(n) = path.file_name() {
            p.name = n.to_string_lossy().into_owned();
        }
        Ok(p)
    }

    /// The guest's default `argv[0]`: the module's file name, or `main.wasm`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the code compiled up front came from (memory, disk cache, or a compilation).
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.outcome
    }

    /// The module and its engine for a run under `fuel`.
    pub(super) fn for_fuel(&self, fuel: Option<u64>) -> Result<Compiled, Error> {
        if fuel == self.fuel {
            return Ok(self.compiled.clone());
        }
        compile(&self.digest, &self.source, fuel, &self.cache).map(|(c, _)| c)
    }
}

impl Source {
    /// The module's bytes, which hash to `digest`.
    fn bytes(&self, digest: &[u8; 32]) -> Result<Bytes, Error> {
        match self {
            Source::Bytes(b) => Ok(b.clone()),
            Source::File(path) => {
                let input = || ErrorInput::Module(path.clone());
                let bytes = std::fs::read(path).map_err(|e| Error::input(input(), e))?;
                if blake3::hash(&bytes).as_bytes() != digest {
                    return Err(Error::input(
                        input(),
                        "changed since the program was loaded",
                    ));
                }
                Ok(bytes.into())
            }
        }
    }
}

/// The module `source` holds (whose hash is `digest`) compiled under `fuel`: from memory,
/// from disk, or compiled now (its bytes read only then).
fn compile(
    digest: &[u8; 32],
    source: &Source,
    fuel: Option<u64>,
    policy: &CachePolicy,
) -> Result<(Compiled, CacheOutcome), Error> {
    if let Some(c) = MODULES.get(&(*digest, fuel)) {
        return Ok((c.clone(), CacheOutcome::Memory));
    }
    let engine = match fuel {
        Some(fuel) => budgeted(metered_engine(fuel)),
        None => ENGINE.clone(),
    };
    // The fuel is compiled into the metered code, so it is part of the entry's key.
    let settings = fuel.map(|f| format!("fuel={f}")).unwrap_or_default();
    let dir = policy.disk_dir();
    let (module, outcome) = match cache::load(&engine, digest, &settings, dir.as_deref()) {
        Some(module) => (module, CacheOutcome::Hit),
        None => cache::compile_and_store(
            &engine,
            &source.bytes(digest)?,
            digest,
            &settings,
            dir.as_deref(),
            cache::WritePolicy::from_env(),
        )?,
    };
    let c = MODULES
        .entry((*digest, fuel))
        .or_insert((module, engine, MemoryImage::new()))
        .clone();
    Ok((c, outcome))
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("name", &self.name)
            .field("digest", &blake3::Hash::from(self.digest))
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}
