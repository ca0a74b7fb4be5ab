//! The on-disk cache of compiled modules, so that the second run of a large module does not
//! pay for Cranelift again. An entry is keyed by the blake3 hash of the module bytes, the
//! crate version, the engine's deterministic id (compiler and target) and the caller's
//! settings (e.g. fuel metering, which changes the generated code); its file name starts with
//! a generation tag (crate version and engine) so `prune` can drop other versions' entries.
//!
//! An entry holds a magic line, the blake3 hash of the serialized artifact and the artifact.
//! It is mapped, not read: the hash is checked over the mapping and the artifact deserialized
//! from it, so no heap copy of it is ever made; a torn, truncated or corrupted entry fails the
//! check and is recompiled and rewritten, never executed. Writes go to a temporary file
//! renamed into place and entries are never modified in place, so a mapping (or a concurrent
//! run's) always sees one whole entry, and deleting an entry another process has mapped
//! leaves its mapping intact.
//!
//! The cache is bounded: after each write, entries are evicted least recently used first
//! (a hit refreshes the entry's modification time) until the directory holds at most
//! `max_bytes()` (`STRATA_CACHE_MAX`, default 1 GiB).
//!
//! Trust: entries are only as trustworthy as the cache directory (anyone who can write there
//! can make strata run their code, as with wasmtime's cache); it lives in the user's own
//! `$XDG_CACHE_HOME`.

use super::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmer::{Engine, Module};

const MAGIC: &[u8] = b"strata-module-cache-v2\n";
/// Magic, artifact hash, zero padding: the artifact starts 64 bytes into the page-aligned
/// mapping, aligned as wasmer's zero-copy deserialization needs (a misaligned artifact fails
/// to load).
const HEADER: usize = 64;
const PADDING: [u8; HEADER - 23 - 32] = [0; HEADER - 23 - 32];
/// Temporary files of writers in progress start with this.
const TMP_PREFIX: &str = ".tmp-";
/// A temporary file older than this was left by a writer that died.
const STALE_TMP: Duration = Duration::from_secs(3600);
/// The cache's default size bound.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

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

/// The generation tag of this build's entries: crate version and engine.
fn generation(engine: &Engine) -> String {
    let h = blake3::hash(
        format!(
            "{}\0{}",
            env!("CARGO_PKG_VERSION"),
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
/// entry is there, else compiled (and stored in `dir`, which is then pruned to `max_bytes`,
/// usually `max_bytes()`). Cache problems never fail the run: they only cost a compilation.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    digest: &[u8; 32],
    settings: &str,
    dir: Option<&Path>,
    max_bytes: u64,
) -> Result<(Module, CacheOutcome), Error> {
    let Some(dir) = dir else {
        return compile(engine, wasm).map(|m| (m, CacheOutcome::Uncached));
    };
    let path = dir.join(key(engine, digest, settings));
    if let Some(module) = read_entry(engine, &path) {
        touch(&path);
        return Ok((module, CacheOutcome::Hit));
    }
    let module = compile(engine, wasm)?;
    let stored = write_entry(&module, dir, &path).is_ok();
    if stored {
        let _ = prune(dir, max_bytes, Some(&path));
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
    // so the mapped bytes stay as checked below for as long as the mapping lives.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let rest = map.strip_prefix(MAGIC)?;
    if map.len() < HEADER {
        return None;
    }
    let sum = &rest[..32];
    if checksum(&map, HEADER).as_bytes() != sum {
        return None;
    }
    let map = SharedMap(std::sync::Arc::new(map));
    let artifact = bytes::Bytes::from_owner(map.clone()).slice(HEADER..);
    // SAFETY: the artifact is byte for byte what `Module::serialize` produced for this key
    // (checked by its hash above) in a directory only the user writes; see the module doc.
    let module = unsafe { Module::deserialize(engine, artifact) }.ok()?;
    // The code now lives in wasmer's executable memory; what it still reads from the entry
    // (data segments at instantiation, metadata) faults back in on demand.
    drop_pages(&map.0, 0, map.0.len());
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

/// Drops the resident pages of `map[from..to]` (rounded out to whole pages) from this
/// process; the bytes stay readable.
fn drop_pages(map: &memmap2::Mmap, from: usize, to: usize) {
    let start = from & !4095;
    // SAFETY: the mapping is a read-only view of a file that is never modified in place, so
    // dropping its pages loses nothing: a later access reads the same bytes back from the
    // page cache. Nothing here holds a reference into the range across the call.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, to - start)
    };
}

/// The blake3 hash of `map[from..]`, dropping each hashed chunk's pages from this process
/// again: checking the whole entry must not leave all of it resident (for a large module
/// the mapped pages would outweigh the code wasmer loads from them).
fn checksum(map: &memmap2::Mmap, from: usize) -> blake3::Hash {
    const CHUNK: usize = 8 << 20;
    let mut h = blake3::Hasher::new();
    let mut at = from;
    while at < map.len() {
        let end = (at + CHUNK).min(map.len());
        h.update(&map[at..end]);
        drop_pages(map, at, end);
        at = end;
    }
    h.finalize()
}

fn write_entry(module: &Module, dir: &Path, path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let artifact = module
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    f.write_all(MAGIC)?;
    f.write_all(blake3::hash(&artifact).as_bytes())?;
    f.write_all(&PADDING)?;
    f.write_all(&artifact)?;
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
        });
    }
    out.sort_by_key(|e| e.last_used);
    Ok(out)
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

const _: () = assert!(MAGIC.len() == 23);

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

    #[test]
    fn hit_after_miss_and_corruption_is_recompiled() {
        let engine = Engine::default();
        let digest = *blake3::hash(WAT.as_bytes()).as_bytes();
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        // Other settings are another entry.
        let (_, o) =
            load_or_compile(&engine, WAT.as_bytes(), &digest, "fuel=10", d, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        // Flip one byte of the artifact: detected, recompiled, rewritten.
        let path = dir.path().join(key(&engine, &digest, ""));
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        // Truncated to nothing: the same.
        std::fs::write(&path, b"").unwrap();
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        // No directory: compiled, nothing stored.
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", None, u64::MAX).unwrap();
        assert_eq!(o, CacheOutcome::Uncached);
    }

    /// A module distinct for each `n` (so each is another entry).
    fn module(n: u32) -> (String, [u8; 32]) {
        let wat = format!(
            r#"(module (memory (export "memory") 1) (func (export "_start") (drop (i32.const {n}))))"#
        );
        let digest = *blake3::hash(wat.as_bytes()).as_bytes();
        (wat, digest)
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
        load_or_compile(&engine, a.as_bytes(), &da, "", d, u64::MAX).unwrap();
        let one = entries(dir.path()).unwrap()[0].bytes;
        // Room for two entries (the three are of about one size).
        let max = one * 2 + one / 2;
        load_or_compile(&engine, b.as_bytes(), &db, "", d, max).unwrap();
        // `a` is used again, so `b` is now the least recently used.
        let past = SystemTime::now() - Duration::from_secs(60);
        let key_b = dir.path().join(key(&engine, &db, ""));
        std::fs::File::options()
            .write(true)
            .open(&key_b)
            .unwrap()
            .set_modified(past)
            .unwrap();
        let (_, o) = load_or_compile(&engine, a.as_bytes(), &da, "", d, max).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        let (_, o) = load_or_compile(&engine, c.as_bytes(), &dc, "", d, max).unwrap();
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
        let (_, o) = load_or_compile(&engine, b.as_bytes(), &db, "", d, max).unwrap();
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
        load_or_compile(&engine, a.as_bytes(), &da, "", Some(dir.path()), u64::MAX).unwrap();
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
        load_or_compile(&engine, a.as_bytes(), &da, "", Some(dir.path()), u64::MAX).unwrap();
        let one = entries(dir.path()).unwrap()[0].bytes;
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let dir = dir.path();
                s.spawn(move || {
                    let engine = Engine::default();
                    for i in 0..6u32 {
                        let (wat, d) = module(100 + (t + i) % 5);
                        let (m, _) =
                            load_or_compile(&engine, wat.as_bytes(), &d, "", Some(dir), one * 3)
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
