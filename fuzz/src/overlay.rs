//! Target `overlay`: the same operations on a copy-on-write fork of a loaded image and on a
//! flat in-memory filesystem holding the same tree, compared result by result.
//!
//! The fuzzer's bytes describe a lower tree (directories, files with contents, symlinks,
//! hard links), optionally an upper OCI layer (entries, `.wh.NAME` whiteouts, opaque
//! markers) and a sequence of operations. Side A: the lower tree exported as a tar, loaded,
//! the upper layer likewise, stacked with `strata::image::stack` (a fork of the lower image
//! with the layer applied). Side B: a fresh `MemFs` built by plain creates from `merge`, a
//! small model of OCI layering over a map from path to node. Invariants:
//!
//! 1. both start as the same tree (types, contents, link targets, hard links, link counts,
//!    modes);
//! 2. every operation gives the same result on both (errno, or bytes read, stat, listing),
//!    and leaves both trees the same and well formed (`check_memfs`);
//! 3. forks taken along the way (`Fork`) never change afterwards, whatever the fork does.

use crate::common::{Canon, Meta, Name, PathArg, canonical, check_memfs, decode};
use arbitrary::Arbitrary;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strata::image::{ExportOptions, Image, LoadOptions, export_memfs, load_bytes, stack};
use strata::vfs::dir::Ino;
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::node::NodeKind;
use strata::vfs::{
    AbsoluteSymlinks, Errno, FileData, FileType, MemFs, NodeId, OpenOptions, SetTime,
    SteppingClock, Vfs,
};

const NAMES: &[&str] = &["a", "b", "c", "d", "e", "f", "l", "m"];

/// Compared attributes: modes (both sides use the same defaults), not times.
const META: Meta = Meta {
    mode: true,
    mtime: false,
};

const MAX_ENTRIES: usize = 32;
const MAX_OPS: usize = 64;

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub lower: Vec<Entry>,
    pub upper: Option<Vec<UpperEntry>>,
    pub ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
pub struct Entry {
    pub parent: u8,
    pub name: Name,
    pub kind: Kind,
}

#[derive(Arbitrary, Debug)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(PathArg),
    /// Another name for the n-th file made so far.
    HardLink(u8),
}

#[derive(Arbitrary, Debug)]
pub enum UpperEntry {
    Entry(Entry),
    Whiteout { parent: u8, name: Name },
    Opaque { dir: u8 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Flags {
    create: bool,
    exclusive: bool,
    truncate: bool,
    directory: bool,
    follow: bool,
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    Mkdir(PathArg),
    Rmdir(PathArg),
    Unlink(PathArg),
    Rename(PathArg, PathArg),
    Link(PathArg, bool, PathArg),
    Symlink(PathArg, PathArg),
    Readlink(PathArg),
    Stat(PathArg, bool),
    Readdir(PathArg),
    SetTimes(PathArg, bool),
    Open(PathArg, Flags),
    Close(u8),
    Write(u8, Option<u16>, Vec<u8>),
    Read(u8, u16, u16),
    SetSize(u8, u32),
    Allocate(u8, u16, u16),
    StatHandle(u8),
    /// Continue side A in a fork of itself (frozen first with `true`), closing every handle.
    Fork(bool),
}

pub fn run(data: &[u8]) {
    if let Some(input) = decode::<Input>(data) {
        check(&input);
    }
}

/// Which operations succeeded and how others failed (for picking diverse seeds).
pub fn features(data: &[u8]) -> Vec<String> {
    decode::<Input>(data).map_or_else(Vec::new, |input| check(&input))
}

/// Builds the tree `entries` describe, by plain creates (the "spec" of a layer). Upper
/// layers also get their whiteout and opaque marker files.
fn build_spec(entries: &[UpperEntry]) -> MemFs {
    let clock = Arc::new(SteppingClock::new(0, 1));
    let mut fs = MemFs::new(1, clock);
    let mut dirs = vec![ROOT_INO];
    let mut files: Vec<Ino> = Vec::new();
    for e in entries.iter().take(MAX_ENTRIES) {
        match e {
            UpperEntry::Entry(e) => {
                let parent = dirs[e.parent as usize % dirs.len()];
                let name = e.name.render_valid(NAMES);
                if name.starts_with(".wh.") {
                    continue;
                }
                match &e.kind {
                    Kind::Dir => {
                        if let Ok(ino) = fs.mkdir(parent, &name, 0o755) {
                            dirs.push(ino);
                        }
                    }
                    Kind::File(data) => {
                        let data = FileData::from_bytes(Bytes::copy_from_slice(data));
                        if let Ok(ino) = fs.create_file_with(parent, &name, data, 0o644) {
                            files.push(ino);
                        }
                    }
                    Kind::Symlink(t) => {
                        let target = t.render_str(NAMES);
                        // What an image may hold (and the vfs may create).
                        if !target.is_empty() && !target.contains('\0') && target.len() < 4096 {
                            let _ = fs.symlink(parent, &name, &target);
                        }
                    }
                    Kind::HardLink(i) => {
                        if !files.is_empty() {
                            let _ = fs.link(parent, &name, files[*i as usize % files.len()]);
                        }
                    }
                }
            }
            UpperEntry::Whiteout { parent, name } => {
                let parent = dirs[*parent as usize % dirs.len()];
                let name = name.render_valid(NAMES);
                if !name.starts_with(".wh.") && name.len() <= 251 {
                    let _ = fs.create_file(parent, &format!(".wh.{name}"), 0o644);
                }
            }
            UpperEntry::Opaque { dir } => {
                let dir = dirs[*dir as usize % dirs.len()];
                let _ = fs.create_file(dir, ".wh..wh..opq", 0o644);
            }
        }
    }
    fs
}

fn to_image(spec: &MemFs, oci: bool) -> Image {
    let tar = export_memfs(spec, ROOT_INO, Vec::new(), &ExportOptions::default())
        .expect("exporting a layer");
    let opts = LoadOptions {
        oci_whiteouts: oci,
        mmap: false,
        parallel: false,
        clock: Arc::new(SteppingClock::new(0, 1)),
        ..LoadOptions::default()
    };
    load_bytes(Bytes::from(tar), &opts).expect("loading an exported layer")
}

/// A node of the model: what it is, and (layer, inode in that layer's spec) to tell hard
/// links apart.
#[derive(Clone, Debug)]
enum MNode {
    Dir,
    File(Vec<u8>, (u8, Ino)),
    Symlink(String),
}

type Model = BTreeMap<Vec<String>, MNode>;

/// Adds the tree of `spec` below its directory `dir` (at `at`) to `model`, as layer `layer`
/// according to OCI rules: in each directory, an opaque marker hides everything lower
/// layers put there, a whiteout hides that name; then each entry of the layer merges with a
/// directory of the same name if both are directories, and replaces whatever was there
/// otherwise.
fn merge(model: &mut Model, spec: &MemFs, dir: Ino, at: &[String], layer: u8) {
    let entries: Vec<(String, Ino)> = spec
        .dir(dir)
        .expect("a directory")
        .entries
        .iter()
        .map(|(n, i)| (n.to_string(), i))
        .collect();
    let below = |model: &mut Model, p: &[String], inclusive: bool| {
        model.retain(|k, _| !(k.starts_with(p) && (inclusive || k.len() > p.len())));
    };
    if layer > 0 {
        if entries.iter().any(|(n, _)| n == ".wh..wh..opq") {
            below(model, at, false);
        }
        for (n, _) in &entries {
            if let Some(hidden) = n.strip_prefix(".wh.")
                && hidden != ".wh..opq"
            {
                let mut p = at.to_vec();
                p.push(hidden.to_string());
                below(model, &p, true);
            }
        }
    }
    let mut entries = entries;
    entries.sort();
    for (name, ino) in entries {
        if layer > 0 && name.starts_with(".wh.") {
            continue;
        }
        let mut p = at.to_vec();
        p.push(name);
        let node = spec.node(ino).expect("a live node");
        match &node.kind {
            NodeKind::Dir(_) => {
                if !matches!(model.get(&p), Some(MNode::Dir)) {
                    below(model, &p, true);
                    model.insert(p.clone(), MNode::Dir);
                }
                merge(model, spec, ino, &p, layer);
            }
            NodeKind::File(f) => {
                let mut data = vec![0u8; f.len() as usize];
                f.read_at(0, &mut data);
                below(model, &p, true);
                model.insert(p, MNode::File(data, (layer, ino)));
            }
            NodeKind::Symlink(t) => {
                below(model, &p, true);
                model.insert(p, MNode::Symlink(t.to_string()));
            }
        }
    }
}

/// Side B: the model's tree by plain creates, in path order (parents first).
fn build_flat(model: &Model) -> MemFs {
    let clock = Arc::new(SteppingClock::new(0, 1));
    // As side A's layers, loaded images.
    let mut fs = MemFs::new(1, clock).with_absolute_symlinks(AbsoluteSymlinks::InRoot);
    let mut inos: HashMap<&[String], Ino> = HashMap::new();
    let mut links: HashMap<(u8, Ino), Ino> = HashMap::new();
    inos.insert(&[], ROOT_INO);
    for (path, node) in model {
        let (name, parent) = path.split_last().expect("the root is not in the model");
        let parent = inos[parent];
        let made = match node {
            MNode::Dir => fs.mkdir(parent, name, 0o755),
            MNode::Symlink(t) => fs.symlink(parent, name, t),
            MNode::File(data, key) => match links.get(key) {
                Some(&ino) => fs.link(parent, name, ino).map(|()| ino),
                None => {
                    let data = FileData::from_bytes(Bytes::copy_from_slice(data));
                    let ino = fs.create_file_with(parent, name, data, 0o644);
                    if let Ok(ino) = ino {
                        links.insert(*key, ino);
                    }
                    ino
                }
            },
        };
        let ino = made.unwrap_or_else(|e| panic!("building {path:?} flat: {e:?}"));
        inos.insert(path, ino);
    }
    fs
}

/// What an operation returned, comparably.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Unit,
    Stat(FileType, u64, u64, u32),
    Text(String),
    Bytes(Vec<u8>),
    Listing(Vec<(String, FileType)>),
    Offset(u64),
}

struct Side {
    vfs: Vfs,
    handles: Vec<NodeId>,
}

impl Side {
    fn new(fs: MemFs) -> Self {
        Side {
            vfs: Vfs::with_root(fs, Arc::new(SteppingClock::new(1_000, 1))),
            handles: Vec::new(),
        }
    }

    fn fs(&self) -> &MemFs {
        self.vfs.fs(self.vfs.root()).expect("the root filesystem")
    }

    fn stat(&self, id: NodeId) -> Result<Out, Errno> {
        let st = self.vfs.stat_node(id)?;
        Ok(Out::Stat(st.filetype, st.nlink, st.size, st.mode))
    }

    fn close_all(&mut self) {
        for h in std::mem::take(&mut self.handles) {
            self.vfs.release(h);
        }
    }

    fn apply(&mut self, op: &Op) -> Result<Out, Errno> {
        let root = self.vfs.root();
        let p = |a: &PathArg| a.render(NAMES);
        let vfs = &mut self.vfs;
        let handle = |h: &u8| -> Result<NodeId, Errno> {
            if self.handles.is_empty() {
                Err(Errno::Badf)
            } else {
                Ok(self.handles[*h as usize % self.handles.len()])
            }
        };
        let unit = |r: Result<(), Errno>| r.map(|()| Out::Unit);
        match op {
            Op::Mkdir(a) => vfs.mkdir(root, &p(a)).map(|_| Out::Unit),
            Op::Rmdir(a) => unit(vfs.rmdir(root, &p(a))),
            Op::Unlink(a) => unit(vfs.unlink(root, &p(a))),
            Op::Rename(a, b) => unit(vfs.rename(root, &p(a), root, &p(b))),
            Op::Link(a, follow, b) => unit(vfs.link(root, &p(a), *follow, root, &p(b))),
            Op::Symlink(t, a) => vfs.symlink(&p(t), root, &p(a)).map(|_| Out::Unit),
            Op::Readlink(a) => vfs.readlink(root, &p(a)).map(|t| Out::Text(t.to_string())),
            Op::Stat(a, follow) => vfs
                .stat(root, &p(a), *follow)
                .map(|st| Out::Stat(st.filetype, st.nlink, st.size, st.mode)),
            Op::Readdir(a) => {
                let dir = vfs.lookup(root, &p(a), true)?;
                let mut l: Vec<(String, FileType)> = vfs
                    .readdir(dir, 0)?
                    .into_iter()
                    .map(|(_, n, _, t)| (n.to_string(), t))
                    .collect();
                l.sort_by(|x, y| x.0.cmp(&y.0));
                Ok(Out::Listing(l))
            }
            Op::SetTimes(a, follow) => {
                unit(vfs.set_times(root, &p(a), *follow, SetTime::Now, SetTime::At(7)))
            }
            Op::Open(a, f) => {
                let opts = OpenOptions {
                    create: f.create,
                    exclusive: f.exclusive,
                    truncate: f.truncate,
                    directory: f.directory,
                    follow: f.follow,
                };
                let id = vfs.open(root, &p(a), opts)?;
                self.handles.push(id);
                self.stat(id)
            }
            Op::Close(h) => {
                let id = handle(h)?;
                let i = *h as usize % self.handles.len();
                self.handles.remove(i);
                self.vfs.release(id);
                Ok(Out::Unit)
            }
            Op::Write(h, at, data) => {
                let id = handle(h)?;
                let data = &data[..data.len().min(4096)];
                vfs.write(id, at.map(u64::from), data).map(Out::Offset)
            }
            Op::Read(h, at, len) => {
                let id = handle(h)?;
                let mut buf = vec![0u8; usize::from(*len % 4096)];
                let n = vfs.read(id, u64::from(*at), &mut buf)?;
                buf.truncate(n);
                Ok(Out::Bytes(buf))
            }
            Op::SetSize(h, size) => {
                let id = handle(h)?;
                unit(vfs.set_size(id, u64::from(*size % (1 << 18))))
            }
            Op::Allocate(h, off, len) => {
                let id = handle(h)?;
                unit(vfs.allocate(id, u64::from(*off), u64::from(*len)))
            }
            Op::StatHandle(h) => {
                let id = handle(h)?;
                self.stat(id)
            }
            Op::Fork(_) => unreachable!("handled by the caller"),
        }
    }
}

/// Checks one input; returns `operation:outcome` for each operation.
pub fn check(input: &Input) -> Vec<String> {
    let mut features = vec![format!("upper={}", input.upper.is_some())];
    let no_upper = Vec::new();
    let lower: Vec<UpperEntry> = input
        .lower
        .iter()
        .map(|e| {
            UpperEntry::Entry(Entry {
                parent: e.parent,
                name: e.name.clone(),
                kind: match &e.kind {
                    Kind::Dir => Kind::Dir,
                    Kind::File(d) => Kind::File(d.clone()),
                    Kind::Symlink(t) => Kind::Symlink(t.clone()),
                    Kind::HardLink(i) => Kind::HardLink(*i),
                },
            })
        })
        .collect();
    let lower_spec = build_spec(&lower);
    let upper_spec = build_spec(input.upper.as_ref().unwrap_or(&no_upper));

    // Side A: images, stacked.
    let mut layers = vec![to_image(&lower_spec, false)];
    if input.upper.is_some() {
        layers.push(to_image(&upper_spec, true));
    }
    let stacked = stack(&layers).expect("stacking layers");

    // Side B: the model, flat.
    let mut model = Model::new();
    merge(&mut model, &lower_spec, ROOT_INO, &[], 0);
    if input.upper.is_some() {
        merge(&mut model, &upper_spec, ROOT_INO, &[], 1);
    }
    let flat = build_flat(&model);

    let mut a = Side::new(stacked);
    let mut b = Side::new(flat);
    compare(&a, &b, "the start");

    let mut forks: Vec<(MemFs, Vec<Canon>)> = Vec::new();
    for (i, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        if let Op::Fork(freeze) = op {
            a.close_all();
            b.close_all();
            let root = a.vfs.root();
            if *freeze {
                a.vfs.fs_mut(root).expect("root").freeze();
            }
            let old = a.fs().clone();
            let fork = old.fork();
            forks.push((old.clone(), canonical(&old, ROOT_INO, META)));
            a = Side::new(fork);
            compare(&a, &b, &format!("op {i} {op:?}"));
            features.push(format!("Fork:{freeze}"));
            continue;
        }
        let ra = a.apply(op);
        let rb = b.apply(op);
        assert_eq!(ra, rb, "op {i} {op:?}: image fork vs flat");
        compare(&a, &b, &format!("op {i} {op:?}"));
        let name = format!("{op:?}");
        let name = &name[..name.find('(').unwrap_or(name.len())];
        features.push(format!("{name}:{:?}", ra.map(|_| ())));
    }
    a.close_all();
    b.close_all();
    compare(&a, &b, "the end");
    for (k, (fs, canon)) in forks.iter().enumerate() {
        assert_eq!(
            &canonical(fs, ROOT_INO, META),
            canon,
            "fork {k} changed after it was forked"
        );
    }
    features
}

fn compare(a: &Side, b: &Side, when: &str) {
    for (side, s) in [("image fork", a), ("flat", b)] {
        if let Err(e) = check_memfs(s.fs()) {
            panic!("after {when}: {side}: {e}");
        }
    }
    let (ta, tb) = (
        canonical(a.fs(), ROOT_INO, META),
        canonical(b.fs(), ROOT_INO, META),
    );
    if ta != tb {
        let first = ta.iter().zip(&tb).position(|(x, y)| x != y);
        let show = |t: &[Canon]| first.and_then(|i| t.get(i)).cloned();
        panic!(
            "after {when}: the trees differ at {:?} vs {:?} (lengths {} and {})\nimage fork: {ta:?}\nflat: {tb:?}",
            show(&ta),
            show(&tb),
            ta.len(),
            tb.len()
        );
    }
}
