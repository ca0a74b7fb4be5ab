//! Walking the members of a tar stream held in one buffer, without copying file data: each
//! member comes out with the byte range of its contents in the buffer.
//!
//! Header blocks are read through `tar::Header` (field layout, ustar name prefix, type flag);
//! numbers, checksums, pax records and GNU long names are decoded here so that every size is
//! checked against the buffer and the limits before anything is used. Extension headers (pax
//! `x`, GNU `L`/`K`) apply to the next ordinary member; pax wins over GNU long names, which win
//! over the header's own fields. Global pax headers (`g`) are validated and otherwise ignored.

use super::error::{EntryProblem, ImageError};
use super::load_limits::{Limits, MAX_COMPONENT};
use std::borrow::Cow;
use std::ops::Range;

pub(crate) const BLOCK: usize = 512;

/// What an ordinary member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Character or block device, or FIFO: never materialised.
    Device,
    /// Volume labels and member types this loader does not know: skipped.
    Other,
}

/// One ordinary member, with its extension headers applied.
#[derive(Debug)]
pub(crate) struct Member<'a> {
    /// Offset of the member's own header (after any extension headers).
    pub offset: u64,
    pub kind: Kind,
    /// The name as the archive spells it (pax, GNU long name or header fields).
    pub name: Cow<'a, [u8]>,
    /// The name normalised (see `normalize`), or why it is unacceptable; the tree builder
    /// reports the problem when it reaches this member. Not computed for `Kind::Other`.
    pub path: Result<NormPath<'a>, EntryProblem>,
    pub link: Option<&'a [u8]>,
    /// Contents, as a range of the buffer.
    pub data: Range<usize>,
    pub mode: u32,
    /// Times in nanoseconds since the epoch (earlier times are clamped to 0).
    pub mtime: u64,
    pub atime: Option<u64>,
    pub ctime: Option<u64>,
}

/// Values from extension headers waiting for the next ordinary member.
#[derive(Default)]
struct Pending<'a> {
    pax_path: Option<&'a [u8]>,
    pax_link: Option<&'a [u8]>,
    pax_size: Option<u64>,
    pax_mtime: Option<u64>,
    pax_atime: Option<u64>,
    pax_ctime: Option<u64>,
    gnu_name: Option<&'a [u8]>,
    gnu_link: Option<&'a [u8]>,
    sparse: bool,
}

/// Counts from a walk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Walked {
    /// Tar headers read (extension headers included).
    pub headers: u64,
    /// Global pax headers, volume labels, unknown member types.
    pub ignored: u64,
    /// The archive ended with a zero block (rather than just running out of data).
    pub end_marker: bool,
}

pub(crate) struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    headers: u64,
    limits: Limits,
    end_marker: bool,
    ignored_headers: u64,
}

fn entry_err(name: &[u8], offset: usize, problem: EntryProblem) -> ImageError {
    ImageError::entry_error(name, offset as u64, problem)
}

impl<'a> Walker<'a> {
    pub fn new(buf: &'a [u8], limits: Limits) -> Self {
        Walker {
            buf,
            pos: 0,
            headers: 0,
            limits,
            end_marker: false,
            ignored_headers: 0,
        }
    }

    /// What the walk saw besides the members.
    pub fn summary(&self) -> Walked {
        Walked {
            headers: self.headers,
            ignored: self.ignored_headers,
            end_marker: self.end_marker,
        }
    }

    /// The next ordinary member, or `None` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<Member<'a>>, ImageError> {
        let mut pending = Pending::default();
        loop {
            let offset = self.pos;
            let rest = &self.buf[offset..];
            if rest.is_empty() {
                return Ok(None);
            }
            if rest.len() < BLOCK {
                if rest.iter().all(|&b| b == 0) {
                    self.end_marker = true;
                    return Ok(None);
                }
                return Err(entry_err(b"", offset, EntryProblem::TruncatedHeader));
            }
            let block: &'a [u8; BLOCK] = rest[..BLOCK].try_into().expect("one block");
            let header = tar::Header::from_byte_slice(block);
            if let Err(p) = check_checksum(block) {
                // A zero block (whose checksum never matches) is the end of the archive; the
                // first one ends it, as with GNU tar.
                if block.iter().all(|&b| b == 0) {
                    self.end_marker = true;
                    return Ok(None);
                }
                return Err(entry_err(&header.path_bytes(), offset, p));
            }
            self.headers += 1;
            if self.headers > self.limits.max_entries {
                return Err(ImageError::TooManyEntries {
                    limit: self.limits.max_entries,
                });
            }
            let raw_name = header.path_bytes();
            let err = |p| entry_err(&raw_name, offset, p);
            let flag = block[156];
            let is_extension = matches!(flag, b'x' | b'X' | b'g' | b'L' | b'K');
            let header_size = unsigned(&block[124..136]).ok_or_else(|| err(bad("size")))?;
            let size = match (is_extension, pending.pax_size) {
                (false, Some(s)) => s,
                _ => header_size,
            };
            let data_start = offset + BLOCK;
            let available = (self.buf.len() - data_start) as u64;
            if size > available {
                let name = pending.pax_path.or(pending.gnu_name).unwrap_or(&raw_name);
                return Err(entry_err(
                    name,
                    offset,
                    EntryProblem::Truncated {
                        declared: size,
                        available,
                    },
                ));
            }
            let data_end = data_start + size as usize;
            let padded = (size as usize).div_ceil(BLOCK) * BLOCK;
            self.pos = (data_start + padded).min(self.buf.len());
            prefetch(self.buf, self.pos);
            let data = &self.buf[data_start..data_end];
            match flag {
                b'x' | b'X' | b'g' => {
                    if size > self.limits.max_pax_len {
                        return Err(err(EntryProblem::ExtensionTooLarge {
                            kind: "pax extended",
                            size,
                            limit: self.limits.max_pax_len,
                        }));
                    }
                    if flag == b'g' {
                        // Validated, then ignored: global defaults are not applied.
                        parse_pax(data, &mut Pending::default()).map_err(err)?;
                        self.ignored_headers += 1;
                    } else {
                        parse_pax(data, &mut pending).map_err(err)?;
                    }
                }
                b'L' | b'K' => {
                    let limit = self.limits.max_path_len as u64 + 1;
                    if size > limit {
                        return Err(err(EntryProblem::ExtensionTooLarge {
                            kind: "GNU long name",
                            size,
                            limit,
                        }));
                    }
                    // NUL-terminated (and sometimes NUL-padded); an inner NUL stays and is
                    // rejected with the name.
                    let mut v = data;
                    while let [rest @ .., 0] = v {
                        v = rest;
                    }
                    if flag == b'L' {
                        pending.gnu_name = Some(v);
                    } else {
                        pending.gnu_link = Some(v);
                    }
                }
                _ => {
                    let name = match (pending.pax_path, pending.gnu_name) {
                        (Some(p), _) | (None, Some(p)) => Cow::Borrowed(p),
                        (None, None) => raw_name.clone(),
                    };
                    let kind = match flag {
                        // Pre-POSIX archives mark directories by a trailing slash only.
                        b'0' | 0 | b'7' if name.ends_with(b"/") => Kind::Dir,
                        b'0' | 0 | b'7' => Kind::File,
                        b'1' => Kind::HardLink,
                        b'2' => Kind::Symlink,
                        b'3' | b'4' | b'6' => Kind::Device,
                        b'5' | b'D' => Kind::Dir,
                        b'S' => return Err(err(EntryProblem::Unsupported("GNU sparse file"))),
                        b'M' => {
                            return Err(err(EntryProblem::Unsupported(
                                "multi-volume continuation",
                            )));
                        }
                        _ => Kind::Other,
                    };
                    if pending.sparse {
                        return Err(err(EntryProblem::Unsupported("pax sparse file")));
                    }
                    if kind == Kind::Other {
                        self.ignored_headers += 1;
                    }
                    let mode = (unsigned(&block[100..108]).ok_or_else(|| err(bad("mode")))?
                        & 0o7777) as u32;
                    let mtime = match pending.pax_mtime {
                        Some(t) => t,
                        None => header_time(&block[136..148]).ok_or_else(|| err(bad("mtime")))?,
                    };
                    let link = match (pending.pax_link, pending.gnu_link) {
                        (Some(p), _) | (None, Some(p)) => p,
                        (None, None) => nul_terminated(&block[157..257]),
                    };
                    let link = matches!(kind, Kind::Symlink | Kind::HardLink).then_some(link);
                    let path = match (&name, kind) {
                        (_, Kind::Other) => Ok((Cow::Borrowed(""), 0)),
                        (Cow::Borrowed(n), _) => normalize(n, self.limits.max_path_len),
                        (Cow::Owned(n), _) => normalize(n, self.limits.max_path_len)
                            .map(|(p, at)| (Cow::Owned(p.into_owned()), at)),
                    };
                    return Ok(Some(Member {
                        offset: offset as u64,
                        kind,
                        name,
                        path,
                        link,
                        data: data_start..data_end,
                        mode,
                        mtime,
                        atime: pending.pax_atime,
                        ctime: pending.pax_ctime,
                    }));
                }
            }
        }
    }
}

/// A normalised member name and where its last component starts (0 without a `/`).
pub(crate) type NormPath<'a> = (Cow<'a, str>, usize);

/// Normalises a member name: leading `/`, `.` components and repeated or trailing slashes
/// go, `..` is refused. The result is `""` for the image root.
pub(crate) fn normalize(raw: &[u8], max_len: usize) -> Result<NormPath<'_>, EntryProblem> {
    if raw.is_empty() {
        return Err(EntryProblem::EmptyName);
    }
    if raw.contains(&0) {
        return Err(EntryProblem::Nul);
    }
    if raw.len() > max_len {
        return Err(EntryProblem::NameTooLong { limit: max_len });
    }
    let s = std::str::from_utf8(raw).map_err(|_| EntryProblem::NotUtf8)?;
    let mut clean = true;
    let mut last = 0;
    for c in s.split('/') {
        match c {
            "" | "." => clean = false,
            ".." => return Err(EntryProblem::DotDot),
            _ if c.len() > MAX_COMPONENT => return Err(EntryProblem::ComponentTooLong),
            _ => last = c.as_ptr() as usize - s.as_ptr() as usize,
        }
    }
    if clean {
        return Ok((Cow::Borrowed(s), last));
    }
    let mut out = String::with_capacity(s.len());
    for c in s.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if !out.is_empty() {
            out.push('/');
        }
        last = out.len();
        out.push_str(c);
    }
    if out.is_empty() {
        last = 0;
    }
    Ok((Cow::Owned(out), last))
}

/// Asks the CPU to start loading the next header while this member is being added to the
/// tree (each header is usually on a page of its own, cold in cache).
#[inline]
fn prefetch(buf: &[u8], pos: usize) {
    #[cfg(target_arch = "x86_64")]
    if pos < buf.len() {
        // SAFETY: prefetching is a hint and never faults; the address is inside `buf`.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(buf.as_ptr().add(pos).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buf, pos);
}

fn bad(field: &'static str) -> EntryProblem {
    EntryProblem::BadField(field)
}

fn nul_terminated(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

/// A numeric header field: octal text (leading spaces, ended by NUL or space; empty is 0) or
/// GNU/star base-256 (high bit of the first byte set; the next bit is the sign).
pub(crate) fn numeric(field: &[u8]) -> Option<i128> {
    if field[0] & 0x80 != 0 {
        let mut v = i128::from(field[0] & 0x7f);
        if field[0] & 0x40 != 0 {
            v -= 0x80;
        }
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(i128::from(b))?;
        }
        return Some(v);
    }
    let mut i = 0;
    while i < field.len() && field[i] == b' ' {
        i += 1;
    }
    let mut v: i128 = 0;
    while i < field.len() && (b'0'..=b'7').contains(&field[i]) {
        v = v.checked_mul(8)? + i128::from(field[i] - b'0');
        i += 1;
    }
    // Whatever follows the digits must be terminators only.
    if field[i..].iter().all(|&b| b == 0 || b == b' ') {
        Some(v)
    } else {
        None
    }
}

fn unsigned(field: &[u8]) -> Option<u64> {
    numeric(field).and_then(|v| u64::try_from(v).ok())
}

/// Seconds since the epoch plus nanoseconds, as clamped nanoseconds (before 1970 → 0).
pub(crate) fn to_ns(secs: i128, nanos: u32) -> u64 {
    if secs < 0 {
        return 0;
    }
    let ns = secs
        .saturating_mul(1_000_000_000)
        .saturating_add(i128::from(nanos));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

fn header_time(field: &[u8]) -> Option<u64> {
    numeric(field).map(|s| to_ns(s, 0))
}

/// The stored checksum must equal the sum of the header bytes with the checksum field read as
/// spaces, unsigned or (as some old writers computed it) signed.
fn check_checksum(block: &[u8; BLOCK]) -> Result<(), EntryProblem> {
    let stored = numeric(&block[148..156]).ok_or(EntryProblem::BadChecksum)?;
    // Plain sums over the block (vectorised), then the checksum field swapped for spaces.
    let field = &block[148..156];
    let unsigned_sum = block.iter().map(|&b| u32::from(b)).sum::<u32>()
        - field.iter().map(|&b| u32::from(b)).sum::<u32>()
        + 8 * u32::from(b' ');
    if stored == i128::from(unsigned_sum) {
        return Ok(());
    }
    let signed_sum = block.iter().map(|&b| i32::from(b as i8)).sum::<i32>()
        - field.iter().map(|&b| i32::from(b as i8)).sum::<i32>()
        + 8 * i32::from(b' ');
    if stored == i128::from(signed_sum) {
        Ok(())
    } else {
        Err(EntryProblem::BadChecksum)
    }
}

/// Parses pax records (`"<len> <key>=<value>\n"`, `len` counting the whole record) into
/// `pending`. Values may hold any byte, newlines included. An empty value unsets the key.
fn parse_pax<'a>(mut data: &'a [u8], pending: &mut Pending<'a>) -> Result<(), EntryProblem> {
    let bad = |what: &str| EntryProblem::BadPax(what.to_string());
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data
            .iter()
            .take(21)
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record length"))?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("record length"))?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad("record length"));
        }
        let record = &data[space + 1..len - 1];
        data = &data[len..];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record without `=`"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let some = |v: &'a [u8]| (!v.is_empty()).then_some(v);
        match key {
            b"path" => pending.pax_path = some(value),
            b"linkpath" => pending.pax_link = some(value),
            b"size" => {
                pending.pax_size = match some(value) {
                    None => None,
                    Some(v) => Some(
                        std::str::from_utf8(v)
                            .ok()
                            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| bad("size"))?,
                    ),
                }
            }
            b"mtime" | b"atime" | b"ctime" => {
                let t = match some(value) {
                    None => None,
                    Some(v) => Some(
                        pax_time(v)
                            .ok_or_else(|| bad(std::str::from_utf8(key).expect("ascii key")))?,
                    ),
                };
                match key {
                    b"mtime" => pending.pax_mtime = t,
                    b"atime" => pending.pax_atime = t,
                    _ => pending.pax_ctime = t,
                }
            }
            _ if key.starts_with(b"GNU.sparse.") => pending.sparse = true,
            // uid, gid, uname, gname (owners are normalised away), xattrs, comments, charset.
            _ => {}
        }
    }
    Ok(())
}

/// A pax time: `[-]seconds[.fraction]`, as clamped nanoseconds.
fn pax_time(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if neg {
        return Some(0);
    }
    // More digits than fit i128 are past u64 nanoseconds anyway.
    let secs: i128 = if int.is_empty() {
        0
    } else if int.len() > 30 {
        i128::MAX
    } else {
        int.parse().ok()?
    };
    let mut nanos = 0u32;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(to_ns(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(numeric(b"0000644\0"), Some(0o644));
        assert_eq!(numeric(b"  644 \0\0"), Some(0o644));
        assert_eq!(numeric(b"\0\0\0\0"), Some(0));
        assert_eq!(numeric(b"12x\0"), None);
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 5;
        assert_eq!(numeric(&f), Some(5));
        let neg = [0xffu8; 12];
        assert_eq!(numeric(&neg), Some(-1));
    }

    #[test]
    fn pax_times() {
        assert_eq!(pax_time(b"1.5"), Some(1_500_000_000));
        assert_eq!(pax_time(b"12"), Some(12_000_000_000));
        assert_eq!(pax_time(b"-3.2"), Some(0));
        assert_eq!(pax_time(b"1.0000000019"), Some(1_000_000_001));
        assert_eq!(pax_time(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b"."), None);
    }

    #[test]
    fn pax_records() {
        let data = b"16 path=a\nb/c\x00d\n11 size=42\n";
        let mut p = Pending::default();
        parse_pax(data, &mut p).unwrap();
        assert_eq!(p.pax_path, Some(&b"a\nb/c\x00d"[..]));
        assert_eq!(p.pax_size, Some(42));
        assert!(parse_pax(b"99 path=x\n", &mut p).is_err());
        assert!(parse_pax(b"9 pathx\n", &mut Pending::default()).is_err());
    }
}
