//! The confined path resolver: (base directory, relative path) to node, walked one component
//! at a time over node handles, never by rewriting the path text. For every byte string the
//! result lies beneath the base or is an error, and no step ever stands above the base. It
//! sees the namespace only through `Lookup`, which `Vfs` implements.

#![forbid(unsafe_code)]

use super::dir::Ino;
use super::error::{Errno, Result};
use super::node::{Node, NodeId, NodeKind};
use std::sync::Arc;

/// Most symlink expansions in one resolution, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_EXPANSIONS: u32 = 40;
/// Longest path the guest may pass, as Linux's `PATH_MAX` (including the terminator there).
pub const MAX_PATH: usize = 4096;
/// Longest single component, as Linux's `NAME_MAX`.
pub const MAX_NAME: usize = 255;

/// What resolution does with a symlink whose target is absolute (`/usr/bin/python3.12`): a
/// property of the filesystem holding the link, given when it is made
/// (`MemFs::with_absolute_symlinks`). A guest can never create an absolute symlink
/// (`Vfs::symlink` refuses), so this only matters for trees made on the host side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AbsoluteSymlinks {
    /// Following one fails with `EPERM`, as an absolute path does.
    #[default]
    Refuse,
    /// The target resolves from the namespace root, as under `openat2(RESOLVE_IN_ROOT)`; the
    /// resolution must still end beneath its base. For images and host trees, which are full
    /// of links like `/usr/bin/python3 -> /usr/bin/python3.12`.
    InRoot,
}

/// Whether the final component is followed when it is a symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Always (`LOOKUPFLAGS_SYMLINK_FOLLOW`).
    Yes,
    /// Only when a trailing slash demands a directory (POSIX `lstat("link/")`, `O_NOFOLLOW`).
    No,
    /// Never: the caller acts on the directory entry itself (unlink, rmdir, rename, ...).
    /// A trailing slash is reported in `Resolved::trailing_slash` but not checked against the
    /// final node, since each operation answers it differently (`mkdir("file/")` is
    /// `EEXIST`, `unlink("file/")` `ENOTDIR`, `rename` looks at both paths first).
    Entry,
}

/// What a path names.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The node reached, `None` if the final component does not exist (its parent does).
    pub node: Option<NodeId>,
    /// The directory entry holding the final component, absent when the path ends in `.` or
    /// `..` (or is only slashes and dots).
    pub entry: Option<(NodeId, Arc<str>)>,
    /// The path ended in `/`, so the node must be (or be created as) a directory.
    pub trailing_slash: bool,
}

// Each refusal is named by its reason, so that every error site in the walk reads as the rule
// it enforces; `#[cold]` keeps them out of the hot loop. The errnos are Linux's for the same
// case, except that an escape is `EPERM` where `openat2(RESOLVE_BENEATH)` says `EXDEV`.

/// An empty path names nothing (`ENOENT`).
#[cold]
fn empty_path() -> Errno {
    Errno::Noent
}

/// A NUL byte would cut the path short in any C string (`EINVAL`).
#[cold]
fn nul_in_path() -> Errno {
    Errno::Inval
}

/// The path is `MAX_PATH` bytes or longer (`ENAMETOOLONG`).
#[cold]
fn path_too_long() -> Errno {
    Errno::Nametoolong
}

/// One component is longer than `MAX_NAME` (`ENAMETOOLONG`).
#[cold]
fn name_too_long() -> Errno {
    Errno::Nametoolong
}

/// Names are UTF-8 strings in WASI (`EILSEQ`).
#[cold]
fn not_utf8() -> Errno {
    Errno::Ilseq
}

/// An absolute path would start outside every base (`EPERM`).
#[cold]
fn absolute_path() -> Errno {
    Errno::Perm
}

/// An absolute symlink target, in a filesystem whose policy refuses them (`EPERM`).
#[cold]
fn absolute_symlink() -> Errno {
    Errno::Perm
}

/// A step above the base, or a result (or failure) outside it (`EPERM`).
#[cold]
fn escape_attempt() -> Errno {
    Errno::Perm
}

/// More than `MAX_SYMLINK_EXPANSIONS` symlinks expanded (`ELOOP`).
#[cold]
fn too_many_symlinks() -> Errno {
    Errno::Loop
}

/// A symlink with an empty target names nothing (`ENOENT`, as Linux).
#[cold]
fn empty_symlink_target() -> Errno {
    Errno::Noent
}

/// Something used as a directory is not one: the base, a component before the last, or a
/// final component followed by a slash (`ENOTDIR`).
#[cold]
fn not_a_directory() -> Errno {
    Errno::Notdir
}

/// A directory on the way does not exist (`ENOENT`).
#[cold]
fn not_found() -> Errno {
    Errno::Noent
}

/// `O_CREAT` of a path ending in a slash asks for a directory `open` cannot make (`EISDIR`,
/// as Linux, before the name is looked up).
#[cold]
fn create_with_trailing_slash() -> Errno {
    Errno::Isdir
}

/// Why a resolution stopped without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The path names nothing (or nothing allowed): this errno.
    Fail(Errno),
    /// The walk needs the entries of a lazy directory not read yet (`MemFs::load_dir`); the
    /// caller that may load it does so and resolves again.
    Unloaded(NodeId),
    /// The walk met a placeholder (the entry `ino` of the directory, see `MemFs::settle`)
    /// whose attributes are still to be read; the caller settles it and resolves again.
    Unsettled(NodeId, Ino),
}

impl From<Errno> for Stop {
    #[inline]
    fn from(e: Errno) -> Self {
        Stop::Fail(e)
    }
}

/// Checks a guest path (or a symlink target) before use: `ENOENT` empty, `EINVAL` NUL,
/// `ENAMETOOLONG` too long, `EILSEQ` not UTF-8, `EPERM` absolute.
pub fn check_path(path: &[u8]) -> Result<&str> {
    if path.is_empty() {
        return Err(empty_path());
    }
    if path.contains(&0) {
        return Err(nul_in_path());
    }
    if path.len() >= MAX_PATH {
        return Err(path_too_long());
    }
    let path = std::str::from_utf8(path).map_err(|_| not_utf8())?;
    if path.starts_with('/') {
        return Err(absolute_path());
    }
    Ok(path)
}

/// One piece of path text being consumed: the caller's path or a symlink target.
struct Cursor<'a> {
    text: Src<'a>,
    pos: usize,
}

enum Src<'a> {
    Path(&'a str),
    Link(Arc<str>),
}

impl Cursor<'_> {
    fn text(&self) -> &str {
        match &self.text {
            Src::Path(p) => p,
            Src::Link(l) => l,
        }
    }
}

/// What the resolver reads from a namespace of filesystems. The namespace (`Vfs`) implements
/// it and calls `beneath`; the resolver sees nothing else of it, so it cannot come to depend
/// on how filesystems and mounts are stored. Directory entries it reads from the nodes
/// themselves: an entry names an inode of the directory's own filesystem.
pub(crate) trait Lookup {
    /// Where absolute symlink targets start, under `AbsoluteSymlinks::InRoot`.
    fn root(&self) -> NodeId;
    fn node(&self, id: NodeId) -> Result<&Node>;
    /// The root of whatever is mounted on `id`, else `id`; called for every directory passed,
    /// so it must be cheap when nothing is mounted.
    fn through_mounts(&self, id: NodeId) -> NodeId;
    /// The policy of the filesystem holding `id`.
    fn absolute_symlinks(&self, id: NodeId) -> Result<AbsoluteSymlinks>;
}

/// Resolves `path` beneath the directory `base`.
///
/// The result lies in the subtree of `base` (crossing mounts beneath it) or is an error, and
/// no step stands above `base`, not even for a moment (`a/../../base/a` fails). `..` pops a
/// stack of the directories actually walked through, so `link/..` is the parent of the link's
/// target and a directory renamed meanwhile cannot carry the walk outside. Symlinks are
/// expanded when met, at most `MAX_SYMLINK_EXPANSIONS` times. Absolute paths are `EPERM`, and
/// so are absolute symlink targets unless the link's filesystem is `AbsoluteSymlinks::InRoot`:
/// then the target resolves from the namespace root, and the walk may pass outside `base` on
/// the way but must end beneath it; a result outside, or any error met while outside, is
/// `EPERM` (so nothing is learnt about what lies there). No panics; allocation is bounded by
/// the path length and the expansion limit.
///
/// With `create` (for `O_CREAT`), a final component followed by a slash fails with `EISDIR`
/// before it is looked up, as on Linux.
///
/// A directory whose entries are still to be read from their source stops the walk with
/// `Stop::Unloaded`: nothing is decided before its entries are known. One whose source
/// failed fails the walk with the source's errno, like any error met on the way (so outside
/// `base` it is `EPERM`).
pub(crate) fn beneath(
    ns: &impl Lookup,
    base: NodeId,
    path: &[u8],
    follow: Follow,
    create: bool,
) -> std::result::Result<Resolved, Stop> {
    let path = check_path(path)?;
    if !ns.node(base)?.is_dir() {
        return Err(not_a_directory().into());
    }
    let mut stack: Vec<NodeId> = Vec::with_capacity(16);
    stack.push(base);
    // Set once an absolute symlink restarted the walk at the namespace root: from then on
    // `stack` is the walk from the root, and only the end result is confined.
    let mut from_root = false;
    let result = walk(ns, path, follow, create, &mut stack, &mut from_root);
    if !from_root {
        return result;
    }
    // Beneath `base` iff the walk's final chain of directories passes through it.
    let beneath = stack.contains(&base);
    match result {
        // Reading a directory changes nothing the walk can see: it asks again.
        Err(Stop::Unloaded(dir)) => Err(Stop::Unloaded(dir)),
        Err(Stop::Unsettled(dir, ino)) => Err(Stop::Unsettled(dir, ino)),
        Ok(r) if beneath => Ok(r),
        // The base itself, reached from outside (`/abs/path/to/base`): named like `.`,
        // without its entry, which lies in a directory outside the base.
        Ok(mut r) if r.node == Some(base) => {
            r.entry = None;
            Ok(r)
        }
        Err(e) if beneath => Err(e),
        _ => Err(escape_attempt().into()),
    }
}

fn walk(
    ns: &impl Lookup,
    path: &str,
    follow: Follow,
    create: bool,
    stack: &mut Vec<NodeId>,
    from_root: &mut bool,
) -> std::result::Result<Resolved, Stop> {
    let mut cursors: Vec<Cursor<'_>> = Vec::with_capacity(4);
    cursors.push(Cursor {
        text: Src::Path(path),
        pos: 0,
    });
    let mut expansions = 0u32;
    let mut trailing_slash = false;
    // The node of `stack.last()` once known, so each step looks up only the child.
    let mut top_node: Option<&Node> = None;

    while let Some(top) = cursors.last_mut() {
        // Next component of the innermost text.
        let text = top.text();
        let rest = &text[top.pos..];
        let start = top.pos + (rest.len() - rest.trim_start_matches('/').len());
        if start >= text.len() {
            cursors.pop();
            continue;
        }
        // Names are short (a few bytes): a plain scan beats a call into memchr.
        let end = text.as_bytes()[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(text.len(), |i| start + i);
        top.pos = end;
        // Final component: nothing but slashes remains at any level. Slashes remaining
        // anywhere mean the final component must be a directory.
        let mut is_last = true;
        let mut slash = false;
        for c in cursors.iter().rev() {
            let r = &c.text()[c.pos..];
            if r.bytes().any(|b| b != b'/') {
                is_last = false;
                break;
            }
            slash |= !r.is_empty();
        }
        let top = cursors.last().expect("non-empty: we just read from it");
        let comp = &top.text()[start..end];
        if is_last {
            trailing_slash = slash;
        }

        let cur = *stack.last().expect("the stack always holds base");
        match comp {
            "." => {}
            ".." => {
                if stack.len() == 1 {
                    if *from_root {
                        continue; // the root's parent is the root
                    }
                    return Err(escape_attempt().into());
                }
                stack.pop();
                top_node = None;
            }
            name => {
                if create && is_last && trailing_slash {
                    return Err(create_with_trailing_slash().into());
                }
                if name.len() > MAX_NAME {
                    return Err(name_too_long().into());
                }
                let dir_node = match top_node {
                    Some(n) => n,
                    None => ns.node(cur)?,
                };
                let NodeKind::Dir(dir) = &dir_node.kind else {
                    return Err(not_a_directory().into());
                };
                if let Some(lazy) = &dir.lazy
                    && lazy.needs_load()?
                {
                    return Err(Stop::Unloaded(cur));
                }
                // One hash probe per component. Only the final one takes the entry's own
                // name handle, which `Resolved` hands out; before it an id is enough, and a
                // handle would cost a reference count per step.
                let (ino, handle) = if is_last {
                    match dir.entries.get_entry(name) {
                        Some((handle, ino)) => (ino, Some(handle)),
                        None => {
                            return Ok(Resolved {
                                node: None,
                                entry: Some((cur, Arc::from(name))),
                                trailing_slash,
                            });
                        }
                    }
                } else {
                    (dir.entries.get(name).ok_or_else(not_found)?, None)
                };
                let found = NodeId { fs: cur.fs, ino };
                let node = ns.node(found)?;
                if node.pending.is_some() {
                    return Err(Stop::Unsettled(cur, ino));
                }
                if let NodeKind::Symlink(target) = &node.kind {
                    let expand = !is_last
                        || match follow {
                            Follow::Yes => true,
                            Follow::No => trailing_slash,
                            Follow::Entry => false,
                        };
                    if !expand {
                        // Only a final symlink stays unexpanded, so `handle` is set.
                        return Ok(Resolved {
                            node: Some(found),
                            entry: handle.map(|h| (cur, h)),
                            trailing_slash,
                        });
                    }
                    expansions += 1;
                    if expansions > MAX_SYMLINK_EXPANSIONS {
                        return Err(too_many_symlinks().into());
                    }
                    if target.is_empty() {
                        return Err(empty_symlink_target().into());
                    }
                    if target.starts_with('/') {
                        if ns.absolute_symlinks(found)? == AbsoluteSymlinks::Refuse {
                            return Err(absolute_symlink().into());
                        }
                        *from_root = true;
                        stack.clear();
                        stack.push(ns.root());
                        top_node = None;
                    }
                    cursors.push(Cursor {
                        text: Src::Link(target.clone()),
                        pos: 0,
                    });
                    continue;
                }
                let target = ns.through_mounts(found);
                let node = if target == found {
                    node
                } else {
                    ns.node(target)?
                };
                if !node.is_dir() {
                    // A non-directory can only end the path, and not with a slash
                    // (which `Follow::Entry` leaves to its caller).
                    if !is_last || (trailing_slash && follow != Follow::Entry) {
                        return Err(not_a_directory().into());
                    }
                }
                if is_last {
                    return Ok(Resolved {
                        node: Some(target),
                        entry: handle.map(|h| (cur, h)),
                        trailing_slash,
                    });
                }
                stack.push(target);
                top_node = Some(node);
            }
        }
    }
    // The path ended in `.` or `..` (or only slashes after them).
    Ok(Resolved {
        node: Some(*stack.last().expect("the stack always holds base")),
        entry: None,
        trailing_slash,
    })
}
