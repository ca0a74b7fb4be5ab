//! Writing a tree as a tar archive, reproducibly: the same tree always gives the same bytes.
//!
//! Members are sorted by path (bytewise), owners are normalised (uid/gid 0, empty user and
//! group names), modes and modification times are kept (seconds in the header, plus a pax
//! `mtime` record when there are nanoseconds and [`ExportOptions::nanoseconds`] is on).
//! Directories are written as `name/`, the subtree root as `./`. A file or symlink with
//! several names inside the subtree is written once, at its first path; later paths are tar
//! hard links to it. Names that do not fit the ustar name/prefix fields, link targets over
//! 100 bytes and sizes of 8 GiB or more go in pax records. Whiteout markers for OCI layer
//! diffs can be added from [`ExportOptions::whiteouts`] / [`ExportOptions::opaque_dirs`].
//! `load(export(tree))` gives back the same tree.

#![forbid(unsafe_code)]

use super::error::{EntryProblem, ExportError};
use super::tarparse::normalize;
use crate::vfs::dir::Ino;
use crate::vfs::node::{Node, NodeKind};
use crate::vfs::{Errno, MemFs, NodeId, Vfs};
use std::collections::HashMap;
use std::hash::Hash;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

/// How to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Write the subtree root itself as a `./` member (its mode and mtime then round-trip).
    pub include_root: bool,
    /// Keep sub-second modification times in pax `mtime` records.
    pub nanoseconds: bool,
    /// Paths (relative to the subtree root) to write OCI whiteouts for: `a/b` becomes an empty
    /// file `a/.wh.b`.
    pub whiteouts: Vec<String>,
    /// Directories (relative to the subtree root, `""` for the root) to mark opaque with a
    /// `.wh..wh..opq` member.
    pub opaque_dirs: Vec<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            include_root: true,
            nanoseconds: true,
            whiteouts: Vec::new(),
            opaque_dirs: Vec::new(),
        }
    }
}

/// Writes the directory `dir` of `fs` and everything below it as a tar archive to `out`;
/// gives `out` back.
pub fn export_memfs<W: Write>(
    fs: &MemFs,
    dir: Ino,
    out: W,
    opts: &ExportOptions,
) -> Result<W, ExportError> {
    export(&MemSource(fs), dir, out, opts)
}

/// Writes the directory `at` of the namespace and everything below it, as seen through mount
/// points, as a tar archive to `out`; gives `out` back. Lazy directories (host trees) not
/// read yet are read into a fork of `vfs`; one that cannot be read fails the export.
pub fn export_vfs<W: Write>(
    vfs: &Vfs,
    at: NodeId,
    out: W,
    opts: &ExportOptions,
) -> Result<W, ExportError> {
    let mut vfs = vfs.clone();
    // A directory that fails stays failed; the walk below names it in its error.
    let _reported_below = vfs.load_all(at);
    let root = vfs.through_mounts(at);
    export(&VfsSource(&vfs), root, out, opts)
}

/// A directory's entries: name and node.
type Children<Id> = Vec<(Arc<str>, Id)>;

/// A tree to export: nodes and directory listings.
trait Source {
    type Id: Copy + Eq + Hash;
    fn node(&self, id: Self::Id) -> Result<&Node, Errno>;
    fn children(&self, id: Self::Id) -> Result<Children<Self::Id>, Errno>;
}

struct MemSource<'a>(&'a MemFs);

impl Source for MemSource<'_> {
    type Id = Ino;
    fn node(&self, id: Ino) -> Result<&Node, Errno> {
        self.0.node(id)
    }
    fn children(&self, id: Ino) -> Result<Children<Ino>, Errno> {
        Ok(self
            .0
            .loaded_dir(id)?
            .entries
            .iter()
            .map(|(n, i)| (n.clone(), i))
            .collect())
    }
}

struct VfsSource<'a>(&'a Vfs);

impl Source for VfsSource<'_> {
    type Id = NodeId;
    fn node(&self, id: NodeId) -> Result<&Node, Errno> {
        self.0.node(id)
    }
    fn children(&self, id: NodeId) -> Result<Children<NodeId>, Errno> {
        let fs = self.0.fs(id)?;
        Ok(fs
            .loaded_dir(id.ino)?
            .entries
            .iter()
            .map(|(n, ino)| {
                let child = self.0.through_mounts(NodeId { fs: id.fs, ino });
                (n.clone(), child)
            })
            .collect())
    }
}

enum Item<Id> {
    Node(Id),
    /// An empty regular file standing for a whiteout marker.
    Marker,
}

fn export<S: Source, W: Write>(
    src: &S,
    root: S::Id,
    out: W,
    opts: &ExportOptions,
) -> Result<W, ExportError> {
    let fs_err = |path: &str| {
        let path = path.to_string();
        move |errno| ExportError::Fs { path, errno }
    };
    if !src.node(root).map_err(fs_err(""))?.is_dir() {
        return Err(ExportError::Fs {
            path: String::new(),
            errno: Errno::Notdir,
        });
    }
    // Every path below the root, then sorted: parents come before their entries.
    let mut items: Vec<(String, Item<S::Id>)> = Vec::new();
    let mut stack = vec![(String::new(), root)];
    while let Some((dir_path, dir)) = stack.pop() {
        for (name, child) in src.children(dir).map_err(fs_err(&dir_path))? {
            let path = if dir_path.is_empty() {
                name.to_string()
            } else {
                format!("{dir_path}/{name}")
            };
            if name.contains('\0') || name.contains('/') || name.is_empty() {
                return Err(ExportError::BadName {
                    path,
                    problem: EntryProblem::Nul,
                });
            }
            if src.node(child).map_err(fs_err(&path))?.is_dir() {
                stack.push((path.clone(), child));
            }
            items.push((path, Item::Node(child)));
        }
    }
    for w in &opts.whiteouts {
        let bad = |problem| ExportError::BadName {
            path: w.clone(),
            problem,
        };
        let (p, _) = normalize(w.as_bytes(), usize::MAX).map_err(bad)?;
        if p.is_empty() {
            return Err(bad(EntryProblem::EmptyName));
        }
        let path = match p.rsplit_once('/') {
            Some((parent, name)) => format!("{parent}/.wh.{name}"),
            None => format!(".wh.{p}"),
        };
        items.push((path, Item::Marker));
    }
    for d in &opts.opaque_dirs {
        let p = if d.is_empty() {
            "".into()
        } else {
            normalize(d.as_bytes(), usize::MAX)
                .map_err(|problem| ExportError::BadName {
                    path: d.clone(),
                    problem,
                })?
                .0
        };
        let path = if p.is_empty() {
            ".wh..wh..opq".to_string()
        } else {
            format!("{p}/.wh..wh..opq")
        };
        items.push((path, Item::Marker));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items.dedup_by(|a, b| a.0 == b.0);

    let mut w = Writer {
        out: BufWriter::with_capacity(256 * 1024, out),
        nanoseconds: opts.nanoseconds,
    };
    if opts.include_root {
        let n = src.node(root).map_err(fs_err(""))?;
        w.member("./", b'5', n.mode, n.mtim, 0, None)?;
    }
    let mut first_paths: HashMap<S::Id, usize> = HashMap::new();
    for (i, (path, item)) in items.iter().enumerate() {
        let id = match item {
            Item::Node(id) => *id,
            Item::Marker => {
                w.member(path, b'0', 0o644, 0, 0, None)?;
                continue;
            }
        };
        let n = src.node(id).map_err(fs_err(path))?;
        if !n.is_dir() && n.nlink > 1 {
            if let Some(&first) = first_paths.get(&id) {
                w.member(path, b'1', n.mode, n.mtim, 0, Some(&items[first].0))?;
                continue;
            }
            first_paths.insert(id, i);
        }
        match &n.kind {
            NodeKind::Dir(_) => w.member(&format!("{path}/"), b'5', n.mode, n.mtim, 0, None)?,
            NodeKind::Symlink(target) => w.member(path, b'2', n.mode, n.mtim, 0, Some(target))?,
            NodeKind::File(data) => {
                w.member(path, b'0', n.mode, n.mtim, data.len(), None)?;
                match data.as_whole() {
                    Some(b) => w.out.write_all(b)?,
                    None => {
                        let mut res = Ok(());
                        data.for_each_chunk(|c| {
                            if res.is_ok() {
                                res = w.out.write_all(c);
                            }
                        });
                        res?;
                    }
                }
                w.pad(data.len())?;
            }
        }
    }
    // End of archive: two zero blocks.
    w.out.write_all(&[0u8; 1024])?;
    w.out
        .into_inner()
        .map_err(|e| ExportError::Io(e.into_error()))
}

struct Writer<W: Write> {
    out: BufWriter<W>,
    nanoseconds: bool,
}

/// Largest value of an 11-digit octal header field (sizes, times).
const OCTAL_11: u64 = 0o77777777777;

impl<W: Write> Writer<W> {
    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    /// Writes one member's header (preceded by a pax header when needed).
    fn member(
        &mut self,
        path: &str,
        flag: u8,
        mode: u32,
        mtime_ns: u64,
        size: u64,
        link: Option<&str>,
    ) -> io::Result<()> {
        let mut pax = Vec::new();
        let mut h = tar::Header::new_ustar();
        if !set_name(&mut h, path.as_bytes()) {
            pax_record(&mut pax, "path", path.as_bytes());
            // Readers without pax support see a truncated name.
            let mut cut = path.len().min(100);
            while !path.is_char_boundary(cut) {
                cut -= 1;
            }
            set_name(&mut h, &path.as_bytes()[..cut]);
        }
        if let Some(link) = link {
            let field = &mut h.as_old_mut().linkname;
            if link.len() <= field.len() {
                field[..link.len()].copy_from_slice(link.as_bytes());
            } else {
                pax_record(&mut pax, "linkpath", link.as_bytes());
            }
        }
        let (secs, nanos) = (mtime_ns / 1_000_000_000, mtime_ns % 1_000_000_000);
        if self.nanoseconds && nanos != 0 {
            pax_record(&mut pax, "mtime", format!("{secs}.{nanos:09}").as_bytes());
        }
        if size > OCTAL_11 {
            pax_record(&mut pax, "size", size.to_string().as_bytes());
        }
        h.set_mode(mode & 0o7777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(secs);
        h.set_size(size);
        h.as_old_mut().linkflag = [flag];
        if !pax.is_empty() {
            let mut ph = tar::Header::new_ustar();
            set_name(&mut ph, b"././@PaxHeader");
            ph.set_mode(0o644);
            ph.set_uid(0);
            ph.set_gid(0);
            ph.set_size(pax.len() as u64);
            ph.as_old_mut().linkflag = [b'x'];
            ph.set_cksum();
            self.out.write_all(ph.as_bytes())?;
            self.out.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }
}

/// Puts `path` in the ustar name field, or splits it at a `/` into prefix and name; false if
/// it fits neither way.
fn set_name(h: &mut tar::Header, path: &[u8]) -> bool {
    let ustar = h.as_ustar_mut().expect("a ustar header");
    if path.len() <= ustar.name.len() {
        ustar.name[..path.len()].copy_from_slice(path);
        return true;
    }
    // The longest name part that fits, with the prefix fitting too.
    let first_ok = path.len() - ustar.name.len() - 1;
    let split = path
        .iter()
        .enumerate()
        .skip(first_ok)
        .find(|&(i, &b)| b == b'/' && i + 1 < path.len())
        .map(|(i, _)| i);
    match split {
        Some(i) if i <= ustar.prefix.len() && i > 0 => {
            ustar.prefix[..i].copy_from_slice(&path[..i]);
            let name = &path[i + 1..];
            ustar.name[..name.len()].copy_from_slice(name);
            true
        }
        _ => false,
    }
}

/// Appends one pax record, `"<len> <key>=<value>\n"`, `len` counting the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    if len.to_string().len() + base != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths() {
        for n in [
            0usize, 1, 5, 6, 7, 80, 90, 94, 95, 96, 200, 994, 995, 996, 9990,
        ] {
            let mut v = Vec::new();
            let value = vec![b'a'; n];
            pax_record(&mut v, "path", &value);
            let (len, _) = std::str::from_utf8(&v).unwrap().split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), v.len(), "value of {n} bytes");
        }
    }

    #[test]
    fn ustar_prefix_split() {
        let mut h = tar::Header::new_ustar();
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        assert!(set_name(&mut h, long.as_bytes()));
        assert_eq!(&*h.path_bytes(), long.as_bytes());
        let mut h = tar::Header::new_ustar();
        assert!(!set_name(&mut h, "x".repeat(101).as_bytes()));
        let mut h = tar::Header::new_ustar();
        assert!(!set_name(
            &mut h,
            format!("{}/{}", "d".repeat(160), "f").as_bytes()
        ));
    }
}
