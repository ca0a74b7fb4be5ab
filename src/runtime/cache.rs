//! The on-disk cache of compiled modules, so that the second run of a large module does not
//! pay for Cranelift again. An entry is keyed by the blake3 hash of the module bytes, the
//! crate and wasmer versions, the engine's deterministic id (compiler and target) and the
//! caller's settings (e.g. fuel metering, which changes the generated code). Each file holds a
//! magic line, the blake3 hash of the serialized artifact and the artifact: a torn, truncated
//! or corrupted entry fails that check and is recompiled and rewritten, never loaded. Writes go
//! to a temporary file renamed into place, so concurrent runs never see half an entry.
//!
//! Trust: entries are only as trustworthy as the cache directory (anyone who can write there
//! can make strata run their code, as with wasmtime's cache); it lives in the user's own
//! `$XDG_CACHE_HOME`.

use super::Error;
use std::path::{Path, PathBuf};
use wasmer::{Engine, Module};

const MAGIC: &[u8] = b"strata-module-cache-v1\n";

/// Where compiled modules are cached: `$XDG_CACHE_HOME/strata/modules`, else
/// `$HOME/.cache/strata/modules`; `None` if neither is set.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("strata").join("modules"))
}

/// The cache key of the module whose bytes have the blake3 `digest`, compiled by `engine`
/// with `settings`.
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
    h.finalize().to_hex().to_string()
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
/// entry is there, else compiled (and stored in `dir`). Cache problems never fail the run:
/// they only cost a compilation.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    digest: &[u8; 32],
    settings: &str,
    dir: Option<&Path>,
) -> Result<(Module, CacheOutcome), Error> {
    let Some(dir) = dir else {
        return compile(engine, wasm).map(|m| (m, CacheOutcome::Uncached));
    };
    let path = dir.join(key(engine, digest, settings));
    if let Some(module) = read_entry(engine, &path) {
        return Ok((module, CacheOutcome::Hit));
    }
    let module = compile(engine, wasm)?;
    let stored = write_entry(&module, dir, &path).is_ok();
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

fn read_entry(engine: &Engine, path: &Path) -> Option<Module> {
    let data = std::fs::read(path).ok()?;
    let rest = data.strip_prefix(MAGIC)?;
    if rest.len() < 32 {
        return None;
    }
    let (sum, artifact) = rest.split_at(32);
    if blake3::hash(artifact).as_bytes() != sum {
        return None;
    }
    // SAFETY: the artifact is byte for byte what `Module::serialize` produced for this key
    // (checked by its hash above) in a directory only the user writes; see the module doc.
    unsafe { Module::deserialize(engine, artifact.to_vec()) }.ok()
}

fn write_entry(module: &Module, dir: &Path, path: &Path) -> std::io::Result<()> {
    let artifact = module
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut data = Vec::with_capacity(MAGIC.len() + 32 + artifact.len());
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(blake3::hash(&artifact).as_bytes());
    data.extend_from_slice(&artifact);
    std::fs::write(&tmp, &data)?;
    std::fs::rename(&tmp, path)
}

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
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        // Other settings are another entry.
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "fuel=10", d).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        // Flip one byte of the artifact: detected, recompiled, rewritten.
        let path = dir.path().join(key(&engine, &digest, ""));
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        // Truncated to nothing: the same.
        std::fs::write(&path, b"").unwrap();
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", d).unwrap();
        assert_eq!(o, CacheOutcome::Compiled);
        // No directory: compiled, nothing stored.
        let (_, o) = load_or_compile(&engine, WAT.as_bytes(), &digest, "", None).unwrap();
        assert_eq!(o, CacheOutcome::Uncached);
    }
}
