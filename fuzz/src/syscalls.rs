//! Target `syscalls`: arbitrary sequences of WASI `path_*` and `fd_*` calls on a `WasiCtx`,
//! with a plain byte buffer as guest memory (arbitrary pointers and lengths included).
//!
//! The namespace is a fork of an image (built once) holding `/sandbox` (preopened as fd 3,
//! full of links that try to get out: `..`, absolute, to `/`, loops), `/secret` (outside every
//! preopen) and `/scratch`, where a fresh writable layer is mounted and preopened as fd 4;
//! another writable layer is mounted inside the sandbox at `/sandbox/mnt`; optionally with
//! small resource limits (memory, inodes, fds: `ENOSPC`, `EMFILE`). Invariants, checked after
//! every call:
//!
//! 1. nothing outside the preopens' subtrees changes (a snapshot of every node outside them:
//!    attributes, contents, link targets, entries) and no fd ever refers to such a node;
//! 2. the fd table is consistent with the filesystem: every fd's node is live and of the
//!    fd's kind, every node's open count is the number of fds on it, rights never grow
//!    beyond what the preopens may hand down, nor beyond what each fd held before the call
//!    (`fd_fdstat_set_rights`: beyond what it held and asked for; `path_open`: beyond what
//!    it asked for within its directory's inheriting rights; `fd_renumber`: its source's);
//! 3. every filesystem stays well formed (`check_memfs`), and after closing everything no
//!    node is left unreachable;
//! 4. a call that fails changes nothing: not the filesystems, not the fd table, not guest
//!    memory;
//! 5. every call stays within the fds it was given: nothing outside the subtrees of the fds
//!    it uses changes (even inside another preopen), an fd it opens and a node it describes
//!    (`path_filestat_get`) lie in those subtrees;
//! 6. no panic.
//!
//! Besides arbitrary calls, `Op::Attack` picks one of a fixed list of escape attempts.

use crate::common::{ALL, Canon, PathArg, canonical, check_memfs, decode};
use arbitrary::Arbitrary;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use strata::image::{ExportOptions, Image, LoadOptions, export_memfs, load_bytes, stack};
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::node::NodeKind;
use strata::vfs::{Errno, FileData, MemFs, NodeId, Stat, SteppingClock, Vfs};
use strata::wasi::abi::Abi;
use strata::wasi::ctx::{Input as Stdin, Output, WasiCtx};
use strata::wasi::fdtable::{FdEntry, FdKind};
use strata::wasi::rights;

const NAMES: &[&str] = &[
    "hello.txt",
    "hard.txt",
    "dir",
    "sub",
    "deep.txt",
    "empty",
    "mnt",
    "link_rel",
    "link_file",
    "link_up",
    "link_dotdot",
    "link_abs",
    "link_abs_in",
    "link_root",
    "link_loop",
    "up2",
    "secret",
    "key.txt",
    "sandbox",
    "scratch",
    "new",
    "x",
];

/// Guest memory size and layout: data buffers, two path slots, iovec arrays, out values.
const MEM: usize = 0x4000;
const PATH_A: u32 = 0x1000;
const PATH_B: u32 = 0x2000;
const PATH_MAX_WRITTEN: usize = 0x1000;
const IOVS: u32 = 0x3000;
const OUT: u32 = 0x3800;

/// Most calls per input.
const MAX_OPS: usize = 64;

/// The image every run forks: `/sandbox`, `/secret`, `/scratch`.
fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let clock = Arc::new(SteppingClock::new(1_000_000_000, 1_000));
        let mut vfs = Vfs::new(clock);
        let root = vfs.root();
        let file = |vfs: &mut Vfs, path: &str, data: &'static [u8]| {
            vfs.write_file(root, path, FileData::from_bytes(Bytes::from_static(data)))
                .expect("building the image");
        };
        file(&mut vfs, "sandbox/hello.txt", b"hello, sandbox\n");
        file(&mut vfs, "sandbox/dir/sub/deep.txt", b"deep");
        file(&mut vfs, "sandbox/dir/file", b"f");
        file(&mut vfs, "secret/key.txt", b"TOP SECRET");
        file(&mut vfs, "secret/sub/inner.txt", b"inner secret");
        for dir in ["sandbox/empty", "sandbox/mnt", "scratch"] {
            vfs.mkdir_all(root, dir).expect("building the image");
        }
        vfs.link(root, b"sandbox/hello.txt", false, root, b"sandbox/hard.txt")
            .expect("building the image");
        let links: &[(&str, &str)] = &[
            ("sandbox/link_rel", "dir/sub"),
            ("sandbox/link_file", "hello.txt"),
            ("sandbox/link_up", "../secret/key.txt"),
            ("sandbox/link_dotdot", ".."),
            ("sandbox/link_self", "."),
            ("sandbox/link_loop", "link_loop"),
            ("sandbox/link_abs", "/secret/key.txt"),
            ("sandbox/link_abs_in", "/sandbox/dir"),
            ("sandbox/link_root", "/"),
            ("sandbox/dir/up2", "../../secret"),
            ("secret/link", "../sandbox"),
            ("secret/abs", "/sandbox/hello.txt"),
        ];
        for (path, target) in links {
            let (dir, name) = path.rsplit_once('/').expect("a parent");
            let dir = vfs.lookup(root, dir.as_bytes(), true).expect("a directory");
            // Directly in the filesystem: absolute targets are refused at the vfs level.
            vfs.fs_mut(dir)
                .and_then(|fs| fs.symlink(dir.ino, name, target))
                .expect("building the image");
        }
        let fs = vfs.fs(root).expect("the root filesystem");
        let tar = export_memfs(fs, ROOT_INO, Vec::new(), &ExportOptions::default())
            .expect("exporting the image");
        let opts = LoadOptions {
            mmap: false,
            parallel: false,
            ..LoadOptions::default()
        };
        load_bytes(Bytes::from(tar), &opts).expect("loading the image")
    })
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Fd {
    Small(u8),
    Raw(u32),
}

impl Fd {
    fn get(self) -> u32 {
        match self {
            Fd::Small(v) => u32::from(v % 12),
            Fd::Raw(v) => v,
        }
    }
}

/// A guest pointer: into the out area (aligned slots), anywhere in memory, or anything.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Ptr {
    Out(u8),
    Data(u16),
    Raw(u32),
}

impl Ptr {
    fn get(self) -> u32 {
        match self {
            Ptr::Out(k) => OUT + u32::from(k) * 8,
            Ptr::Data(v) => u32::from(v) % MEM as u32,
            Ptr::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Len {
    Small(u8),
    Mid(u16),
    Raw(u32),
}

impl Len {
    fn get(self) -> u32 {
        match self {
            Len::Small(v) => u32::from(v),
            Len::Mid(v) => u32::from(v),
            Len::Raw(v) => v,
        }
    }
}

/// A file offset or size: small, or anything (sparse files make huge ones cheap).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Size {
    Small(u16),
    Big(u64),
}

impl Size {
    fn get(self) -> u64 {
        match self {
            Size::Small(v) => u64::from(v),
            Size::Big(v) => v,
        }
    }
}

/// A path argument: written into its slot of guest memory, or raw pointer and length.
#[derive(Arbitrary, Clone, Debug)]
pub enum PathIn {
    Spec(PathArg),
    Raw(Ptr, Len),
}

#[derive(Arbitrary, Clone, Debug)]
pub enum Iovs {
    /// Written at the iovec area.
    Build(Vec<(Ptr, Len)>),
    Raw(Ptr, u32),
}

#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    Open {
        fd: Fd,
        follow: bool,
        path: PathIn,
        oflags: u8,
        rights: Option<u64>,
        inheriting: Option<u64>,
        fdflags: u8,
        out: Ptr,
    },
    Mkdir(Fd, PathIn),
    Rmdir(Fd, PathIn),
    Unlink(Fd, PathIn),
    Rename(Fd, PathIn, Fd, PathIn),
    Link(Fd, u8, PathIn, Fd, PathIn),
    Symlink(PathIn, Fd, PathIn),
    Readlink(Fd, PathIn, Ptr, Len, Ptr),
    FilestatGet(bool, Fd, bool, PathIn, Ptr),
    SetTimes(Fd, bool, PathIn, u64, u64, u8),
    Read(Fd, Iovs, Ptr),
    Pread(Fd, Iovs, Size, Ptr),
    Write(Fd, Iovs, Ptr),
    Pwrite(Fd, Iovs, Size, Ptr),
    Seek(bool, Fd, i64, u8, Ptr),
    Tell(Fd, Ptr),
    Close(Fd),
    Renumber(Fd, Fd),
    FdstatGet(Fd, Ptr),
    SetFlags(Fd, u16),
    SetRights(Fd, u64, u64),
    FilestatGetFd(bool, Fd, Ptr),
    SetSize(Fd, Size),
    FdSetTimes(Fd, u64, u64, u8),
    Advise(Fd, Size, Size, u8),
    Allocate(Fd, Size, Size),
    Sync(Fd, bool),
    PrestatGet(Fd, Ptr),
    PrestatDirName(Fd, Ptr, Len),
    Readdir(Fd, Ptr, Len, u64, Ptr),
    /// Guest code writing its own memory (iovec arrays, strings).
    Poke(u16, Vec<u8>),
    /// One of the fixed escape attempts of `attack`.
    Attack(u8),
}

/// Escape attempts, each one call, so that every run is one choice away from them (and the
/// seed corpus holds each): `..` above a preopen, links up, absolute and to `/`, through
/// `..` after a link, out of a nested preopen into its parent one, renames and links out,
/// creating through a link that leads out.
pub fn attack(k: u8) -> Op {
    let p = |s: &str| PathIn::Spec(PathArg::Raw(s.as_bytes().to_vec()));
    let fd = Fd::Raw;
    // Rights without FD_WRITE, so that directories open too.
    let read = Some(rights::FD_READ | rights::FD_READDIR | rights::PATH_OPEN);
    let open = |dir: u32, path: &str, oflags: u8| Op::Open {
        fd: fd(dir),
        follow: true,
        path: p(path),
        oflags,
        rights: read,
        inheriting: read,
        fdflags: 0,
        out: Ptr::Out(0),
    };
    const CREAT_TRUNC: u8 = 1 | 8;
    match k % 28 {
        0 => open(3, "..", 0),
        1 => open(3, "../secret/key.txt", 0),
        2 => open(3, "link_up", 0),
        3 => open(3, "link_abs", 0),
        4 => open(3, "dir/up2/key.txt", 0),
        5 => open(3, "link_dotdot/secret/key.txt", 0),
        6 => open(3, "link_root/secret/key.txt", 0),
        7 => open(3, "link_abs_in/../../secret/key.txt", 0),
        8 => open(5, "../hello.txt", 0),
        9 => open(5, "up2/key.txt", 0),
        10 => open(4, "..", 0),
        11 => open(3, "/secret/key.txt", 0),
        12 => open(3, "link_up", CREAT_TRUNC),
        13 => Op::Rename(fd(3), p("hello.txt"), fd(3), p("../secret/stolen")),
        14 => Op::Link(
            fd(3),
            0,
            p("hello.txt"),
            fd(3),
            p("link_dotdot/secret/linked"),
        ),
        15 => Op::Rename(fd(5), p("../hello.txt"), fd(5), p("x")),
        16 => Op::Unlink(fd(3), p("dir/up2/key.txt")),
        17 => Op::Mkdir(fd(3), p("link_root/secret/new")),
        18 => Op::Symlink(p("../secret/key.txt"), fd(3), p("evil")),
        19 => open(3, "evil", CREAT_TRUNC),
        20 => Op::SetTimes(fd(3), true, p("link_up"), 0, 0, 2 | 8),
        21 => Op::FilestatGet(true, fd(3), true, p("link_abs"), Ptr::Out(1)),
        22 => Op::FilestatGet(false, fd(5), false, p(".."), Ptr::Out(1)),
        23 => open(3, "link_abs_in/../../sandbox/hello.txt", 0),
        24 => open(3, "mnt/..", 0),
        25 => open(4, "../secret", 0),
        26 => Op::Rename(fd(5), p("file"), fd(3), p("moved")),
        _ => Op::Link(fd(5), 0, p("file"), fd(4), p("cross")),
    }
}

/// Resource limits for the run (`Vfs::set_limits`, `FdTable::set_max`).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Limits {
    pub memory_kib: u16,
    pub inodes: u8,
    pub fds: u8,
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub limits: Option<Limits>,
    pub ops: Vec<Op>,
}

pub fn run(data: &[u8]) {
    if let Some(input) = decode::<Input>(data) {
        check(&input);
    }
}

/// Which calls succeeded and how others failed (for picking diverse seeds).
pub fn features(data: &[u8]) -> Vec<String> {
    decode::<Input>(data).map_or_else(Vec::new, |input| check(&input))
}

/// The name of an operation's variant.
fn variant<T: std::fmt::Debug>(op: &T) -> String {
    let s = format!("{op:?}");
    let end = s.find([' ', '(', '{']).unwrap_or(s.len());
    s[..end].to_string()
}

/// One node outside the preopens, as it must stay.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outside {
    path: String,
    id: NodeId,
    stat: Stat,
    data: Vec<u8>,
    entries: Vec<(String, NodeId)>,
}

struct World {
    ctx: WasiCtx,
    mem: Vec<u8>,
    /// Mount point → root of the filesystem mounted there.
    mounts: HashMap<NodeId, NodeId>,
    /// Directories preopened at the start.
    preopens: HashSet<NodeId>,
    outside: Vec<Outside>,
    outside_ids: HashSet<NodeId>,
    /// Filesystems in the namespace.
    fs_count: u32,
}

/// Checks one input; returns `call:outcome` for each call.
pub fn check(input: &Input) -> Vec<String> {
    let mut features = Vec::new();
    let clock = Arc::new(SteppingClock::new(2_000_000_000, 1_000));
    let base = stack(std::slice::from_ref(image())).expect("forking the image");
    let mut vfs = Vfs::with_root(base, clock.clone());
    vfs.set_clock(clock.clone());
    let root = vfs.root();
    let mut mounts = HashMap::new();
    let mut layer = |vfs: &mut Vfs, at: &str| {
        let point = vfs.lookup(root, at.as_bytes(), false).expect("mount point");
        let fs = MemFs::new(0, clock.clone());
        let top = vfs.mount(point, fs).expect("mounting a layer");
        mounts.insert(point, top);
        top
    };
    let scratch = layer(&mut vfs, "scratch");
    layer(&mut vfs, "sandbox/mnt");
    let sandbox = vfs.lookup(root, b"sandbox", false).expect("sandbox");
    let sandbox_dir = vfs
        .lookup(root, b"sandbox/dir", false)
        .expect("sandbox/dir");
    if let Some(l) = input.limits {
        vfs.set_limits(u64::from(l.memory_kib) * 1024, u64::from(l.inodes));
    }
    let mut ctx = WasiCtx::new(vfs);
    ctx.stdin = Stdin::Null;
    ctx.stdout = Output::Null;
    ctx.stderr = Output::Null;
    for (dir, name) in [
        (sandbox, "/sandbox"),
        (scratch, "/scratch"),
        (sandbox_dir, "/sandbox/dir"),
    ] {
        ctx.preopen(dir, name).expect("preopening");
    }
    if let Some(l) = input.limits {
        ctx.fds.set_max(usize::from(l.fds));
    }
    let mut w = World {
        ctx,
        mem: vec![0u8; MEM],
        mounts,
        preopens: [sandbox, scratch, sandbox_dir].into_iter().collect(),
        outside: Vec::new(),
        outside_ids: HashSet::new(),
        fs_count: 3,
    };
    w.outside = w.snapshot_outside();
    w.outside_ids = w.outside.iter().map(|o| o.id).collect();
    assert!(w.outside.iter().any(|o| o.path == "/secret/key.txt"));
    w.check_invariants("setup");

    for (i, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let name = match op {
            Op::Attack(k) => format!("Attack{}", k % 28),
            op => variant(op),
        };
        let op = &match op {
            Op::Attack(k) => attack(*k),
            op => op.clone(),
        };
        w.prepare(op);
        let before = w.state();
        let confined = w.confinement(op);
        let result = w.apply(op);
        w.check_confined(&confined, op, &result);
        w.check_rights(&before, op, &result);
        if result.is_err() {
            let after = w.state();
            if before != after {
                panic!(
                    "op {i} {op:?} failed with {result:?} but changed {}",
                    before.diff(&after)
                );
            }
        }
        w.check_invariants(&format!("op {i} {op:?} -> {result:?}"));
        features.push(format!("{name}:{result:?}"));
    }

    let fs_count = w.fs_count;
    let World {
        ctx,
        outside,
        mounts,
        preopens,
        ..
    } = w;
    let vfs = ctx.into_vfs();
    for fs in 0..fs_count {
        let id = NodeId { fs, ino: ROOT_INO };
        let m = vfs.fs(id).expect("filesystem");
        if let Err(e) = check_memfs(m) {
            panic!("filesystem {fs} after closing every fd: {e}");
        }
    }
    let again = snapshot_outside(&vfs, &mounts, &preopens);
    assert_eq!(outside, again, "outside changed (seen after closing)");
    features
}

/// Everything a failing call must leave as it was.
#[derive(PartialEq, Eq)]
struct State {
    trees: Vec<Vec<Canon>>,
    fds: Vec<(u32, FdEntry)>,
    open: Vec<(u32, u64, u32)>,
    mem: Vec<u8>,
}

impl State {
    fn diff(&self, other: &State) -> String {
        if self.trees != other.trees {
            for (fs, (a, b)) in self.trees.iter().zip(&other.trees).enumerate() {
                if a != b {
                    let i = a.iter().zip(b).position(|(x, y)| x != y);
                    let at =
                        |t: &[Canon]| i.map_or_else(|| t.last().cloned(), |i| t.get(i).cloned());
                    return format!(
                        "filesystem {fs}: {:?}\n=> {:?} ({} entries => {})",
                        at(a),
                        at(b),
                        a.len(),
                        b.len()
                    );
                }
            }
        }
        if self.fds != other.fds {
            return format!("the fd table: {:?}\n=> {:?}", self.fds, other.fds);
        }
        if self.open != other.open {
            return format!("open counts: {:?}\n=> {:?}", self.open, other.open);
        }
        let at = self.mem.iter().zip(&other.mem).position(|(a, b)| a != b);
        format!("guest memory at {at:?}")
    }
}

fn snapshot_outside(
    vfs: &Vfs,
    mounts: &HashMap<NodeId, NodeId>,
    preopens: &HashSet<NodeId>,
) -> Vec<Outside> {
    snapshot_except(vfs, mounts, preopens, &HashSet::new())
}

/// The paths of the nodes in `now` that differ from (or are missing in) `before`.
fn changed_paths<'a>(now: &'a [Outside], before: &[Outside]) -> Vec<&'a str> {
    now.iter()
        .filter(|o| !before.contains(o))
        .map(|o| o.path.as_str())
        .collect()
}

/// Every node reachable from the namespace root (through mounts) without entering the
/// directories `stop`, except the nodes of `skip` (entries naming them are still recorded).
fn snapshot_except(
    vfs: &Vfs,
    mounts: &HashMap<NodeId, NodeId>,
    stop: &HashSet<NodeId>,
    skip: &HashSet<NodeId>,
) -> Vec<Outside> {
    let preopens = stop;
    let mut out = Vec::new();
    let mut todo = vec![(String::new(), vfs.root())];
    while let Some((path, id)) = todo.pop() {
        if skip.contains(&id) {
            continue;
        }
        let stat = vfs.stat_node(id).expect("a live node outside");
        let node = vfs.node(id).expect("a live node outside");
        let mut data = Vec::new();
        let mut entries = Vec::new();
        match &node.kind {
            NodeKind::File(f) => {
                data = vec![0u8; f.len().min(1 << 20) as usize];
                let n = f.read_at(0, &mut data);
                data.truncate(n);
            }
            NodeKind::Symlink(t) => data = t.as_bytes().to_vec(),
            NodeKind::Dir(d) => {
                for (name, ino) in d.entries.iter() {
                    let child = NodeId { fs: id.fs, ino };
                    let child = mounts.get(&child).copied().unwrap_or(child);
                    entries.push((name.to_string(), child));
                    if !preopens.contains(&child) {
                        todo.push((format!("{path}/{name}"), child));
                    }
                }
                entries.sort();
            }
        }
        out.push(Outside {
            path,
            id,
            stat,
            data,
            entries,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What an operation may touch, noted before it runs: the subtrees of the fds it uses.
struct Confined {
    /// The fds' nodes (directories: their whole subtree; files: themselves).
    roots: HashSet<NodeId>,
    /// Everything reachable from `roots` before the operation.
    inside: HashSet<NodeId>,
    /// Everything else, as it must stay.
    outside: Vec<Outside>,
    /// Nodes held by fds before the operation.
    held: HashSet<NodeId>,
}

impl World {
    /// Nodes of the fds `op` resolves paths from or acts on.
    fn fds_used(&self, op: &Op) -> HashSet<NodeId> {
        let fds: Vec<Fd> = match op {
            Op::Open { fd, .. }
            | Op::Mkdir(fd, _)
            | Op::Rmdir(fd, _)
            | Op::Unlink(fd, _)
            | Op::Symlink(_, fd, _)
            | Op::Readlink(fd, ..)
            | Op::FilestatGet(_, fd, ..)
            | Op::SetTimes(fd, ..)
            | Op::Read(fd, ..)
            | Op::Pread(fd, ..)
            | Op::Write(fd, ..)
            | Op::Pwrite(fd, ..)
            | Op::Seek(_, fd, ..)
            | Op::Tell(fd, _)
            | Op::Close(fd)
            | Op::FdstatGet(fd, _)
            | Op::SetFlags(fd, _)
            | Op::SetRights(fd, ..)
            | Op::FilestatGetFd(_, fd, _)
            | Op::SetSize(fd, _)
            | Op::FdSetTimes(fd, ..)
            | Op::Advise(fd, ..)
            | Op::Allocate(fd, ..)
            | Op::Sync(fd, _)
            | Op::PrestatGet(fd, _)
            | Op::PrestatDirName(fd, ..)
            | Op::Readdir(fd, ..) => vec![*fd],
            Op::Rename(a, _, b, _) | Op::Link(a, _, _, b, _) | Op::Renumber(a, b) => vec![*a, *b],
            Op::Poke(..) | Op::Attack(_) => Vec::new(),
        };
        fds.into_iter()
            .filter_map(|fd| self.ctx.fds.get(fd.get()).ok()?.node())
            .collect()
    }

    /// Every node reachable from `roots` (through mounts, not through symlinks).
    fn closure(&self, roots: &HashSet<NodeId>) -> HashSet<NodeId> {
        let vfs = &self.ctx.vfs;
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut todo: Vec<NodeId> = roots.iter().copied().collect();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Ok(NodeKind::Dir(d)) = vfs.node(id).map(|n| &n.kind) {
                for (_, ino) in d.entries.iter() {
                    let child = NodeId { fs: id.fs, ino };
                    todo.push(self.mounts.get(&child).copied().unwrap_or(child));
                }
            }
        }
        seen
    }

    fn confinement(&self, op: &Op) -> Confined {
        let roots = self.fds_used(op);
        let inside = self.closure(&roots);
        let outside = snapshot_except(&self.ctx.vfs, &self.mounts, &roots, &inside);
        let held = self.ctx.fds.iter().filter_map(|(_, e)| e.node()).collect();
        Confined {
            roots,
            inside,
            outside,
            held,
        }
    }

    /// Checks that `op` touched nothing outside the subtrees of the fds it used, that any fd
    /// it opened refers to a node inside them, and that a stat it made describes such a node.
    fn check_confined(&self, c: &Confined, op: &Op, result: &Result<(), Errno>) {
        let vfs = &self.ctx.vfs;
        let after = snapshot_except(vfs, &self.mounts, &c.roots, &c.inside);
        if after != c.outside {
            let changed = changed_paths(&after, &c.outside);
            panic!(
                "{op:?} -> {result:?} changed {changed:?}, outside the subtrees of its fds {:?}",
                c.roots
            );
        }
        let inside = self.closure(&c.roots);
        for (fd, e) in self.ctx.fds.iter() {
            if let Some(node) = e.node()
                && !c.held.contains(&node)
            {
                assert!(
                    inside.contains(&node),
                    "{op:?} opened fd {fd} on {node:?}, outside the subtree of its fd {:?}",
                    c.roots
                );
            }
        }
        if let (Op::FilestatGet(_, _, _, _, out), Ok(())) = (op, result) {
            let at = out.get() as usize;
            let word = |i: usize| u64::from_le_bytes(self.mem[i..i + 8].try_into().expect("8"));
            let (dev, ino) = (word(at), word(at + 8));
            let node = (0..self.fs_count)
                .map(|fs| NodeId { fs, ino })
                .find(|id| vfs.fs(*id).is_ok_and(|m| m.dev() == dev));
            assert!(
                node.is_some_and(|n| inside.contains(&n)),
                "{op:?} described ({dev}, {ino}), outside the subtree of its fd {:?}",
                c.roots
            );
        }
    }

    fn snapshot_outside(&self) -> Vec<Outside> {
        snapshot_outside(&self.ctx.vfs, &self.mounts, &self.preopens)
    }

    fn state(&self) -> State {
        let vfs = &self.ctx.vfs;
        let mut trees = Vec::new();
        let mut open = Vec::new();
        for fs in 0..self.fs_count {
            let m = vfs.fs(NodeId { fs, ino: ROOT_INO }).expect("filesystem");
            trees.push(canonical(m, ROOT_INO, ALL));
            for (ino, _) in m.nodes() {
                open.push((fs, ino, m.open_count(ino)));
            }
        }
        State {
            trees,
            fds: self.ctx.fds.iter().map(|(n, e)| (n, e.clone())).collect(),
            open,
            mem: self.mem.clone(),
        }
    }

    fn check_invariants(&self, what: &str) {
        let vfs = &self.ctx.vfs;
        // 1. Outside: unchanged, and no fd on it.
        let now = self.snapshot_outside();
        if now != self.outside {
            let changed = changed_paths(&now, &self.outside);
            panic!("after {what}: outside the preopens changed: {changed:?}");
        }
        // 2. The fd table.
        let mut holders: BTreeMap<NodeId, u32> = BTreeMap::new();
        for (fd, e) in self.ctx.fds.iter() {
            assert!(
                e.rights_base & !rights::DIR_INHERITING == 0
                    && e.rights_inheriting & !rights::DIR_INHERITING == 0,
                "after {what}: fd {fd} holds rights beyond the preopens' {e:?}"
            );
            let Some(node) = e.node() else { continue };
            assert!(
                !self.outside_ids.contains(&node),
                "after {what}: fd {fd} refers to {node:?} outside the preopens"
            );
            let n = vfs
                .node(node)
                .unwrap_or_else(|err| panic!("after {what}: fd {fd} on a dead node: {err:?}"));
            match &e.kind {
                FdKind::Dir { .. } => assert!(n.is_dir(), "after {what}: fd {fd} not a dir"),
                FdKind::File { .. } => assert!(
                    matches!(n.kind, NodeKind::File(_)),
                    "after {what}: file fd {fd} on a {:?}",
                    n.file_type()
                ),
                FdKind::Stdio(_) => unreachable!("stdio has no node"),
            }
            *holders.entry(node).or_default() += 1;
        }
        // 3. Open counts, and each filesystem's structure.
        for fs in 0..self.fs_count {
            let m = vfs.fs(NodeId { fs, ino: ROOT_INO }).expect("filesystem");
            for (ino, _) in m.nodes() {
                let id = NodeId { fs, ino };
                let held = holders.get(&id).copied().unwrap_or(0);
                assert_eq!(
                    m.open_count(ino),
                    held,
                    "after {what}: {id:?} has open count {} for {held} fds",
                    m.open_count(ino)
                );
            }
            if let Err(e) = check_memfs(m) {
                panic!("after {what}: filesystem {fs}: {e}");
            }
        }
    }

    /// Rights never grow (invariant 2): after `op`, every fd holds at most what it held
    /// before (`fd_fdstat_set_rights`: at most what it held and asked for), an fd moved by
    /// `fd_renumber` at most what its source held, and an fd `path_open` made at most what
    /// it asked for within its directory's inheriting rights. (Bounding them by the preopens'
    /// rights, nearly every right, would not notice a right dropped and then regained.)
    fn check_rights(&self, before: &State, op: &Op, result: &Result<(), Errno>) {
        let held: BTreeMap<u32, (u64, u64)> = before
            .fds
            .iter()
            .map(|(n, e)| (*n, (e.rights_base, e.rights_inheriting)))
            .collect();
        for (fd, e) in self.ctx.fds.iter() {
            let bound = match (op, result) {
                (Op::Renumber(from, to), Ok(())) if to.get() == fd => {
                    held.get(&from.get()).copied()
                }
                (Op::SetRights(at, base, inh), Ok(())) if at.get() == fd => {
                    held.get(&fd).map(|(b, i)| (b & base, i & inh))
                }
                _ => held.get(&fd).copied(),
            };
            let bound = match (bound, op, result) {
                (Some(b), ..) => b,
                (
                    None,
                    Op::Open {
                        fd: dir,
                        rights,
                        inheriting,
                        ..
                    },
                    Ok(()),
                ) => {
                    let parent = held.get(&dir.get()).map_or(0, |(_, i)| *i);
                    (
                        parent & rights.unwrap_or(u64::MAX),
                        parent & inheriting.unwrap_or(u64::MAX),
                    )
                }
                (None, ..) => panic!("{op:?} -> {result:?} made fd {fd} out of nothing"),
            };
            assert!(
                e.rights_base & !bound.0 == 0 && e.rights_inheriting & !bound.1 == 0,
                "{op:?} -> {result:?}: fd {fd} holds rights {:#x}/{:#x} beyond {:#x}/{:#x}",
                e.rights_base,
                e.rights_inheriting,
                bound.0,
                bound.1
            );
        }
    }

    /// Writes the path arguments of `op` into guest memory (the guest preparing its call).
    fn prepare(&mut self, op: &Op) {
        let mut put = |slot: u32, p: &PathIn| {
            if let PathIn::Spec(spec) = p {
                let mut bytes = spec.render(NAMES);
                bytes.truncate(PATH_MAX_WRITTEN);
                let at = slot as usize;
                self.mem[at..at + bytes.len()].copy_from_slice(&bytes);
            }
        };
        match op {
            Op::Open { path, .. }
            | Op::Mkdir(_, path)
            | Op::Rmdir(_, path)
            | Op::Unlink(_, path)
            | Op::Readlink(_, path, ..)
            | Op::FilestatGet(_, _, _, path, _)
            | Op::SetTimes(_, _, path, ..) => put(PATH_A, path),
            Op::Rename(_, a, _, b) | Op::Link(_, _, a, _, b) | Op::Symlink(a, _, b) => {
                put(PATH_A, a);
                put(PATH_B, b);
            }
            Op::Read(_, iovs, _)
            | Op::Pread(_, iovs, ..)
            | Op::Write(_, iovs, _)
            | Op::Pwrite(_, iovs, ..) => {
                if let Iovs::Build(v) = iovs {
                    for (i, (ptr, len)) in v.iter().take(64).enumerate() {
                        let at = IOVS as usize + i * 8;
                        self.mem[at..at + 4].copy_from_slice(&ptr.get().to_le_bytes());
                        self.mem[at + 4..at + 8].copy_from_slice(&len.get().to_le_bytes());
                    }
                }
            }
            Op::Poke(at, bytes) => {
                let at = *at as usize % MEM;
                let n = bytes.len().min(MEM - at);
                self.mem[at..at + n].copy_from_slice(&bytes[..n]);
            }
            _ => {}
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), Errno> {
        let path = |slot: u32, p: &PathIn| -> (u32, u32) {
            match p {
                PathIn::Spec(spec) => {
                    let n = spec.render(NAMES).len().min(PATH_MAX_WRITTEN);
                    (slot, n as u32)
                }
                PathIn::Raw(ptr, len) => (ptr.get(), len.get()),
            }
        };
        let iovs = |i: &Iovs| -> (u32, u32) {
            match i {
                Iovs::Build(v) => (IOVS, v.len().min(64) as u32),
                Iovs::Raw(ptr, count) => (ptr.get(), *count),
            }
        };
        let abi = |p1: bool| if p1 { Abi::P1 } else { Abi::P0 };
        let ctx = &mut self.ctx;
        let mem = &mut self.mem;
        match op {
            Op::Open {
                fd,
                follow,
                path: p,
                oflags,
                rights,
                inheriting,
                fdflags,
                out,
            } => {
                let (ptr, len) = path(PATH_A, p);
                ctx.path_open(
                    mem,
                    fd.get(),
                    u32::from(*follow),
                    ptr,
                    len,
                    u16::from(*oflags),
                    rights.unwrap_or(u64::MAX),
                    inheriting.unwrap_or(u64::MAX),
                    u16::from(*fdflags),
                    out.get(),
                )
            }
            Op::Mkdir(fd, p) => {
                let (ptr, len) = path(PATH_A, p);
                ctx.path_create_directory(mem, fd.get(), ptr, len)
            }
            Op::Rmdir(fd, p) => {
                let (ptr, len) = path(PATH_A, p);
                ctx.path_remove_directory(mem, fd.get(), ptr, len)
            }
            Op::Unlink(fd, p) => {
                let (ptr, len) = path(PATH_A, p);
                ctx.path_unlink_file(mem, fd.get(), ptr, len)
            }
            Op::Rename(fd, a, nfd, b) => {
                let (pa, la) = path(PATH_A, a);
                let (pb, lb) = path(PATH_B, b);
                ctx.path_rename(mem, fd.get(), pa, la, nfd.get(), pb, lb)
            }
            Op::Link(fd, flags, a, nfd, b) => {
                let (pa, la) = path(PATH_A, a);
                let (pb, lb) = path(PATH_B, b);
                ctx.path_link(mem, fd.get(), u32::from(*flags), pa, la, nfd.get(), pb, lb)
            }
            Op::Symlink(a, fd, b) => {
                let (pa, la) = path(PATH_A, a);
                let (pb, lb) = path(PATH_B, b);
                ctx.path_symlink(mem, pa, la, fd.get(), pb, lb)
            }
            Op::Readlink(fd, p, buf, len, used) => {
                let (ptr, plen) = path(PATH_A, p);
                ctx.path_readlink(mem, fd.get(), ptr, plen, buf.get(), len.get(), used.get())
            }
            Op::FilestatGet(p1, fd, follow, p, out) => {
                let (ptr, len) = path(PATH_A, p);
                ctx.path_filestat_get(
                    mem,
                    abi(*p1),
                    fd.get(),
                    u32::from(*follow),
                    ptr,
                    len,
                    out.get(),
                )
            }
            Op::SetTimes(fd, follow, p, atim, mtim, fst) => {
                let (ptr, len) = path(PATH_A, p);
                ctx.path_filestat_set_times(
                    mem,
                    fd.get(),
                    u32::from(*follow),
                    ptr,
                    len,
                    *atim,
                    *mtim,
                    u16::from(*fst),
                )
            }
            Op::Read(fd, i, out) => {
                let (p, n) = iovs(i);
                ctx.fd_read(mem, fd.get(), p, n, out.get())
            }
            Op::Pread(fd, i, off, out) => {
                let (p, n) = iovs(i);
                ctx.fd_pread(mem, fd.get(), p, n, off.get(), out.get())
            }
            Op::Write(fd, i, out) => {
                let (p, n) = iovs(i);
                ctx.fd_write(mem, fd.get(), p, n, out.get())
            }
            Op::Pwrite(fd, i, off, out) => {
                let (p, n) = iovs(i);
                ctx.fd_pwrite(mem, fd.get(), p, n, off.get(), out.get())
            }
            Op::Seek(p1, fd, off, whence, out) => {
                ctx.fd_seek(mem, abi(*p1), fd.get(), *off, *whence, out.get())
            }
            Op::Tell(fd, out) => ctx.fd_tell(mem, fd.get(), out.get()),
            Op::Close(fd) => ctx.fd_close(fd.get()),
            Op::Renumber(a, b) => ctx.fd_renumber(a.get(), b.get()),
            Op::FdstatGet(fd, out) => ctx.fd_fdstat_get(mem, fd.get(), out.get()),
            Op::SetFlags(fd, flags) => ctx.fd_fdstat_set_flags(fd.get(), *flags),
            Op::SetRights(fd, base, inh) => ctx.fd_fdstat_set_rights(fd.get(), *base, *inh),
            Op::FilestatGetFd(p1, fd, out) => {
                ctx.fd_filestat_get(mem, abi(*p1), fd.get(), out.get())
            }
            Op::SetSize(fd, size) => ctx.fd_filestat_set_size(fd.get(), size.get()),
            Op::FdSetTimes(fd, a, m, fst) => {
                ctx.fd_filestat_set_times(fd.get(), *a, *m, u16::from(*fst))
            }
            Op::Advise(fd, off, len, advice) => {
                ctx.fd_advise(fd.get(), off.get(), len.get(), *advice)
            }
            Op::Allocate(fd, off, len) => ctx.fd_allocate(fd.get(), off.get(), len.get()),
            Op::Sync(fd, data) => ctx.fd_sync(fd.get(), *data),
            Op::PrestatGet(fd, out) => ctx.fd_prestat_get(mem, fd.get(), out.get()),
            Op::PrestatDirName(fd, ptr, len) => {
                ctx.fd_prestat_dir_name(mem, fd.get(), ptr.get(), len.get())
            }
            Op::Readdir(fd, buf, len, cookie, used) => {
                ctx.fd_readdir(mem, fd.get(), buf.get(), len.get(), *cookie, used.get())
            }
            Op::Poke(..) => Ok(()),
            Op::Attack(_) => unreachable!("expanded by the caller"),
        }
    }
}
