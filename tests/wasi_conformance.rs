//! Conformance cases found by running the public WebAssembly/wasi-testsuite (wasm32-wasip1)
//! against strata, driven here directly through the syscall layer over a byte buffer.

use strata::vfs::{Errno, Vfs};
use strata::wasi::abi::{Abi, oflags, rights};
use strata::wasi::ctx::WasiCtx;

const MEM: usize = 1 << 16;
/// Where path strings are placed in the test memory.
const PATH: u32 = 1024;
const PATH2: u32 = 2048;
/// Result slots.
const OUT: u32 = 64;

struct Guest {
    ctx: WasiCtx,
    mem: Vec<u8>,
    root: u32,
}

impl Guest {
    fn new() -> Self {
        let vfs = Vfs::default();
        let root = vfs.root();
        let mut ctx = WasiCtx::new(vfs);
        let root = ctx.preopen(root, "/").unwrap();
        Guest {
            ctx,
            mem: vec![0; MEM],
            root,
        }
    }

    fn put(&mut self, at: u32, s: &str) -> u32 {
        self.mem[at as usize..at as usize + s.len()].copy_from_slice(s.as_bytes());
        s.len() as u32
    }

    fn open(
        &mut self,
        dir: u32,
        path: &str,
        oflags: u16,
        base: u64,
        inh: u64,
    ) -> Result<u32, Errno> {
        let len = self.put(PATH, path);
        self.ctx
            .path_open(&mut self.mem, dir, 0, PATH, len, oflags, base, inh, 0, OUT)?;
        Ok(u32::from_le_bytes(
            self.mem[OUT as usize..OUT as usize + 4].try_into().unwrap(),
        ))
    }

    /// (base, inheriting) rights from `fd_fdstat_get`.
    fn rights(&mut self, fd: u32) -> (u64, u64) {
        self.ctx.fd_fdstat_get(&mut self.mem, fd, OUT).unwrap();
        let at = OUT as usize;
        let u64_at =
            |o: usize| u64::from_le_bytes(self.mem[at + o..at + o + 8].try_into().unwrap());
        (u64_at(8), u64_at(16))
    }

    fn symlink(&mut self, target: &str, path: &str) -> Result<(), Errno> {
        let tl = self.put(PATH, target);
        let pl = self.put(PATH2, path);
        let root = self.root;
        self.ctx
            .path_symlink(&mut self.mem, PATH, tl, root, PATH2, pl)
    }

    fn mkdir(&mut self, path: &str) {
        let len = self.put(PATH, path);
        let root = self.root;
        self.ctx
            .path_create_directory(&mut self.mem, root, PATH, len)
            .unwrap();
    }
}

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
        .open(g.root, ".", oflags::DIRECTORY, base, inh)
        .expect("reopen with own rights");
    assert!(fd > g.root);
    g.open(
        g.root,
        ".",
        0,
        base | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE,
        inh,
    )
    .expect("rights other than FD_WRITE do not ask for write access");
    assert_eq!(
        g.open(
            g.root,
            ".",
            oflags::DIRECTORY,
            rights::FD_READ | rights::FD_WRITE,
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
        .open(
            g.root,
            "d",
            oflags::DIRECTORY,
            rights::FD_SEEK | rights::FD_READDIR,
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
    let fd = g.open(g.root, "file", oflags::CREAT, 0, 0).unwrap();
    g.ctx.fd_close(fd).unwrap();
    g.mkdir("dir");
    assert_eq!(g.symlink("source", "file/"), Err(Errno::Notdir));
    assert_eq!(g.symlink("source", "file//"), Err(Errno::Notdir));
    assert_eq!(g.symlink("source", "file"), Err(Errno::Exist));
    assert_eq!(g.symlink("source", "dir/"), Err(Errno::Exist));
    assert_eq!(g.symlink("source", "dir"), Err(Errno::Exist));
    assert_eq!(g.symlink("source", "missing/"), Err(Errno::Noent));
}
