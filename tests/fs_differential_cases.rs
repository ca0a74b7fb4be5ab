//! Divergences from Linux found by the differential test (`tests/fs_differential.rs`, the
//! `fsdiff` program natively and on strata), each kept here as a regression test driven
//! directly through the syscall layer over a byte buffer.

mod guest;

use guest::{Guest, IOV, OUT, PATH, RO, RW};
use strata::vfs::Errno;
use strata::wasi::abi::{fdflags, oflags, rights};

/// `path_open` relative to the root, following symlinks, with `base` rights inherited too.
fn open(g: &mut Guest, path: &str, oflags: u16, base: u64, flags: u16) -> Result<u32, Errno> {
    let root = g.root;
    g.open_at(root, 1, path, oflags, base, base, flags)
}

/// A write of zero bytes has no other effect (POSIX write(2)): on an append-mode fd it does
/// not move the position to the end, as Linux. (strata moved it: fsdiff seed 6.)
#[test]
fn empty_append_write_keeps_the_position() {
    let mut g = Guest::new();
    let fd = open(&mut g, "f", oflags::CREAT, RW, fdflags::APPEND).expect("create f");
    assert_eq!(g.write(fd, b"0123456"), Ok(7));
    assert_eq!(g.pwrite(fd, b"abcd", 7), Ok(4));
    assert_eq!(g.tell(fd), 7, "pwrite leaves the position");
    assert_eq!(g.write(fd, b""), Ok(0));
    assert_eq!(g.tell(fd), 7, "an empty write leaves it too");
    assert_eq!(g.read(fd, 10), Ok(b"abcd".to_vec()));
    // Zero iovecs likewise.
    let fd2 = open(&mut g, "f", 0, RW, fdflags::APPEND).unwrap();
    g.ctx.fd_write(&mut g.mem, fd2, IOV, 0, OUT).unwrap();
    assert_eq!(g.tell(fd2), 0);
    // A real append write still goes to the end and moves there.
    assert_eq!(g.write(fd2, b"!"), Ok(1));
    assert_eq!(g.tell(fd2), 12);
}

/// `O_TRUNC` without write rights truncates but leaves a read-only fd: writing through it is
/// EBADF, as on Linux for `O_RDONLY|O_TRUNC`, not NOTCAPABLE. (fsdiff seed 29.)
#[test]
fn read_only_truncating_open_stays_read_only() {
    let mut g = Guest::new();
    let fd = open(&mut g, "f", oflags::CREAT, RW, 0).unwrap();
    assert_eq!(g.write(fd, b"hello"), Ok(5));
    let ro = open(&mut g, "f", oflags::TRUNC, RO, 0).expect("truncating open");
    assert_eq!(g.read(ro, 10), Ok(Vec::new()), "truncated");
    assert_eq!(g.write(ro, b"x"), Err(Errno::Badf));
    assert_eq!(g.pwrite(ro, b"x", 0), Err(Errno::Badf));
    // The same as a plain read-only fd.
    let plain = open(&mut g, "f", 0, RO, 0).unwrap();
    assert_eq!(g.write(plain, b"x"), Err(Errno::Badf));
}

/// linkat into a directory that was removed while open is ENOENT, even when the source is a
/// directory (EPERM): Linux makes the new name before it looks at the source. (strata said
/// EPERM: fsdiff seeds 204318, 205337, 207564.)
#[test]
fn link_into_a_removed_directory_is_enoent_first() {
    let mut g = Guest::new();
    for d in ["gone", "dir"] {
        g.mem[PATH as usize..PATH as usize + d.len()].copy_from_slice(d.as_bytes());
        g.ctx
            .path_create_directory(&mut g.mem, g.root, PATH, d.len() as u32)
            .unwrap();
    }
    let gone = open(
        &mut g,
        "gone",
        oflags::DIRECTORY,
        rights::PATH_LINK_TARGET,
        0,
    )
    .unwrap();
    let f = open(&mut g, "f", oflags::CREAT, RW, 0).unwrap();
    g.ctx.fd_close(f).unwrap();
    g.mem[PATH as usize..PATH as usize + 4].copy_from_slice(b"gone");
    g.ctx
        .path_remove_directory(&mut g.mem, g.root, PATH, 4)
        .unwrap();
    let link = |g: &mut Guest, from: &str| {
        g.mem[PATH as usize..PATH as usize + from.len()].copy_from_slice(from.as_bytes());
        g.mem[PATH as usize + 100..PATH as usize + 101].copy_from_slice(b"x");
        let root = g.root;
        g.ctx.path_link(
            &mut g.mem,
            root,
            0,
            PATH,
            from.len() as u32,
            gone,
            PATH + 100,
            1,
        )
    };
    assert_eq!(link(&mut g, "dir"), Err(Errno::Noent));
    assert_eq!(link(&mut g, "f"), Err(Errno::Noent));
    assert_eq!(link(&mut g, "missing"), Err(Errno::Noent));
}

/// renameat into a directory removed while open is ENOENT, even when a trailing slash on a
/// non-directory source would be ENOTDIR: Linux looks the new name up first. (strata said
/// ENOTDIR: fsdiff seed 303717.)
#[test]
fn rename_into_a_removed_directory_is_enoent_first() {
    let mut g = Guest::new();
    let root = g.root;
    let put = |g: &mut Guest, at: u32, s: &str| {
        g.mem[at as usize..at as usize + s.len()].copy_from_slice(s.as_bytes());
        s.len() as u32
    };
    for d in ["gone", "a"] {
        let n = put(&mut g, PATH, d);
        g.ctx
            .path_create_directory(&mut g.mem, root, PATH, n)
            .unwrap();
    }
    let gone = open(
        &mut g,
        "gone",
        oflags::DIRECTORY,
        rights::PATH_RENAME_TARGET,
        0,
    )
    .unwrap();
    let f = open(&mut g, "f", oflags::CREAT, RW, 0).unwrap();
    g.ctx.fd_close(f).unwrap();
    let n = put(&mut g, PATH, "a");
    let m = put(&mut g, PATH + 100, "s");
    g.ctx
        .path_symlink(&mut g.mem, PATH, n, root, PATH + 100, m)
        .unwrap();
    let n = put(&mut g, PATH, "gone");
    g.ctx
        .path_remove_directory(&mut g.mem, root, PATH, n)
        .unwrap();
    let rename = |g: &mut Guest, from: &str, to_dir: u32, to: &str| {
        let n = put(g, PATH, from);
        let m = put(g, PATH + 100, to);
        g.ctx
            .path_rename(&mut g.mem, root, PATH, n, to_dir, PATH + 100, m)
    };
    assert_eq!(rename(&mut g, "s//", gone, "n/"), Err(Errno::Noent));
    assert_eq!(rename(&mut g, "f/", gone, "x"), Err(Errno::Noent));
    assert_eq!(rename(&mut g, "f", gone, "x"), Err(Errno::Noent));
    assert_eq!(rename(&mut g, "a", gone, "x"), Err(Errno::Noent));
    // In a live directory the trailing slash still counts.
    assert_eq!(rename(&mut g, "f/", root, "x"), Err(Errno::Notdir));
}
