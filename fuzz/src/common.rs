//! Pieces shared by the targets: names and paths built from fuzzer bytes, the structural
//! check of a filesystem, and a canonical form of a tree for comparing two of them.
//!
//! Like every module of this crate it uses only `strata`, `std`, `arbitrary`, `bytes`, `flate2`
//! and `tar`, so `tests/fuzz_replay.rs` in the main crate can include it as it is.

use arbitrary::Arbitrary;
use std::collections::{HashMap, HashSet};
use strata::vfs::dir::Ino;
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::node::NodeKind;
use strata::vfs::{FileType, MemFs};

/// One name: from the target's alphabet (most of the time), at the `NAME_MAX` boundary, or
/// free text.
#[derive(Arbitrary, Clone, Debug)]
pub enum Name {
    Pick(u8),
    /// 255 bytes, or 256 with `true` (one more than a component may have).
    Long(bool),
    Text(String),
}

impl Name {
    pub fn render(&self, names: &[&str]) -> String {
        match self {
            Name::Pick(i) => names[*i as usize % names.len()].to_string(),
            Name::Long(over) => "n".repeat(if *over { 256 } else { 255 }),
            Name::Text(s) => s.chars().take(40).collect(),
        }
    }

    /// As `render`, but always a name a directory may hold.
    pub fn render_valid(&self, names: &[&str]) -> String {
        let s = self.render(names);
        if valid_name(&s) { s } else { "z".to_string() }
    }
}

/// What a directory entry may be called: not empty, `.` or `..`, no `/` or NUL, at most 255
/// bytes.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0']) && s.len() <= 255
}

/// One component of a structured path.
#[derive(Arbitrary, Clone, Debug)]
pub enum Part {
    Name(Name),
    Dot,
    DotDot,
    /// Nothing between two slashes (`a//b`).
    Empty,
    /// A run of `a`s of this length modulo 4200 (component and path length limits).
    Long(u16),
}

/// A path: mostly components from an alphabet, sometimes raw bytes (NUL, not UTF-8, ...).
#[derive(Arbitrary, Clone, Debug)]
pub enum PathArg {
    Parts {
        absolute: bool,
        parts: Vec<Part>,
        /// Trailing slashes: `trailing % 3` of them.
        trailing: u8,
    },
    Raw(Vec<u8>),
}

impl PathArg {
    pub fn render(&self, names: &[&str]) -> Vec<u8> {
        match self {
            PathArg::Raw(b) => b.clone(),
            PathArg::Parts {
                absolute,
                parts,
                trailing,
            } => {
                let mut s = String::new();
                if *absolute {
                    s.push('/');
                }
                for (i, p) in parts.iter().take(64).enumerate() {
                    if i > 0 {
                        s.push('/');
                    }
                    match p {
                        Part::Name(n) => s.push_str(&n.render(names)),
                        Part::Dot => s.push('.'),
                        Part::DotDot => s.push_str(".."),
                        Part::Empty => {}
                        Part::Long(n) => s.push_str(&"a".repeat(*n as usize % 4200)),
                    }
                }
                for _ in 0..trailing % 3 {
                    s.push('/');
                }
                s.into_bytes()
            }
        }
    }

    /// As `render`, as a string (a symlink target).
    pub fn render_str(&self, names: &[&str]) -> String {
        String::from_utf8_lossy(&self.render(names)).into_owned()
    }
}

/// Checks the structural invariants of one filesystem: starting from its root, every entry
/// has a valid name and names a live node; every directory is reached once (no cycles, no
/// directory hard links), is not marked removed, and its `parent` is the directory holding
/// it; link counts match the entries (plus `.` and subdirectories' `..` for directories);
/// every live node not reachable is held open (an unlinked open file or removed directory).
pub fn check_memfs(fs: &MemFs) -> Result<(), String> {
    let mut dirs: HashSet<Ino> = HashSet::new();
    let mut links: HashMap<Ino, u64> = HashMap::new();
    let mut todo = vec![ROOT_INO];
    dirs.insert(ROOT_INO);
    let root = fs.dir(ROOT_INO).map_err(|e| format!("root: {e:?}"))?;
    if root.parent != ROOT_INO {
        return Err(format!("the root's parent is {}", root.parent));
    }
    while let Some(dir) = todo.pop() {
        let d = fs.dir(dir).map_err(|e| format!("dir {dir}: {e:?}"))?;
        if d.removed {
            return Err(format!("reachable directory {dir} is marked removed"));
        }
        let mut subdirs = 0u64;
        for (name, ino) in d.entries.iter() {
            if !valid_name(name) {
                return Err(format!("invalid name {name:?} in directory {dir}"));
            }
            let node = fs
                .node(ino)
                .map_err(|e| format!("{name:?} in {dir} names dead inode {ino}: {e:?}"))?;
            if let NodeKind::Dir(child) = &node.kind {
                subdirs += 1;
                if !dirs.insert(ino) {
                    return Err(format!("directory {ino} ({name:?}) reached twice"));
                }
                if child.parent != dir {
                    return Err(format!(
                        "directory {ino} ({name:?}) is in {dir} but its parent is {}",
                        child.parent
                    ));
                }
                todo.push(ino);
            } else {
                *links.entry(ino).or_default() += 1;
            }
        }
        let nlink = fs.node(dir).map_err(|e| format!("{e:?}"))?.nlink;
        if nlink != 2 + subdirs {
            return Err(format!(
                "directory {dir} has nlink {nlink} with {subdirs} subdirectories"
            ));
        }
    }
    for (&ino, &n) in &links {
        let nlink = fs.node(ino).map_err(|e| format!("{e:?}"))?.nlink;
        if nlink != n {
            return Err(format!("inode {ino} has nlink {nlink} but {n} entries"));
        }
    }
    for (ino, node) in fs.nodes() {
        if dirs.contains(&ino) || links.contains_key(&ino) {
            continue;
        }
        if fs.open_count(ino) == 0 {
            return Err(format!(
                "inode {ino} ({:?}) is live but neither reachable nor open",
                node.file_type()
            ));
        }
        let orphan = match &node.kind {
            NodeKind::Dir(d) => d.removed,
            _ => node.nlink == 0,
        };
        if !orphan {
            return Err(format!("unreachable open inode {ino} still counts links"));
        }
    }
    Ok(())
}

/// Largest file whose contents `canonical` compares (beyond it: only the size).
pub const CANON_MAX_DATA: u64 = 4 << 20;

/// One entry of a tree in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canon {
    pub path: String,
    pub kind: FileType,
    pub nlink: u64,
    pub size: u64,
    /// Permission bits, when asked for.
    pub mode: Option<u32>,
    /// Modification time, when asked for.
    pub mtime: Option<u64>,
    /// File contents (up to `CANON_MAX_DATA`) or symlink target.
    pub data: Vec<u8>,
    /// For a non-directory seen before under another path: the index of that first entry.
    pub link_of: Option<usize>,
}

/// Which attributes `canonical` keeps besides type, link count, size and contents.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub mode: bool,
    pub mtime: bool,
}

/// Every attribute `canonical` can keep.
pub const ALL: Meta = Meta {
    mode: true,
    mtime: true,
};

/// The tree below `dir` (with `dir` itself first, as path `.`), entries sorted by name,
/// depth first, inode numbers replaced by "same as entry i".
pub fn canonical(fs: &MemFs, dir: Ino, meta: Meta) -> Vec<Canon> {
    let mut out = Vec::new();
    let mut first: HashMap<Ino, usize> = HashMap::new();
    canon_node(fs, dir, ".".to_string(), meta, &mut out, &mut first, 0);
    out
}

fn canon_node(
    fs: &MemFs,
    ino: Ino,
    path: String,
    meta: Meta,
    out: &mut Vec<Canon>,
    first: &mut HashMap<Ino, usize>,
    depth: usize,
) {
    let Ok(node) = fs.node(ino) else {
        out.push(Canon {
            path,
            kind: FileType::Unknown,
            nlink: 0,
            size: 0,
            mode: None,
            mtime: None,
            data: Vec::new(),
            link_of: None,
        });
        return;
    };
    let size = node.size();
    let data = match &node.kind {
        NodeKind::File(f) if f.len() <= CANON_MAX_DATA => {
            let mut buf = vec![0u8; f.len() as usize];
            let n = f.read_at(0, &mut buf);
            buf.truncate(n);
            buf
        }
        NodeKind::Symlink(t) => t.as_bytes().to_vec(),
        _ => Vec::new(),
    };
    let link_of = if node.is_dir() {
        None
    } else {
        first.get(&ino).copied()
    };
    if !node.is_dir() && link_of.is_none() {
        first.insert(ino, out.len());
    }
    out.push(Canon {
        path: path.clone(),
        kind: node.file_type(),
        nlink: node.nlink,
        size,
        mode: meta.mode.then_some(node.mode),
        mtime: meta.mtime.then_some(node.mtim),
        data,
        link_of,
    });
    if let NodeKind::Dir(d) = &node.kind {
        if depth > 4096 {
            return; // a cycle; `check_memfs` reports it
        }
        let mut entries: Vec<(String, Ino)> =
            d.entries.iter().map(|(n, i)| (n.to_string(), i)).collect();
        entries.sort();
        for (name, child) in entries {
            canon_node(
                fs,
                child,
                format!("{path}/{name}"),
                meta,
                out,
                first,
                depth + 1,
            );
        }
    }
}

/// The fuzzer's bytes decoded as `T` exactly as libfuzzer-sys's `fuzz_target!` decodes a
/// typed input (`None` where it skips the input: too short, or not decodable).
pub fn decode<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    if data.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(arbitrary::Unstructured::new(data)).ok()
}
