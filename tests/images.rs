//! Images, layers and overlays end to end: tar and tar.gz images mounted through the CLI,
//! OCI layers stacking with whiteouts and opaque directories, `--save-fs`/`--save-diff`,
//! hostile archives rejected naming the entry, and the copy-on-write fork semantics (lazy
//! copy-up, renames of lower directories, hard links across copy-up, read-only layers).

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use strata::image::{LoadOptions, load_bytes, stack};
use strata::vfs::{Errno, FileData, MemFs, OpenOptions, SetTime, SystemClock, Vfs};

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

/// A tar built with the `tar` crate (mtime 1_000_000, mode 0o644/0o755).
fn tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::Hard(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn cat() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/cat.wasm")
}

fn strata(args: &[&str]) -> Output {
    strata_cmd()
        .args(args)
        .output()
        .expect("the strata binary runs")
}

fn put(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

/// One tar member: path, type, mode, mtime, owner (uid, gid), contents (or link target).
type Member = (String, char, u32, u64, (u64, u64), Vec<u8>);

/// Every member of a tar, in archive order, with what it holds.
fn contents(data: &[u8]) -> Vec<Member> {
    use std::io::Read;
    tar::Archive::new(data)
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let h = e.header().clone();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            if let Some(link) = e.link_name_bytes() {
                body.extend_from_slice(b" -> ");
                body.extend_from_slice(&link);
            }
            (
                path,
                h.entry_type().as_byte() as char,
                h.mode().unwrap(),
                h.mtime().unwrap(),
                (h.uid().unwrap(), h.gid().unwrap()),
                body,
            )
        })
        .collect()
}

/// Member names of a tar, in archive order.
fn members(data: &[u8]) -> Vec<String> {
    tar::Archive::new(data)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn base_tar() -> Vec<u8> {
    tar(&[
        E::Dir("etc"),
        E::File("etc/a", b"lower a\n"),
        E::File("etc/b", b"lower b\n"),
        E::Dir("d"),
        E::File("d/x", b"x\n"),
        E::File("d/y", b"y\n"),
        E::Dir("usr/bin"),
        E::File("usr/bin/python3.12", b"python\n"),
        E::Link("usr/bin/python3", "python3.12"),
        E::File("data/one", b"shared inode\n"),
        E::Hard("data/two", "data/one"),
    ])
}

#[test]
fn tar_and_gzip_images_are_mounted_and_detected_by_magic() {
    let t = tempfile::tempdir().unwrap();
    let plain = put(t.path(), "base.tar", &base_tar());
    // A gzip archive with a misleading name: detected by its magic bytes.
    let gz = put(t.path(), "compressed.tar", &gzip(&base_tar()));
    let c = cat();
    for (img, at) in [(&plain, ""), (&gz, "/img")] {
        let spec = format!("{img}::{at}/");
        let (a, py) = (format!("{at}/etc/a"), format!("{at}/usr/bin/python3"));
        let o = strata(&["run", "--image", &spec, c.to_str().unwrap(), &a, &py]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, b"lower a\npython\n");
    }
}

#[test]
fn oci_layers_stack_with_whiteouts_and_opaque_dirs() {
    let t = tempfile::tempdir().unwrap();
    let base = put(t.path(), "base.tar", &base_tar());
    let layer = put(
        t.path(),
        "layer.tar",
        &tar(&[
            E::File("etc/.wh.a", b""),
            E::File("etc/c", b"upper c\n"),
            E::File("etc/b", b"upper b\n"),
            E::Dir("d"),
            E::File("d/.wh..wh..opq", b""),
            E::File("d/z", b"z\n"),
        ]),
    );
    let out = t.path().join("full.tar");
    let c = cat();
    let o = strata(&[
        "run",
        "--image",
        &base,
        "--image",
        &layer,
        "--save-fs",
        out.to_str().unwrap(),
        c.to_str().unwrap(),
        "/etc/b",
        "/etc/c",
        "/d/z",
        "/etc/a",
        "/d/x",
    ]);
    assert_eq!(o.stdout, b"upper b\nupper c\nz\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cat: /etc/a: ") && err.contains("cat: /d/x: "),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(1));
    let names = members(&std::fs::read(out).unwrap());
    assert_eq!(
        names,
        [
            "./",
            "d/",
            "d/z",
            "data/",
            "data/one",
            "data/two",
            "etc/",
            "etc/b",
            "etc/c",
            "usr/",
            "usr/bin/",
            "usr/bin/python3",
            "usr/bin/python3.12"
        ]
    );
}

/// Creates `new.txt` in `tmp`, writes "data", unlinks `etc/a`.
const WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "tmp/new.txt")
  (data (i32.const 16) "etc/a")
  (data (i32.const 32) "data")
  (data (i32.const 40) "tmp")
  (func $check (param i32) (if (local.get 0) (then (call $exit (local.get 0)))))
  (func (export "_start")
    (i32.store (i32.const 64) (i32.const 32))
    (i32.store (i32.const 68) (i32.const 4))
    (call $check (call $mkdir (i32.const 3) (i32.const 40) (i32.const 3)))
    (call $check (call $open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 11) (i32.const 1)
      (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 80)))
    (call $check (call $write (i32.load (i32.const 80)) (i32.const 64) (i32.const 1) (i32.const 84)))
    (call $check (call $unlink (i32.const 3) (i32.const 16) (i32.const 5)))))"#;

#[test]
fn save_diff_holds_changes_and_whiteouts_only() {
    let t = tempfile::tempdir().unwrap();
    let base = put(t.path(), "base.tar", &base_tar());
    let m = put(t.path(), "w.wat", WRITER.as_bytes());
    let diff = t.path().join("diff.tar");
    let o = strata(&[
        "run",
        "--deterministic",
        "--image",
        &base,
        "--save-diff",
        diff.to_str().unwrap(),
        &m,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let data = std::fs::read(&diff).unwrap();
    assert_eq!(
        members(&data),
        ["./", "etc/", "etc/.wh.a", "tmp/", "tmp/new.txt"]
    );
    let diff_contents = contents(&data);
    let whiteout = &diff_contents[2];
    assert_eq!(
        (whiteout.1, whiteout.5.as_slice()),
        ('0', &b""[..]),
        "an empty file"
    );
    let new = &diff_contents[4];
    assert_eq!(
        (new.1, new.5.as_slice()),
        ('0', &b"data"[..]),
        "the file the run wrote"
    );

    // The diff applied as a layer over the base gives the run's final tree.
    let full = t.path().join("full.tar");
    let o = strata(&[
        "run",
        "--deterministic",
        "--image",
        &base,
        "--save-fs",
        full.to_str().unwrap(),
        &m,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let layered = t.path().join("layered.tar");
    let c = cat();
    let diff_s = diff.to_str().unwrap();
    let o = strata(&[
        "run",
        "--deterministic",
        "--image",
        &base,
        "--image",
        diff_s,
        "--save-fs",
        layered.to_str().unwrap(),
        c.to_str().unwrap(),
        "/tmp/new.txt",
    ]);
    assert_eq!(o.stdout, b"data");
    // The same tree: every member with its type, mode, time, owner and contents (the runs are
    // deterministic, so the diff run and the full run wrote at the same virtual times).
    assert_eq!(
        contents(&std::fs::read(&layered).unwrap()),
        contents(&std::fs::read(&full).unwrap())
    );
}

#[test]
fn save_fs_of_an_unchanged_image_is_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let base = put(t.path(), "base.tar", &base_tar());
    let c = cat();
    let mut outs = Vec::new();
    for i in 0..2 {
        let out = t.path().join(format!("out{i}.tar"));
        let o = strata(&[
            "run",
            "--image",
            &base,
            "--save-fs",
            out.to_str().unwrap(),
            c.to_str().unwrap(),
            "/etc/a",
        ]);
        assert_eq!(o.status.code(), Some(0));
        outs.push(std::fs::read(out).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
}

#[test]
fn hostile_image_is_rejected_naming_the_entry() {
    let t = tempfile::tempdir().unwrap();
    // A member named "../evil", written with a raw header (the tar crate refuses the name).
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..7].copy_from_slice(b"../evil");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut data = h.as_bytes().to_vec();
    data.extend_from_slice(b"pwn\n");
    data.resize(data.len() + 508 + 1024, 0);
    let img = put(t.path(), "evil.tar", &data);
    let c = cat();
    let o = strata(&["run", "--image", &img, c.to_str().unwrap(), "/evil"]);
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("../evil") && err.contains("evil.tar"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!t.path().join("evil").exists() && !Path::new("/evil").exists());
}

fn base_image() -> strata::image::Image {
    load_bytes(base_tar().into(), &LoadOptions::oci()).unwrap()
}

fn read(vfs: &Vfs, path: &str) -> Result<Vec<u8>, Errno> {
    let id = vfs.lookup(vfs.root(), path.as_bytes(), true)?;
    let mut buf = vec![0u8; 4096];
    let n = vfs.read(id, 0, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn forks_copy_up_lazily_and_keep_the_base_intact() {
    let image = base_image();
    let fs = stack(std::slice::from_ref(&image)).unwrap();
    let mut vfs = Vfs::with_root(fs, Arc::new(SystemClock));
    let root = vfs.root();

    // Metadata-only change: the contents stay the very same shared buffer.
    let a = vfs.lookup(root, b"etc/a", true).unwrap();
    vfs.set_times_node(a, SetTime::At(5), SetTime::At(6))
        .unwrap();
    let base_buf = image.fs.file(a.ino).unwrap().as_whole().unwrap().as_ptr();
    let fork_buf = vfs
        .fs(a)
        .unwrap()
        .file(a.ino)
        .unwrap()
        .as_whole()
        .unwrap()
        .as_ptr();
    assert_eq!(base_buf, fork_buf, "set_times copied no data");

    // A directory of the lower layer renames fine (no EXDEV), the base is untouched.
    vfs.rename(root, b"d", root, b"renamed").unwrap();
    assert_eq!(read(&vfs, "renamed/x").unwrap(), b"x\n");
    assert_eq!(read(&vfs, "d/x"), Err(Errno::Noent));
    let mut base_vfs = Vfs::with_root(image.fs.clone(), Arc::new(SystemClock));
    assert_eq!(read(&base_vfs, "d/x").unwrap(), b"x\n");

    // Hard links keep their identity across copy-up.
    let one = vfs
        .open(
            root,
            b"data/one",
            OpenOptions {
                follow: true,
                ..Default::default()
            },
        )
        .unwrap();
    vfs.write(one, Some(0), b"SHARED").unwrap();
    vfs.release(one);
    assert_eq!(read(&vfs, "data/two").unwrap(), b"SHARED inode\n");
    assert_eq!(vfs.stat(root, b"data/two", true).unwrap().nlink, 2);
    assert_eq!(read(&base_vfs, "data/two").unwrap(), b"shared inode\n");

    // A guest-made name that looks like a whiteout is just a name.
    vfs.write_file(root, "etc/.wh.b", FileData::from_bytes("".into()))
        .unwrap();
    assert_eq!(read(&vfs, "etc/b").unwrap(), b"lower b\n");

    // The image itself is a read-only layer.
    let base_root = base_vfs.root();
    assert_eq!(base_vfs.mkdir(base_root, b"new").err(), Some(Errno::Rofs));
    assert_eq!(
        base_vfs.unlink(base_root, b"etc/a").err(),
        Some(Errno::Rofs)
    );
}

#[test]
fn forks_are_independent() {
    let image = base_image();
    let mut forks: Vec<MemFs> = (0..100).map(|_| image.fs.fork()).collect();
    for (i, fs) in forks.iter_mut().enumerate() {
        let root = fs.root();
        fs.create_file_with(
            root,
            &format!("only-{i}"),
            FileData::from_bytes("x".into()),
            0o644,
        )
        .unwrap();
    }
    for (i, fs) in forks.iter().enumerate() {
        let root = fs.root();
        assert!(fs.lookup(root, &format!("only-{i}")).unwrap().is_some());
        assert!(
            fs.lookup(root, &format!("only-{}", (i + 1) % 100))
                .unwrap()
                .is_none()
        );
    }
    assert!(
        image
            .fs
            .lookup(image.fs.root(), "only-0")
            .unwrap()
            .is_none()
    );
}

#[test]
fn absolute_symlinks_in_images_resolve_from_the_root_but_stay_confined() {
    let image = load_bytes(
        tar(&[
            E::File("usr/bin/python3.12", b"python\n"),
            E::Link("usr/bin/python3", "/usr/bin/python3.12"),
            E::Link("usr/lib/up", "/"),
            E::File("etc/secret", b"s\n"),
            E::Link("usr/lib/to-etc", "/etc/secret"),
            E::Link("usr/lib/nowhere", "/etc/missing"),
            E::Link("usr/lib/dotdot", "/../../usr/bin/python3.12"),
        ])
        .into(),
        &LoadOptions::oci(),
    )
    .unwrap();
    let vfs = Vfs::with_root(
        stack(std::slice::from_ref(&image)).unwrap(),
        Arc::new(SystemClock),
    );
    let root = vfs.root();
    // From the root: absolute targets resolve against the virtual root; `..` stops there.
    assert_eq!(read(&vfs, "usr/bin/python3").unwrap(), b"python\n");
    assert_eq!(read(&vfs, "usr/lib/dotdot").unwrap(), b"python\n");
    assert_eq!(read(&vfs, "usr/lib/up/etc/secret").unwrap(), b"s\n");
    // From a base beneath the root: allowed only if the walk ends inside the base.
    let usr = vfs.lookup(root, b"usr", true).unwrap();
    let mut buf = [0u8; 16];
    let py = vfs.lookup(usr, b"bin/python3", true).unwrap();
    assert_eq!(vfs.read(py, 0, &mut buf).unwrap(), 7);
    assert_eq!(
        vfs.lookup(usr, b"lib/to-etc", true).err(),
        Some(Errno::Perm)
    );
    assert_eq!(vfs.lookup(usr, b"lib/up", true).err(), Some(Errno::Perm));
    // Errors met outside the base do not reveal what exists there.
    assert_eq!(
        vfs.lookup(usr, b"lib/nowhere", true).err(),
        Some(Errno::Perm)
    );
    assert_eq!(
        vfs.lookup(root, b"usr/lib/nowhere", true).err(),
        Some(Errno::Noent)
    );
    // A guest still cannot create an absolute symlink.
    let mut vfs = vfs;
    assert_eq!(vfs.symlink(b"/etc", root, b"mine").err(), Some(Errno::Perm));
}

#[test]
fn host_layer_reads_files_lazily_and_reports_vanished_ones() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("sub")).unwrap();
    std::fs::write(t.path().join("sub/used"), b"used\n").unwrap();
    std::fs::write(t.path().join("untouched"), vec![7u8; 100_000]).unwrap();
    std::fs::write(t.path().join("vanishes"), b"soon gone").unwrap();
    std::fs::write(t.path().join("vanishes_untouched"), b"soon gone").unwrap();
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    strata::image::host::import_dir(&mut vfs, root, t.path()).unwrap();

    // Host trees are read lazily: lookups that may read a directory take `&mut`.
    let unloaded = |vfs: &mut Vfs, p: &str| {
        let id = vfs.lookup_loading(vfs.root(), p.as_bytes(), true).unwrap();
        vfs.fs(id).unwrap().file(id.ino).unwrap().is_unloaded()
    };
    assert!(unloaded(&mut vfs, "sub/used") && unloaded(&mut vfs, "untouched"));
    assert_eq!(vfs.stat_loading(root, b"vanishes", true).unwrap().size, 9);
    // Removed once its directory was read: one after its attributes were read, one before
    // (which is simply not there, like a file removed before the listing).
    std::fs::remove_file(t.path().join("vanishes")).unwrap();
    std::fs::remove_file(t.path().join("vanishes_untouched")).unwrap();
    // stat needs no read
    assert_eq!(
        vfs.stat_loading(root, b"untouched", true).unwrap().size,
        100_000
    );
    let opts = OpenOptions {
        follow: true,
        ..Default::default()
    };
    let used = vfs.open(root, b"sub/used", opts).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(vfs.read(used, 0, &mut buf).unwrap(), 5);
    assert!(!unloaded(&mut vfs, "sub/used"));
    assert!(
        unloaded(&mut vfs, "untouched"),
        "a file never opened is never read"
    );
    // The host file disappeared after it was seen: opening it is EIO, not an empty read.
    assert_eq!(vfs.open(root, b"vanishes", opts).err(), Some(Errno::Io));
    assert_eq!(
        vfs.open(root, b"vanishes_untouched", opts).err(),
        Some(Errno::Noent)
    );
    // Writes stay in memory.
    vfs.write(used, Some(0), b"USED").unwrap();
    assert_eq!(std::fs::read(t.path().join("sub/used")).unwrap(), b"used\n");
}

/// One raw ustar member: names are written byte for byte (the tar crate refuses hostile ones).
fn raw_member(name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..name.len()].copy_from_slice(name);
    h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
    out
}

#[test]
fn every_hostile_archive_is_refused_by_the_cli_naming_the_member() {
    use tar::EntryType::{Link, Regular, Symlink};
    let end = vec![0u8; 1024];
    let mut truncated = raw_member(b"big", Regular, b"", &[1u8; 600]);
    truncated.truncate(512 + 100);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            [raw_member(b"a/../../x", Regular, b"", b"x"), end.clone()].concat(),
            "a/../../x",
        ),
        (
            "tar-slip",
            [
                raw_member(b"l", Symlink, b"/etc", b""),
                raw_member(b"l/passwd", Regular, b"", b"x"),
                end.clone(),
            ]
            .concat(),
            "l/passwd",
        ),
        (
            "link-missing",
            [raw_member(b"h", Link, b"nowhere", b""), end.clone()].concat(),
            "h",
        ),
        (
            "link-outside",
            [raw_member(b"h", Link, b"../etc/passwd", b""), end.clone()].concat(),
            "h",
        ),
        (
            "non-utf8",
            [raw_member(b"bad\xff", Regular, b"", b"x"), end.clone()].concat(),
            "bad",
        ),
        ("truncated", truncated, "big"),
    ];
    let t = tempfile::tempdir().unwrap();
    let c = cat();
    for (name, data, member) in cases {
        // Plain and gzip-compressed, both under a misleading name.
        for (suffix, bytes) in [("tar", data.clone()), ("gz", gzip(&data))] {
            let img = put(t.path(), &format!("{name}.{suffix}.img"), &bytes);
            let o = strata(&["run", "--image", &img, c.to_str().unwrap(), "/x"]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(125), "{name}.{suffix}: {err}");
            assert!(
                err.contains(member) && err.contains(&img),
                "{name}.{suffix}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{name}.{suffix}: one line: {err}");
            assert!(o.stdout.is_empty());
        }
    }
}

#[test]
fn read_only_layers_refuse_writes_with_erofs() {
    let t = tempfile::tempdir().unwrap();
    let base = put(t.path(), "base.tar", &base_tar());
    let m = put(t.path(), "w.wat", WRITER.as_bytes());
    // WRITER's first call is mkdir("tmp"): EROFS (69) on a read-only image root.
    let spec = format!("{base}::/::ro");
    let o = strata(&["run", "--image", &spec, &m]);
    assert_eq!(
        o.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The same image without ::ro gets a writable layer.
    let o = strata(&["run", "--image", &base, &m]);
    assert_eq!(o.status.code(), Some(0));
    // A host directory mounted read-only.
    let host = t.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let spec = format!("{}::/::ro", host.display());
    let o = strata(&["run", "--dir", &spec, &m]);
    assert_eq!(o.status.code(), Some(69));
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 0);
    // Without ::GUEST the guest path is the host path, `::ro` being no part of it.
    let data = t.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f.txt"), "read-only data\n").unwrap();
    let cat = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs/wasm/cat.wasm");
    let spec = format!("{}::ro", data.display());
    let file = format!("{}/f.txt", data.display());
    let o = strata(&["run", "--dir", &spec, cat, &file]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.stdout, b"read-only data\n");
}
