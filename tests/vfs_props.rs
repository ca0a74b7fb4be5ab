//! Property tests of the filesystem and its confined resolver:
//!
//! a. confinement: on random trees (directories, files, mounts, symlinks that are relative,
//!    absolute, `..`-laden, dangling or looping) and random paths (existing names, `.`, `..`,
//!    raw bytes with NUL and non-UTF-8, trailing slashes, long names, long paths), resolving
//!    from a base directory never yields a node outside the base's subtree, never panics, and
//!    no operation from the base changes anything outside it;
//! b. differential: the same tree materialised in a temporary directory, the same path
//!    resolved by Linux's `openat2(O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`; both
//!    must agree on the outcome and on the file reached; and image-style trees (absolute
//!    symlinks resolving from the root) against `RESOLVE_IN_ROOT`;
//! c. model: random sequences of operations applied to the vfs and to a real directory
//!    (through `openat2` beneath it and `*at` calls; hard links through `/proc/self/fd`, which
//!    needs no privilege, so every sequence keeps its links), comparing every result and, at
//!    the end, the whole tree.
//!
//! Known, documented differences between the kernel and WASI/strata, mapped explicitly in
//! `wasi_errno` and `expected_without_kernel`:
//! - an escape (`..` above the base, an absolute path or symlink target) is `EXDEV` under
//!   `RESOLVE_BENEATH` but `EPERM` in WASI (wasmtime's mapping, and strata's);
//! - a path with a NUL byte cannot reach the kernel (C strings); strata says `EINVAL`;
//! - a non-UTF-8 path is just bytes to the kernel; WASI paths are strings, strata says
//!   `EILSEQ` (or `ENAMETOOLONG` when it is also too long: length is checked first);
//! - `openat2` with `RESOLVE_BENEATH` fails with `EAGAIN` when a rename or mount anywhere on
//!   the system races with a `..` step; that is retried, never compared.
//!
//! Each property runs 2000 cases unless `PROPTEST_CASES` says otherwise.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{TestCaseError, TestRunner};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;
use strata::vfs::{
    AbsoluteSymlinks, Errno, FileType, Follow, MemFs, NodeId, OpenOptions, SetTime, Stat,
    SteppingClock, Vfs,
};

fn config() -> ProptestConfig {
    // `ProptestConfig::default()` honours PROPTEST_CASES; without it, 2000 cases.
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 2000;
    }
    c.source_file = Some(file!());
    c
}

/// Runs one property with a manual runner (so that a test can first decide to skip).
fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config());
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// A scratch directory for the host side: on tmpfs when there is one (metadata operations
/// are many times cheaper there, and path resolution is the same VFS code), else in the
/// default temporary directory.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("strata-vfs-props")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

fn clock() -> Arc<SteppingClock> {
    Arc::new(SteppingClock::new(1_000_000_000, 1))
}

const OPEN: OpenOptions = OpenOptions {
    create: false,
    exclusive: false,
    truncate: false,
    directory: false,
    follow: true,
};

// ---------------------------------------------------------------------------------------------
// The Linux side: openat2 and errno mapping

mod kernel {
    use super::*;

    /// `struct open_how` of openat2(2), defined here so the test does not depend on the libc
    /// crate's version.
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_BENEATH: u64 = 0x08;
    const RESOLVE_IN_ROOT: u64 = 0x10;

    pub fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// `openat2(dir, path, flags | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`,
    /// retrying `EAGAIN` (a rename or mount elsewhere on the system raced with `..`).
    pub fn openat2(dir: RawFd, path: &[u8], flags: i32, mode: u32) -> Result<OwnedFd, i32> {
        openat2_resolve(dir, path, flags, mode, RESOLVE_BENEATH)
    }

    /// `openat2(dir, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `dir`
    /// is the root (absolute symlinks and `..` at it stay there), as for image trees.
    pub fn openat2_in_root(dir: RawFd, path: &[u8], flags: i32) -> Result<OwnedFd, i32> {
        openat2_resolve(dir, path, flags, 0, RESOLVE_IN_ROOT)
    }

    fn openat2_resolve(
        dir: RawFd,
        path: &[u8],
        flags: i32,
        mode: u32,
        resolve: u64,
    ) -> Result<OwnedFd, i32> {
        let c = CString::new(path).expect("paths passed to the kernel hold no NUL");
        let how = OpenHow {
            flags: (flags | libc::O_CLOEXEC) as u64,
            mode: if flags & libc::O_CREAT != 0 {
                u64::from(mode)
            } else {
                0
            },
            resolve: resolve | RESOLVE_NO_MAGICLINKS,
        };
        for _ in 0..10_000 {
            // SAFETY: a valid C string and a valid open_how of the size passed.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    dir,
                    c.as_ptr(),
                    &how as *const OpenHow,
                    std::mem::size_of::<OpenHow>(),
                )
            };
            if r >= 0 {
                // SAFETY: a fresh descriptor that nothing else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
            }
            let e = errno();
            if e != libc::EAGAIN {
                return Err(e);
            }
        }
        panic!("openat2 kept failing with EAGAIN");
    }

    /// Whether the kernel has openat2; any failure other than ENOSYS is a test failure.
    pub fn has_openat2() -> bool {
        match openat2(libc::AT_FDCWD, b".", libc::O_PATH, 0) {
            Ok(_) => true,
            Err(libc::ENOSYS) => false,
            Err(e) => panic!("openat2 probe failed with errno {e}"),
        }
    }

    pub fn fstat(fd: &OwnedFd) -> libc::stat {
        // SAFETY: an all-zero stat is a valid value; fstat fills it in.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a live descriptor and a valid out pointer.
        let r = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
        assert_eq!(r, 0, "fstat failed: {}", errno());
        st
    }

    /// Maps a host errno to the WASI errno strata must return in the same situation.
    pub fn wasi_errno(e: i32) -> Errno {
        match e {
            libc::ENOENT => Errno::Noent,
            libc::EEXIST => Errno::Exist,
            libc::ENOTDIR => Errno::Notdir,
            libc::EISDIR => Errno::Isdir,
            libc::ENOTEMPTY => Errno::Notempty,
            libc::EINVAL => Errno::Inval,
            libc::ELOOP => Errno::Loop,
            // RESOLVE_BENEATH reports an escape as EXDEV; WASI says EPERM. (No test here
            // crosses a host mount, so EXDEV has no other source.)
            libc::EXDEV => Errno::Perm,
            libc::EPERM => Errno::Perm,
            libc::EBUSY => Errno::Busy,
            libc::ENAMETOOLONG => Errno::Nametoolong,
            libc::EMLINK => Errno::Mlink,
            libc::EFBIG => Errno::Fbig,
            libc::EBADF => Errno::Badf,
            libc::EACCES => Errno::Acces,
            libc::EILSEQ => Errno::Ilseq,
            libc::EROFS => Errno::Rofs,
            other => panic!("unmapped host errno {other}"),
        }
    }

    pub fn check(r: libc::c_int) -> Result<(), Errno> {
        if r == 0 {
            Ok(())
        } else {
            Err(wasi_errno(errno()))
        }
    }

    pub fn io(e: std::io::Error) -> Errno {
        wasi_errno(e.raw_os_error().expect("an OS error"))
    }

    pub fn filetype(mode: u32) -> FileType {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFREG => FileType::RegularFile,
            libc::S_IFLNK => FileType::SymbolicLink,
            _ => FileType::Unknown,
        }
    }
}

/// Without the kernel: what strata must answer for paths the kernel cannot judge the WASI
/// way (NUL bytes, non-UTF-8), or `None` when the kernel is the oracle.
fn expected_without_kernel(path: &[u8]) -> Option<Errno> {
    if path.is_empty() {
        None
    } else if path.contains(&0) {
        Some(Errno::Inval)
    } else if path.len() >= 4096 {
        // Also ENAMETOOLONG in the kernel, but a non-UTF-8 one never gets there.
        std::str::from_utf8(path)
            .is_err()
            .then_some(Errno::Nametoolong)
    } else if std::str::from_utf8(path).is_err() {
        Some(Errno::Ilseq)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Random trees and paths

const LONG_NAME: usize = 255;

/// Entry names in trees; index 6 is a name of exactly NAME_MAX bytes.
fn tree_name(i: usize) -> String {
    tree_name_ref(i).to_string()
}

fn tree_name_ref(i: usize) -> &'static str {
    static LONG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| "l".repeat(LONG_NAME));
    match i {
        0 => "a",
        1 => "b",
        2 => "c",
        3 => "é",
        4 => "..a",
        5 => ".h",
        _ => &LONG,
    }
}

const TREE_NAMES: usize = 7;

#[derive(Clone, Debug)]
enum Kind {
    /// A directory, with a filesystem mounted on it (for the confinement property), which
    /// is an image (absolute symlinks resolve from the namespace root) or not.
    Dir {
        mount: bool,
        image: bool,
    },
    File,
    Link(String),
}

#[derive(Clone, Debug)]
struct TreeNode {
    parent: usize,
    name: String,
    kind: Kind,
}

/// A tree; `nodes[0]` is its root directory. `image_root`: the root filesystem resolves
/// absolute symlinks from the namespace root (for the confinement property).
#[derive(Clone, Debug)]
struct Tree {
    nodes: Vec<TreeNode>,
    image_root: bool,
}

impl Tree {
    fn path(&self, mut i: usize) -> String {
        let mut parts = Vec::new();
        while i != 0 {
            parts.push(self.nodes[i].name.as_str());
            i = self.nodes[i].parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn dirs(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].kind, Kind::Dir { .. }))
            .collect()
    }
}

/// Symlink targets: relative, absolute, `..`-laden, dangling (`missing`), with trailing
/// slashes, doubled slashes and over-long components. Loops arise when names repeat.
fn target_strategy() -> impl Strategy<Value = String> {
    let comp = prop_oneof![
        4 => (0..TREE_NAMES).prop_map(tree_name),
        1 => Just(".".to_string()),
        3 => Just("..".to_string()),
        1 => Just("missing".to_string()),
        1 => Just(String::new()),
        1 => Just("l".repeat(LONG_NAME + 1)),
    ];
    (
        prop::bool::weighted(0.1),
        prop::collection::vec(comp, 1..5),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(abs, comps, slash)| {
            let mut t = if abs { "/".to_string() } else { String::new() };
            t.push_str(&comps.join("/"));
            if slash {
                t.push('/');
            }
            if t.is_empty() { ".".to_string() } else { t }
        })
}

fn tree_strategy(max_nodes: usize) -> impl Strategy<Value = Tree> {
    let spec = (
        any::<Index>(),
        0..TREE_NAMES,
        0..10u8,
        target_strategy(),
        prop::bool::weighted(0.3),
        any::<bool>(),
    );
    let specs = prop::collection::vec(spec, 0..max_nodes);
    (specs, any::<bool>()).prop_map(|(specs, image_root)| {
        let mut nodes = vec![TreeNode {
            parent: 0,
            name: String::new(),
            kind: Kind::Dir {
                mount: false,
                image: false,
            },
        }];
        let mut dirs = vec![0];
        for (parent, name, kind, target, mount, image) in specs {
            let parent = dirs[parent.index(dirs.len())];
            let name = tree_name(name);
            if nodes[1..]
                .iter()
                .any(|n| n.parent == parent && n.name == name)
            {
                continue;
            }
            let kind = match kind {
                0..=3 => Kind::Dir { mount, image },
                4..=6 => Kind::File,
                _ => Kind::Link(target),
            };
            if matches!(kind, Kind::Dir { .. }) {
                dirs.push(nodes.len());
            }
            nodes.push(TreeNode { parent, name, kind });
        }
        Tree { nodes, image_root }
    })
}

/// Guest paths as bytes: names that exist (or nearly: `l` × 256), `.`, `..`, empty
/// components (`//`), raw bytes (NUL, `/`, invalid UTF-8), an optional leading slash, an
/// optional trailing slash, and now and then a prefix that brings the path near or past
/// PATH_MAX.
fn path_strategy() -> impl Strategy<Value = Vec<u8>> {
    let comp = prop_oneof![
        8 => (0..TREE_NAMES).prop_map(|i| tree_name(i).into_bytes()),
        2 => Just(b".".to_vec()),
        4 => Just(b"..".to_vec()),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
        1 => Just(vec![b'l'; LONG_NAME + 1]),
    ];
    let prefix = prop_oneof![30 => Just(0usize), 1 => Just(2040), 1 => Just(2048)];
    (
        prefix,
        prop::bool::weighted(0.05),
        prop::collection::vec(comp, 0..7),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(prefix, abs, comps, slash)| {
            let mut p = b"./".repeat(prefix);
            if abs {
                p.push(b'/');
            }
            p.extend(comps.join(&b'/'));
            if slash {
                p.push(b'/');
            }
            p
        })
}

/// A tree built in a vfs: node index -> NodeId (a mounted directory's is the mounted root),
/// and back (both the mount point and the mounted root map to the index).
struct Built {
    v: Vfs,
    ids: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
}

/// Builds `tree`; with `mounts`, its marked directories get filesystems mounted on them and
/// its image flags take effect (absolute symlinks resolving from the namespace root).
fn build_vfs(tree: &Tree, mounts: bool) -> Built {
    build_vfs_with(tree, mounts, mounts && tree.image_root)
}

/// As `build_vfs`, the root filesystem resolving absolute symlinks from the root when
/// `image_root` (whatever `mounts` says).
fn build_vfs_with(tree: &Tree, mounts: bool, image_root: bool) -> Built {
    let new_fs = |image: bool| {
        let policy = if image {
            AbsoluteSymlinks::InRoot
        } else {
            AbsoluteSymlinks::Refuse
        };
        MemFs::new(0, clock()).with_absolute_symlinks(policy)
    };
    let mut v = Vfs::with_root(new_fs(image_root), clock());
    let mut ids = vec![v.root()];
    let mut index = HashMap::from([(v.root(), 0)]);
    for (i, n) in tree.nodes.iter().enumerate().skip(1) {
        let parent = ids[n.parent];
        let id = match &n.kind {
            Kind::Dir { mount, image } => {
                let d = v.mkdir(parent, n.name.as_bytes()).unwrap();
                if mounts && *mount {
                    index.insert(d, i);
                    v.mount(d, new_fs(*image)).unwrap()
                } else {
                    d
                }
            }
            Kind::File => {
                let opts = OpenOptions {
                    create: true,
                    exclusive: true,
                    ..OPEN
                };
                let f = v.open(parent, n.name.as_bytes(), opts).unwrap();
                v.write(f, Some(0), format!("node{i}").as_bytes()).unwrap();
                v.release(f);
                f
            }
            Kind::Link(target) => {
                // Below the API, so absolute targets (as an image may hold) get in too.
                let ino = v
                    .fs_mut(parent)
                    .unwrap()
                    .symlink(parent.ino, &n.name, target)
                    .unwrap();
                NodeId { fs: parent.fs, ino }
            }
        };
        ids.push(id);
        index.insert(id, i);
    }
    Built { v, ids, index }
}

// ---------------------------------------------------------------------------------------------
// (a) Confinement

/// Every node in the subtree of `base` (mount points and the roots mounted on them).
fn subtree(v: &Vfs, base: NodeId) -> HashSet<NodeId> {
    let mut inside = HashSet::from([base]);
    let mut queue = VecDeque::from([base]);
    while let Some(dir) = queue.pop_front() {
        for (_, name, ino, ft) in v.readdir(dir, 2).unwrap() {
            inside.insert(NodeId { fs: dir.fs, ino });
            let id = v.lookup(dir, name.as_bytes(), false).unwrap();
            inside.insert(id);
            if ft == FileType::Directory {
                queue.push_back(id);
            }
        }
    }
    inside
}

/// Everything reachable from the root without entering `base`: each node's attributes and
/// each directory's entries.
fn outside_snapshot(v: &Vfs, base: NodeId) -> BTreeMap<NodeId, (Stat, Vec<(String, u64)>)> {
    let mut out = BTreeMap::new();
    let mut queue = VecDeque::from([v.root()]);
    while let Some(id) = queue.pop_front() {
        if id == base || out.contains_key(&id) {
            continue;
        }
        let st = v.stat_node(id).unwrap();
        let mut entries = Vec::new();
        if st.filetype == FileType::Directory {
            for (_, name, ino, _) in v.readdir(id, 2).unwrap() {
                entries.push((name.to_string(), ino));
                let child = v.lookup(id, name.as_bytes(), false).unwrap();
                if child != base {
                    queue.push_back(child);
                }
            }
        }
        out.insert(id, (st, entries));
    }
    out
}

#[derive(Clone, Debug)]
enum ConfinedOp {
    Create(Vec<u8>, bool),
    Truncate(Vec<u8>),
    Mkdir(Vec<u8>),
    Symlink(Vec<u8>, Vec<u8>),
    Link(Vec<u8>, Vec<u8>, bool),
    Rename(Vec<u8>, Vec<u8>),
    Unlink(Vec<u8>),
    Rmdir(Vec<u8>),
    SetTimes(Vec<u8>, bool),
}

fn confined_op() -> impl Strategy<Value = ConfinedOp> {
    let p = path_strategy;
    prop_oneof![
        (p(), any::<bool>()).prop_map(|(a, f)| ConfinedOp::Create(a, f)),
        p().prop_map(ConfinedOp::Truncate),
        p().prop_map(ConfinedOp::Mkdir),
        (p(), p()).prop_map(|(a, b)| ConfinedOp::Symlink(a, b)),
        (p(), p(), any::<bool>()).prop_map(|(a, b, f)| ConfinedOp::Link(a, b, f)),
        (p(), p()).prop_map(|(a, b)| ConfinedOp::Rename(a, b)),
        p().prop_map(ConfinedOp::Unlink),
        p().prop_map(ConfinedOp::Rmdir),
        (p(), any::<bool>()).prop_map(|(a, f)| ConfinedOp::SetTimes(a, f)),
    ]
}

/// The structural invariants of every filesystem in `v` (see `memfs`): each entry names a
/// live node; each directory's `parent` is the directory holding its entry; `nlink` counts
/// entries (plus `.` and the subdirectories' `..` for directories); every live node is
/// reachable from its root, or kept alive by an open handle.
fn check_invariants(v: &Vfs) -> Result<(), String> {
    use strata::vfs::node::NodeKind;
    for fs_index in 0.. {
        let Ok(fs) = v.fs(NodeId {
            fs: fs_index,
            ino: 1,
        }) else {
            break;
        };
        let mut refs: HashMap<u64, u64> = HashMap::new();
        let mut subdirs: HashMap<u64, u64> = HashMap::new();
        for (ino, node) in fs.nodes() {
            if let NodeKind::Dir(d) = &node.kind {
                for (name, child) in d.entries.iter() {
                    let c = fs
                        .node(child)
                        .map_err(|_| format!("fs {fs_index}: {ino}/{name} -> dead {child}"))?;
                    *refs.entry(child).or_default() += 1;
                    if let NodeKind::Dir(cd) = &c.kind {
                        *subdirs.entry(ino).or_default() += 1;
                        if cd.parent != ino {
                            return Err(format!("fs {fs_index}: {child}'s parent is not {ino}"));
                        }
                    }
                }
            }
        }
        let mut live = 0;
        for (ino, node) in fs.nodes() {
            live += 1;
            let want = match &node.kind {
                NodeKind::Dir(d) if d.removed => 0,
                NodeKind::Dir(_) => 2 + subdirs.get(&ino).copied().unwrap_or(0),
                _ => refs.get(&ino).copied().unwrap_or(0),
            };
            if node.nlink != want {
                return Err(format!(
                    "fs {fs_index}: inode {ino} nlink {} != {want}",
                    node.nlink
                ));
            }
            let named = ino == fs.root() || refs.contains_key(&ino);
            if !named && fs.open_count(ino) == 0 {
                return Err(format!("fs {fs_index}: inode {ino} leaked"));
            }
        }
        if live != fs.inode_count() {
            return Err(format!(
                "fs {fs_index}: {live} live, count {}",
                fs.inode_count()
            ));
        }
    }
    Ok(())
}

fn apply_confined(v: &mut Vfs, base: NodeId, op: &ConfinedOp) {
    let _ = match op {
        ConfinedOp::Create(p, follow) => {
            let opts = OpenOptions {
                create: true,
                follow: *follow,
                ..OPEN
            };
            v.open(base, p, opts).map(|id| v.release(id))
        }
        ConfinedOp::Truncate(p) => {
            let opts = OpenOptions {
                truncate: true,
                ..OPEN
            };
            v.open(base, p, opts).map(|id| v.release(id))
        }
        ConfinedOp::Mkdir(p) => v.mkdir(base, p).map(drop),
        ConfinedOp::Symlink(t, p) => v.symlink(t, base, p).map(drop),
        ConfinedOp::Link(a, b, follow) => v.link(base, a, *follow, base, b),
        ConfinedOp::Rename(a, b) => v.rename(base, a, base, b),
        ConfinedOp::Unlink(p) => v.unlink(base, p),
        ConfinedOp::Rmdir(p) => v.rmdir(base, p),
        ConfinedOp::SetTimes(p, follow) => {
            v.set_times(base, p, *follow, SetTime::At(1), SetTime::Now)
        }
    };
}

#[test]
fn resolution_never_leaves_the_base() {
    let strategy = (
        tree_strategy(24),
        any::<Index>(),
        prop::collection::vec(path_strategy(), 1..8),
        prop::collection::vec(confined_op(), 0..4),
    );
    run(strategy, |(tree, base, paths, ops)| {
        let mut b = build_vfs(&tree, true);
        let dirs = tree.dirs();
        let base = b.ids[dirs[base.index(dirs.len())]];
        let inside = subtree(&b.v, base);
        for p in &paths {
            for follow in [Follow::Yes, Follow::No, Follow::Entry] {
                let Ok(r) = b.v.resolve(base, p, follow) else {
                    continue;
                };
                if let Some(n) = r.node {
                    prop_assert!(inside.contains(&n), "{p:?} {follow:?} reached {n:?}");
                }
                if let Some((dir, name)) = &r.entry {
                    prop_assert!(inside.contains(dir), "{p:?} {follow:?}: entry in {dir:?}");
                    prop_assert!(!name.is_empty() && !name.contains('/'));
                    prop_assert!(&**name != "." && &**name != "..");
                }
            }
            if let Ok(t) = b.v.readlink(base, p) {
                prop_assert!(!t.is_empty());
            }
        }
        let before = outside_snapshot(&b.v, base);
        for op in &ops {
            apply_confined(&mut b.v, base, op);
            prop_assert_eq!(&before, &outside_snapshot(&b.v, base), "after {:?}", op);
            if let Err(e) = check_invariants(&b.v) {
                prop_assert!(false, "after {:?}: {}", op, e);
            }
        }
        // Whatever happened, every node a path reaches is still beneath the base.
        let inside = subtree(&b.v, base);
        for p in &paths {
            if let Ok(n) = b.v.lookup(base, p, true) {
                prop_assert!(inside.contains(&n), "{p:?} reached {n:?} after the ops");
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// File data against a plain byte vector

#[derive(Clone, Debug)]
enum DataStep {
    Write(u64, Vec<u8>),
    SetLen(u64),
    Read(u64, usize),
    /// Freezes, then continues on a clone; the frozen original must not change.
    Fork,
}

fn data_offset() -> impl Strategy<Value = u64> {
    let block = strata::vfs::data::BLOCK;
    prop_oneof![
        3 => 0..200u64,
        2 => (block - 100)..(block + 100),
        1 => (2 * block - 50)..(2 * block + 50),
        1 => 0..(3 * block),
    ]
}

fn data_step() -> impl Strategy<Value = DataStep> {
    prop_oneof![
        4 => (data_offset(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(o, d)| DataStep::Write(o, d)),
        2 => data_offset().prop_map(DataStep::SetLen),
        3 => (data_offset(), prop_oneof![6 => 0..600usize, 1 => 60_000..70_000usize])
            .prop_map(|(o, n)| DataStep::Read(o, n)),
        1 => Just(DataStep::Fork),
    ]
}

#[test]
fn file_data_behaves_as_a_byte_vector() {
    use strata::vfs::FileData;
    let strategy = (
        prop_oneof![Just(0usize), 0..300usize, 65_000..140_000usize],
        prop::collection::vec(data_step(), 0..25),
    );
    run(strategy, |(initial_len, steps)| {
        // Non-zero bytes, so that a hole read where data should be shows; built by copies
        // (a byte-by-byte loop is slow in a debug build).
        let pattern: Vec<u8> = (1..=253).collect();
        let mut initial = Vec::with_capacity(initial_len);
        while initial.len() < initial_len {
            let n = (initial_len - initial.len()).min(pattern.len());
            initial.extend_from_slice(&pattern[..n]);
        }
        let mut f = FileData::from_bytes(bytes::Bytes::from(initial.clone()));
        let mut model = initial;
        let mut frozen: Vec<(FileData, Vec<u8>)> = Vec::new();
        for step in &steps {
            match step {
                DataStep::Write(o, d) => {
                    f.write_at(*o, d);
                    if !d.is_empty() {
                        let end = *o as usize + d.len();
                        if model.len() < end {
                            model.resize(end, 0);
                        }
                        model[*o as usize..end].copy_from_slice(d);
                    }
                }
                DataStep::SetLen(n) => {
                    f.set_len(*n);
                    model.resize(*n as usize, 0);
                }
                DataStep::Read(o, n) => {
                    let mut buf = vec![0xA5u8; *n];
                    let got = f.read_at(*o, &mut buf);
                    let start = (*o as usize).min(model.len());
                    let want = &model[start..(start + n).min(model.len())];
                    prop_assert_eq!(&buf[..got], want, "read {} at {}", n, o);
                    prop_assert!(buf[got..].iter().all(|&b| b == 0xA5), "wrote past");
                }
                DataStep::Fork => {
                    f.freeze();
                    frozen.push((f.clone(), model.clone()));
                }
            }
            prop_assert_eq!(f.len(), model.len() as u64);
        }
        let mut all = Vec::new();
        f.for_each_chunk(|c| all.extend_from_slice(c));
        prop_assert!(all == model, "contents differ");
        for (old, want) in frozen {
            let mut got = Vec::new();
            old.for_each_chunk(|c| got.extend_from_slice(c));
            prop_assert!(got == want, "a frozen copy changed");
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Readdir cookies under concurrent changes (strata's own guarantee, checklist #43)

#[derive(Clone, Debug)]
enum DirStep {
    /// Reads up to this many entries from the saved cookie.
    Page(usize),
    Create(usize),
    Unlink(usize),
    Mkdir(usize),
    Rmdir(usize),
    /// Renames within the directory (possibly over an existing entry).
    Rename(usize, usize),
    /// Moves an entry out to another directory, or one back in.
    MoveOut(usize),
    MoveIn(usize),
}

const DIR_NAMES: usize = 12;

fn dir_step() -> impl Strategy<Value = DirStep> {
    let n = || 0..DIR_NAMES;
    prop_oneof![
        4 => (1..5usize).prop_map(DirStep::Page),
        2 => n().prop_map(DirStep::Create),
        2 => n().prop_map(DirStep::Unlink),
        1 => n().prop_map(DirStep::Mkdir),
        1 => n().prop_map(DirStep::Rmdir),
        2 => (n(), n()).prop_map(|(a, b)| DirStep::Rename(a, b)),
        1 => n().prop_map(DirStep::MoveOut),
        1 => n().prop_map(DirStep::MoveIn),
    ]
}

#[test]
fn readdir_cookies_are_stable_under_changes() {
    let strategy = (
        prop::collection::vec(0..DIR_NAMES, 0..DIR_NAMES),
        prop::collection::vec(dir_step(), 0..40),
    );
    run(strategy, |(initial, steps)| {
        let mut v = Vfs::new(clock());
        let root = v.root();
        let d = v.mkdir(root, b"d").unwrap();
        let other = v.mkdir(root, b"other").unwrap();
        let name = |i: usize| format!("n{i}");
        let create = OpenOptions {
            create: true,
            ..OPEN
        };
        for &i in &initial {
            let id = v.open(d, name(i).as_bytes(), create).unwrap();
            v.release(id);
        }
        // Names whose entry exists, untouched, from the first read to the last.
        let mut stable: HashSet<String> = initial.iter().map(|&i| name(i)).collect();
        let mut seen: Vec<String> = Vec::new();
        let mut cookie = 0;
        let page = |v: &Vfs, n: usize, cookie: &mut u64, seen: &mut Vec<String>| {
            let batch = v.readdir(d, *cookie).unwrap();
            for (next, entry, ino, _) in batch.iter().take(n) {
                // Every entry returned is in the directory right now, under that inode.
                if &**entry != "." && &**entry != ".." {
                    assert_eq!(v.lookup(d, entry.as_bytes(), false).unwrap().ino, *ino);
                }
                seen.push(entry.to_string());
                *cookie = *next;
            }
            batch.len() <= n
        };
        for step in &steps {
            let touched: Vec<String> = match *step {
                DirStep::Page(n) => {
                    page(&v, n, &mut cookie, &mut seen);
                    Vec::new()
                }
                DirStep::Create(i) => {
                    if let Ok(id) = v.open(d, name(i).as_bytes(), create) {
                        v.release(id);
                    }
                    vec![name(i)]
                }
                DirStep::Unlink(i) => {
                    let _ = v.unlink(d, name(i).as_bytes());
                    vec![name(i)]
                }
                DirStep::Mkdir(i) => {
                    let _ = v.mkdir(d, name(i).as_bytes());
                    vec![name(i)]
                }
                DirStep::Rmdir(i) => {
                    let _ = v.rmdir(d, name(i).as_bytes());
                    vec![name(i)]
                }
                DirStep::Rename(a, b) => {
                    let _ = v.rename(d, name(a).as_bytes(), d, name(b).as_bytes());
                    vec![name(a), name(b)]
                }
                DirStep::MoveOut(i) => {
                    let _ = v.rename(d, name(i).as_bytes(), other, name(i).as_bytes());
                    vec![name(i)]
                }
                DirStep::MoveIn(i) => {
                    let _ = v.rename(other, name(i).as_bytes(), d, name(i).as_bytes());
                    vec![name(i)]
                }
            };
            for t in touched {
                stable.remove(&t);
            }
        }
        while !page(&v, 3, &mut cookie, &mut seen) {}
        for n in &stable {
            let count = seen.iter().filter(|s| *s == n).count();
            prop_assert_eq!(count, 1, "{} seen {} times: {:?}", n, count, seen);
        }
        for dot in [".", ".."] {
            prop_assert_eq!(seen.iter().filter(|s| *s == dot).count(), 1);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// (b) Differential resolution against openat2

/// Creates `tree` under `dir`; returns host inode -> node index.
fn materialise(tree: &Tree, dir: &Path) -> HashMap<u64, usize> {
    materialise_with(tree, dir, false)
}

/// As `materialise`; with `cut_absolute`, every absolute symlink is made a dangling relative
/// one instead, so a walk that meets one stops there (`ENOENT`) rather than leaving.
fn materialise_with(tree: &Tree, dir: &Path, cut_absolute: bool) -> HashMap<u64, usize> {
    let mut map = HashMap::from([(std::fs::metadata(dir).unwrap().ino(), 0)]);
    for (i, n) in tree.nodes.iter().enumerate().skip(1) {
        let path = dir.join(tree.path(i));
        match &n.kind {
            Kind::Dir { .. } => std::fs::create_dir(&path).unwrap(),
            Kind::File => std::fs::write(&path, format!("node{i}")).unwrap(),
            Kind::Link(target) if cut_absolute && target.starts_with('/') => {
                std::os::unix::fs::symlink("absolute-link-cut-here", &path).unwrap()
            }
            Kind::Link(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
        }
        map.insert(std::fs::symlink_metadata(&path).unwrap().ino(), i);
    }
    map
}

fn open_dir(path: &Path) -> OwnedFd {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0, "open {path:?}: {}", kernel::errno());
    // SAFETY: a fresh descriptor.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[test]
fn resolution_agrees_with_openat2() {
    if !kernel::has_openat2() {
        eprintln!("SKIPPED resolution_agrees_with_openat2: the kernel has no openat2 (ENOSYS)");
        return;
    }
    let strategy = (
        tree_strategy(20),
        any::<Index>(),
        prop::collection::vec(path_strategy(), 1..8),
    );
    run(strategy, |(tree, base, paths)| {
        let b = build_vfs(&tree, false);
        let tmp = scratch_dir();
        let host = materialise(&tree, tmp.path());
        let dirs = tree.dirs();
        let base_index = dirs[base.index(dirs.len())];
        let base = b.ids[base_index];
        let base_fd = open_dir(&tmp.path().join(tree.path(base_index)));
        for p in &paths {
            for follow in [true, false] {
                let ours = b.v.lookup(base, p, follow).map(|id| b.index[&id]);
                if let Some(e) = expected_without_kernel(p) {
                    prop_assert_eq!(ours, Err(e), "{:?}", p);
                    continue;
                }
                let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
                let theirs = kernel::openat2(base_fd.as_raw_fd(), p, flags, 0)
                    .map(|fd| host[&kernel::fstat(&fd).st_ino])
                    .map_err(kernel::wasi_errno);
                prop_assert_eq!(
                    ours,
                    theirs,
                    "path {:?} from {:?}, follow {}",
                    String::from_utf8_lossy(p),
                    tree.path(base_index),
                    follow
                );
            }
        }
        Ok(())
    });
}

/// Image-style trees (absolute symlinks resolve from the namespace root) against Linux's
/// `RESOLVE_IN_ROOT`, the rule strata's in-root mode is named after. Strata resolves `PATH`
/// from `BASE`: `..` may not climb above `BASE` until an absolute link has sent the walk to
/// the root, where `..` stays at the root; after such a link the walk must end inside `BASE`
/// (else `EPERM`). The kernel says which case a path is, on two host copies of the tree:
///
/// - `RESOLVE_BENEATH` from `BASE` on a copy whose absolute links are cut (dangling) walks
///   the same steps until the first absolute link, where it stops: its `EXDEV` means the
///   walk climbed above `BASE` first, so strata must say `EPERM`;
/// - else `RESOLVE_BENEATH` on the real copy: anything but `EXDEV` means no absolute link
///   was followed and strata must give exactly that result;
/// - else an absolute link was followed, and `RESOLVE_IN_ROOT` of `BASE/PATH` from the root
///   walks what strata walks: strata's result is the kernel's when it lies inside `BASE`,
///   `EPERM` when outside; an error is the kernel's (or `EPERM`, failing outside `BASE`).
#[test]
fn image_resolution_agrees_with_openat2_in_root() {
    if !kernel::has_openat2() {
        eprintln!(
            "SKIPPED image_resolution_agrees_with_openat2_in_root: the kernel has no openat2"
        );
        return;
    }
    // More absolute links than the general trees have, into names the trees hold.
    let abs_target = (
        prop::collection::vec(0..TREE_NAMES, 0..4),
        prop::collection::vec(prop::bool::weighted(0.2), 4),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(names, up, slash)| {
            let mut t = String::new();
            for (i, &n) in names.iter().enumerate() {
                t.push('/');
                t.push_str(if up[i] { ".." } else { tree_name_ref(n) });
            }
            if t.is_empty() || slash {
                t.push('/');
            }
            t
        });
    let strategy = (
        tree_strategy(24),
        prop::collection::vec((any::<Index>(), abs_target), 2..10),
        any::<Index>(),
        prop::collection::vec(path_strategy(), 1..8),
    );
    let counts = std::sync::Mutex::new(BTreeMap::<&str, u64>::new());
    run(strategy, |(mut tree, abs, base, paths)| {
        let links: Vec<usize> = (0..tree.nodes.len())
            .filter(|&i| matches!(tree.nodes[i].kind, Kind::Link(_)))
            .collect();
        for (i, target) in abs {
            if !links.is_empty() {
                tree.nodes[links[i.index(links.len())]].kind = Kind::Link(target);
            }
        }
        let b = build_vfs_with(&tree, false, true);
        let (real, cut) = (scratch_dir(), scratch_dir());
        let host = materialise(&tree, real.path());
        materialise_with(&tree, cut.path(), true);
        let root_fd = open_dir(real.path());
        let dirs = tree.dirs();
        let base_index = dirs[base.index(dirs.len())];
        let base_path = tree.path(base_index);
        let base_fd = open_dir(&real.path().join(&base_path));
        let cut_base_fd = open_dir(&cut.path().join(&base_path));
        let base = b.ids[base_index];
        let inside = |mut i: usize| loop {
            if i == base_index {
                break true;
            }
            if i == 0 {
                break false;
            }
            i = tree.nodes[i].parent;
        };
        for p in &paths {
            for follow in [true, false] {
                let ours = b.v.lookup(base, p, follow).map(|id| b.index[&id]);
                if let Some(e) = expected_without_kernel(p) {
                    prop_assert_eq!(ours, Err(e), "{:?}", p);
                    continue;
                }
                let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
                let beneath = |fd: &OwnedFd| {
                    kernel::openat2(fd.as_raw_fd(), p, flags, 0).map(|fd| kernel::fstat(&fd).st_ino)
                };
                let what = |case: &str, theirs: &dyn std::fmt::Debug| {
                    format!(
                        "{case}: path {:?} from {:?}, follow {}: strata {:?}, kernel {:?}",
                        String::from_utf8_lossy(p),
                        base_path,
                        follow,
                        ours,
                        theirs
                    )
                };
                let case = if beneath(&cut_base_fd) == Err(libc::EXDEV) {
                    let w = what("climbs above the base", &"EXDEV");
                    prop_assert_eq!(ours, Err(Errno::Perm), "{}", w);
                    "climbs above the base"
                } else {
                    match beneath(&base_fd) {
                        Err(libc::EXDEV) => {
                            // An absolute link was followed: the kernel from the root.
                            let mut full = base_path.clone().into_bytes();
                            full.push(b'/');
                            full.extend_from_slice(p);
                            if full.len() >= 4096 {
                                continue; // too long only with the prefix
                            }
                            let theirs = kernel::openat2_in_root(root_fd.as_raw_fd(), &full, flags)
                                .map(|fd| host[&kernel::fstat(&fd).st_ino])
                                .map_err(kernel::wasi_errno);
                            let w = what("absolute link followed", &theirs);
                            match theirs {
                                Ok(n) if inside(n) => prop_assert_eq!(ours, Ok(n), "{}", w),
                                Ok(_) => prop_assert_eq!(ours, Err(Errno::Perm), "{}", w),
                                Err(e) => prop_assert!(
                                    ours == Err(e) || ours == Err(Errno::Perm),
                                    "{}",
                                    w
                                ),
                            }
                            "absolute link followed"
                        }
                        theirs => {
                            let theirs = theirs.map(|ino| host[&ino]).map_err(kernel::wasi_errno);
                            let w = what("no absolute link", &theirs);
                            prop_assert_eq!(ours, theirs, "{}", w);
                            "no absolute link"
                        }
                    }
                };
                *counts.lock().unwrap().entry(case).or_default() += 1;
            }
        }
        Ok(())
    });
    let counts = counts.into_inner().unwrap();
    eprintln!("resolutions compared, by case: {counts:?}");
    for case in [
        "climbs above the base",
        "no absolute link",
        "absolute link followed",
    ] {
        assert!(
            counts.get(case).copied().unwrap_or(0) >= 100,
            "too few cases {case:?}: {counts:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Model: operation sequences against a real directory

#[derive(Clone, Debug)]
enum Op {
    Create {
        path: String,
        excl: bool,
        trunc: bool,
    },
    Write {
        path: String,
        offset: Option<u64>,
        data: Vec<u8>,
    },
    Truncate {
        path: String,
        size: u64,
    },
    Read {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Unlink {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Link {
        from: String,
        to: String,
        follow: bool,
    },
    Symlink {
        target: String,
        path: String,
    },
    Readdir {
        path: String,
    },
    Stat {
        path: String,
        follow: bool,
    },
    /// Opens `path` (following it) and keeps the handle: a file or a directory.
    Open {
        path: String,
    },
    /// Drops one kept handle.
    Close {
        handle: Index,
    },
    /// Acts through one kept handle.
    Fd {
        handle: Index,
        op: FdOp,
    },
}

/// What an operation through a kept handle does; names are single components.
#[derive(Clone, Debug)]
enum FdOp {
    Write { offset: Option<u64>, data: Vec<u8> },
    Read,
    Stat,
    Truncate { size: u64 },
    Readdir,
    Mkdir { name: &'static str },
    Create { name: &'static str },
    Unlink { name: &'static str },
}

/// What an operation returns, in a form both sides produce.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Unit,
    Bytes(Vec<u8>),
    List(Vec<(String, FileType)>),
    /// Type, link count, and size for non-directories (directory sizes are not comparable).
    Stat(FileType, u64, Option<u64>),
}

/// Paths over a small alphabet, mostly short, so that operations often meet what earlier
/// ones created.
fn model_path() -> impl Strategy<Value = String> {
    let comp = || {
        prop_oneof![
            6 => Just("a"),
            6 => Just("b"),
            4 => Just("c"),
            1 => Just("."),
            1 => Just(".."),
        ]
    };
    let comps = prop_oneof![
        5 => prop::collection::vec(comp(), 1..=1),
        4 => prop::collection::vec(comp(), 2..=2),
        1 => prop::collection::vec(comp(), 3..=4),
    ];
    (comps, prop::bool::weighted(0.1)).prop_map(|(c, slash)| {
        let mut p = c.join("/");
        if slash {
            p.push('/');
        }
        p
    })
}

fn model_target() -> impl Strategy<Value = String> {
    let comp = prop_oneof![
        3 => Just("a"),
        3 => Just("b"),
        2 => Just("c"),
        1 => Just("."),
        2 => Just(".."),
    ];
    (
        prop::collection::vec(comp, 1..4),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(c, slash)| {
            let mut p = c.join("/");
            if slash {
                p.push('/');
            }
            p
        })
}

fn model_op() -> impl Strategy<Value = Op> {
    let p = model_path;
    let offset = prop_oneof![4 => 0..40u64, 1 => 65_530..65_545u64, 1 => Just(200_000u64)];
    let size = prop_oneof![4 => 0..40u64, 1 => 65_530..65_545u64];
    prop_oneof![
        4 => (p(), prop::bool::weighted(0.3), prop::bool::weighted(0.3))
            .prop_map(|(path, excl, trunc)| Op::Create { path, excl, trunc }),
        3 => (p(), prop::option::weighted(0.8, offset), prop::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(path, offset, data)| Op::Write { path, offset, data }),
        1 => (p(), size).prop_map(|(path, size)| Op::Truncate { path, size }),
        2 => p().prop_map(|path| Op::Read { path }),
        4 => p().prop_map(|path| Op::Mkdir { path }),
        2 => p().prop_map(|path| Op::Rmdir { path }),
        2 => p().prop_map(|path| Op::Unlink { path }),
        3 => (p(), p()).prop_map(|(from, to)| Op::Rename { from, to }),
        2 => (p(), p(), any::<bool>()).prop_map(|(from, to, follow)| Op::Link { from, to, follow }),
        2 => (model_target(), p()).prop_map(|(target, path)| Op::Symlink { target, path }),
        2 => p().prop_map(|path| Op::Readdir { path }),
        2 => (p(), any::<bool>()).prop_map(|(path, follow)| Op::Stat { path, follow }),
        2 => p().prop_map(|path| Op::Open { path }),
        1 => any::<Index>().prop_map(|handle| Op::Close { handle }),
        5 => (any::<Index>(), fd_op()).prop_map(|(handle, op)| Op::Fd { handle, op }),
    ]
}

fn fd_op() -> impl Strategy<Value = FdOp> {
    let offset = prop_oneof![4 => 0..40u64, 1 => 65_530..65_545u64];
    let name = || prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        3 => (prop::option::weighted(0.8, offset), prop::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(offset, data)| FdOp::Write { offset, data }),
        2 => Just(FdOp::Read),
        2 => Just(FdOp::Stat),
        1 => (0..40u64).prop_map(|size| FdOp::Truncate { size }),
        2 => Just(FdOp::Readdir),
        2 => name().prop_map(|name| FdOp::Mkdir { name }),
        2 => name().prop_map(|name| FdOp::Create { name }),
        1 => name().prop_map(|name| FdOp::Unlink { name }),
    ]
}

fn run_vfs(v: &mut Vfs, root: NodeId, op: &Op) -> Result<Out, Errno> {
    match op {
        Op::Open { .. } | Op::Close { .. } | Op::Fd { .. } => unreachable!("handle ops"),
        Op::Create { path, excl, trunc } => {
            let opts = OpenOptions {
                create: true,
                exclusive: *excl,
                truncate: *trunc,
                ..OPEN
            };
            let id = v.open(root, path.as_bytes(), opts)?;
            v.release(id);
            Ok(Out::Unit)
        }
        Op::Write { path, offset, data } => {
            let id = v.open(root, path.as_bytes(), OPEN)?;
            let r = v.write(id, *offset, data);
            v.release(id);
            r.map(|_| Out::Unit)
        }
        Op::Truncate { path, size } => {
            let id = v.open(root, path.as_bytes(), OPEN)?;
            let r = v.set_size(id, *size);
            v.release(id);
            r.map(|_| Out::Unit)
        }
        Op::Read { path } => {
            let id = v.open(root, path.as_bytes(), OPEN)?;
            let r = read_all(v, id);
            v.release(id);
            r.map(Out::Bytes)
        }
        Op::Mkdir { path } => v.mkdir(root, path.as_bytes()).map(|_| Out::Unit),
        Op::Rmdir { path } => v.rmdir(root, path.as_bytes()).map(|_| Out::Unit),
        Op::Unlink { path } => v.unlink(root, path.as_bytes()).map(|_| Out::Unit),
        Op::Rename { from, to } => v
            .rename(root, from.as_bytes(), root, to.as_bytes())
            .map(|_| Out::Unit),
        Op::Link { from, to, follow } => v
            .link(root, from.as_bytes(), *follow, root, to.as_bytes())
            .map(|_| Out::Unit),
        Op::Symlink { target, path } => v
            .symlink(target.as_bytes(), root, path.as_bytes())
            .map(|_| Out::Unit),
        Op::Readdir { path } => {
            let opts = OpenOptions {
                directory: true,
                ..OPEN
            };
            let id = v.open(root, path.as_bytes(), opts)?;
            let r = v.readdir(id, 0);
            v.release(id);
            let mut list: Vec<_> = r?
                .into_iter()
                .filter(|(_, n, _, _)| &**n != "." && &**n != "..")
                .map(|(_, n, _, t)| (n.to_string(), t))
                .collect();
            list.sort_by(|x, y| x.0.cmp(&y.0));
            Ok(Out::List(list))
        }
        Op::Stat { path, follow } => {
            let st = v.stat(root, path.as_bytes(), *follow)?;
            let size = (st.filetype != FileType::Directory).then_some(st.size);
            Ok(Out::Stat(st.filetype, st.nlink, size))
        }
    }
}

fn stat_out(st: &Stat) -> Out {
    let size = (st.filetype != FileType::Directory).then_some(st.size);
    Out::Stat(st.filetype, st.nlink, size)
}

fn list_out(list: Vec<strata::vfs::memfs::DirEntry>) -> Out {
    let mut list: Vec<_> = list
        .into_iter()
        .filter(|(_, n, _, _)| &**n != "." && &**n != "..")
        .map(|(_, n, _, t)| (n.to_string(), t))
        .collect();
    list.sort_by(|x, y| x.0.cmp(&y.0));
    Out::List(list)
}

/// An operation through a kept vfs handle.
fn run_vfs_fd(v: &mut Vfs, id: NodeId, op: &FdOp) -> Result<Out, Errno> {
    match op {
        FdOp::Write { offset, data } => v.write(id, *offset, data).map(|_| Out::Unit),
        FdOp::Read => read_all(v, id).map(Out::Bytes),
        FdOp::Stat => v.stat_node(id).map(|st| stat_out(&st)),
        FdOp::Truncate { size } => v.set_size(id, *size).map(|_| Out::Unit),
        FdOp::Readdir => v.readdir(id, 0).map(list_out),
        FdOp::Mkdir { name } => v.mkdir(id, name.as_bytes()).map(|_| Out::Unit),
        FdOp::Create { name } => {
            let opts = OpenOptions {
                create: true,
                ..OPEN
            };
            let f = v.open(id, name.as_bytes(), opts)?;
            v.release(f);
            Ok(Out::Unit)
        }
        FdOp::Unlink { name } => v.unlink(id, name.as_bytes()).map(|_| Out::Unit),
    }
}

fn read_all(v: &Vfs, id: NodeId) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = v.read(id, out.len() as u64, &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The host side: a temporary directory reached only through `openat2(RESOLVE_BENEATH)` and
/// `*at` calls on a final component, so no symlink can lead the test outside it.
struct Host {
    dir: tempfile::TempDir,
    root: OwnedFd,
}

impl Host {
    fn new() -> Host {
        let dir = scratch_dir();
        let root = open_dir(dir.path());
        Host { dir, root }
    }

    fn open(&self, path: &str, flags: i32) -> Result<OwnedFd, Errno> {
        kernel::openat2(self.root.as_raw_fd(), path.as_bytes(), flags, 0o644)
            .map_err(kernel::wasi_errno)
    }

    /// The directory holding the final component of `path`, and that component (with its
    /// trailing slashes, which the `*at` calls interpret). A final `.` or `..` is checked for
    /// an escape first, as strata resolves the whole path.
    fn parent(&self, path: &str) -> Result<(OwnedFd, CString), Errno> {
        let trimmed = path.trim_end_matches('/');
        let (dir, last) = match trimmed.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (".", path),
        };
        let dir = if dir.is_empty() { "/" } else { dir };
        let fd = self.open(dir, libc::O_PATH | libc::O_DIRECTORY)?;
        let name = last.trim_end_matches('/');
        if (name == "." || name == "..")
            && matches!(
                self.open(path, libc::O_PATH | libc::O_NOFOLLOW),
                Err(Errno::Perm)
            )
        {
            return Err(Errno::Perm);
        }
        Ok((fd, CString::new(last).unwrap()))
    }

    /// A kept handle: read-write for a file, read-only for a directory.
    fn open_handle(&self, path: &str) -> Result<(OwnedFd, bool), Errno> {
        match self.open(path, libc::O_RDWR) {
            Err(Errno::Isdir) => Ok((self.open(path, libc::O_RDONLY | libc::O_DIRECTORY)?, true)),
            r => Ok((r?, false)),
        }
    }

    fn run_fd(&self, fd: &OwnedFd, is_dir: bool, op: &FdOp) -> Result<Out, Errno> {
        use kernel::{check, io};
        // SAFETY (all calls below): a live descriptor, C strings, valid buffers.
        let file = || std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) });
        match op {
            // The vfs has no access modes (the syscall layer checks rights), so data
            // operations on a directory are EISDIR there; a read-only directory fd would
            // say EBADF, so the host is not asked.
            FdOp::Write { .. } | FdOp::Truncate { .. } if is_dir => Err(Errno::Isdir),
            FdOp::Write { offset, data } => {
                let f = file();
                let at = match offset {
                    Some(o) => *o,
                    None => f.metadata().map_err(io)?.len(),
                };
                f.write_all_at(data, at).map_err(io)?;
                Ok(Out::Unit)
            }
            FdOp::Truncate { size } => {
                file().set_len(*size).map_err(io)?;
                Ok(Out::Unit)
            }
            FdOp::Read => {
                let f = file();
                let mut out = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = f.read_at(&mut buf, out.len() as u64).map_err(io)?;
                    if n == 0 {
                        return Ok(Out::Bytes(out));
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            }
            FdOp::Stat => {
                let st = kernel::fstat(fd);
                let ft = kernel::filetype(st.st_mode);
                let size = (ft != FileType::Directory).then_some(st.st_size as u64);
                Ok(Out::Stat(ft, st.st_nlink, size))
            }
            FdOp::Readdir => read_dir_fd(fd),
            FdOp::Mkdir { name } => {
                let c = CString::new(*name).unwrap();
                check(unsafe { libc::mkdirat(fd.as_raw_fd(), c.as_ptr(), 0o755) })?;
                Ok(Out::Unit)
            }
            FdOp::Create { name } => {
                kernel::openat2(
                    fd.as_raw_fd(),
                    name.as_bytes(),
                    libc::O_CREAT | libc::O_RDWR,
                    0o644,
                )
                .map_err(kernel::wasi_errno)?;
                Ok(Out::Unit)
            }
            FdOp::Unlink { name } => {
                let c = CString::new(*name).unwrap();
                check(unsafe { libc::unlinkat(fd.as_raw_fd(), c.as_ptr(), 0) })?;
                Ok(Out::Unit)
            }
        }
    }

    fn run(&self, op: &Op) -> Result<Out, Errno> {
        use kernel::{check, io};
        match op {
            Op::Open { .. } | Op::Close { .. } | Op::Fd { .. } => unreachable!("handle ops"),
            Op::Create { path, excl, trunc } => {
                let mut flags = libc::O_CREAT | libc::O_RDWR;
                if *excl {
                    flags |= libc::O_EXCL;
                }
                if *trunc {
                    flags |= libc::O_TRUNC;
                }
                self.open(path, flags)?;
                Ok(Out::Unit)
            }
            Op::Write { path, offset, data } => {
                let append = if offset.is_none() { libc::O_APPEND } else { 0 };
                let mut f = File::from(self.open(path, libc::O_WRONLY | append)?);
                match offset {
                    Some(o) => f.write_all_at(data, *o),
                    None => f.write_all(data),
                }
                .map_err(io)?;
                Ok(Out::Unit)
            }
            Op::Truncate { path, size } => {
                let f = File::from(self.open(path, libc::O_WRONLY)?);
                f.set_len(*size).map_err(io)?;
                Ok(Out::Unit)
            }
            Op::Read { path } => {
                let mut f = File::from(self.open(path, libc::O_RDONLY)?);
                let mut v = Vec::new();
                f.read_to_end(&mut v).map_err(io)?;
                Ok(Out::Bytes(v))
            }
            Op::Mkdir { path } => {
                let (d, name) = self.parent(path)?;
                // SAFETY: a live descriptor and a C string.
                check(unsafe { libc::mkdirat(d.as_raw_fd(), name.as_ptr(), 0o755) })?;
                Ok(Out::Unit)
            }
            Op::Rmdir { path } | Op::Unlink { path } => {
                let flags = if matches!(op, Op::Rmdir { .. }) {
                    libc::AT_REMOVEDIR
                } else {
                    0
                };
                let (d, name) = self.parent(path)?;
                // SAFETY: as above.
                check(unsafe { libc::unlinkat(d.as_raw_fd(), name.as_ptr(), flags) })?;
                Ok(Out::Unit)
            }
            Op::Rename { from, to } => {
                let (d1, n1) = self.parent(from)?;
                let (d2, n2) = self.parent(to)?;
                // SAFETY: as above.
                check(unsafe {
                    libc::renameat(d1.as_raw_fd(), n1.as_ptr(), d2.as_raw_fd(), n2.as_ptr())
                })?;
                Ok(Out::Unit)
            }
            Op::Link { from, to, follow } => {
                // The source is resolved beneath the root first (a symlink must not be
                // followed out of it), then linked by descriptor. Through its /proc magic
                // link with AT_SYMLINK_FOLLOW, which needs no privilege (AT_EMPTY_PATH
                // needs CAP_DAC_READ_SEARCH); for an O_PATH fd on a symlink it links the
                // symlink itself (open(2)).
                let nofollow = if *follow { 0 } else { libc::O_NOFOLLOW };
                let src = self.open(from, libc::O_PATH | nofollow)?;
                let (d, name) = self.parent(to)?;
                let proc_path = CString::new(format!("/proc/self/fd/{}", src.as_raw_fd())).unwrap();
                // SAFETY: as above.
                check(unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        proc_path.as_ptr(),
                        d.as_raw_fd(),
                        name.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                })?;
                Ok(Out::Unit)
            }
            Op::Symlink { target, path } => {
                let (d, name) = self.parent(path)?;
                let t = CString::new(target.as_str()).unwrap();
                // SAFETY: as above.
                check(unsafe { libc::symlinkat(t.as_ptr(), d.as_raw_fd(), name.as_ptr()) })?;
                Ok(Out::Unit)
            }
            Op::Readdir { path } => {
                read_dir_fd(&self.open(path, libc::O_RDONLY | libc::O_DIRECTORY)?)
            }
            Op::Stat { path, follow } => {
                let nofollow = if *follow { 0 } else { libc::O_NOFOLLOW };
                let st = kernel::fstat(&self.open(path, libc::O_PATH | nofollow)?);
                let ft = kernel::filetype(st.st_mode);
                let size = (ft != FileType::Directory).then_some(st.st_size as u64);
                Ok(Out::Stat(ft, st.st_nlink, size))
            }
        }
    }
}

/// The entries of the directory open as `fd` (through its /proc magic link, which works
/// even once the directory is removed), sorted by name.
fn read_dir_fd(fd: &OwnedFd) -> Result<Out, Errno> {
    use kernel::io;
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let mut list = Vec::new();
    for e in std::fs::read_dir(proc_path).map_err(io)? {
        let e = e.map_err(io)?;
        let t = e.file_type().map_err(io)?;
        let ft = if t.is_dir() {
            FileType::Directory
        } else if t.is_symlink() {
            FileType::SymbolicLink
        } else {
            FileType::RegularFile
        };
        list.push((e.file_name().into_string().unwrap(), ft));
    }
    list.sort_by(|x, y| x.0.cmp(&y.0));
    Ok(Out::List(list))
}

/// One entry of a whole-tree snapshot: type, link count, and contents or target.
type Snap = BTreeMap<String, (FileType, u64, Vec<u8>)>;

fn snapshot_vfs(v: &Vfs, dir: NodeId, prefix: &str, out: &mut Snap) {
    for (_, name, _, _) in v.readdir(dir, 2).unwrap() {
        let id = v.lookup(dir, name.as_bytes(), false).unwrap();
        let st = v.stat_node(id).unwrap();
        let path = format!("{prefix}{name}");
        let data = match st.filetype {
            FileType::RegularFile => read_all(v, id).unwrap(),
            FileType::SymbolicLink => v
                .readlink(dir, name.as_bytes())
                .unwrap()
                .as_bytes()
                .to_vec(),
            _ => Vec::new(),
        };
        out.insert(path.clone(), (st.filetype, st.nlink, data));
        if st.filetype == FileType::Directory {
            snapshot_vfs(v, id, &format!("{path}/"), out);
        }
    }
}

/// Inode numbers reachable from `dir` (itself included), hard links counted once.
fn reachable_inodes(v: &Vfs, dir: NodeId) -> HashSet<u64> {
    let mut seen = HashSet::from([dir.ino]);
    let mut queue = VecDeque::from([dir]);
    while let Some(d) = queue.pop_front() {
        for (_, _, ino, ft) in v.readdir(d, 2).unwrap() {
            if seen.insert(ino) && ft == FileType::Directory {
                queue.push_back(NodeId { fs: d.fs, ino });
            }
        }
    }
    seen
}

/// The host tree, walked without following any symlink.
fn snapshot_host(dir: &Path, prefix: &str, out: &mut Snap) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        let ft = kernel::filetype(md.mode());
        let path = format!("{prefix}{name}");
        let data = match ft {
            FileType::RegularFile => std::fs::read(e.path()).unwrap(),
            FileType::SymbolicLink => std::fs::read_link(e.path())
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec(),
            _ => Vec::new(),
        };
        out.insert(path.clone(), (ft, md.nlink(), data));
        if ft == FileType::Directory {
            snapshot_host(&e.path(), &format!("{path}/"), out);
        }
    }
}

#[test]
fn operations_agree_with_a_real_directory() {
    if !kernel::has_openat2() {
        eprintln!(
            "SKIPPED operations_agree_with_a_real_directory: the kernel has no openat2 \
             (ENOSYS), so the host side could not be kept inside its directory"
        );
        return;
    }
    // Outcome counts, printed at the end, to show the sequences do reach deep states.
    let outcomes = std::sync::Mutex::new(BTreeMap::<String, u64>::new());
    let ops = prop::collection::vec(model_op(), 1..60);
    run(ops, |ops| {
        let mut v = Vfs::new(clock());
        let root = v.root();
        let host = Host::new();
        // Halfway, fork the filesystem (O(1), copy-on-write): whatever follows must leave
        // the fork as it was.
        let mut fork: Option<(Vfs, Snap)> = None;
        // Handles kept open on both sides: (vfs node, host fd, is a directory).
        let mut handles: Vec<(NodeId, OwnedFd, bool)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if i == ops.len() / 2 {
                let copy = Vfs::with_root(v.fs(root).unwrap().fork(), clock());
                let mut snap = Snap::new();
                snapshot_vfs(&copy, copy.root(), "", &mut snap);
                fork = Some((copy, snap));
            }
            let (ours, theirs) = match op {
                Op::Open { path } => {
                    let ours = v.open(root, path.as_bytes(), OPEN);
                    let theirs = host.open_handle(path);
                    let out = (
                        ours.map(|_| Out::Unit),
                        theirs.as_ref().map(|_| Out::Unit).map_err(|e| *e),
                    );
                    match (ours, theirs) {
                        (Ok(id), Ok((fd, is_dir))) => handles.push((id, fd, is_dir)),
                        (Ok(id), Err(_)) => v.release(id),
                        _ => {}
                    }
                    out
                }
                Op::Close { handle } => {
                    if !handles.is_empty() {
                        let (id, _fd, _) = handles.remove(handle.index(handles.len()));
                        v.release(id);
                    }
                    continue;
                }
                Op::Fd { handle, op: fd_op } => {
                    if handles.is_empty() {
                        continue;
                    }
                    let (id, fd, is_dir) = &handles[handle.index(handles.len())];
                    (
                        run_vfs_fd(&mut v, *id, fd_op),
                        host.run_fd(fd, *is_dir, fd_op),
                    )
                }
                _ => (run_vfs(&mut v, root, op), host.run(op)),
            };
            let kind = format!("{op:?}");
            let kind = kind.split_whitespace().next().unwrap_or("");
            let key = match &ours {
                Ok(_) => format!("{kind} ok"),
                Err(e) => format!("{kind} {e}"),
            };
            *outcomes.lock().unwrap().entry(key).or_default() += 1;
            prop_assert_eq!(ours, theirs, "op #{}: {:?}", i, op);
            if let Err(e) = check_invariants(&v) {
                prop_assert!(false, "op #{}: {:?}: {}", i, op, e);
            }
        }
        let (mut a, mut b) = (Snap::new(), Snap::new());
        snapshot_vfs(&v, root, "", &mut a);
        snapshot_host(host.dir.path(), "", &mut b);
        prop_assert_eq!(a, b, "trees differ at the end");
        let root_links = v.stat_node(root).unwrap().nlink;
        let host_links = std::fs::metadata(host.dir.path()).unwrap().nlink();
        prop_assert_eq!(root_links, host_links);
        let (copy, snap) = fork.expect("forked halfway");
        let mut now = Snap::new();
        snapshot_vfs(&copy, copy.root(), "", &mut now);
        prop_assert_eq!(snap, now, "the fork changed");
        // Once every handle is closed, exactly the reachable inodes are alive: nothing leaks,
        // nothing reachable was freed.
        for (id, _, _) in handles.drain(..) {
            v.release(id);
        }
        let reachable = reachable_inodes(&v, root);
        prop_assert_eq!(v.fs(root).unwrap().inode_count(), reachable.len());
        Ok(())
    });
    eprintln!("model outcomes: {:?}", outcomes.lock().unwrap());
}
