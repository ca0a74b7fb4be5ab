//! A guest driven straight through the syscall layer over a byte buffer: a `WasiCtx` with the
//! root preopened, fixed slots in its memory for paths, iovecs, data and results, and helpers
//! for the calls the syscall-level tests make. Needs no wasmer (runs without `runtime`).
//!
//! Included with `mod guest;` by tests/wasi_conformance.rs and tests/fs_differential_cases.rs.

#![allow(dead_code)]

use strata::vfs::{Errno, Vfs};
use strata::wasi::abi::{Abi, rights};
use strata::wasi::ctx::WasiCtx;

pub const MEM: usize = 1 << 16;
/// Where path strings are placed.
pub const PATH: u32 = 1024;
pub const PATH2: u32 = 2048;
/// One iovec, pointing at DATA.
pub const IOV: u32 = 512;
pub const DATA: u32 = 4096;
/// Result slots.
pub const OUT: u32 = 64;

/// Read, write, seek, tell and truncate.
pub const RW: u64 = rights::FD_READ
    | rights::FD_WRITE
    | rights::FD_SEEK
    | rights::FD_TELL
    | rights::FD_FILESTAT_SET_SIZE;
/// Read, seek and tell.
pub const RO: u64 = rights::FD_READ | rights::FD_SEEK | rights::FD_TELL;

pub struct Guest {
    pub ctx: WasiCtx,
    pub mem: Vec<u8>,
    /// The preopened root's fd.
    pub root: u32,
}

impl Guest {
    pub fn new() -> Self {
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

    /// Writes `s` at `at`; its length.
    pub fn put(&mut self, at: u32, s: &str) -> u32 {
        self.mem[at as usize..at as usize + s.len()].copy_from_slice(s.as_bytes());
        s.len() as u32
    }

    pub fn out_u32(&self) -> u32 {
        u32::from_le_bytes(self.mem[OUT as usize..OUT as usize + 4].try_into().unwrap())
    }

    pub fn out_u64(&self) -> u64 {
        u64::from_le_bytes(self.mem[OUT as usize..OUT as usize + 8].try_into().unwrap())
    }

    /// `path_open(dir, lookup, path, ...)`: the new fd.
    #[allow(clippy::too_many_arguments)]
    pub fn open_at(
        &mut self,
        dir: u32,
        lookup: u32,
        path: &str,
        oflags: u16,
        base: u64,
        inh: u64,
        fdflags: u16,
    ) -> Result<u32, Errno> {
        let len = self.put(PATH, path);
        self.ctx.path_open(
            &mut self.mem,
            dir,
            lookup,
            PATH,
            len,
            oflags,
            base,
            inh,
            fdflags,
            OUT,
        )?;
        Ok(self.out_u32())
    }

    /// One iovec holding `data` at DATA.
    pub fn iovec(&mut self, data: &[u8]) {
        self.mem[DATA as usize..DATA as usize + data.len()].copy_from_slice(data);
        self.mem[IOV as usize..IOV as usize + 4].copy_from_slice(&DATA.to_le_bytes());
        self.mem[IOV as usize + 4..IOV as usize + 8]
            .copy_from_slice(&(data.len() as u32).to_le_bytes());
    }

    pub fn write(&mut self, fd: u32, data: &[u8]) -> Result<u32, Errno> {
        self.iovec(data);
        self.ctx.fd_write(&mut self.mem, fd, IOV, 1, OUT)?;
        Ok(self.out_u32())
    }

    pub fn pwrite(&mut self, fd: u32, data: &[u8], at: u64) -> Result<u32, Errno> {
        self.iovec(data);
        self.ctx.fd_pwrite(&mut self.mem, fd, IOV, 1, at, OUT)?;
        Ok(self.out_u32())
    }

    pub fn read(&mut self, fd: u32, n: u32) -> Result<Vec<u8>, Errno> {
        self.mem[IOV as usize..IOV as usize + 4].copy_from_slice(&DATA.to_le_bytes());
        self.mem[IOV as usize + 4..IOV as usize + 8].copy_from_slice(&n.to_le_bytes());
        self.ctx.fd_read(&mut self.mem, fd, IOV, 1, OUT)?;
        let got = self.out_u32() as usize;
        Ok(self.mem[DATA as usize..DATA as usize + got].to_vec())
    }

    /// The position, by `fd_seek(fd, 0, CUR)`.
    pub fn tell(&mut self, fd: u32) -> u64 {
        self.ctx
            .fd_seek(&mut self.mem, Abi::P1, fd, 0, 1, OUT)
            .unwrap();
        self.out_u64()
    }

    /// (base, inheriting) rights from `fd_fdstat_get`.
    pub fn rights(&mut self, fd: u32) -> (u64, u64) {
        self.ctx.fd_fdstat_get(&mut self.mem, fd, OUT).unwrap();
        let at = OUT as usize;
        let u64_at =
            |o: usize| u64::from_le_bytes(self.mem[at + o..at + o + 8].try_into().unwrap());
        (u64_at(8), u64_at(16))
    }

    pub fn symlink(&mut self, target: &str, path: &str) -> Result<(), Errno> {
        let tl = self.put(PATH, target);
        let pl = self.put(PATH2, path);
        let root = self.root;
        self.ctx
            .path_symlink(&mut self.mem, PATH, tl, root, PATH2, pl)
    }

    pub fn mkdir(&mut self, path: &str) {
        let len = self.put(PATH, path);
        let root = self.root;
        self.ctx
            .path_create_directory(&mut self.mem, root, PATH, len)
            .unwrap();
    }
}
