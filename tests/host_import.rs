//! Host directory import (`image::host::import_dir`): hard links on the host stay hard links
//! in memory (one inode, one lazily read copy of the contents), and the host is never written.

use std::path::Path;
use std::sync::Arc;
use strata::vfs::{NodeId, OpenOptions, SystemClock, Vfs};

fn import(host: &Path) -> (Vfs, NodeId) {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    strata::image::host::import_dir(&mut vfs, root, host).unwrap();
    (vfs, root)
}

/// `(inode, link count)` of `path`.
fn ino_nlink(vfs: &Vfs, root: NodeId, path: &str) -> (u64, u64) {
    let st = vfs.stat(root, path.as_bytes(), false).unwrap();
    (st.ino, st.nlink)
}

fn read(vfs: &mut Vfs, root: NodeId, path: &str) -> Vec<u8> {
    let opts = OpenOptions {
        follow: true,
        ..Default::default()
    };
    let id = vfs.open(root, path.as_bytes(), opts).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = vfs.read(id, out.len() as u64, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    vfs.release(id);
    out
}

fn write(vfs: &mut Vfs, root: NodeId, path: &str, data: &[u8]) {
    let id = vfs
        .open(root, path.as_bytes(), OpenOptions::default())
        .unwrap();
    vfs.write(id, Some(0), data).unwrap();
    vfs.release(id);
}

fn unloaded(vfs: &Vfs, root: NodeId, path: &str) -> bool {
    let id = vfs.lookup(root, path.as_bytes(), false).unwrap();
    vfs.fs(id).unwrap().file(id.ino).unwrap().is_unloaded()
}

/// A host tree with `a` and `sub/b` naming one inode, and an unrelated `c`.
fn linked_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("a"), b"shared\n").unwrap();
    std::fs::create_dir(t.path().join("sub")).unwrap();
    std::fs::hard_link(t.path().join("a"), t.path().join("sub/b")).unwrap();
    std::fs::write(t.path().join("c"), b"alone\n").unwrap();
    t
}

fn host_unchanged(t: &tempfile::TempDir) {
    assert_eq!(std::fs::read(t.path().join("a")).unwrap(), b"shared\n");
    assert_eq!(std::fs::read(t.path().join("sub/b")).unwrap(), b"shared\n");
    assert_eq!(std::fs::read(t.path().join("c")).unwrap(), b"alone\n");
}

#[test]
fn two_host_names_of_one_inode_are_one_file_with_two_links() {
    let t = linked_tree();
    let (vfs, root) = import(t.path());
    let (a, a_links) = ino_nlink(&vfs, root, "a");
    let (b, b_links) = ino_nlink(&vfs, root, "sub/b");
    assert_eq!(a, b, "both names have the same inode number");
    assert_eq!((a_links, b_links), (2, 2));
    let (c, c_links) = ino_nlink(&vfs, root, "c");
    assert_ne!(c, a);
    assert_eq!(c_links, 1);
    assert_eq!(vfs.stat(root, b"sub/b", false).unwrap().size, 7);
}

#[test]
fn contents_are_read_once_on_first_open_and_shared() {
    let t = linked_tree();
    let (mut vfs, root) = import(t.path());
    assert!(unloaded(&vfs, root, "a") && unloaded(&vfs, root, "sub/b"));
    assert_eq!(read(&mut vfs, root, "sub/b"), b"shared\n");
    // Opening one name loaded the one copy both names share.
    assert!(!unloaded(&vfs, root, "a"));
    assert!(unloaded(&vfs, root, "c"));
    assert_eq!(read(&mut vfs, root, "a"), b"shared\n");
}

#[test]
fn a_write_through_one_name_is_seen_through_the_other() {
    let t = linked_tree();
    let (mut vfs, root) = import(t.path());
    write(&mut vfs, root, "a", b"SHARED");
    assert_eq!(read(&mut vfs, root, "sub/b"), b"SHARED\n");
    write(&mut vfs, root, "sub/b", b"s");
    assert_eq!(read(&mut vfs, root, "a"), b"sHARED\n");
    host_unchanged(&t);
}

#[test]
fn unlinking_one_name_leaves_the_other() {
    let t = linked_tree();
    let (mut vfs, root) = import(t.path());
    let (ino, _) = ino_nlink(&vfs, root, "a");
    vfs.unlink(root, b"a").unwrap();
    assert_eq!(ino_nlink(&vfs, root, "sub/b"), (ino, 1));
    assert_eq!(read(&mut vfs, root, "sub/b"), b"shared\n");
    host_unchanged(&t);
}

#[test]
fn renaming_one_link_onto_the_other_is_a_no_op() {
    let t = linked_tree();
    let (mut vfs, root) = import(t.path());
    let (ino, _) = ino_nlink(&vfs, root, "a");
    // POSIX: old and new name the same file, so rename succeeds and does nothing.
    vfs.rename(root, b"a", root, b"sub/b").unwrap();
    vfs.rename(root, b"sub/b", root, b"a").unwrap();
    assert_eq!(ino_nlink(&vfs, root, "a"), (ino, 2));
    assert_eq!(ino_nlink(&vfs, root, "sub/b"), (ino, 2));
    assert_eq!(read(&mut vfs, root, "a"), b"shared\n");
    // Renaming another file over one link removes just that name.
    vfs.rename(root, b"c", root, b"a").unwrap();
    assert_eq!(ino_nlink(&vfs, root, "sub/b"), (ino, 1));
    assert_eq!(read(&mut vfs, root, "a"), b"alone\n");
    assert_eq!(read(&mut vfs, root, "sub/b"), b"shared\n");
    host_unchanged(&t);
}

#[test]
fn links_from_outside_the_tree_are_not_counted() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(t.path().join("outside"), b"x").unwrap();
    std::fs::hard_link(t.path().join("outside"), tree.join("one")).unwrap();
    std::fs::write(t.path().join("outside2"), b"y").unwrap();
    std::fs::hard_link(t.path().join("outside2"), tree.join("two")).unwrap();
    std::fs::hard_link(t.path().join("outside2"), tree.join("three")).unwrap();
    let (vfs, root) = import(&tree);
    // nlink is the number of names the guest can see.
    assert_eq!(ino_nlink(&vfs, root, "one").1, 1);
    let (two, n) = ino_nlink(&vfs, root, "two");
    assert_eq!((ino_nlink(&vfs, root, "three"), n), ((two, 2), 2));
}

#[test]
fn many_names_and_inode_numbers_are_deterministic() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("m"), b"many").unwrap();
    for name in ["z", "k", "d/e", "d/a", "b"] {
        std::fs::create_dir_all(t.path().join("d")).unwrap();
        std::fs::hard_link(t.path().join("m"), t.path().join(name)).unwrap();
    }
    let names = ["b", "d/a", "d/e", "k", "m", "z"];
    let inos = |vfs: &Vfs, root| -> Vec<(u64, u64)> {
        names.iter().map(|n| ino_nlink(vfs, root, n)).collect()
    };
    let (vfs1, root1) = import(t.path());
    let (vfs2, root2) = import(t.path());
    let first = inos(&vfs1, root1);
    assert_eq!(first, inos(&vfs2, root2));
    assert!(first.iter().all(|&x| x == first[0]), "{first:?}");
    assert_eq!(first[0].1, 6);
}

#[test]
fn error_messages_escape_host_names() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"evil\x1b[31m\nfake line\xff");
    std::fs::write(t.path().join(name), b"x").unwrap();
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    let e = strata::image::host::import_dir(&mut vfs, root, t.path()).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
    assert!(
        msg.ends_with(r#"/evil\u{1b}[31m\nfake line\xff": name is not UTF-8"#),
        "{msg}"
    );
}
