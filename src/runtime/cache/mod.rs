//! The on-disk cache of compiled modules, so that the second run of a large module does not
//! pay for Cranelift again. An entry is keyed by the blake3 hash of the module bytes, the
//! crate version, the engine's deterministic id (compiler and target) and the caller's
//! settings (e.g. fuel metering, which changes the generated code); its file name starts with
//! a generation tag (crate version and engine) so `prune` can drop other versions' entries.
//!
//! An entry (`entry`) holds the artifact wasmer serialized, without its address maps (see
//! `without_address_maps`), compressed with zstd in independent frames (the default,
//! `STRATA_CACHE_COMPRESS=LEVEL`; `0` stores it plain), behind hashes checked before
//! anything is decompressed or loaded: a torn, truncated or corrupted entry is recompiled and
//! rewritten, never executed. An entry is mapped, not read. A compressed one is checked and
//! decompressed frame by frame on every core into anonymous memory, which stays resident as
//! long as the module lives, because wasmer keeps reading the artifact after loading it
//! (data segments at every instantiation, trap tables on a trap); its file pages are dropped.
//! A plain one is deserialized from the mapping itself and its pages dropped afterwards
//! (wasmer faults back in what it still reads): less memory and time, four times the disk.
//! Writes go to a temporary file renamed into place and entries are never modified in place,
//! so a mapping (or a concurrent run's) always sees one whole entry, and deleting an entry
//! another process has mapped leaves its mapping intact.
//!
//! The cache is bounded: after each write, entries are evicted least recently used first
//! (a hit refreshes the entry's modification time) until the directory holds at most
//! `max_bytes()` (`STRATA_CACHE_MAX`, default 1 GiB).
//!
//! Trust: entries are only as trustworthy as the cache directory (anyone who can write there
//! can make strata run their code, as with wasmtime's cache); it lives in the user's own
//! `$XDG_CACHE_HOME`.

mod artifact;
mod entry;

use artifact::{code_ranges, merge_adjacent, without_address_maps};

use super::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmer::{Engine, Module};

/// Temporary files of writers in progress start with this.
const TMP_PREFIX: &str = ".tmp-";
/// A temporary file older than this was left by a writer that died.
const STALE_TMP: Duration = Duration::from_secs(3600);
/// The cache's default size bound.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The zstd level of new entries unless `STRATA_CACHE_COMPRESS` says otherwise.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Artifacts under this size are stored plain unless `STRATA_CACHE_COMPRESS_MIN` says
/// otherwise: decompressing one would be most of a small module's warm start (a 600 KiB
/// artifact takes ~0.6 ms, a fifth of a whole run), for a few hundred KiB of disk.
pub const DEFAULT_COMPRESS_FROM: u64 = 1 << 20;

/// Where compiled modules are cached: `$XDG_CACHE_HOME/strata/modules`, else
/// `$HOME/.cache/strata/modules`; `None` if neither is set.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("strata").join("modules"))
}

/// The size bound: `STRATA_CACHE_MAX` (bytes, or with a `K`, `M`, `G` suffix), else
/// `DEFAULT_MAX_BYTES`. An unreadable value is ignored.
pub fn max_bytes() -> u64 {
    std::env::var("STRATA_CACHE_MAX")
        .ok()
        .and_then(|v| parse_bytes(&v))
        .unwrap_or(DEFAULT_MAX_BYTES)
}

/// The zstd level new entries are compressed with: `STRATA_CACHE_COMPRESS` (1 to 22; `0`
/// for none), else `DEFAULT_ZSTD_LEVEL`. An unreadable value is ignored.
pub fn compression_level() -> Option<i32> {
    std::env::var("STRATA_CACHE_COMPRESS")
        .ok()
        .and_then(|v| parse_level(&v))
        .unwrap_or(Some(DEFAULT_ZSTD_LEVEL))
}

/// `Some(None)` for `0` (no compression), `Some(Some(level))` for a zstd level, `None` if
/// unreadable.
fn parse_level(v: &str) -> Option<Option<i32>> {
    let level = v.trim().parse::<i32>().ok()?;
    if level == 0 {
        Some(None)
    } else {
        zstd::compression_level_range()
            .contains(&level)
            .then_some(Some(level))
            .filter(|_| level > 0)
    }
}

/// How new entries are written: the cache's size bound and the compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritePolicy {
    /// Entries are evicted after each write until the cache holds at most this.
    pub max_bytes: u64,
    /// The zstd level of new entries, or `None` to store them uncompressed.
    pub zstd_level: Option<i32>,
    /// Artifacts smaller than this are stored uncompressed whatever `zstd_level` says.
    pub compress_from: u64,
}

impl WritePolicy {
    /// From the environment: `STRATA_CACHE_MAX`, `STRATA_CACHE_COMPRESS` and
    /// `STRATA_CACHE_COMPRESS_MIN`.
    pub fn from_env() -> WritePolicy {
        WritePolicy {
            max_bytes: max_bytes(),
            zstd_level: compression_level(),
            compress_from: compress_from(),
        }
    }
}

/// The smallest artifact compressed: `STRATA_CACHE_COMPRESS_MIN` (bytes, or with a `K`,
/// `M`, `G` suffix), else `DEFAULT_COMPRESS_FROM`. An unreadable value is ignored.
pub fn compress_from() -> u64 {
    std::env::var("STRATA_CACHE_COMPRESS_MIN")
        .ok()
        .and_then(|v| parse_bytes(&v))
        .unwrap_or(DEFAULT_COMPRESS_FROM)
}

fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, shift) = match v.as_bytes().last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 10),
        b'm' | b'M' => (&v[..v.len() - 1], 20),
        b'g' | b'G' => (&v[..v.len() - 1], 30),
        _ => (v, 0),
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The generation tag of this build's entries: crate version, entry format and engine.
fn generation(engine: &Engine) -> String {
    let h = blake3::hash(
        format!(
            "{}\0{}\0{}",
            env!("CARGO_PKG_VERSION"),
            String::from_utf8_lossy(entry::MAGIC),
            engine.deterministic_id()
        )
        .as_bytes(),
    );
    h.to_hex()[..8].to_string()
}

/// The cache key (file name) of the module whose bytes have the blake3 `digest`, compiled by
/// `engine` with `settings`.
pub fn key(engine: &Engine, digest: &[u8; 32], settings: &str) -> String {
    let mut h = blake3::Hasher::new();
    for part in [
        env!("CARGO_PKG_VERSION").as_bytes(),
        engine.deterministic_id().as_bytes(),
        settings.as_bytes(),
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(digest);
    format!("{}-{}", generation(engine), h.finalize().to_hex())
}

/// Where a compiled module came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already compiled in this process.
    Memory,
    /// Loaded from a valid on-disk entry.
    Hit,
    /// Compiled; the entry was missing (or unusable) and has been written.
    Compiled,
    /// Compiled; no cache directory (or it could not be written).
    Uncached,
}

/// The compiled module for `wasm` (whose blake3 hash is `digest`): from `dir` if a valid
/// entry is there, else compiled (and stored in `dir` as `policy` says, usually
/// `WritePolicy::from_env()`; `dir` is then pruned to its bound). Cache problems never fail
/// the run: they only cost a compilation.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    digest: &[u8; 32],
    settings: &str,
    dir: Option<&Path>,
    policy: WritePolicy,
) -> Result<(Module, CacheOutcome), Error> {
    match load(engine, digest, settings, dir) {
        Some(module) => Ok((module, CacheOutcome::Hit)),
        None => compile_and_store(engine, wasm, digest, settings, dir, policy),
    }
}

/// The compiled module whose bytes have the blake3 hash `digest`, if `dir` holds a valid
/// entry for it (which is then marked as just used). Needs no module bytes.
pub fn load(
    engine: &Engine,
    digest: &[u8; 32],
    settings: &str,
    dir: Option<&Path>,
) -> Option<Module> {
    let path = dir?.join(key(engine, digest, settings));
    let module = read_entry(engine, &path)?;
    touch(&path);
    Some(module)
}

/// `wasm` compiled, and stored in `dir` as `policy` says (`dir` is then pruned to its
/// bound). Cache problems never fail the run: they only leave the module uncached.
pub fn compile_and_store(
    engine: &Engine,
    wasm: &[u8],
    digest: &[u8; 32],
    settings: &str,
    dir: Option<&Path>,
    policy: WritePolicy,
) -> Result<(Module, CacheOutcome), Error> {
    let module = compile(engine, wasm)?;
    let Some(dir) = dir else {
        return Ok((module, CacheOutcome::Uncached));
    };
    let path = dir.join(key(engine, digest, settings));
    let stored = write_entry(&module, dir, &path, policy).is_ok();
    if stored {
        let _ = prune(dir, policy.max_bytes, Some(&path));
    }
    Ok((
        module,
        if stored {
            CacheOutcome::Compiled
        } else {
            CacheOutcome::Uncached
        },
    ))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module, Error> {
    Module::new(engine, wasm).map_err(|e| Error::Compile(e.to_string()))
}

/// Marks an entry as just used (its modification time is its place in the LRU order).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn read_entry(engine: &Engine, path: &Path) -> Option<Module> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: entries are never modified in place (writers rename a new file over the name),
    // so the mapped bytes stay as `entry::read` checks them for as long as the mapping lives.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let (map, range) = entry::read(map)?;
    // A plain artifact starts after the entry's header in the file's mapping; a
    // decompressed one at the start of its anonymous mapping.
    let file_backed = range.start > 0;
    let map = SharedMap(std::sync::Arc::new(map));
    let artifact = bytes::Bytes::from_owner(map.clone()).slice(range);
    // SAFETY: the artifact is byte for byte what this strata wrote for this key (checked by
    // the entry's hashes, a decompressed one also by its length) in a directory only the
    // user writes; see the module doc.
    let module = unsafe { Module::deserialize(engine, artifact) }.ok()?;
    if file_backed {
        // The code now lives in wasmer's executable memory; what it still reads from the
        // entry (data segments at instantiation, metadata) faults back in from the file.
        entry::drop_pages(&map.0, 0, map.0.len());
    } else {
        // Anonymous pages read back as zeros once dropped, so only those wasmer never reads
        // again may go: the machine code, copied into executable memory while loading.
        for code in merge_adjacent(code_ranges(&map.0[..])) {
            entry::drop_inner_pages(&map.0, code.start, code.end);
        }
    }
    Some(module)
}

/// A mapping shared by the `Bytes` wasmer keeps and the cache, which may drop its pages.
#[derive(Clone)]
struct SharedMap(std::sync::Arc<memmap2::Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn write_entry(
    module: &Module,
    dir: &Path,
    path: &Path,
    policy: WritePolicy,
) -> std::io::Result<()> {
    let artifact = module
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let artifact = without_address_maps(&artifact).map_or(artifact, bytes::Bytes::from);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let level = policy
        .zstd_level
        .filter(|_| artifact.len() as u64 >= policy.compress_from);
    entry::write(&mut f, &artifact, level)?;
    f.into_inner().map_err(|e| e.into_error())?;
    std::fs::rename(&tmp, path)
}

/// One cache entry.
#[derive(Clone, Debug)]
pub struct EntryInfo {
    /// The entry's file.
    pub path: PathBuf,
    /// Its size on disk.
    pub bytes: u64,
    /// When it was written or last loaded.
    pub last_used: SystemTime,
    /// Whether this build of strata can load it (same version and engine).
    pub current: bool,
    /// Whether its payload is compressed (zstd).
    pub compressed: bool,
}

/// The entries of the cache in `dir`, least recently used first (temporary files left out).
pub fn entries(dir: &Path) -> std::io::Result<Vec<EntryInfo>> {
    let ours = generation(&Engine::default());
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(EntryInfo {
            path: e.path(),
            bytes: meta.len(),
            last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            current: name.starts_with(&format!("{ours}-")),
            compressed: format_of(&e.path()) == Some(entry::ZSTD),
        });
    }
    out.sort_by_key(|e| e.last_used);
    Ok(out)
}

/// The payload format an entry's header names, if it is an entry of this format version.
fn format_of(path: &Path) -> Option<u8> {
    use std::io::Read;
    let mut head = [0u8; entry::HEAD];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    entry::format_of(&head)
}

/// What `prune` removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Entries removed.
    pub entries: usize,
    /// Bytes they held.
    pub bytes: u64,
}

/// Removes entries, least recently used first, until those left hold at most `max_bytes`;
/// `keep` (the entry just written) goes last. Temporary files of writers that died are
/// removed too. Safe while other processes use the cache: a removed entry they have mapped
/// stays valid for them, and one they are writing is not an entry yet.
pub fn prune(dir: &Path, max_bytes: u64, keep: Option<&Path>) -> std::io::Result<Pruned> {
    remove_stale_tmp(dir);
    let mut list = entries(dir)?;
    // The kept entry is evicted only if it alone passes the bound.
    if let Some(k) = keep
        && let Some(i) = list.iter().position(|e| e.path == k)
    {
        let e = list.remove(i);
        list.push(e);
    }
    let mut total: u64 = list.iter().map(|e| e.bytes).sum();
    let mut pruned = Pruned::default();
    for e in list {
        if total <= max_bytes {
            break;
        }
        if std::fs::remove_file(&e.path).is_ok() {
            pruned.entries += 1;
            pruned.bytes += e.bytes;
        }
        total -= e.bytes;
    }
    Ok(pruned)
}

/// Removes the entries this build cannot load (other strata versions or engines).
pub fn prune_other_generations(dir: &Path) -> std::io::Result<Pruned> {
    let mut pruned = Pruned::default();
    for e in entries(dir)?.into_iter().filter(|e| !e.current) {
        if std::fs::remove_file(&e.path).is_ok() {
            pruned.entries += 1;
            pruned.bytes += e.bytes;
        }
    }
    Ok(pruned)
}

fn remove_stale_tmp(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with(TMP_PREFIX)
            && e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TMP));
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

    /// Uncompressed entries, in a cache bounded to `max_bytes`.
    fn bound(max_bytes: u64) -> WritePolicy {
        WritePolicy {
            max_bytes,
            zstd_level: None,
            compress_from: 0,
        }
    }

    #[test]
    fn hit_after_miss_and_corruption_is_recompiled() {
        let engine = Engine::default();
        let digest = *blake3::hash(WAT.as_bytes()).as_bytes();
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let load = |settings: &str| {
            load_or_compile(
                &engine,
                WAT.as_bytes(),
                &digest,
                settings,
                d,
                bound(u64::MAX),
            )
            .unwrap()
            .1
        };
        assert_eq!(load(""), CacheOutcome::Compiled);
        assert_eq!(load(""), CacheOutcome::Hit);
        // Other settings are another entry.
        assert_eq!(load("fuel=10"), CacheOutcome::Compiled);
        // Flip one byte of the artifact: detected, recompiled, rewritten.
        let path = dir.path().join(key(&engine, &digest, ""));
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        assert_eq!(load(""), CacheOutcome::Compiled);
        assert_eq!(load(""), CacheOutcome::Hit);
        // Truncated to nothing: the same.
        std::fs::write(&path, b"").unwrap();
        assert_eq!(load(""), CacheOutcome::Compiled);
        // No directory: compiled, nothing stored.
        let (_, o) =
            load_or_compile(&engine, WAT.as_bytes(), &digest, "", None, bound(u64::MAX)).unwrap();
        assert_eq!(o, CacheOutcome::Uncached);
    }

    /// Compressed entries: smaller, loaded (by any policy), and a corrupted, truncated or
    /// inconsistent one is recompiled, never loaded.
    #[test]
    fn compressed_entries_round_trip_and_bad_ones_are_recompiled() {
        let engine = Engine::default();
        let (wat, digest) = module(7);
        let wasm = wat.as_bytes();
        let z = WritePolicy {
            max_bytes: u64::MAX,
            zstd_level: Some(3),
            compress_from: 0,
        };
        let plain = tempfile::tempdir().unwrap();
        compile_into(&engine, &wat, &digest, plain.path());
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let (_, o) = load_or_compile(&engine, wasm, &digest, "", d, z).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        let (p, c) = (
            &entries(plain.path()).unwrap()[0],
            &entries(dir.path()).unwrap()[0],
        );
        assert!(c.compressed && !p.compressed);
        assert!(
            c.bytes < p.bytes,
            "{} compressed, {} plain",
            c.bytes,
            p.bytes
        );
        // Loaded by a compressing and by a plain writer alike, and it runs.
        for policy in [z, bound(u64::MAX)] {
            let (m, o) = load_or_compile(&engine, wasm, &digest, "", d, policy).unwrap();
            assert_eq!(o, CacheOutcome::Hit);
            let mut store = wasmer::Store::new(engine.clone());
            let inst = wasmer::Instance::new(&mut store, &m, &wasmer::imports! {}).unwrap();
            let start = inst.exports.get_function("_start").unwrap();
            start.call(&mut store, &[]).unwrap();
        }
        let path = dir.path().join(key(&engine, &digest, ""));
        let good = std::fs::read(&path).unwrap();
        let reload = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            load_or_compile(&engine, wasm, &digest, "", d, z).unwrap().1
        };
        // One flipped byte of the compressed payload: recompiled and rewritten whole (every
        // way an entry can be damaged is in `entry`'s tests).
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 0x01;
        assert_eq!(reload(&bad), CacheOutcome::Compiled);
        assert_eq!(std::fs::read(&path).unwrap(), good, "rewritten whole");
        // Torn in the middle of the payload.
        assert_eq!(reload(&good[..good.len() - 7]), CacheOutcome::Compiled);
        assert_eq!(reload(&good), CacheOutcome::Hit);
    }

    /// Entries leave the address maps out, and nothing a run can see changes: a module loaded
    /// from its entry traps where and as the freshly compiled one does, with the same
    /// messages, and computes the same results.
    #[test]
    fn entries_without_address_maps_behave_alike() {
        let wat = r#"(module (memory 1)
            (func (export "unreachable") unreachable)
            (func (export "oob") (drop (i32.load (i32.const 70000))))
            (func (export "div") (drop (i32.div_s (i32.const 1) (i32.const 0))))
            (func $deep (export "deep") (call $deep))
            (func (export "ok") (result i32) (i32.mul (i32.const 6) (i32.const 7))))"#;
        let engine = Engine::default();
        let digest = *blake3::hash(wat.as_bytes()).as_bytes();
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        for level in [None, Some(DEFAULT_ZSTD_LEVEL)] {
            let policy = WritePolicy {
                max_bytes: u64::MAX,
                zstd_level: level,
                compress_from: 0,
            };
            let _ = std::fs::remove_file(dir.path().join(key(&engine, &digest, "")));
            let (fresh, o) =
                load_or_compile(&engine, wat.as_bytes(), &digest, "", d, policy).unwrap();
            assert_eq!(o, CacheOutcome::Compiled);
            let (loaded, o) =
                load_or_compile(&engine, wat.as_bytes(), &digest, "", d, policy).unwrap();
            assert_eq!(o, CacheOutcome::Hit);
            let full = fresh.serialize().unwrap();
            let stripped = without_address_maps(&full).unwrap();
            assert!(
                stripped.len() < full.len(),
                "{} of {}",
                stripped.len(),
                full.len()
            );
            let call = |m: &Module, name: &str| {
                let mut store = wasmer::Store::new(engine.clone());
                let inst = wasmer::Instance::new(&mut store, m, &wasmer::imports! {}).unwrap();
                let f = inst.exports.get_function(name).unwrap();
                f.call(&mut store, &[]).map_err(|e| e.message())
            };
            for (name, want) in [
                ("unreachable", "unreachable"),
                ("oob", "out of bounds memory access"),
                ("div", "integer divide by zero"),
                ("deep", "call stack exhausted"),
            ] {
                let a = call(&fresh, name).unwrap_err();
                assert!(a.contains(want), "{name}: {a}");
                assert_eq!(call(&loaded, name).unwrap_err(), a, "{name} ({level:?})");
            }
            assert_eq!(call(&loaded, "ok").unwrap(), call(&fresh, "ok").unwrap());
            assert_eq!(call(&loaded, "ok").unwrap()[0], wasmer::Value::I32(42));
        }
    }

    /// A loaded compressed entry (several frames) gives its machine code's pages back (they
    /// read as zeros from then on), and every function still runs and computes what it
    /// should: the code runs from wasmer's own copy.
    #[test]
    fn compressed_modules_run_after_their_code_pages_are_dropped() {
        // Enough code for an artifact of several frames, decompressed on every core.
        const FUNCS: u32 = 7000;
        const STEPS: u32 = 60;
        let mut wat = String::from("(module (memory 1)");
        for i in 0..FUNCS {
            wat += &format!("(func (export \"f{i}\") (param i32) (result i32) local.get 0");
            for k in 0..STEPS {
                wat += &format!(" i32.const 31 i32.mul i32.const {} i32.xor", i * 1000 + k);
            }
            wat += ")";
        }
        wat += ")";
        let expect =
            |i: u32, x: i32| (0..STEPS).fold(x, |x, k| x.wrapping_mul(31) ^ (i * 1000 + k) as i32);
        let engine = Engine::default();
        let digest = *blake3::hash(wat.as_bytes()).as_bytes();
        let dir = tempfile::tempdir().unwrap();
        let policy = WritePolicy {
            max_bytes: u64::MAX,
            zstd_level: Some(DEFAULT_ZSTD_LEVEL),
            compress_from: 0,
        };
        let d = Some(dir.path());
        let (fresh, _) = load_or_compile(&engine, wat.as_bytes(), &digest, "", d, policy).unwrap();
        let (m, o) = load_or_compile(&engine, wat.as_bytes(), &digest, "", d, policy).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        // The code spans many whole pages, so pages were dropped.
        let artifact = without_address_maps(&fresh.serialize().unwrap()).unwrap();
        let code: usize = code_ranges(&artifact).iter().map(|r| r.len()).sum();
        assert!(code > 8 * 4096, "{code} bytes of code");
        assert!(
            artifact.len() > 4 << 20,
            "{} bytes of artifact",
            artifact.len()
        );
        assert_eq!(code_ranges(&artifact).len(), FUNCS as usize);
        // The bodies lie back to back: their pages go together, not only those inside one.
        let runs = merge_adjacent(code_ranges(&artifact));
        assert!(runs.len() < 4, "{} runs of code", runs.len());
        assert_eq!(merge_adjacent(vec![5..9, 0..5, 12..14]), vec![0..9, 12..14]);
        let mut store = wasmer::Store::new(engine.clone());
        let inst = wasmer::Instance::new(&mut store, &m, &wasmer::imports! {}).unwrap();
        for i in 0..FUNCS {
            let f = inst.exports.get_function(&format!("f{i}")).unwrap();
            for x in [0, 7, -12345] {
                let got = f.call(&mut store, &[wasmer::Value::I32(x)]).unwrap();
                assert_eq!(got[0], wasmer::Value::I32(expect(i, x)), "f{i}({x})");
            }
        }
    }

    #[test]
    fn artifacts_under_the_threshold_stay_plain() {
        let engine = Engine::default();
        let (wat, digest) = module(9);
        for (from, compressed) in [(DEFAULT_COMPRESS_FROM, false), (0, true)] {
            let dir = tempfile::tempdir().unwrap();
            let policy = WritePolicy {
                max_bytes: u64::MAX,
                zstd_level: Some(DEFAULT_ZSTD_LEVEL),
                compress_from: from,
            };
            let (_, o) = load_or_compile(
                &engine,
                wat.as_bytes(),
                &digest,
                "",
                Some(dir.path()),
                policy,
            )
            .unwrap();
            assert_eq!(o, CacheOutcome::Compiled);
            assert_eq!(
                entries(dir.path()).unwrap()[0].compressed,
                compressed,
                "from {from}"
            );
        }
    }

    #[test]
    fn compression_level_parses() {
        assert_eq!(parse_level("3"), Some(Some(3)));
        assert_eq!(parse_level(" 19 "), Some(Some(19)));
        assert_eq!(parse_level("0"), Some(None));
        assert_eq!(parse_level("-5"), None);
        assert_eq!(parse_level("99"), None);
        assert_eq!(parse_level("fast"), None);
    }

    /// A module distinct for each `n` (so each is another entry).
    fn module(n: u32) -> (String, [u8; 32]) {
        let wat = format!(
            r#"(module (memory (export "memory") 1) (func (export "_start") (drop (i32.const {n}))))"#
        );
        let digest = *blake3::hash(wat.as_bytes()).as_bytes();
        (wat, digest)
    }

    /// Compiles `wat` into an uncompressed entry in the unbounded cache `dir`.
    fn compile_into(engine: &Engine, wat: &str, digest: &[u8; 32], dir: &Path) {
        load_or_compile(
            engine,
            wat.as_bytes(),
            digest,
            "",
            Some(dir),
            bound(u64::MAX),
        )
        .unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = entries(dir)
            .unwrap()
            .into_iter()
            .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn least_recently_used_entries_are_evicted_past_the_bound() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let (a, da) = module(1);
        let (b, db) = module(2);
        let (c, dc) = module(3);
        load_or_compile(&engine, a.as_bytes(), &da, "", d, bound(u64::MAX)).unwrap();
        let one = entries(dir.path()).unwrap()[0].bytes;
        // Room for two entries (the three are of about one size).
        let max = one * 2 + one / 2;
        load_or_compile(&engine, b.as_bytes(), &db, "", d, bound(max)).unwrap();
        // `a` is used again, so `b` is now the least recently used.
        let past = SystemTime::now() - Duration::from_secs(60);
        let key_b = dir.path().join(key(&engine, &db, ""));
        std::fs::File::options()
            .write(true)
            .open(&key_b)
            .unwrap()
            .set_modified(past)
            .unwrap();
        let (_, o) = load_or_compile(&engine, a.as_bytes(), &da, "", d, bound(max)).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        let (_, o) = load_or_compile(&engine, c.as_bytes(), &dc, "", d, bound(max)).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        let mut want = vec![key(&engine, &da, ""), key(&engine, &dc, "")];
        want.sort();
        assert_eq!(
            names(dir.path()),
            want,
            "b, the least recently used, was evicted"
        );
        let total: u64 = entries(dir.path()).unwrap().iter().map(|e| e.bytes).sum();
        assert!(total <= max);
        // An evicted entry is compiled again, and evicts in its turn.
        let (_, o) = load_or_compile(&engine, b.as_bytes(), &db, "", d, bound(max)).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        assert_eq!(entries(dir.path()).unwrap().len(), 2);
        // A bound below one entry keeps nothing but the newest... which passes it alone.
        let pruned = prune(dir.path(), 0, None).unwrap();
        assert_eq!(pruned.entries, 2);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn other_generations_and_stale_temporaries_are_pruned() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let (a, da) = module(4);
        compile_into(&engine, &a, &da, dir.path());
        let old = dir.path().join("00000000-0123abcd");
        std::fs::write(&old, b"an entry of another strata version").unwrap();
        let tmp = dir.path().join(".tmp-1-ThreadId(1)");
        std::fs::write(&tmp, b"half").unwrap();
        let list = entries(dir.path()).unwrap();
        assert_eq!(list.len(), 2, "temporary files are not entries");
        assert_eq!(list.iter().filter(|e| e.current).count(), 1);
        let p = prune_other_generations(dir.path()).unwrap();
        assert_eq!((p.entries, p.bytes), (1, 34));
        assert!(!old.exists());
        // A fresh temporary file is a writer at work: kept. An old one is removed.
        prune(dir.path(), u64::MAX, None).unwrap();
        assert!(tmp.exists());
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(SystemTime::now() - STALE_TMP * 2)
            .unwrap();
        prune(dir.path(), u64::MAX, None).unwrap();
        assert!(!tmp.exists());
    }

    /// Many writers and readers at once, under a bound that keeps evicting: every load gets
    /// a working module, and no torn entry is ever loaded.
    #[test]
    fn concurrent_use_under_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let (a, da) = module(100);
        compile_into(&engine, &a, &da, dir.path());
        let one = entries(dir.path()).unwrap()[0].bytes;
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let dir = dir.path();
                s.spawn(move || {
                    let engine = Engine::default();
                    for i in 0..6u32 {
                        let (wat, d) = module(100 + (t + i) % 5);
                        let (m, _) = load_or_compile(
                            &engine,
                            wat.as_bytes(),
                            &d,
                            "",
                            Some(dir),
                            bound(one * 3),
                        )
                        .unwrap();
                        let mut store = wasmer::Store::new(engine.clone());
                        let inst =
                            wasmer::Instance::new(&mut store, &m, &wasmer::imports! {}).unwrap();
                        inst.exports
                            .get_function("_start")
                            .unwrap()
                            .call(&mut store, &[])
                            .unwrap();
                    }
                });
            }
        });
        let total: u64 = entries(dir.path()).unwrap().iter().map(|e| e.bytes).sum();
        assert!(
            total <= one * 3 + one,
            "bounded: {total} bytes of {one}-byte entries"
        );
    }

    #[test]
    fn cache_max_parses_sizes() {
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("2g"), Some(2 << 30));
        assert_eq!(parse_bytes("x"), None);
    }
}
