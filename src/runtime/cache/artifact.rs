//! What strata reads of wasmer's serialized artifacts (wasmer-compiler's public format, the
//! same version as wasmer): the address maps an entry leaves out, and where the machine code
//! lies so that a loaded artifact can give its pages back. Nothing here executes anything.

use std::ops::Range;
use wasmer_compiler::serialize::{
    ArchivedSerializableCompilation, MetadataHeader, SerializableCompilation, SerializableModule,
};
use wasmer_compiler::{ArtifactBuild, ArtifactCreate};

/// The archived `SerializableModule` inside a serialized artifact (after wasmer's magic and
/// length header), or `None` if `artifact` is not one.
fn metadata(artifact: &[u8]) -> Option<&[u8]> {
    let rest = artifact.strip_prefix(ArtifactBuild::MAGIC_HEADER)?;
    let len = MetadataHeader::parse(rest).ok()?;
    rest.get(MetadataHeader::LEN..)?.get(..len)
}

/// The serialized artifact `artifact` without its per-instruction address maps, or `None` if
/// it is not one wasmer's Cranelift backend writes (it is then stored as it is).
///
/// Why: the maps (machine-code offset to wasm offset, 12 bytes per instruction) are the
/// largest part of an artifact (a third of a 260 MiB one) and only ever read to put wasm
/// offsets into a trap's backtrace frames, which strata does not report (a trap is its
/// message). Without them a frame is placed at its function's start. Everything the code
/// needs to run, and to turn a fault into the right trap, is kept: function bodies,
/// relocations, trap tables, unwind info.
pub(super) fn without_address_maps(artifact: &[u8]) -> Option<Vec<u8>> {
    let metadata = metadata(artifact)?;
    // SAFETY: `metadata` is what wasmer serialized a moment ago in this process (not read
    // from disk), and the checked deserialization validates its layout anyway; nothing here
    // executes it.
    let mut module = unsafe { SerializableModule::deserialize(metadata) }.ok()?;
    let SerializableCompilation::Rkyv(compilation) = &mut module.compilation else {
        return None;
    };
    for info in compilation.function_frame_info.values_mut() {
        info.address_map.instructions = Vec::new();
    }
    ArtifactBuild::from_serializable(module).serialize().ok()
}

/// `ranges` with the ones that touch (one ends where the next starts) joined: most function
/// bodies are smaller than a page, but they lie back to back, so their pages can go together.
pub(super) fn merge_adjacent(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// Where the functions' machine code lies in the serialized artifact `artifact` (as offsets
/// into it), in order; empty if it is not an artifact this build reads.
///
/// wasmer reads function bodies from an artifact only while loading it, to copy them into
/// executable memory (and would again only to serialize the loaded module, which strata
/// never does): once a module is loaded they are dead bytes, the largest part of it.
pub(super) fn code_ranges(artifact: &[u8]) -> Vec<Range<usize>> {
    let Some(metadata) = metadata(artifact) else {
        return Vec::new();
    };
    // SAFETY: these are the bytes `Module::deserialize` has just loaded (which, in wasmer
    // 7.4, reads the archive without validating it either): what this strata wrote for this
    // key, checked by the entry's hashes, read-only for as long as this borrow lives.
    let Ok(module) = (unsafe { SerializableModule::archive_from_slice(metadata) }) else {
        return Vec::new();
    };
    let ArchivedSerializableCompilation::Rkyv(compilation) = &module.compilation else {
        return Vec::new();
    };
    let base = artifact.as_ptr() as usize;
    compilation
        .function_bodies
        .values()
        .filter_map(|f| {
            let start = (f.body.as_ptr() as usize).checked_sub(base)?;
            let end = start + f.body.len();
            (end <= artifact.len()).then_some(start..end)
        })
        .collect()
}
