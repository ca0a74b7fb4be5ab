//! Stacking and comparing trees the way container layers do. `apply_layer` merges an OCI
//! layer (its whiteouts and opaque markers loaded as data, never as names) onto a writable
//! filesystem, sharing file contents; `diff` computes what a run changed relative to the
//! filesystem it was forked from, as an upper tree plus whiteouts, ready for tar export.
//! Invariant: neither ever copies file data (contents are shared `Bytes`).

#![forbid(unsafe_code)]

use super::load::Image;
use crate::vfs::dir::Ino;
use crate::vfs::lazy::{LazyDir, Listed};
use crate::vfs::node::{Node, NodeKind};
use crate::vfs::{Clock, Errno, FileType, MemFs, Result, SetTime};
use std::collections::HashMap;
use std::sync::Arc;

/// Removes `name` from `dir`, recursively if it is a directory.
fn remove_tree(fs: &mut MemFs, dir: Ino, name: &str) -> Result<()> {
    let Some(ino) = fs.lookup(dir, name)? else {
        return Ok(());
    };
    if fs.node(ino)?.is_dir() {
        let names: Vec<String> = fs
            .readdir(ino, 2)?
            .into_iter()
            .map(|(_, n, _, _)| n.to_string())
            .collect();
        for n in names {
            remove_tree(fs, ino, &n)?;
        }
        fs.rmdir(dir, name)
    } else {
        fs.unlink(dir, name)
    }
}

fn copy_meta(fs: &mut MemFs, ino: Ino, from: &Node) -> Result<()> {
    fs.set_mode(ino, from.mode)?;
    fs.set_times(ino, SetTime::At(from.atim), SetTime::At(from.mtim))
}

/// Applies `layer` onto `fs` (writable) as an OCI layer: whiteouts and opaque markers of each
/// directory delete what lower layers had there, then the layer's entries replace or merge
/// with what is left (directories merge, anything else replaces). Hard links inside the layer
/// stay hard links.
pub fn apply_layer(fs: &mut MemFs, layer: &Image) -> Result<()> {
    let mut whiteouts: HashMap<Ino, Vec<&str>> = HashMap::new();
    for (dir, name) in &layer.whiteouts {
        whiteouts.entry(*dir).or_default().push(name);
    }
    let mut links = HashMap::new();
    let mut ctx = Apply {
        layer: &layer.fs,
        whiteouts,
        opaque: &layer.opaque_dirs,
        links: &mut links,
    };
    ctx.merge_dir(fs, fs.root(), layer.fs.root())
}

struct Apply<'a> {
    layer: &'a MemFs,
    whiteouts: HashMap<Ino, Vec<&'a str>>,
    opaque: &'a [Ino],
    /// Layer inode → inode created for it, so later names of it become hard links.
    links: &'a mut HashMap<Ino, Ino>,
}

impl Apply<'_> {
    fn merge_dir(&mut self, fs: &mut MemFs, dir: Ino, ldir: Ino) -> Result<()> {
        if self.opaque.binary_search(&ldir).is_ok() {
            let names: Vec<String> = fs
                .readdir(dir, 2)?
                .into_iter()
                .map(|(_, n, _, _)| n.to_string())
                .collect();
            for n in names {
                remove_tree(fs, dir, &n)?;
            }
        }
        if let Some(names) = self.whiteouts.get(&ldir) {
            for name in names.clone() {
                remove_tree(fs, dir, name)?;
            }
        }
        for (_, name, lino, _) in self.layer.readdir(ldir, 2)? {
            let lnode = self.layer.node(lino)?;
            let existing = fs.lookup(dir, &name)?;
            match &lnode.kind {
                NodeKind::Dir(_) => {
                    let target = match existing {
                        Some(ino) if fs.node(ino)?.is_dir() => ino,
                        Some(_) => {
                            remove_tree(fs, dir, &name)?;
                            fs.mkdir(dir, &name, lnode.mode)?
                        }
                        None => fs.mkdir(dir, &name, lnode.mode)?,
                    };
                    self.merge_dir(fs, target, lino)?;
                    copy_meta(fs, target, lnode)?;
                }
                kind => {
                    if existing.is_some() {
                        remove_tree(fs, dir, &name)?;
                    }
                    if let Some(&ino) = self.links.get(&lino) {
                        fs.link(dir, &name, ino)?;
                        continue;
                    }
                    let ino = match kind {
                        NodeKind::File(data) => {
                            fs.create_file_with(dir, &name, data.clone(), lnode.mode)?
                        }
                        NodeKind::Symlink(target) => fs.symlink(dir, &name, target)?,
                        NodeKind::Dir(_) => unreachable!("handled above"),
                    };
                    copy_meta(fs, ino, lnode)?;
                    if lnode.nlink > 1 {
                        self.links.insert(lino, ino);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Paths (relative to the export root) that a diff deletes or replaces wholesale.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Deletions {
    /// Paths deleted: each becomes a `.wh.NAME` whiteout.
    pub whiteouts: Vec<String>,
    /// Directories replaced wholesale: each gets a `.wh..wh..opq` marker.
    pub opaque_dirs: Vec<String>,
}

/// Writes what changed from `base` to `top` (a fork of it) into `upper` under its directory
/// `at`: every new or modified entry, with unchanged parent directories for structure; deleted
/// paths and wholesale-replaced directories go to `del`, prefixed with `prefix`. A node is
/// unchanged iff both filesystems still share it (`MemFs::same_node`).
pub fn diff_into(
    base: &MemFs,
    top: &MemFs,
    upper: &mut MemFs,
    at: Ino,
    prefix: &str,
    del: &mut Deletions,
) -> Result<bool> {
    let mut links = HashMap::new();
    let mut w = DiffWriter {
        base,
        top,
        upper,
        del,
        links: &mut links,
    };
    w.dir(base.root(), top.root(), at, prefix)
}

/// Writes, as a tar layer with OCI whiteouts, what changed in `vfs` relative to `bases`: the
/// filesystems as they were before (O(1) clones), one per `(guest path, root)` in `mounts`.
pub fn write_diff<W: std::io::Write>(
    vfs: &crate::vfs::Vfs,
    mounts: &[(String, crate::vfs::NodeId)],
    bases: &[MemFs],
    out: W,
) -> std::result::Result<W, super::ExportError> {
    let vfs_err = |e: Errno| super::ExportError::Io(std::io::Error::other(e.to_string()));
    let mut upper = MemFs::new(1, vfs.clock().clone());
    let mut del = Deletions::default();
    for ((path, id), base) in mounts.iter().zip(bases) {
        let mut at = upper.root();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            at = match upper.lookup(at, comp).map_err(vfs_err)? {
                Some(ino) => ino,
                None => upper.mkdir(at, comp, 0o755).map_err(vfs_err)?,
            };
        }
        let top = vfs.fs(*id).map_err(vfs_err)?;
        diff_into(
            base,
            top,
            &mut upper,
            at,
            path.trim_start_matches('/'),
            &mut del,
        )
        .map_err(vfs_err)?;
    }
    let opts = super::ExportOptions {
        whiteouts: del.whiteouts,
        opaque_dirs: del.opaque_dirs,
        ..super::ExportOptions::default()
    };
    super::export_memfs(&upper, upper.root(), out, &opts)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

struct DiffWriter<'a> {
    base: &'a MemFs,
    top: &'a MemFs,
    upper: &'a mut MemFs,
    del: &'a mut Deletions,
    links: &'a mut HashMap<Ino, Ino>,
}

impl DiffWriter<'_> {
    /// Diffs directory `bdir` of base against `tdir` of top into `udir`; true if anything
    /// below changed.
    fn dir(&mut self, bdir: Ino, tdir: Ino, udir: Ino, prefix: &str) -> Result<bool> {
        let (base, top) = (self.base, self.top);
        if base.dir(bdir)?.is_unloaded() {
            // A lazy directory the run found unread: what it holds now is compared with its
            // source's listing (unread in top too: nothing inside changed).
            return match &top.dir(tdir)?.lazy {
                Some(l) if l.loaded => self.lazy_dir(&l.source.clone(), tdir, udir, prefix),
                _ => Ok(false),
            };
        }
        let mut changed = false;
        let bentries: HashMap<String, Ino> = base
            .readdir(bdir, 2)?
            .into_iter()
            .map(|(_, n, i, _)| (n.to_string(), i))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (_, name, tino, ft) in top.readdir(tdir, 2)? {
            seen.insert(name.to_string());
            let path = join(prefix, &name);
            let bino = bentries.get(&*name).copied();
            let same_kind = bino
                .and_then(|b| base.node(b).ok())
                .is_some_and(|b| b.file_type() == ft);
            let tnode = top.node(tino)?;
            if ft == FileType::Directory && same_kind && bino == Some(tino) {
                // The same directory: only what changed inside it.
                let u = self.upper.mkdir(udir, &name, tnode.mode)?;
                let inner = self.dir(tino, tino, u, &path)?;
                // Reading a lazy directory copies its node; only its attributes can tell.
                let meta = |n: &Node| (n.mode, n.atim, n.mtim);
                let read_only = base.dir(tino).is_ok_and(|d| d.is_unloaded())
                    && base.node(tino).is_ok_and(|b| meta(b) == meta(tnode));
                if inner || !(top.same_node(base, tino) || read_only) {
                    copy_meta(self.upper, u, tnode)?;
                    changed = true;
                } else {
                    self.upper.rmdir(udir, &name)?;
                }
            } else if !(same_kind && bino == Some(tino) && top.same_node(base, tino)) {
                if ft == FileType::Directory && bino.is_some() {
                    // Deleted and recreated (or replaced a file): hide what was there.
                    self.del.opaque_dirs.push(path);
                }
                copy_tree(top, tino, self.upper, udir, &name, self.links)?;
                changed = true;
            }
        }
        let mut gone: Vec<&String> = bentries.keys().filter(|n| !seen.contains(*n)).collect();
        gone.sort();
        for n in gone {
            self.del.whiteouts.push(join(prefix, n));
            changed = true;
        }
        Ok(changed)
    }

    /// Diffs the loaded lazy directory `tdir` of top against the entries its source listed
    /// (which base had not read): an entry is unchanged iff top still holds the very node it
    /// was listed as; a listed directory is compared the same way, recursively.
    fn lazy_dir(&mut self, source: &LazyDir, tdir: Ino, udir: Ino, prefix: &str) -> Result<bool> {
        let top = self.top;
        let listing = source.listing()?;
        let listed: HashMap<&str, &Listed> = listing.iter().map(|l| (&*l.name, l)).collect();
        let mut changed = false;
        let mut seen = std::collections::HashSet::new();
        for (_, name, tino, ft) in top.readdir(tdir, 2)? {
            seen.insert(name.clone());
            let path = join(prefix, &name);
            let l = listed.get(&*name).copied();
            if l.is_some_and(|l| top.is_listed(tino, l)) {
                continue;
            }
            let tnode = top.node(tino)?;
            let same_dir = match (l.map(|l| &l.node.kind), &tnode.kind) {
                (Some(NodeKind::Dir(ld)), NodeKind::Dir(td)) => ld
                    .lazy
                    .as_ref()
                    .zip(td.lazy.as_ref())
                    .filter(|(a, b)| Arc::ptr_eq(&a.source, &b.source))
                    .map(|(_, b)| b.clone()),
                _ => None,
            };
            if let (Some(l), Some(state)) = (l, same_dir) {
                let u = self.upper.mkdir(udir, &name, tnode.mode)?;
                let inner = state.loaded && self.lazy_dir(&state.source, tino, u, &path)?;
                // A directory's attributes, read from its source if they had not been.
                let meta = |n: &Node| n.settled().map(|n| (n.mode, n.atim, n.mtim));
                if inner || meta(tnode) != meta(&l.node) {
                    copy_meta(self.upper, u, tnode.settled().unwrap_or(tnode))?;
                    changed = true;
                } else {
                    self.upper.rmdir(udir, &name)?;
                }
                continue;
            }
            if ft == FileType::Directory && l.is_some() {
                self.del.opaque_dirs.push(path);
            }
            copy_tree(top, tino, self.upper, udir, &name, self.links)?;
            changed = true;
        }
        for l in listing.iter().filter(|l| !seen.contains(&l.name)) {
            self.del.whiteouts.push(join(prefix, &l.name));
            changed = true;
        }
        Ok(changed)
    }
}

/// A copy of the file or symlink `real` as `name` in `dir` of `to`, sharing file data (its
/// attributes are copied by the caller). A listed non-directory that settled as a directory
/// cannot happen (settling keeps the type): `EIO`.
fn copy_leaf(to: &mut MemFs, dir: Ino, name: &str, real: &Node) -> Result<Ino> {
    match &real.kind {
        NodeKind::File(data) => to.create_file_with(dir, name, data.clone(), real.mode),
        NodeKind::Symlink(target) => to.symlink(dir, name, target),
        NodeKind::Dir(_) => Err(Errno::Io),
    }
}

/// Copies what the lazy directory `source` lists (recursively, hard links as separate files)
/// into `dir` of `to`, sharing file data.
fn copy_listing(source: &LazyDir, to: &mut MemFs, dir: Ino) -> Result<()> {
    for l in source.listing()?.iter() {
        // An entry listed by name only is read now; one gone since is left out.
        let Some(real) = l.node.settled() else {
            continue;
        };
        let new = match &l.node.kind {
            // A directory's entries come from the listed node's source.
            NodeKind::Dir(d) => {
                let new = to.mkdir(dir, &l.name, real.mode)?;
                if let Some(lazy) = &d.lazy {
                    copy_listing(&lazy.source, to, new)?;
                }
                new
            }
            _ => copy_leaf(to, dir, &l.name, real)?,
        };
        copy_meta(to, new, real)?;
    }
    Ok(())
}

/// Copies the node `ino` of `from` (recursively for directories) to `name` in `dir` of `to`,
/// sharing file data; hard links among copied nodes stay links.
fn copy_tree(
    from: &MemFs,
    ino: Ino,
    to: &mut MemFs,
    dir: Ino,
    name: &str,
    links: &mut HashMap<Ino, Ino>,
) -> Result<()> {
    let placed = from.node(ino)?;
    if let Some(&done) = links.get(&ino) {
        return to.link(dir, name, done);
    }
    // An entry never touched is read from its source now (of a directory only the
    // attributes: its entries are the placed node's); one gone since is left out.
    let Some(real) = placed.settled() else {
        return Ok(());
    };
    let new = match &placed.kind {
        NodeKind::Dir(d) if d.is_unloaded() => {
            let new = to.mkdir(dir, name, real.mode)?;
            if let Some(lazy) = &d.lazy {
                lazy.needs_load()?;
                copy_listing(&lazy.source, to, new)?;
            }
            new
        }
        NodeKind::Dir(_) => {
            let new = to.mkdir(dir, name, real.mode)?;
            for (_, child, cino, _) in from.readdir(ino, 2)? {
                copy_tree(from, cino, to, new, &child, links)?;
            }
            new
        }
        _ => copy_leaf(to, dir, name, real)?,
    };
    copy_meta(to, new, real)?;
    if !real.is_dir() && real.nlink > 1 {
        links.insert(ino, new);
    }
    Ok(())
}

/// Stacks OCI layers, lowest first, into one writable filesystem (a fork of the first, so
/// with its absolute-symlink policy: `InRoot` for loaded images, and its clock).
pub fn stack<L: std::borrow::Borrow<Image>>(layers: &[L]) -> Result<MemFs> {
    stack_on(layers, None)
}

/// `stack`, with the result taking its timestamps from `clock` from the start: the change
/// times stacking stamps (every node an upper layer adds or alters, directories whiteouts
/// empty) are then `clock`'s, e.g. a deterministic run's virtual clock, not the wall clock.
pub fn stack_with_clock<L: std::borrow::Borrow<Image>>(
    layers: &[L],
    clock: Arc<dyn Clock>,
) -> Result<MemFs> {
    stack_on(layers, Some(clock))
}

fn stack_on<L: std::borrow::Borrow<Image>>(
    layers: &[L],
    clock: Option<Arc<dyn Clock>>,
) -> Result<MemFs> {
    let (first, rest) = layers.split_first().ok_or(Errno::Inval)?;
    let mut fs = first.borrow().fs.fork();
    if let Some(clock) = clock {
        fs.set_clock(clock);
    }
    // Whiteouts in the lowest layer hide nothing; its opaque markers neither.
    for layer in rest {
        apply_layer(&mut fs, layer.borrow())?;
    }
    Ok(fs)
}
