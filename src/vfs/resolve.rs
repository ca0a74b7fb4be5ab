//! The confined path resolver: turns (base directory, relative path) into a node, walking
//! node handles one component at a time, never normalising the path string.
//!
//! Guarantees, for every byte string: the result lies in the subtree of `base` (crossing
//! mounts beneath it) or is an error; no step ever stands above `base`, not even temporarily
//! (`a/../../base/a` fails). `..` pops a stack of the directories actually walked through, so
//! `link/..` is the parent of the link's target, and a concurrent rename cannot move the walk
//! outside. Symlinks are expanded when met, at most `MAX_SYMLINK_EXPANSIONS` times. Absolute
//! paths fail with `EPERM`, and so do absolute symlink targets, except in filesystems marked
//! `abs_symlinks_in_root` (images, host trees): there a target like `/usr/bin/python3.12`
//! resolves from the namespace root, as `openat2(RESOLVE_IN_ROOT)` would, and the walk may
//! pass outside `base` on the way, but it must end inside `base`'s subtree: a result outside
//! it, or any error met while outside it, is `EPERM`. No panics, no unbounded allocation.

use super::error::{Errno, Result};
use super::namespace::{NodeId, Vfs};
use super::node::{Node, NodeKind};
use std::sync::Arc;

/// Most symlink expansions in one resolution, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_EXPANSIONS: u32 = 40;
/// Longest path the guest may pass, as Linux's `PATH_MAX` (including the terminator there).
pub const MAX_PATH: usize = 4096;
/// Longest single component, as Linux's `NAME_MAX`.
pub const MAX_NAME: usize = 255;

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

/// Checks a guest path before resolution: `ENOENT` empty, `EINVAL` NUL, `ENAMETOOLONG`
/// too long, `EILSEQ` not UTF-8, `EPERM` absolute.
pub fn check_path(path: &[u8]) -> Result<&str> {
    if path.is_empty() {
        return Err(Errno::Noent);
    }
    if path.contains(&0) {
        return Err(Errno::Inval);
    }
    if path.len() >= MAX_PATH {
        return Err(Errno::Nametoolong);
    }
    let path = std::str::from_utf8(path).map_err(|_| Errno::Ilseq)?;
    if path.starts_with('/') {
        return Err(Errno::Perm);
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

impl Vfs {
    /// The directory entry `name` of `dir` with the entry's own name handle.
    fn entry_of(&self, dir: NodeId, name: &str) -> Result<(NodeId, Arc<str>)> {
        let (n, _) = self.lookup_entry(dir, name)?.ok_or(Errno::Noent)?;
        Ok((dir, n))
    }

    /// Resolves `path` beneath the directory `base`. See the module documentation.
    pub fn resolve(&self, base: NodeId, path: &[u8], follow: Follow) -> Result<Resolved> {
        self.resolve_at(base, path, follow, false)
    }

    /// As `resolve`; with `create` (for `O_CREAT`), a final component followed by a slash
    /// fails with `EISDIR` before it is looked up, as on Linux.
    pub(crate) fn resolve_at(
        &self,
        base: NodeId,
        path: &[u8],
        follow: Follow,
        create: bool,
    ) -> Result<Resolved> {
        let path = check_path(path)?;
        if !self.node(base)?.is_dir() {
            return Err(Errno::Notdir);
        }
        let mut stack: Vec<NodeId> = Vec::with_capacity(16);
        stack.push(base);
        // Set once an absolute image symlink restarted the walk at the namespace root: from
        // then on `stack` is the walk from the root, and only the end result is confined.
        let mut from_root = false;
        let result = self.walk(path, follow, create, &mut stack, &mut from_root);
        if !from_root {
            return result;
        }
        // Beneath `base` iff the walk's final chain of directories passes through it.
        let beneath = stack.contains(&base);
        match result {
            Ok(r) if beneath => Ok(r),
            // The base itself, reached from outside (`/abs/path/to/base`): named like `.`,
            // without its entry, which lies in a directory outside the base.
            Ok(mut r) if r.node == Some(base) => {
                r.entry = None;
                Ok(r)
            }
            Err(e) if beneath => Err(e),
            _ => Err(Errno::Perm),
        }
    }

    fn walk(
        &self,
        path: &str,
        follow: Follow,
        create: bool,
        stack: &mut Vec<NodeId>,
        from_root: &mut bool,
    ) -> Result<Resolved> {
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
                        return Err(Errno::Perm);
                    }
                    stack.pop();
                    top_node = None;
                }
                name => {
                    if create && is_last && trailing_slash {
                        return Err(Errno::Isdir);
                    }
                    if name.len() > MAX_NAME {
                        return Err(Errno::Nametoolong);
                    }
                    // Only an id per component (no name handle to count): the name handle
                    // is fetched once, for the final entry (`entry_of`).
                    let dir_node = match top_node {
                        Some(n) => n,
                        None => self.node(cur)?,
                    };
                    let (found, node) = match self.child(cur, dir_node, name)? {
                        Some(hit) => hit,
                        None if is_last => {
                            return Ok(Resolved {
                                node: None,
                                entry: Some((cur, Arc::from(name))),
                                trailing_slash,
                            });
                        }
                        None => return Err(Errno::Noent),
                    };
                    if let NodeKind::Symlink(target) = &node.kind {
                        let expand = !is_last
                            || match follow {
                                Follow::Yes => true,
                                Follow::No => trailing_slash,
                                Follow::Entry => false,
                            };
                        if expand {
                            expansions += 1;
                            if expansions > MAX_SYMLINK_EXPANSIONS {
                                return Err(Errno::Loop);
                            }
                            if target.is_empty() {
                                return Err(Errno::Noent);
                            }
                            if target.starts_with('/') {
                                if !self.fs(found)?.abs_symlinks_in_root() {
                                    return Err(Errno::Perm);
                                }
                                *from_root = true;
                                stack.clear();
                                stack.push(self.root());
                                top_node = None;
                            }
                            let target = target.clone();
                            cursors.push(Cursor {
                                text: Src::Link(target),
                                pos: 0,
                            });
                            continue;
                        }
                        return Ok(Resolved {
                            node: Some(found),
                            entry: Some(self.entry_of(cur, name)?),
                            trailing_slash,
                        });
                    }
                    let target = self.through_mounts(found);
                    let node = if target == found {
                        node
                    } else {
                        self.node(target)?
                    };
                    if !node.is_dir() {
                        // A non-directory can only end the path, and not with a slash
                        // (which `Follow::Entry` leaves to its caller).
                        if !is_last || (trailing_slash && follow != Follow::Entry) {
                            return Err(Errno::Notdir);
                        }
                    }
                    if is_last {
                        return Ok(Resolved {
                            node: Some(target),
                            entry: Some(self.entry_of(cur, name)?),
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
}
