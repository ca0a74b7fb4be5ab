//! Host directory import (`image::host::import_dir`): hard links on the host stay hard links
//! in memory (one inode, one lazily read copy of the contents), the host is never written, and
//! the tree is read lazily: each directory when first needed, as it is then.

use std::path::Path;
use std::sync::Arc;
use strata::vfs::{Errno, NodeId, OpenOptions, SystemClock, Vfs};

fn import(host: &Path) -> (Vfs, NodeId) {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    strata::image::host::import_dir(&mut vfs, root, host).unwrap();
    (vfs, root)
}

/// `(inode, link count)` of `path`.
fn ino_nlink(vfs: &mut Vfs, root: NodeId, path: &str) -> (u64, u64) {
    let st = vfs.stat_loading(root, path.as_bytes(), false).unwrap();
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

fn unloaded(vfs: &mut Vfs, root: NodeId, path: &str) -> bool {
    let id = vfs.lookup_loading(root, path.as_bytes(), false).unwrap();
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
    let (mut vfs, root) = import(t.path());
    let (a, a_links) = ino_nlink(&mut vfs, root, "a");
    let (b, b_links) = ino_nlink(&mut vfs, root, "sub/b");
    assert_eq!(a, b, "both names have the same inode number");
    assert_eq!((a_links, b_links), (2, 2));
    let (c, c_links) = ino_nlink(&mut vfs, root, "c");
    assert_ne!(c, a);
    assert_eq!(c_links, 1);
    assert_eq!(vfs.stat_loading(root, b"sub/b", false).unwrap().size, 7);
}

#[test]
fn contents_are_read_once_on_first_open_and_shared() {
    let t = linked_tree();
    let (mut vfs, root) = import(t.path());
    assert!(unloaded(&mut vfs, root, "a") && unloaded(&mut vfs, root, "sub/b"));
    assert_eq!(read(&mut vfs, root, "sub/b"), b"shared\n");
    // Opening one name loaded the one copy both names share.
    assert!(!unloaded(&mut vfs, root, "a"));
    assert!(unloaded(&mut vfs, root, "c"));
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
    let (ino, _) = ino_nlink(&mut vfs, root, "a");
    vfs.unlink(root, b"a").unwrap();
    assert_eq!(ino_nlink(&mut vfs, root, "sub/b"), (ino, 1));
    assert_eq!(read(&mut vfs, root, "sub/b"), b"shared\n");
    host_unchanged(&t);
}

#[test]
fn renaming_one_link_onto_the_other_is_a_no_op() {
    let t = linked_tree();
    let (mut vfs, root) = import(t.path());
    let (ino, _) = ino_nlink(&mut vfs, root, "a");
    // POSIX: old and new name the same file, so rename succeeds and does nothing.
    vfs.rename(root, b"a", root, b"sub/b").unwrap();
    vfs.rename(root, b"sub/b", root, b"a").unwrap();
    assert_eq!(ino_nlink(&mut vfs, root, "a"), (ino, 2));
    assert_eq!(ino_nlink(&mut vfs, root, "sub/b"), (ino, 2));
    assert_eq!(read(&mut vfs, root, "a"), b"shared\n");
    // Renaming another file over one link removes just that name.
    vfs.rename(root, b"c", root, b"a").unwrap();
    assert_eq!(ino_nlink(&mut vfs, root, "sub/b"), (ino, 1));
    assert_eq!(read(&mut vfs, root, "a"), b"alone\n");
    assert_eq!(read(&mut vfs, root, "sub/b"), b"shared\n");
    host_unchanged(&t);
}

#[test]
fn links_from_outside_the_tree_are_counted_as_on_the_host() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(t.path().join("outside"), b"x").unwrap();
    std::fs::hard_link(t.path().join("outside"), tree.join("one")).unwrap();
    std::fs::write(t.path().join("outside2"), b"y").unwrap();
    std::fs::hard_link(t.path().join("outside2"), tree.join("two")).unwrap();
    std::fs::hard_link(t.path().join("outside2"), tree.join("three")).unwrap();
    let (mut vfs, root) = import(&tree);
    // nlink is the host's st_nlink, as through a bind mount: it cannot depend on which
    // directories the guest happened to read so far.
    assert_eq!(ino_nlink(&mut vfs, root, "one").1, 2);
    let (two, n) = ino_nlink(&mut vfs, root, "two");
    assert_eq!((ino_nlink(&mut vfs, root, "three"), n), ((two, 3), 3));
    // Unlinking the visible names leaves the count of the others.
    vfs.unlink(root, b"three").unwrap();
    assert_eq!(ino_nlink(&mut vfs, root, "two"), (two, 2));
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
    let inos = |vfs: &mut Vfs, root| -> Vec<(u64, u64)> {
        names.iter().map(|n| ino_nlink(vfs, root, n)).collect()
    };
    let (mut vfs1, root1) = import(t.path());
    let (mut vfs2, root2) = import(t.path());
    let first = inos(&mut vfs1, root1);
    assert_eq!(first, inos(&mut vfs2, root2));
    assert!(first.iter().all(|&x| x == first[0]), "{first:?}");
    assert_eq!(first[0].1, 6);
}

#[test]
fn error_messages_escape_host_names() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"evil\x1b[31m\nfake line\xff");
    std::fs::write(t.path().join(name), b"x").unwrap();
    // Building an image needs every name: one that is not UTF-8 is an error naming it.
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    let e = strata::image::host::import_tree(&mut vfs, root, t.path()).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
    assert!(
        msg.ends_with(r#"/evil\u{1b}[31m\nfake line\xff": name is not UTF-8"#),
        "{msg}"
    );
}

fn is_unloaded_dir(vfs: &mut Vfs, root: NodeId, path: &str) -> bool {
    let id = vfs.lookup_loading(root, path.as_bytes(), false).unwrap();
    vfs.fs(id).unwrap().dir(id.ino).unwrap().is_unloaded()
}

/// The names in `path`, listed as the guest's `fd_readdir` lists them (entries' attributes
/// read with the listing).
fn names(vfs: &mut Vfs, root: NodeId, path: &str) -> Vec<String> {
    let dir = vfs.lookup_loading(root, path.as_bytes(), true).unwrap();
    vfs.load_dir(dir).unwrap();
    vfs.settle_dir(dir).unwrap();
    let entries = vfs.readdir(dir, 2).unwrap();
    entries
        .into_iter()
        .map(|(_, n, _, _)| n.to_string())
        .collect()
}

#[test]
fn import_reads_nothing_and_a_broken_subtree_fails_only_when_touched() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("ok")).unwrap();
    std::fs::write(t.path().join("ok/f"), b"fine").unwrap();
    std::fs::create_dir_all(t.path().join("gone/deep")).unwrap();
    std::fs::create_dir_all(t.path().join("swapped")).unwrap();
    let (mut vfs, root) = import(t.path());
    assert_eq!(vfs.fs(root).unwrap().inode_count(), 1, "nothing read yet");
    // Untouched directories may break on the host: nothing notices until they are used.
    assert!(is_unloaded_dir(&mut vfs, root, "gone"));
    std::fs::remove_dir_all(t.path().join("gone")).unwrap();
    // A directory replaced by a symlink is never followed on the host side.
    std::fs::remove_dir(t.path().join("swapped")).unwrap();
    std::os::unix::fs::symlink("/etc", t.path().join("swapped")).unwrap();
    assert_eq!(read(&mut vfs, root, "ok/f"), b"fine");
    assert_eq!(
        vfs.stat_loading(root, b"gone/deep", false).err(),
        Some(Errno::Noent)
    );
    let gone = vfs.lookup_loading(root, b"gone", false).unwrap();
    assert_eq!(vfs.load_dir(gone), Err(Errno::Noent));
    assert_eq!(
        vfs.readdir(gone, 0).err(),
        Some(Errno::Noent),
        "it stays failed"
    );
    assert_eq!(
        vfs.stat_loading(root, b"swapped/passwd", false).err(),
        Some(Errno::Noent)
    );
    assert_eq!(vfs.rmdir(root, b"gone"), Err(Errno::Noent));
    // The `&self` lookups read nothing: an unread directory is EAGAIN, not a wrong answer.
    let (vfs2, root2) = import(t.path());
    assert_eq!(vfs2.stat(root2, b"ok/f", false).err(), Some(Errno::Again));
}

#[test]
fn a_directory_is_seen_as_it_was_when_first_read() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    std::fs::write(t.path().join("d/old"), b"1").unwrap();
    let (mut vfs, root) = import(t.path());
    // Added after the import, before the guest first lists `d`: visible.
    std::fs::write(t.path().join("d/new"), b"2").unwrap();
    assert_eq!(names(&mut vfs, root, "d"), ["new", "old"]);
    // Changed after `d` was read: not seen.
    std::fs::write(t.path().join("d/later"), b"3").unwrap();
    std::fs::remove_file(t.path().join("d/old")).unwrap();
    assert_eq!(names(&mut vfs, root, "d"), ["new", "old"]);
    assert_eq!(
        vfs.stat_loading(root, b"d/later", false).err(),
        Some(Errno::Noent)
    );
}

#[test]
fn hard_links_keep_identity_whichever_directory_is_read_first() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("x/y")).unwrap();
    std::fs::create_dir(t.path().join("z")).unwrap();
    std::fs::write(t.path().join("z/one"), b"data\n").unwrap();
    std::fs::hard_link(t.path().join("z/one"), t.path().join("x/y/two")).unwrap();
    let (mut vfs, root) = import(t.path());
    // The deeper name is read first, and its link count already counts the other.
    let (two, n) = ino_nlink(&mut vfs, root, "x/y/two");
    assert_eq!(n, 2);
    assert!(is_unloaded_dir(&mut vfs, root, "z"));
    assert_eq!(ino_nlink(&mut vfs, root, "z/one"), (two, 2));
    assert_eq!(ino_nlink(&mut vfs, root, "x/y/two"), (two, 2));
    write(&mut vfs, root, "x/y/two", b"DATA");
    assert_eq!(read(&mut vfs, root, "z/one"), b"DATA\n");
    // Unlinking one name before the other's directory is read keeps the file for it.
    let (mut vfs, root) = import(t.path());
    write(&mut vfs, root, "z/one", b"Edit");
    vfs.unlink(root, b"z/one").unwrap();
    assert_eq!(read(&mut vfs, root, "x/y/two"), b"Edit\n");
    assert_eq!(ino_nlink(&mut vfs, root, "x/y/two").1, 1);
    assert_eq!(std::fs::read(t.path().join("x/y/two")).unwrap(), b"data\n");
}

#[test]
fn host_symlinks_in_lazy_directories_cannot_escape() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    std::fs::create_dir_all(tree.join("a/b")).unwrap();
    std::fs::write(t.path().join("secret"), b"host secret").unwrap();
    std::os::unix::fs::symlink("../../../secret", tree.join("a/b/up")).unwrap();
    std::os::unix::fs::symlink(t.path().join("secret"), tree.join("a/b/abs")).unwrap();
    std::os::unix::fs::symlink("../b", tree.join("a/b/inside")).unwrap();
    let (mut vfs, root) = import(&tree);
    let follow = OpenOptions {
        follow: true,
        ..Default::default()
    };
    assert_eq!(vfs.open(root, b"a/b/up", follow).err(), Some(Errno::Perm));
    // Absolute targets: this filesystem refuses them (EPERM); with `InRoot` they would
    // resolve inside the namespace, never on the host.
    assert_eq!(vfs.open(root, b"a/b/abs", follow).err(), Some(Errno::Perm));
    let target = vfs.readlink_loading(root, b"a/b/abs").unwrap();
    assert_eq!(&*target, t.path().join("secret").to_str().unwrap());
    // Resolved as text inside the sandbox, relative links work.
    let (b, _) = ino_nlink(&mut vfs, root, "a/b");
    let st = vfs
        .stat_loading(root, b"a/b/inside/inside/.", true)
        .unwrap();
    assert_eq!(st.ino, b);
}

#[test]
fn readdir_order_and_cookies_do_not_depend_on_when_a_directory_is_read() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    std::fs::create_dir(&d).unwrap();
    for name in ["m", "b", "z", "a", "k", "q"] {
        std::fs::write(d.join(name), name).unwrap();
    }
    let (mut vfs, root) = import(t.path());
    let dir = vfs.lookup_loading(root, b"d", true).unwrap();
    // A fork taken before `d` was read lists it the same way, with the same cookies.
    let mut fork = vfs.clone();
    let mut pages = Vec::new();
    for v in [&mut vfs, &mut fork] {
        v.load_dir(dir).unwrap();
        let mut cookie = 0;
        let mut seen = Vec::new();
        loop {
            let page: Vec<_> = v.readdir_iter(dir, cookie).unwrap().take(2).collect();
            let Some(last) = page.last() else { break };
            cookie = last.0;
            seen.extend(page.into_iter().map(|(c, n, i, _)| (c, n.to_string(), i)));
        }
        pages.push(seen);
    }
    assert_eq!(pages[0], pages[1]);
    let order: Vec<&str> = pages[0].iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(order, [".", "..", "a", "b", "k", "m", "q", "z"]);
    // A saved cookie stays valid as the guest changes the directory.
    let resume = pages[0][3].0; // after "b"
    vfs.unlink(root, b"d/m").unwrap();
    let rest: Vec<_> = vfs
        .readdir(dir, resume)
        .unwrap()
        .into_iter()
        .map(|(_, n, _, _)| n.to_string())
        .collect();
    assert_eq!(rest, ["k", "q", "z"]);
}

#[test]
fn forks_read_lazily_on_their_own_and_share_what_was_read() {
    let t = tempfile::tempdir().unwrap();
    for d in ["early", "late"] {
        std::fs::create_dir(t.path().join(d)).unwrap();
        std::fs::write(t.path().join(d).join("f"), d).unwrap();
    }
    let (mut vfs, root) = import(t.path());
    assert_eq!(names(&mut vfs, root, "early"), ["f"]);
    let mut fork1 = vfs.clone();
    let mut fork2 = vfs.clone();
    // Listed by the original before forking: forks need no host access to list it.
    std::fs::remove_dir_all(t.path().join("early")).unwrap();
    assert_eq!(names(&mut fork1, root, "early"), ["f"]);
    assert_eq!(vfs.stat_loading(root, b"early/f", false).unwrap().size, 5);
    // Read by one fork: the original and the other fork are unchanged...
    assert_eq!(names(&mut fork1, root, "late"), ["f"]);
    assert!(is_unloaded_dir(&mut vfs, root, "late"));
    assert!(is_unloaded_dir(&mut fork2, root, "late"));
    // ...and the other fork reads the same listing, not the host again.
    std::fs::write(t.path().join("late/g"), b"new").unwrap();
    assert_eq!(names(&mut fork2, root, "late"), ["f"]);
    write(&mut fork2, root, "late/f", b"LATE");
    assert_eq!(read(&mut fork1, root, "late/f"), b"late");
}

#[test]
fn names_that_are_not_utf8_are_left_out() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").unwrap();
    std::os::unix::fs::symlink(
        std::ffi::OsStr::from_bytes(b"target\xfe"),
        t.path().join("badlink"),
    )
    .unwrap();
    std::fs::write(t.path().join("good"), b"y").unwrap();
    let (mut vfs, root) = import(t.path());
    assert_eq!(names(&mut vfs, root, "."), ["good"]);
}

#[test]
fn entries_read_from_the_host_are_not_charged_to_the_budget() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(t.path().join(format!("f{i}")), b"x").unwrap();
    }
    let (mut vfs, root) = import(t.path());
    let budget = vfs.set_limits(1 << 20, 1);
    assert_eq!(names(&mut vfs, root, ".").len(), 50);
    assert_eq!(budget.usage().inodes, 0);
    // Removing host entries gives nothing back either; what the guest makes counts.
    vfs.unlink(root, b"f0").unwrap();
    assert_eq!(budget.usage().inodes, 0);
    let create = OpenOptions {
        create: true,
        ..Default::default()
    };
    let id = vfs.open(root, b"mine", create).unwrap();
    vfs.release(id);
    assert_eq!(vfs.open(root, b"mine2", create).err(), Some(Errno::Nospc));
}

#[test]
fn a_diff_holds_only_what_changed_in_lazily_read_directories() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("d/e")).unwrap();
    std::fs::write(t.path().join("d/keep"), b"k").unwrap();
    std::fs::write(t.path().join("d/drop"), b"d").unwrap();
    std::fs::write(t.path().join("d/edit"), b"e").unwrap();
    std::fs::write(t.path().join("d/e/read"), b"r").unwrap();
    let (vfs, root) = import(t.path());
    let base = vfs.fs(root).unwrap().clone();
    let mut top = vfs.clone();
    assert_eq!(read(&mut top, root, "d/e/read"), b"r");
    assert_eq!(read(&mut top, root, "d/keep"), b"k");
    top.unlink(root, b"d/drop").unwrap();
    write(&mut top, root, "d/edit", b"E");
    let mounts = [("/".to_string(), root)];
    let tar = strata::image::write_diff(&top, &mounts, &[base], Vec::new()).unwrap();
    let mut members = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let e = e.unwrap();
        members.push(e.path().unwrap().to_string_lossy().into_owned());
    }
    members.sort();
    assert_eq!(members, ["./", "d/", "d/.wh.drop", "d/edit"]);
}

#[test]
fn an_entry_is_read_when_first_touched_not_when_its_directory_is() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    for (name, data) in [("a", "1"), ("b", "2"), ("c", "3")] {
        std::fs::write(t.path().join("d").join(name), data).unwrap();
    }
    std::os::unix::fs::symlink("a", t.path().join("d/l")).unwrap();
    let (mut vfs, root) = import(t.path());
    let size = |vfs: &mut Vfs, p: &str| vfs.stat_loading(root, p.as_bytes(), false).map(|s| s.size);
    // Resolving `d/a` lists `d` and reads `a` alone.
    assert_eq!(size(&mut vfs, "d/a"), Ok(1));
    std::fs::write(t.path().join("d/a"), b"grown").unwrap();
    std::fs::write(t.path().join("d/b"), b"grown").unwrap();
    std::fs::remove_file(t.path().join("d/c")).unwrap();
    std::fs::remove_file(t.path().join("d/l")).unwrap();
    std::os::unix::fs::symlink("b", t.path().join("d/l")).unwrap();
    // `a` stays as first read; `b`, `c` and `l` are read only now, as they are now.
    assert_eq!(size(&mut vfs, "d/a"), Ok(1));
    assert_eq!(size(&mut vfs, "d/b"), Ok(5));
    assert_eq!(size(&mut vfs, "d/c"), Err(Errno::Noent));
    assert_eq!(vfs.readlink_loading(root, b"d/l").unwrap().as_ref(), "b");
    // `c` is gone from the listing too; nothing was created on the way.
    assert_eq!(names(&mut vfs, root, "d"), ["a", "b", "l"]);
    assert_eq!(read(&mut vfs, root, "d/b"), b"grown");
}

#[test]
fn a_listing_reports_the_inode_numbers_that_stat_does() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    std::fs::write(t.path().join("d/a"), b"x").unwrap();
    std::fs::hard_link(t.path().join("d/a"), t.path().join("d/b")).unwrap();
    std::fs::hard_link(t.path().join("d/a"), t.path().join("other")).unwrap();
    std::fs::write(t.path().join("d/c"), b"y").unwrap();
    std::fs::create_dir(t.path().join("d/e")).unwrap();
    let (mut vfs, root) = import(t.path());
    // `other` first: `d/a` and `d/b` then settle as links to it, inside the listing.
    let (other, links) = ino_nlink(&mut vfs, root, "other");
    assert_eq!(links, 3);
    let dir = vfs.lookup_loading(root, b"d", true).unwrap();
    vfs.load_dir(dir).unwrap();
    vfs.settle_dir(dir).unwrap();
    let listed: Vec<(String, u64)> = vfs
        .readdir(dir, 2)
        .unwrap()
        .into_iter()
        .map(|(_, n, ino, _)| (n.to_string(), ino))
        .collect();
    for (name, ino) in &listed {
        let st = vfs
            .stat_loading(root, format!("d/{name}").as_bytes(), false)
            .unwrap();
        assert_eq!(st.ino, *ino, "{name}");
    }
    let ino_of = |n: &str| listed.iter().find(|(m, _)| m == n).unwrap().1;
    assert_eq!((ino_of("a"), ino_of("b")), (other, other));
    assert_ne!(ino_of("c"), other);
    assert_eq!(ino_nlink(&mut vfs, root, "d/b"), (other, 3));
}

#[test]
fn two_names_in_one_directory_resolved_in_turn_are_one_file() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("a"), b"old").unwrap();
    std::fs::hard_link(t.path().join("a"), t.path().join("b")).unwrap();
    let (mut vfs, root) = import(t.path());
    write(&mut vfs, root, "a", b"new");
    assert_eq!(read(&mut vfs, root, "b"), b"new");
    assert_eq!(
        ino_nlink(&mut vfs, root, "a"),
        ino_nlink(&mut vfs, root, "b")
    );
    assert_eq!(ino_nlink(&mut vfs, root, "b").1, 2);
    vfs.unlink(root, b"a").unwrap();
    assert_eq!(ino_nlink(&mut vfs, root, "b").1, 1);
    assert_eq!(std::fs::read(t.path().join("b")).unwrap(), b"old");
}
