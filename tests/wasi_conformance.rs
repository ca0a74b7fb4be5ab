//! Conformance cases found by running the public WebAssembly/wasi-testsuite (wasm32-wasip1)
//! against strata, driven here directly through the syscall layer over a byte buffer.

mod guest;

use guest::{DATA, Guest, IOV, OUT, RO};
use strata::vfs::Errno;
use strata::wasi::abi::{Abi, oflags, rights};

/// wasi-testsuite's helpers reopen a preopen with `path_open(pre, ".", DIRECTORY, base,
/// inheriting)` using the rights `fd_fdstat_get` reports: a directory's own rights (which
/// include FD_DATASYNC) must not count as opening it for writing. Only FD_WRITE does
/// (path_open_preopen: DIRECTORY with FD_READ|FD_WRITE is EISDIR).
#[test]
fn directory_reopens_with_its_own_rights() {
    let mut g = Guest::new();
    let (base, inh) = g.rights(g.root);
    assert_ne!(base & rights::FD_DATASYNC, 0);
    let fd = g
        .open_at(g.root, 0, ".", oflags::DIRECTORY, base, inh, 0)
        .expect("reopen with own rights");
    assert!(fd > g.root);
    g.open_at(
        g.root,
        0,
        ".",
        0,
        base | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE,
        inh,
        0,
    )
    .expect("rights other than FD_WRITE do not ask for write access");
    assert_eq!(
        g.open_at(
            g.root,
            0,
            ".",
            oflags::DIRECTORY,
            rights::FD_READ | rights::FD_WRITE,
            0,
            0
        ),
        Err(Errno::Isdir)
    );
}

/// directory_seek: a directory opened asking for FD_SEEK does not get it, and cannot seek.
#[test]
fn directory_rights_are_narrowed_to_directory_rights() {
    let mut g = Guest::new();
    g.mkdir("d");
    let fd = g
        .open_at(
            g.root,
            0,
            "d",
            oflags::DIRECTORY,
            rights::FD_SEEK | rights::FD_READDIR,
            0,
            0,
        )
        .unwrap();
    let (base, _) = g.rights(fd);
    assert_eq!(base & rights::FD_SEEK, 0);
    assert_ne!(base & rights::FD_READDIR, 0);
    // Seeking a directory fd is EBADF (not a file; wasmtime says the same), before rights are
    // looked at: the seek right was asked for and not given, and would not help.
    assert_eq!(
        g.ctx
            .fd_seek(&mut g.mem, Abi::P1, fd, 0, 1 /* WHENCE_CUR */, OUT),
        Err(Errno::Badf)
    );
    // Dropping rights with a mask that carries file rights still works on a directory (the
    // file bits are ignored), and does not grant them; gaining a directory right does not.
    let keep = rights::FD_READ | rights::FD_SEEK | rights::FD_READDIR;
    assert_eq!(g.ctx.fd_fdstat_set_rights(fd, keep, 0), Ok(()));
    assert_eq!(g.rights(fd), (rights::FD_READDIR, 0));
    assert_eq!(
        g.ctx
            .fd_fdstat_set_rights(fd, rights::FD_READDIR | rights::PATH_OPEN, 0),
        Err(Errno::Notcapable)
    );
}

/// path_symlink_trailing_slashes (strict Unix errno mode, as wasmtime): `name/` over an
/// existing file is ENOTDIR; over a directory, or without the slash, EEXIST; dangling, ENOENT.
#[test]
fn symlink_trailing_slash_errors() {
    let mut g = Guest::new();
    let fd = g
        .open_at(g.root, 0, "file", oflags::CREAT, 0, 0, 0)
        .unwrap();
    g.ctx.fd_close(fd).unwrap();
    g.mkdir("dir");
    assert_eq!(g.symlink("source", "file/"), Err(Errno::Notdir));
    assert_eq!(g.symlink("source", "file//"), Err(Errno::Notdir));
    assert_eq!(g.symlink("source", "file"), Err(Errno::Exist));
    assert_eq!(g.symlink("source", "dir/"), Err(Errno::Exist));
    assert_eq!(g.symlink("source", "dir"), Err(Errno::Exist));
    assert_eq!(g.symlink("source", "missing/"), Err(Errno::Noent));
}

/// The read threads make without the context (`fd_read_shared` + `finish`) leaves memory,
/// count and cursor exactly as `fd_read` does: whole iovecs while the file lasts, a short
/// last one, nothing (cursor kept) past the end.
#[test]
fn a_shared_read_is_an_fd_read() {
    use strata::vfs::FileData;
    let contents: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    // (cursor, iovec lengths)
    let cases: &[(u64, &[u32])] = &[
        (0, &[100]),
        (0, &[4096, 4096, 4096]),
        (9_990, &[4, 100, 100]),
        (10_000, &[10]),
        (20_000, &[10]),
        (5, &[0, 7, 0]),
    ];
    for &(pos, lens) in cases {
        let mut results = Vec::new();
        for shared in [false, true] {
            let mut g = Guest::new();
            let root = g.ctx.vfs.root();
            g.ctx
                .vfs
                .write_file(root, "f", FileData::from_bytes(contents.clone().into()))
                .unwrap();
            let fd = g.open_at(g.root, 0, "f", 0, RO, 0, 0).unwrap();
            g.ctx
                .fd_seek(&mut g.mem, Abi::P1, fd, pos as i64, 0, OUT)
                .unwrap();
            // iovecs at IOV, buffers from DATA on, 8 KiB apart.
            for (i, &len) in lens.iter().enumerate() {
                let at = IOV as usize + 8 * i;
                let buf = DATA + 8192 * i as u32;
                g.mem[at..at + 4].copy_from_slice(&buf.to_le_bytes());
                g.mem[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
            }
            g.mem[DATA as usize..].fill(0xAA);
            let n = lens.len() as u32;
            if shared {
                let read = g
                    .ctx
                    .fd_read_shared(&g.mem, fd, IOV, n, OUT)
                    .expect("an unwritten file is one shared buffer");
                read.finish(&mut g.mem).unwrap();
            } else {
                g.ctx.fd_read(&mut g.mem, fd, IOV, n, OUT).unwrap();
            }
            let count = g.out_u32();
            let cursor = g.tell(fd);
            results.push((count, cursor, g.mem.clone()));
        }
        assert!(results[0] == results[1], "cursor {pos}, iovecs {lens:?}");
    }
}
