//! Errors of loading and exporting images. Every problem with one archive member names that
//! member and the byte offset of its header. Names from archives, the host and the guest are
//! shown [`quoted`]: escaped, so a message is one line of printable text whatever bytes the
//! name holds (a hostile name cannot fake lines of output or send terminal escapes).

#![forbid(unsafe_code)]

use crate::vfs::Errno;
use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A name as it appears in messages: see [`quoted`].
#[derive(Clone, Copy, Debug)]
pub struct Quoted<'a>(pub &'a [u8]);

/// Shows `name` in double quotes, escaped as Rust's `{:?}` escapes a string (`\n`, `\"`,
/// `\\`, `\u{1b}`, … for control and other unprintable characters), and with each byte that
/// is not part of valid UTF-8 as `\xNN`. The result never holds a control character.
pub fn quoted<T: AsRef<[u8]> + ?Sized>(name: &T) -> Quoted<'_> {
    Quoted(name.as_ref())
}

/// [`quoted`] for a host path (its bytes, not a lossy conversion).
pub fn quoted_path(path: &Path) -> Quoted<'_> {
    Quoted(path.as_os_str().as_bytes())
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                // `char::escape_debug` is what `{:?}` of a string does, except that a string
                // leaves single quotes alone.
                match c {
                    '\'' => f.write_char(c)?,
                    _ => write!(f, "{}", c.escape_debug())?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_char('"')
    }
}

/// Why loading an image failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading the image file or stream failed.
    #[error("{}: {source}", quoted_path(path))]
    Io {
        /// The image file (or `<bytes>`, `<stream>` for images not read from a file).
        path: PathBuf,
        /// What the reader said.
        #[source]
        source: io::Error,
    },
    /// The gzip stream is corrupt (bad header, bad deflate data, CRC or length mismatch).
    #[error("gzip stream: {0}")]
    Gzip(#[source] io::Error),
    /// The data is compressed with something other than gzip.
    #[error("{0}-compressed images are not supported (only gzip)")]
    UnsupportedCompression(&'static str),
    /// The tar stream (decompressed, for gzip) is larger than `Limits::max_image_bytes`.
    #[error("image is larger than the limit of {limit} bytes")]
    TooLarge {
        /// `Limits::max_image_bytes`.
        limit: u64,
    },
    /// More tar headers than `Limits::max_entries`.
    #[error("image has more than {limit} tar entries")]
    TooManyEntries {
        /// `Limits::max_entries`.
        limit: u64,
    },
    /// One archive member is malformed, hostile or conflicts with the tree built so far.
    #[error("tar entry {} (header at byte {offset}): {problem}", quoted(name))]
    Entry {
        /// The member's name as the archive spells it (lossy UTF-8), for matching.
        entry: String,
        /// The member's name byte for byte (shown escaped in the message).
        name: Vec<u8>,
        /// Byte offset of its header in the (decompressed) tar stream.
        offset: u64,
        /// What is wrong with it.
        problem: EntryProblem,
    },
}

impl ImageError {
    /// The problem, when the error concerns one archive member.
    pub fn problem(&self) -> Option<&EntryProblem> {
        match self {
            ImageError::Entry { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The member name (lossy UTF-8), when the error concerns one archive member.
    pub fn entry(&self) -> Option<&str> {
        match self {
            ImageError::Entry { entry, .. } => Some(entry),
            _ => None,
        }
    }

    /// The member name byte for byte, when the error concerns one archive member.
    pub fn entry_bytes(&self) -> Option<&[u8]> {
        match self {
            ImageError::Entry { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The error about the member named `name` (bytes as the archive spells them).
    pub(crate) fn entry_error(name: &[u8], offset: u64, problem: EntryProblem) -> Self {
        ImageError::Entry {
            entry: String::from_utf8_lossy(name).into_owned(),
            name: name.to_vec(),
            offset,
            problem,
        }
    }
}

/// What is wrong with one archive member. Names held here (parents and link targets) are
/// lossy UTF-8 and shown [`quoted`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    // --- the tar encoding itself
    /// The header block's checksum does not match (corrupt data or not a tar archive).
    #[error("header checksum mismatch (corrupt, or not a tar archive)")]
    BadChecksum,
    /// A numeric header field is not a valid number.
    #[error("invalid `{0}` field in the header")]
    BadField(&'static str),
    /// The archive ends inside a header block.
    #[error("archive ends inside this header (truncated)")]
    TruncatedHeader,
    /// The header declares more data than the archive holds.
    #[error("declares {declared} bytes of data but only {available} remain (truncated archive)")]
    Truncated {
        /// Data bytes the header declares.
        declared: u64,
        /// Bytes left in the archive.
        available: u64,
    },
    /// A pax extended header is malformed.
    #[error("malformed pax extended header: {0}")]
    BadPax(String),
    /// A pax or GNU long-name header is larger than its limit.
    #[error("{kind} header of {size} bytes exceeds the limit of {limit}")]
    ExtensionTooLarge {
        /// `pax` or `GNU long name`.
        kind: &'static str,
        /// Its size in bytes.
        size: u64,
        /// The most bytes allowed.
        limit: u64,
    },
    /// A member type this loader does not handle (sparse files, multi-volume continuations).
    #[error("unsupported member type: {0}")]
    Unsupported(&'static str),

    // --- names (of the member itself)
    /// The name is empty.
    #[error("name is empty")]
    EmptyName,
    /// The name contains a NUL byte.
    #[error("name contains a NUL byte")]
    Nul,
    /// The name is not UTF-8 (WASI paths are strings).
    #[error("name is not valid UTF-8")]
    NotUtf8,
    /// A `..` component: the name would leave the image root.
    #[error("name contains a `..` component")]
    DotDot,
    /// A component of the name is longer than 255 bytes.
    #[error("a name component is longer than 255 bytes")]
    ComponentTooLong,
    /// The whole name is longer than the resolver accepts.
    #[error("name is longer than {limit} bytes")]
    NameTooLong {
        /// The longest name accepted, in bytes.
        limit: usize,
    },
    /// A non-directory member names the image root (`/`, `.`, `./`).
    #[error("only a directory may name the image root")]
    RootNotDirectory,
    /// With OCI whiteouts on: a `.wh.` name used as a directory on the way, or a whiteout of
    /// `.`, `..`, nothing, or another whiteout name.
    #[error("invalid use of the reserved whiteout prefix `.wh.`")]
    BadWhiteout,

    // --- placement in the tree
    /// A parent of the member is a symbolic link loaded earlier: nothing is ever created
    /// through a link (tar-slip).
    #[error(
        "parent {} is a symbolic link; nothing is written through a link",
        quoted(.parent)
    )]
    ThroughSymlink {
        /// The parent that is a link.
        parent: String,
    },
    /// A parent of the member is a regular file.
    #[error("parent {} is not a directory", quoted(.parent))]
    ParentNotDirectory {
        /// The parent that is a file.
        parent: String,
    },
    /// A non-directory member would replace a directory that has entries.
    #[error("would replace a non-empty directory")]
    ReplacesNonEmptyDir,

    // --- link targets
    /// A symlink target is empty, not UTF-8, contains NUL or is too long.
    #[error("invalid symlink target: {0}")]
    BadSymlinkTarget(Box<EntryProblem>),
    /// A hard-link target name is malformed (e.g. has a `..` component).
    #[error("invalid hard link target {}: {problem}", quoted(.target))]
    BadLinkTarget {
        /// The target as the archive spells it.
        target: String,
        /// What is wrong with it.
        problem: Box<EntryProblem>,
    },
    /// A hard link to a name not (yet) in the image, or reached only through a symlink.
    #[error(
        "hard link target {} is not in the image (links may only name earlier members)",
        quoted(.target)
    )]
    LinkTargetMissing {
        /// The target as the archive spells it.
        target: String,
    },
    /// A hard link to a directory (no filesystem allows one).
    #[error("hard link target {} is a directory", quoted(.target))]
    LinkToDirectory {
        /// The target as the archive spells it.
        target: String,
    },

    /// The image would hold more inodes than `Limits::max_inodes` (each member may also
    /// create its missing parent directories, so this bounds memory per byte of archive).
    #[error("the image would have more than {limit} inodes")]
    TooManyInodes {
        /// `Limits::max_inodes`.
        limit: u64,
    },

    /// The filesystem refused the operation (e.g. too many links to one file).
    #[error("filesystem error: {0}")]
    Fs(Errno),
}

/// Why exporting a tree failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the archive failed.
    #[error("writing the archive: {0}")]
    Io(#[from] io::Error),
    /// Reading a node of the tree failed (e.g. a lazily loaded host file went away).
    #[error("{}: {errno}", quoted(.path))]
    Fs {
        /// The node's path in the tree.
        path: String,
        /// The filesystem's error.
        errno: Errno,
    },
    /// A name that a tar archive cannot carry (contains NUL), or a whiteout path that is not a
    /// plain relative path.
    #[error("{}: {problem}", quoted(.path))]
    BadName {
        /// The path that cannot be carried.
        path: String,
        /// Why.
        problem: EntryProblem,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escapes_like_debug_and_shows_invalid_bytes_as_hex() {
        for s in [
            "plain/name",
            "it's \"q\" `b` \\",
            "\u{1b}[31m\n\r\t\0\u{7f}\u{85}",
            "caf\u{e9} \u{202e}bidi \u{200b} e\u{301}",
        ] {
            assert_eq!(quoted(s).to_string(), format!("{s:?}"));
        }
        assert_eq!(quoted(b"a\xffb\xe9\n").to_string(), r#""a\xffb\xe9\n""#);
        assert_eq!(
            quoted_path(Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\x1b\xfe"))).to_string(),
            r#""/tmp/\u{1b}\xfe""#
        );
    }
}
