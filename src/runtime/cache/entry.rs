//! The bytes of one cache entry: how an artifact is written and how it is checked and read
//! back. Nothing of an entry is handed to wasmer (or decompressed) before a hash covering it
//! has matched, so a torn, truncated or corrupted entry is never loaded.
//!
//! Layout: `MAGIC`, a blake3 hash (32 bytes), the payload format (1 byte) and the artifact's
//! length (u64 LE) — 64 bytes — then the payload. `RAW`: the artifact as wasmer serialized
//! it, the hash covering everything after itself. `ZSTD`: a frame table (frame count, u32 LE;
//! per frame its compressed length and artifact length, u32 LE each, and the blake3 hash of
//! its compressed bytes) and then the frames, independent zstd frames of `FRAME` artifact
//! bytes each (the last one shorter); the header hash covers the format, the length and the
//! table. Independent frames let a large artifact be checked and decompressed on every core.

use std::io::Write;
use std::ops::Range;
use std::sync::Mutex;

pub(super) const MAGIC: &[u8] = b"strata-module-cache-v4\n";
/// Magic, hash, format and artifact length: a plain artifact starts 64 bytes into the
/// page-aligned mapping, aligned as wasmer's zero-copy deserialization needs.
const HEADER: usize = 64;
/// The header hash covers the entry from here.
const HASHED_FROM: usize = 23 + 32;
/// Payload format: the artifact as wasmer serialized it.
pub(super) const RAW: u8 = 0;
/// Payload format: the artifact in independent zstd frames.
pub(super) const ZSTD: u8 = 1;
/// Artifact bytes per compressed frame.
const FRAME: usize = 4 << 20;
/// A frame's entry in the table: compressed length, artifact length, hash.
const FRAME_ENTRY: usize = 4 + 4 + 32;

const _: () = assert!(MAGIC.len() == 23);

/// Writes the entry for `artifact` to `out`: compressed at `zstd_level`, or plain if `None`.
pub(super) fn write(
    out: &mut impl Write,
    artifact: &[u8],
    zstd_level: Option<i32>,
) -> std::io::Result<()> {
    let mut tail = vec![0u8; HEADER - HASHED_FROM];
    tail[1..].copy_from_slice(&(artifact.len() as u64).to_le_bytes());
    let Some(level) = zstd_level else {
        tail[0] = RAW;
        let sum = blake3::Hasher::new()
            .update(&tail)
            .update(artifact)
            .finalize();
        out.write_all(MAGIC)?;
        out.write_all(sum.as_bytes())?;
        out.write_all(&tail)?;
        return out.write_all(artifact);
    };
    tail[0] = ZSTD;
    let chunks: Vec<(usize, &[u8])> = artifact.chunks(FRAME).enumerate().collect();
    let mut frames = in_parallel(chunks, |(i, chunk)| {
        zstd::bulk::compress(chunk, level).map(|z| (i, chunk.len(), z))
    })
    .into_iter()
    .collect::<std::io::Result<Vec<_>>>()?;
    frames.sort_by_key(|f| f.0);
    let count = u32::try_from(frames.len()).map_err(std::io::Error::other)?;
    tail.extend_from_slice(&count.to_le_bytes());
    for (_, len, z) in &frames {
        tail.extend_from_slice(&(z.len() as u32).to_le_bytes());
        tail.extend_from_slice(&(*len as u32).to_le_bytes());
        tail.extend_from_slice(blake3::hash(z).as_bytes());
    }
    out.write_all(MAGIC)?;
    out.write_all(blake3::hash(&tail).as_bytes())?;
    out.write_all(&tail)?;
    for (_, _, z) in &frames {
        out.write_all(z)?;
    }
    Ok(())
}

/// The artifact held by the mapped entry `map`, if the entry is whole and consistent: the
/// mapping it is in and where — `map` itself (a plain entry) or a new anonymous mapping
/// (decompressed). Every page of `map` read here is dropped again from this process.
pub(super) fn read(map: memmap2::Mmap) -> Option<(memmap2::Mmap, Range<usize>)> {
    let rest = map.strip_prefix(MAGIC)?;
    if map.len() < HEADER {
        return None;
    }
    let sum: [u8; 32] = rest[..32].try_into().ok()?;
    let len = usize::try_from(u64::from_le_bytes(
        map[HASHED_FROM + 1..HEADER].try_into().ok()?,
    ))
    .ok()?;
    match map[HASHED_FROM] {
        RAW => (checksum(&map, HASHED_FROM).as_bytes() == &sum && map.len() - HEADER == len)
            .then(|| (map, HEADER..HEADER + len)),
        ZSTD => decompress(&map, &sum, len).map(|m| (m, 0..len)),
        _ => None,
    }
}

/// The payload format an entry's first bytes name, if they are those of an entry of this
/// layout.
pub(super) fn format_of(head: &[u8]) -> Option<u8> {
    head.starts_with(MAGIC)
        .then(|| head.get(HASHED_FROM).copied())?
}

/// Bytes `format_of` needs to see.
pub(super) const HEAD: usize = HEADER;

/// One frame to check and decompress: its compressed bytes, their hash, its place in the
/// output.
struct Frame<'a> {
    input: &'a [u8],
    at: usize,
    sum: [u8; 32],
    out: &'a mut [u8],
}

/// Checks the frame table of the compressed entry `map` against the header hash `sum`, then
/// checks and decompresses every frame into anonymous memory of exactly `len` bytes
/// (page-aligned, as wasmer needs); `None` if anything does not match.
fn decompress(map: &memmap2::Mmap, sum: &[u8; 32], len: usize) -> Option<memmap2::Mmap> {
    let count = u32::from_le_bytes(map.get(HEADER..HEADER + 4)?.try_into().ok()?) as usize;
    let table_end = count
        .checked_mul(FRAME_ENTRY)?
        .checked_add(HEADER + 4)
        .filter(|&end| end <= map.len())?;
    if blake3::hash(&map[HASHED_FROM..table_end]).as_bytes() != sum || count != len.div_ceil(FRAME)
    {
        return None;
    }
    let mut out = memmap2::MmapMut::map_anon(len.max(1)).ok()?;
    let mut frames = Vec::with_capacity(count);
    let mut free: &mut [u8] = &mut out[..len];
    let mut at = table_end;
    for i in 0..count {
        let row = &map[HEADER + 4 + i * FRAME_ENTRY..][..FRAME_ENTRY];
        let zlen = u32::from_le_bytes(row[..4].try_into().ok()?) as usize;
        let alen = u32::from_le_bytes(row[4..8].try_into().ok()?) as usize;
        // Every frame but the last holds exactly FRAME bytes: the table then covers `len`.
        let want = if i + 1 == count {
            len - i * FRAME
        } else {
            FRAME
        };
        let end = at.checked_add(zlen).filter(|&e| e <= map.len())?;
        if alen != want {
            return None;
        }
        let (dst, tail) = std::mem::take(&mut free).split_at_mut(alen);
        free = tail;
        frames.push(Frame {
            input: &map[at..end],
            at,
            sum: row[8..].try_into().ok()?,
            out: dst,
        });
        at = end;
    }
    if at != map.len() {
        return None;
    }
    let ok = in_parallel(frames, |f| {
        let good = blake3::hash(f.input).as_bytes() == &f.sum
            && zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress_to_buffer(f.input, f.out))
                .is_ok_and(|n| n == f.out.len());
        drop_inner_pages(map, f.at, f.at + f.input.len());
        good
    });
    drop_pages(map, 0, map.len());
    if ok.contains(&false) {
        return None;
    }
    out.make_read_only().ok()
}

/// `f` applied to every job, on up to as many threads as there are cores; the results in
/// no particular order.
fn in_parallel<J: Send, R: Send>(jobs: Vec<J>, f: impl Fn(J) -> R + Sync) -> Vec<R> {
    // Asking for the parallelism reads cgroup files (~30 µs): not for a single job.
    let workers = match jobs.len() {
        0 | 1 => 1,
        n => std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .min(8)
            .min(n),
    };
    let queue = Mutex::new(jobs);
    let work = || {
        let mut done = Vec::new();
        loop {
            // Its own statement: the lock must not be held while the job runs.
            let job = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(job) = job else { return done };
            done.push(f(job));
        }
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            // A panicking job (none is expected) re-panics here, as if it had run inline.
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    })
}

/// Drops the resident pages of `map[from..to]` (rounded out to whole pages) from this
/// process; the bytes stay readable.
pub(super) fn drop_pages(map: &memmap2::Mmap, from: usize, to: usize) {
    let start = from & !4095;
    advise_dont_need(map, start, to.saturating_sub(start));
}

/// Drops only the pages that lie wholly inside `map[from..to]`: its neighbours may still be
/// read (by another thread, or by wasmer). For an anonymous mapping the range reads back as
/// zeros afterwards: the caller vouches that nothing reads it again.
pub(super) fn drop_inner_pages(map: &memmap2::Mmap, from: usize, to: usize) {
    let start = (from + 4095) & !4095;
    let end = to & !4095;
    if end > start {
        advise_dont_need(map, start, end - start);
    }
}

fn advise_dont_need(map: &memmap2::Mmap, start: usize, len: usize) {
    // SAFETY: for a read-only view of a file that is never modified in place dropping pages
    // loses nothing: a later access reads the same bytes back from the page cache, and
    // references held across the call (other threads reading it) see the same bytes before
    // and after. For an anonymous mapping, only ranges nothing reads again are dropped
    // (`drop_inner_pages`' callers): wasmer keeps a `Bytes` over the whole artifact, but
    // never reads a function body through it after loading.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(bytes: &[u8]) -> memmap2::Mmap {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        // SAFETY: a private temporary file nobody else writes.
        unsafe { memmap2::Mmap::map(&f) }.unwrap()
    }

    fn entry(artifact: &[u8], level: Option<i32>) -> Vec<u8> {
        let mut v = Vec::new();
        write(&mut v, artifact, level).unwrap();
        v
    }

    fn artifact_of(bytes: &[u8]) -> Option<Vec<u8>> {
        read(mapped(bytes)).map(|(m, at)| m[at].to_vec())
    }

    /// Several frames (the last one short), one frame, and an empty artifact.
    fn artifacts() -> Vec<Vec<u8>> {
        let big: Vec<u8> = (0..FRAME * 2 + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        vec![big, b"a small artifact".to_vec(), Vec::new()]
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        for a in artifacts() {
            assert_eq!(artifact_of(&entry(&a, None)).unwrap(), a);
            let z = entry(&a, Some(3));
            assert_eq!(artifact_of(&z).unwrap(), a);
            assert_eq!(format_of(&z), Some(ZSTD));
        }
    }

    /// Any byte flipped anywhere in an entry, or the entry cut anywhere, makes it unreadable.
    #[test]
    fn every_flipped_byte_and_every_cut_is_refused() {
        let a = artifacts().remove(0);
        for level in [None, Some(1)] {
            let good = entry(&a, level);
            let step = (good.len() / 500).max(1);
            for at in (0..good.len())
                .step_by(step)
                .chain(HASHED_FROM..HEADER + 200)
            {
                let mut bad = good.clone();
                bad[at] ^= 0x20;
                assert_eq!(artifact_of(&bad), None, "{level:?}: byte {at} flipped");
            }
            for cut in (0..good.len()).step_by(step) {
                assert_eq!(artifact_of(&good[..cut]), None, "{level:?}: cut at {cut}");
            }
            let mut longer = good.clone();
            longer.push(0);
            assert_eq!(artifact_of(&longer), None, "{level:?}: a byte appended");
        }
    }

    /// A header whose hash is recomputed over a wrong length or format is still refused: the
    /// frames (or the plain payload) do not add up to it.
    #[test]
    fn a_consistent_header_that_lies_is_refused() {
        let a = artifacts().remove(0);
        for level in [None, Some(3)] {
            let good = entry(&a, level);
            let table_end = if level.is_some() {
                HEADER + 4 + a.len().div_ceil(FRAME) * FRAME_ENTRY
            } else {
                good.len()
            };
            let rehash = |bad: &mut Vec<u8>| {
                let sum = *blake3::hash(&bad[HASHED_FROM..table_end]).as_bytes();
                bad[MAGIC.len()..HASHED_FROM].copy_from_slice(&sum);
            };
            for delta in [1i64, -1, FRAME as i64, -(FRAME as i64)] {
                let mut bad = good.clone();
                let len = (a.len() as u64).checked_add_signed(delta).unwrap();
                bad[HASHED_FROM + 1..HEADER].copy_from_slice(&len.to_le_bytes());
                rehash(&mut bad);
                assert_eq!(artifact_of(&bad), None, "{level:?}: length {delta:+}");
            }
            let mut bad = good.clone();
            bad[HASHED_FROM] = 7;
            rehash(&mut bad);
            assert_eq!(artifact_of(&bad), None, "{level:?}: unknown format");
            let mut bad = good.clone();
            rehash(&mut bad);
            assert_eq!(
                artifact_of(&bad).unwrap(),
                a,
                "{level:?}: the rehash itself is sound"
            );
        }
    }
}
