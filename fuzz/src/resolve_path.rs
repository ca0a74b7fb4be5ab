//! Target `resolve_path`: the confined resolver against a reference resolver.
//!
//! The fuzzer's bytes describe a namespace (a root filesystem of directories, files and
//! symlinks: relative, absolute, `..`-laden, dangling, looping; optionally image-like, whose
//! absolute symlinks resolve from the root; optionally forked; optionally a second filesystem
//! mounted on one of its directories), a base directory, a path (structured or raw bytes) and
//! a follow mode. Invariants:
//!
//! 1. the result lies inside the base's subtree (the node and the directory holding its
//!    entry), or is an error;
//! 2. it is exactly what `reference` says: the same errno, or the same node, entry and
//!    trailing-slash flag.
//!
//! `reference` is written from `/work/shared/spec/path-resolution.md` and the resolver's
//! documented extensions (errnos, `AbsoluteSymlinks::InRoot`) over a plain map from namespace path
//! to node, where mounts are simply the mounted tree at the mount point's path: no inodes, no
//! handles, symlink targets spliced into the remaining path text.

use crate::common::{Name, PathArg, decode};
use arbitrary::Arbitrary;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strata::vfs::dir::Ino;
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::{AbsoluteSymlinks, Errno, Follow, MemFs, NodeId, SteppingClock, Vfs};

const NAMES: &[&str] = &[
    "a", "b", "c", "d", "link", "loop", "x", "...", " ", ".hidden", "é", "a b",
];

#[derive(Arbitrary, Debug)]
pub struct Input {
    /// The root filesystem's absolute symlinks resolve from the root (an image).
    pub root_image: bool,
    /// Resolve in a fork of the built root filesystem (shared node table).
    pub fork: bool,
    pub entries: Vec<Entry>,
    pub mount: Option<Mount>,
    pub base: u8,
    pub follow: FollowArg,
    pub path: PathArg,
}

#[derive(Arbitrary, Debug)]
pub struct Mount {
    /// Index into the root filesystem's directories (not the root itself).
    pub at: u8,
    pub image: bool,
    pub entries: Vec<Entry>,
}

#[derive(Arbitrary, Debug)]
pub struct Entry {
    /// Index into the directories created so far.
    pub parent: u8,
    pub name: Name,
    pub kind: EntryKind,
}

#[derive(Arbitrary, Debug)]
pub enum EntryKind {
    Dir,
    File,
    Symlink(PathArg),
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowArg {
    Yes,
    No,
    Entry,
}

impl FollowArg {
    fn follow(self) -> Follow {
        match self {
            FollowArg::Yes => Follow::Yes,
            FollowArg::No => Follow::No,
            FollowArg::Entry => Follow::Entry,
        }
    }
}

/// Most entries per filesystem.
const MAX_ENTRIES: usize = 48;

/// A node of the reference tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    /// The target, and whether an absolute target resolves from the root (else `EPERM`).
    Symlink(String, bool),
}

/// The namespace as the reference sees it: path from the root → (kind, the real node there,
/// for comparing results).
pub type Tree = BTreeMap<Vec<String>, (Kind, NodeId)>;

/// Builds one filesystem (number `fs` in the namespace) from `entries`, recording its nodes in
/// `tree` by path from its root; returns it with its directories other than the root.
fn build_fs(fs: u32, image: bool, entries: &[Entry], tree: &mut Tree) -> (MemFs, Vec<Ino>) {
    let clock = Arc::new(SteppingClock::new(0, 1));
    let policy = if image {
        AbsoluteSymlinks::InRoot
    } else {
        AbsoluteSymlinks::Refuse
    };
    let mut m = MemFs::new(u64::from(fs) + 1, clock).with_absolute_symlinks(policy);
    let id = |ino| NodeId { fs, ino };
    tree.insert(Vec::new(), (Kind::Dir, id(ROOT_INO)));
    let mut dirs: Vec<(Ino, Vec<String>)> = vec![(ROOT_INO, Vec::new())];
    for e in entries.iter().take(MAX_ENTRIES) {
        let (parent, ppath) = dirs[e.parent as usize % dirs.len()].clone();
        let name = e.name.render_valid(NAMES);
        let mut path = ppath;
        path.push(name.clone());
        let made = match &e.kind {
            EntryKind::Dir => m.mkdir(parent, &name, 0o755).map(|ino| (ino, Kind::Dir)),
            EntryKind::File => m
                .create_file(parent, &name, 0o644)
                .map(|ino| (ino, Kind::File)),
            EntryKind::Symlink(t) => {
                // Any string, even empty or absolute: images may hold such links.
                let target = t.render_str(NAMES);
                m.symlink(parent, &name, &target)
                    .map(|ino| (ino, Kind::Symlink(target, image)))
            }
        };
        if let Ok((ino, kind)) = made {
            if kind == Kind::Dir {
                dirs.push((ino, path.clone()));
            }
            tree.insert(path, (kind, id(ino)));
        }
    }
    let dirs = dirs.into_iter().skip(1).map(|(ino, _)| ino).collect();
    (m, dirs)
}

/// What the reference resolver finds: paths instead of nodes.
#[derive(Debug)]
pub struct RefResolved {
    pub node: Option<Vec<String>>,
    pub entry: Option<(Vec<String>, String)>,
    pub trailing_slash: bool,
}

/// Resolves `path` beneath `base` in `tree`, following the WASI sandboxing rules:
/// components one at a time; `..` goes back up the directories actually walked and may never
/// leave `base`; a symlink met on the way (or last, when followed) has its target spliced in
/// front of what remains of the path; absolute paths and absolute targets are refused,
/// except targets of links in image-like filesystems, which restart from the root: the walk
/// may then pass outside `base` but must end inside it. Errnos as Linux: empty path `ENOENT`,
/// NUL `EINVAL`, 4096 bytes or more `ENAMETOOLONG`, not UTF-8 `EILSEQ`, escapes `EPERM`, a
/// component over 255 bytes `ENAMETOOLONG`, a missing intermediate `ENOENT`, a file as a
/// directory `ENOTDIR`, more than 40 link expansions `ELOOP`, an empty target `ENOENT`.
pub fn reference(
    tree: &Tree,
    base: &[String],
    path: &[u8],
    follow: Follow,
) -> Result<RefResolved, Errno> {
    if path.is_empty() {
        return Err(Errno::Noent);
    }
    if path.contains(&0) {
        return Err(Errno::Inval);
    }
    if path.len() >= 4096 {
        return Err(Errno::Nametoolong);
    }
    let path = std::str::from_utf8(path).map_err(|_| Errno::Ilseq)?;
    if path.starts_with('/') {
        return Err(Errno::Perm);
    }
    let mut walk = Walk {
        cwd: base.to_vec(),
        floor: base.to_vec(),
        from_root: false,
        expansions: 0,
        trailing_slash: false,
    };
    let result = walk.run(tree, path.to_string(), follow);
    if !walk.from_root {
        return result;
    }
    // After an absolute image link: confined by where the walk ended.
    let beneath = walk.cwd.starts_with(base);
    match result {
        Ok(r) if beneath => Ok(r),
        Ok(r) if r.node.as_deref() == Some(base) => Ok(RefResolved { entry: None, ..r }),
        Err(e) if beneath => Err(e),
        _ => Err(Errno::Perm),
    }
}

struct Walk {
    /// The directory the walk stands in.
    cwd: Vec<String>,
    /// Where `..` may not go above: the base, or the root after an absolute image link.
    floor: Vec<String>,
    from_root: bool,
    expansions: u32,
    trailing_slash: bool,
}

impl Walk {
    fn run(&mut self, tree: &Tree, mut text: String, follow: Follow) -> Result<RefResolved, Errno> {
        loop {
            let t = text.trim_start_matches('/');
            if t.is_empty() {
                // Ended in `.`, `..` or a followed link to a directory: the directory itself.
                return Ok(RefResolved {
                    node: Some(self.cwd.clone()),
                    entry: None,
                    trailing_slash: self.trailing_slash,
                });
            }
            let (comp, rest) = t.split_at(t.find('/').unwrap_or(t.len()));
            let last = rest.bytes().all(|b| b == b'/');
            if last {
                self.trailing_slash = !rest.is_empty();
            }
            match comp {
                "." => {}
                ".." if self.cwd == self.floor => {
                    if !self.from_root {
                        return Err(Errno::Perm);
                    }
                }
                ".." => {
                    self.cwd.pop();
                }
                name => {
                    if name.len() > 255 {
                        return Err(Errno::Nametoolong);
                    }
                    let mut child = self.cwd.clone();
                    child.push(name.to_string());
                    let found = || RefResolved {
                        node: Some(child.clone()),
                        entry: Some((self.cwd.clone(), name.to_string())),
                        trailing_slash: self.trailing_slash,
                    };
                    match tree.get(&child).map(|(k, _)| k) {
                        None if last => {
                            return Ok(RefResolved {
                                node: None,
                                ..found()
                            });
                        }
                        None => return Err(Errno::Noent),
                        Some(Kind::Symlink(target, in_root)) => {
                            let expand = !last
                                || follow == Follow::Yes
                                || (follow == Follow::No && self.trailing_slash);
                            if !expand {
                                return Ok(found());
                            }
                            self.expansions += 1;
                            if self.expansions > 40 {
                                return Err(Errno::Loop);
                            }
                            if target.is_empty() {
                                return Err(Errno::Noent);
                            }
                            if target.starts_with('/') {
                                if !in_root {
                                    return Err(Errno::Perm);
                                }
                                self.from_root = true;
                                self.cwd.clear();
                                self.floor.clear();
                            }
                            text = format!("{target}{rest}");
                            continue;
                        }
                        Some(Kind::File) => {
                            if !last || (self.trailing_slash && follow != Follow::Entry) {
                                return Err(Errno::Notdir);
                            }
                            return Ok(found());
                        }
                        Some(Kind::Dir) if last => return Ok(found()),
                        Some(Kind::Dir) => self.cwd = child,
                    }
                }
            }
            text = rest.to_string();
        }
    }
}

pub fn run(data: &[u8]) {
    if let Some(input) = decode::<Input>(data) {
        check(&input);
    }
}

/// What kind of case `data` is (for picking diverse seeds): the outcome and the setting.
pub fn features(data: &[u8]) -> Vec<String> {
    decode::<Input>(data).map_or_else(Vec::new, |input| vec![check(&input)])
}

/// Checks one input; returns a short description of the case.
pub fn check(input: &Input) -> String {
    let mut tree = Tree::new();
    let (mut root, dirs) = build_fs(0, input.root_image, &input.entries, &mut tree);
    if input.fork {
        root.freeze();
        root = root.fork();
    }
    let clock = Arc::new(SteppingClock::new(0, 1));
    let mut vfs = Vfs::with_root(root, clock);
    if let Some(m) = &input.mount
        && !dirs.is_empty()
    {
        let at = NodeId {
            fs: 0,
            ino: dirs[m.at as usize % dirs.len()],
        };
        let mut sub = Tree::new();
        let (fs, _) = build_fs(1, m.image, &m.entries, &mut sub);
        let root = vfs.mount(at, fs).expect("mounting on a directory");
        assert_eq!(
            root,
            NodeId {
                fs: 1,
                ino: ROOT_INO
            }
        );
        // The mount point's path now shows the mounted tree; what was below it is hidden.
        let point = tree
            .iter()
            .find(|(_, (_, id))| *id == at)
            .map(|(p, _)| p.clone())
            .expect("the mount point is in the tree");
        tree.retain(|p, _| !p.starts_with(&point));
        for (p, node) in sub {
            let mut full = point.clone();
            full.extend(p);
            tree.insert(full, node);
        }
    }
    let dir_paths: Vec<&Vec<String>> = tree
        .iter()
        .filter(|(_, (k, _))| *k == Kind::Dir)
        .map(|(p, _)| p)
        .collect();
    let base_path = dir_paths[input.base as usize % dir_paths.len()].clone();
    let base = tree[&base_path].1;
    let path = input.path.render(NAMES);
    let follow = input.follow.follow();

    let real = vfs.resolve(base, &path, follow);
    let expected = reference(&tree, &base_path, &path, follow);
    let shown = String::from_utf8_lossy(&path);

    // 1. Confinement, judged from where each node sits in the namespace.
    let paths: HashMap<NodeId, &Vec<String>> = tree.iter().map(|(p, (_, id))| (*id, p)).collect();
    let inside = |id: NodeId, what: &str| {
        let p = paths.get(&id).unwrap_or_else(|| {
            panic!("{what} {id:?} of {shown:?} from {base_path:?} is not a visible node")
        });
        assert!(
            p.starts_with(&base_path),
            "{what} {p:?} of {shown:?} is outside the base {base_path:?}"
        );
    };
    if let Ok(r) = &real {
        if let Some(node) = r.node {
            inside(node, "node");
        }
        if let Some((dir, _)) = &r.entry {
            inside(*dir, "entry directory");
        }
    }

    // 2. The reference.
    let real = real.map(|r| {
        (
            r.node,
            r.entry.map(|(d, n)| (d, n.to_string())),
            r.trailing_slash,
        )
    });
    let expected = expected.map(|r| {
        (
            r.node.map(|p| tree[&p].1),
            r.entry.map(|(p, n)| (tree[&p].1, n)),
            r.trailing_slash,
        )
    });
    assert_eq!(
        real, expected,
        "resolving {shown:?} ({follow:?}) from {base_path:?} in {tree:?}"
    );
    let outcome = match &real {
        Ok((Some(_), Some(_), t)) => format!("node+entry/{t}"),
        Ok((Some(_), None, t)) => format!("node/{t}"),
        Ok((None, _, t)) => format!("new/{t}"),
        Err(e) => format!("{e:?}"),
    };
    let deep = base_path.len().min(2);
    let mount = input.mount.as_ref().map(|m| m.image);
    let slash = path.ends_with(b"/");
    let dotdot = path.windows(2).any(|w| w == b"..");
    format!(
        "{outcome} {follow:?} image={} mount={mount:?} fork={} depth={deep} slash={slash} dotdot={dotdot}",
        input.root_image, input.fork
    )
}
