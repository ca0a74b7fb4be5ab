//! The `fd_*` family: I/O, cursors, attributes and directory listing on open descriptors.
//! Checks run in a fixed order: the fd exists (`EBADF`), its kind suits the call, its open
//! mode allows it (`EBADF`), then its rights (`ENOTCAPABLE`), then guest memory (`EFAULT`),
//! all before anything changes, so a failing call has no effect.

#![forbid(unsafe_code)]

use super::abi::{self, Abi, Filestat, rights};
use super::ctx::WasiCtx;
use super::faults::FaultOp;
use super::fdtable::{FdEntry, FdKind, Stdio};
use super::memory::GuestMemory;
use crate::vfs::{Errno, NodeId, Result, SetTime, Stat};

/// Most bytes one `fd_read`/`fd_write` moves from or to stdio through a bounce buffer.
const STDIO_CHUNK: usize = 64 * 1024;

pub(crate) fn filestat_of(st: &Stat) -> Filestat {
    Filestat {
        dev: st.dev,
        ino: st.ino,
        filetype: st.filetype as u8,
        nlink: st.nlink,
        size: st.size,
        atim: st.atim,
        mtim: st.mtim,
        ctim: st.ctim,
    }
}

/// Decodes `fst_flags` with the two timestamps into what to do with each.
pub(crate) fn set_times_args(atim: u64, mtim: u64, fst_flags: u16) -> Result<(SetTime, SetTime)> {
    use abi::fstflags::*;
    if fst_flags & !(ATIM | ATIM_NOW | MTIM | MTIM_NOW) != 0 {
        return Err(Errno::Inval);
    }
    let pick = |set: u16, now: u16, t: u64| match (fst_flags & set != 0, fst_flags & now != 0) {
        (true, true) => Err(Errno::Inval),
        (true, false) => Ok(SetTime::At(t)),
        (false, true) => Ok(SetTime::Now),
        (false, false) => Ok(SetTime::Keep),
    };
    Ok((pick(ATIM, ATIM_NOW, atim)?, pick(MTIM, MTIM_NOW, mtim)?))
}

/// An `fd_read` prepared by `WasiCtx::fd_read_shared`: the bytes it reads and where they go.
#[derive(Debug)]
pub struct SharedRead {
    data: bytes::Bytes,
    iovs: Vec<(u32, u32)>,
    nread: u32,
}

impl SharedRead {
    /// Copies the bytes into the iovecs (checked by `fd_read_shared`: they lie in memory,
    /// which never shrinks) and the count to `nread`.
    pub fn finish<M: GuestMemory + ?Sized>(self, mem: &mut M) -> Result<()> {
        let mut done = 0usize;
        for (ptr, len) in self.iovs {
            if done == self.data.len() {
                break;
            }
            let k = (len as usize).min(self.data.len() - done);
            mem.write(ptr, &self.data[done..done + k])?;
            done += k;
        }
        mem.write_u32(self.nread, done as u32)
    }
}

impl WasiCtx {
    /// The file behind `fd` with its cursor, for calls that only make sense on files.
    fn file_fd(&self, fd: u32) -> Result<(&FdEntry, NodeId, u64)> {
        let e = self.fds.get(fd)?;
        match e.kind {
            FdKind::File { node, pos } => Ok((e, node, pos)),
            FdKind::Dir { .. } => Err(Errno::Isdir),
            FdKind::Stdio(_) => Err(Errno::Spipe),
        }
    }

    /// Checks every iovec lies in guest memory (`EFAULT`), then that their lengths add up to
    /// what the call can report (`EINVAL` past `u32::MAX`, as POSIX `readv`/`writev` refuse a
    /// total past `SSIZE_MAX`): nothing is moved for a call that could not say how much it
    /// moved. Returns them.
    fn iovecs<M: GuestMemory + ?Sized>(mem: &M, iovs: u32, count: u32) -> Result<Vec<(u32, u32)>> {
        let v = mem.read_iovecs(iovs, count)?;
        let mut total = 0u64;
        for &(ptr, len) in &v {
            mem.check(ptr, len)?;
            total += u64::from(len);
        }
        if total > u64::from(u32::MAX) {
            return Err(Errno::Inval);
        }
        Ok(v)
    }

    fn read_into<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        at: Option<u64>,
    ) -> Result<u32> {
        let e = self.fds.get(fd)?;
        if let FdKind::Stdio(s) = e.kind {
            if at.is_some() {
                return Err(Errno::Spipe);
            }
            if s != Stdio::Stdin || !e.read {
                return Err(Errno::Badf);
            }
            e.require(rights::FD_READ)?;
            let iovs = Self::iovecs(mem, iovs, count)?;
            let limit = self.inject(FaultOp::Read, fd)?;
            // One read per call, like a pipe: return as soon as anything arrived.
            for (ptr, len) in iovs {
                if len == 0 {
                    continue;
                }
                if limit == 0 {
                    break;
                }
                let mut buf = vec![0u8; (len as usize).min(STDIO_CHUNK).min(limit)];
                let n = self.read_stdin(&mut buf)?;
                mem.write(ptr, &buf[..n])?;
                return Ok(n as u32);
            }
            return Ok(0);
        }
        let (e, node, pos) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir => Errno::Isdir,
            other => other,
        })?;
        if !e.read {
            return Err(Errno::Badf);
        }
        e.require(rights::FD_READ | if at.is_some() { rights::FD_SEEK } else { 0 })?;
        let iovs = Self::iovecs(mem, iovs, count)?;
        let mut off = at.unwrap_or(pos);
        let mut total: u64 = 0;
        // Injected short reads move at most `left` bytes in all.
        let mut left = self.inject(FaultOp::Read, fd)?;
        for (ptr, len) in iovs {
            let dst = mem.slice_mut(ptr, (len as usize).min(left) as u32)?;
            let n = self.vfs.read(node, off, dst)?;
            off += n as u64;
            total += n as u64;
            left -= n;
            if n < len as usize {
                break;
            }
        }
        if at.is_none() {
            self.set_pos(fd, off)?;
        }
        u32::try_from(total).map_err(|_| Errno::Overflow)
    }

    fn set_pos(&mut self, fd: u32, new: u64) -> Result<()> {
        if let FdKind::File { pos, .. } = &mut self.fds.get_mut(fd)?.kind {
            *pos = new;
        }
        Ok(())
    }

    fn write_from<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        at: Option<u64>,
    ) -> Result<u32> {
        let e = self.fds.get(fd)?;
        if let FdKind::Stdio(s) = e.kind {
            if at.is_some() {
                return Err(Errno::Spipe);
            }
            if s == Stdio::Stdin || !e.write {
                return Err(Errno::Badf);
            }
            e.require(rights::FD_WRITE)?;
            let iovs = Self::iovecs(mem, iovs, count)?;
            let mut left = self.inject(FaultOp::Write, fd)?;
            let mut total = 0u64;
            for (ptr, len) in iovs {
                let n = (len as usize).min(left);
                if n == 0 && len > 0 {
                    break;
                }
                let data = mem.slice(ptr, n as u32)?;
                self.write_stdio(s, data)?;
                total += n as u64;
                left -= n;
            }
            return u32::try_from(total).map_err(|_| Errno::Overflow);
        }
        // A directory fd is never open for writing: EBADF, as write(2) on one gives.
        let (e, node, pos) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir => Errno::Badf,
            other => other,
        })?;
        if !e.write {
            return Err(Errno::Badf);
        }
        e.require(rights::FD_WRITE | if at.is_some() { rights::FD_SEEK } else { 0 })?;
        let append = e.flags & abi::fdflags::APPEND != 0;
        let iovs = Self::iovecs(mem, iovs, count)?;
        // pwrite on an append-mode fd writes at the offset, as POSIX says. Linux appends
        // whatever the offset (pwrite(2), BUGS), and so does wasmtime on Linux; guests
        // cannot rely on either (tests/fs_differential.rs documents it).
        let mut off = at.unwrap_or(pos);
        let mut total = 0u64;
        // Injected short writes move at most `left` bytes in all.
        let mut left = self.inject(FaultOp::Write, fd)?;
        for (ptr, len) in iovs {
            let n = (len as usize).min(left);
            if n == 0 && len > 0 {
                break;
            }
            let data = mem.slice(ptr, n as u32)?;
            if n == 0 {
                // Writing nothing has no other effect (POSIX write(2), Linux): an
                // append-mode fd is not moved to the end, the file is not touched.
                continue;
            }
            let target = if append && at.is_none() {
                None
            } else {
                Some(off)
            };
            off = self.vfs.write(node, target, data)?;
            total += n as u64;
            left -= n;
        }
        if at.is_none() {
            self.set_pos(fd, off)?;
        }
        u32::try_from(total).map_err(|_| Errno::Overflow)
    }

    /// The first half of an `fd_read` that can finish without the context: a read of a
    /// regular file whose contents are still one shared buffer (an image's or a host file's,
    /// not written since), with no fault to inject. Checks what `fd_read` checks, in its
    /// order, moves the cursor past what will be read, and returns the bytes to copy;
    /// `SharedRead::finish` copies them into guest memory. `None` (also on any error): the
    /// call must go through `fd_read`, which gives the same answer it always does.
    pub fn fd_read_shared<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        fd: u32,
        iovs: u32,
        count: u32,
        nread: u32,
    ) -> Option<SharedRead> {
        if !self.faults.is_empty() || mem.check(nread, 4).is_err() {
            return None;
        }
        let (e, node, pos) = self.file_fd(fd).ok()?;
        if !e.read || e.require(rights::FD_READ).is_err() {
            return None;
        }
        let data = self.vfs.shared_bytes(node).ok()??;
        let iovs = Self::iovecs(mem, iovs, count).ok()?;
        // Past the end nothing is read and the cursor stays.
        let start = usize::try_from(pos).ok()?.min(data.len());
        // As `read_into` fills them: whole iovecs while the file lasts.
        let mut avail = data.len() - start;
        let mut n = 0usize;
        for &(_, len) in &iovs {
            let k = (len as usize).min(avail);
            n += k;
            avail -= k;
            if k < len as usize {
                break;
            }
        }
        self.set_pos(fd, pos + n as u64).ok()?;
        Some(SharedRead {
            data: data.slice(start..start + n),
            iovs,
            nread,
        })
    }

    /// `fd_read`: reads into the iovecs at `iovs`; the byte count goes to `nread`.
    pub fn fd_read<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        nread: u32,
    ) -> Result<()> {
        mem.check(nread, 4)?; // checked first: a failing call must have no effect
        let n = self.read_into(mem, fd, iovs, count, None)?;
        mem.write_u32(nread, n)
    }

    /// `fd_pread`: `fd_read` at `offset`, leaving the cursor.
    pub fn fd_pread<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        offset: u64,
        nread: u32,
    ) -> Result<()> {
        mem.check(nread, 4)?;
        let n = self.read_into(mem, fd, iovs, count, Some(offset))?;
        mem.write_u32(nread, n)
    }

    /// `fd_write`: writes the iovecs at `iovs`; the byte count goes to `nwritten`.
    pub fn fd_write<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        nwritten: u32,
    ) -> Result<()> {
        mem.check(nwritten, 4)?;
        let n = self.write_from(mem, fd, iovs, count, None)?;
        mem.write_u32(nwritten, n)
    }

    /// `fd_pwrite`: `fd_write` at `offset`, leaving the cursor.
    pub fn fd_pwrite<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        offset: u64,
        nwritten: u32,
    ) -> Result<()> {
        mem.check(nwritten, 4)?;
        let n = self.write_from(mem, fd, iovs, count, Some(offset))?;
        mem.write_u32(nwritten, n)
    }

    /// `fd_seek`: moves the cursor; the new offset goes to `newoffset`.
    pub fn fd_seek<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        abi: Abi,
        fd: u32,
        offset: i64,
        whence: u8,
        newoffset: u32,
    ) -> Result<()> {
        let whence = abi::Whence::decode(abi, whence)?;
        let (e, node, pos) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir => Errno::Badf,
            other => other,
        })?;
        let needed = if offset == 0 && whence == abi::Whence::Cur {
            rights::FD_TELL
        } else {
            rights::FD_SEEK
        };
        if e.rights_base & (needed | rights::FD_SEEK) == 0 {
            return Err(Errno::Notcapable);
        }
        let base = match whence {
            abi::Whence::Set => 0,
            abi::Whence::Cur => pos,
            abi::Whence::End => self.vfs.stat_node(node)?.size,
        };
        let new = i128::from(base) + i128::from(offset);
        if new < 0 || new > i128::from(i64::MAX) {
            return Err(Errno::Inval);
        }
        mem.write_u64(newoffset, new as u64)?;
        self.set_pos(fd, new as u64)
    }

    /// `fd_tell`: the cursor goes to `out`.
    pub fn fd_tell<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        out: u32,
    ) -> Result<()> {
        let (e, _, pos) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir => Errno::Badf,
            other => other,
        })?;
        if e.rights_base & (rights::FD_TELL | rights::FD_SEEK) == 0 {
            return Err(Errno::Notcapable);
        }
        mem.write_u64(out, pos)
    }

    /// `fd_close`.
    pub fn fd_close(&mut self, fd: u32) -> Result<()> {
        let e = self.fds.remove(fd)?;
        if let Some(node) = e.node() {
            self.vfs.release(node);
        }
        Ok(())
    }

    /// `fd_renumber`: fd `to` now refers to what `from` did (what `to` was is closed), and
    /// `from` is no longer open.
    pub fn fd_renumber(&mut self, from: u32, to: u32) -> Result<()> {
        if let Some(old) = self.fds.renumber(from, to)?
            && let Some(node) = old.node()
        {
            self.vfs.release(node);
        }
        Ok(())
    }

    /// `fd_fdstat_get`: type, flags and rights of `fd` go to `out`.
    pub fn fd_fdstat_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        out: u32,
    ) -> Result<()> {
        let e = self.fds.get(fd)?;
        let filetype = match &e.kind {
            FdKind::Stdio(s) => self.stdio_kind(*s).filetype(),
            FdKind::Dir { .. } => abi::filetype::DIRECTORY,
            FdKind::File { node, .. } => self.vfs.stat_node(*node)?.filetype as u8,
        };
        let st = abi::Fdstat {
            filetype,
            flags: e.flags,
            rights_base: e.rights_base,
            rights_inheriting: e.rights_inheriting,
        };
        mem.write(out, &abi::encode_fdstat(&st))
    }

    /// `fd_fdstat_set_flags`.
    pub fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u16) -> Result<()> {
        let e = self.fds.get_mut(fd)?;
        e.require(rights::FD_FDSTAT_SET_FLAGS)?;
        if flags & !abi::fdflags::ALL != 0 {
            return Err(Errno::Inval);
        }
        e.flags = flags;
        Ok(())
    }

    /// Rights can only be dropped, never gained (`ENOTCAPABLE`).
    pub fn fd_fdstat_set_rights(&mut self, fd: u32, base: u64, inheriting: u64) -> Result<()> {
        let e = self.fds.get_mut(fd)?;
        // A directory fd only ever holds directory rights (see `path_open`): bits that mean
        // nothing on a directory (FD_READ, FD_SEEK, ...) are ignored, as wasi-common did.
        let base = match e.kind {
            FdKind::Dir { .. } => base & rights::DIR_BASE,
            _ => base,
        };
        if base & !e.rights_base != 0 || inheriting & !e.rights_inheriting != 0 {
            return Err(Errno::Notcapable);
        }
        e.rights_base = base;
        e.rights_inheriting = inheriting;
        Ok(())
    }

    pub(crate) fn stat_fd(&mut self, fd: u32) -> Result<Filestat> {
        let e = self.fds.get(fd)?;
        e.require(rights::FD_FILESTAT_GET)?;
        match e.kind {
            FdKind::File { node, .. } | FdKind::Dir { node, .. } => {
                Ok(filestat_of(&self.vfs.stat_node(node)?))
            }
            // The same filetype as `fd_fdstat_get`, the rest zero (as wasmtime).
            FdKind::Stdio(s) => Ok(Filestat {
                filetype: self.stdio_kind(s).filetype(),
                ..Filestat::default()
            }),
        }
    }

    /// `fd_filestat_get`: the attributes of `fd`'s file go to `out`, in `abi`'s layout.
    pub fn fd_filestat_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        abi: Abi,
        fd: u32,
        out: u32,
    ) -> Result<()> {
        let st = self.stat_fd(fd)?;
        abi::write_filestat(mem, abi, out, &st)
    }

    /// `fd_filestat_set_size`: truncates or extends the file.
    pub fn fd_filestat_set_size(&mut self, fd: u32, size: u64) -> Result<()> {
        let (e, node, _) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir | Errno::Spipe => Errno::Badf,
            other => other,
        })?;
        e.require(rights::FD_FILESTAT_SET_SIZE)?;
        if !e.write {
            return Err(Errno::Badf);
        }
        self.vfs.set_size(node, size)
    }

    /// `fd_filestat_set_times`.
    pub fn fd_filestat_set_times(
        &mut self,
        fd: u32,
        atim: u64,
        mtim: u64,
        fst_flags: u16,
    ) -> Result<()> {
        let e = self.fds.get(fd)?;
        e.require(rights::FD_FILESTAT_SET_TIMES)?;
        let (a, m) = set_times_args(atim, mtim, fst_flags)?;
        match e.node() {
            Some(node) => self.vfs.set_times_node(node, a, m),
            None => Ok(()),
        }
    }

    /// `fd_advise`: checked, then ignored (memory has no access pattern to tune).
    pub fn fd_advise(&mut self, fd: u32, _offset: u64, _len: u64, advice: u8) -> Result<()> {
        if advice > abi::advice::NOREUSE {
            return Err(Errno::Inval);
        }
        let (e, _, _) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir | Errno::Spipe => Errno::Badf,
            other => other,
        })?;
        e.require(rights::FD_ADVISE)
    }

    /// `fd_allocate`.
    pub fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> Result<()> {
        let (e, node, _) = self.file_fd(fd).map_err(|err| match err {
            Errno::Isdir | Errno::Spipe => Errno::Badf,
            other => other,
        })?;
        e.require(rights::FD_ALLOCATE)?;
        if !e.write {
            return Err(Errno::Badf);
        }
        self.vfs.allocate(node, offset, len)
    }

    /// Memory is the storage: syncing has nothing to flush, but still checks the fd.
    pub fn fd_sync(&mut self, fd: u32, datasync: bool) -> Result<()> {
        let e = self.fds.get(fd)?;
        match e.kind {
            FdKind::Stdio(_) => Err(Errno::Inval),
            _ => e.require(if datasync {
                rights::FD_DATASYNC
            } else {
                rights::FD_SYNC
            }),
        }
    }

    /// `fd_prestat_get`: the preopen's name length goes to `out`.
    pub fn fd_prestat_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        out: u32,
    ) -> Result<()> {
        match &self.fds.get(fd)?.kind {
            FdKind::Dir {
                preopen: Some(name),
                ..
            } => mem.write(out, &abi::encode_prestat_dir(name.len() as u32)),
            _ => Err(Errno::Badf),
        }
    }

    /// `fd_prestat_dir_name`: the preopen's name goes to `path`.
    pub fn fd_prestat_dir_name<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        path: u32,
        len: u32,
    ) -> Result<()> {
        match &self.fds.get(fd)?.kind {
            FdKind::Dir {
                preopen: Some(name),
                ..
            } => {
                if (len as usize) < name.len() {
                    return Err(Errno::Nametoolong);
                }
                mem.write(path, name.as_bytes())
            }
            _ => Err(Errno::Badf),
        }
    }

    /// Fills `buf` with dirents from `cookie` on; the last one may be cut short, in which
    /// case the guest sees `bufused == buf_len` and asks again with the last full cookie.
    pub fn fd_readdir<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        buf: u32,
        buf_len: u32,
        cookie: u64,
        bufused: u32,
    ) -> Result<()> {
        let e = self.fds.get(fd)?;
        let node = match e.kind {
            FdKind::Dir { node, .. } => node,
            _ => return Err(Errno::Notdir),
        };
        e.require(rights::FD_READDIR)?;
        let out = mem.slice_mut(buf, buf_len)?;
        // A lazy directory (a host tree's) is read on its first listing, and its entries'
        // attributes with it: readdir reports their inode numbers.
        self.vfs.load_dir(node)?;
        self.vfs.settle_dir(node)?;
        let mut used = 0usize;
        // Lazily: a small buffer costs only the entries that fit, not the rest of the
        // directory (wasi-libc lists big directories 4 KiB at a time).
        for (next, name, ino, ft) in self.vfs.readdir_iter(node, cookie)? {
            if used >= out.len() {
                break;
            }
            let head = abi::encode_dirent(next, ino, name.len() as u32, ft as u8);
            for part in [&head[..], name.as_bytes()] {
                let n = part.len().min(out.len() - used);
                out[used..used + n].copy_from_slice(&part[..n]);
                used += n;
            }
        }
        mem.write_u32(bufused, used as u32)
    }
}

/// What fds 0–2 say they are: the kind decided at setup, through both stat calls.
#[cfg(test)]
mod stdio_kind_tests {
    use crate::vfs::Vfs;
    use crate::wasi::abi::{Abi, filetype, rights};
    use crate::wasi::ctx::{StdioKind, WasiCtx};

    /// `(filetype, rights_base)` from `fd_fdstat_get`.
    fn fdstat(ctx: &mut WasiCtx, fd: u32) -> (u8, u64) {
        let mut mem = vec![0u8; 64];
        ctx.fd_fdstat_get(&mut mem, fd, 0).unwrap();
        (mem[0], u64::from_le_bytes(mem[8..16].try_into().unwrap()))
    }

    /// The filetype from `fd_filestat_get` in both layouts (at byte 16 in each).
    fn filestat_type(ctx: &mut WasiCtx, fd: u32) -> u8 {
        let [p1, p0] = [Abi::P1, Abi::P0].map(|abi| {
            let mut mem = vec![0u8; 64];
            ctx.fd_filestat_get(&mut mem, abi, fd, 0).unwrap();
            mem[16]
        });
        assert_eq!(p1, p0, "fd {fd}: preview0 and preview1 agree");
        p1
    }

    /// wasi-libc's `isatty`: a character device without seek or tell rights.
    fn isatty(ctx: &mut WasiCtx, fd: u32) -> bool {
        let (ft, base) = fdstat(ctx, fd);
        ft == filetype::CHARACTER_DEVICE && base & (rights::FD_SEEK | rights::FD_TELL) == 0
    }

    #[test]
    fn each_kind_reports_its_filetype_through_fdstat_and_filestat() {
        for (kind, ft) in [
            (StdioKind::Terminal, filetype::CHARACTER_DEVICE),
            (StdioKind::RegularFile, filetype::REGULAR_FILE),
            (StdioKind::Unknown, filetype::UNKNOWN),
        ] {
            let mut ctx = WasiCtx::new(Vfs::default());
            ctx.stdio_kinds = [kind; 3];
            for fd in 0..3 {
                let (got, base) = fdstat(&mut ctx, fd);
                assert_eq!(got, ft, "{kind:?}: fd {fd}: fdstat");
                assert_eq!(
                    base & (rights::FD_SEEK | rights::FD_TELL),
                    0,
                    "never seekable"
                );
                assert_eq!(
                    filestat_type(&mut ctx, fd),
                    ft,
                    "{kind:?}: fd {fd}: filestat"
                );
                assert_eq!(
                    isatty(&mut ctx, fd),
                    kind == StdioKind::Terminal,
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn each_stream_has_its_own_kind_and_keeps_it_when_renumbered() {
        let mut ctx = WasiCtx::new(Vfs::default());
        ctx.stdio_kinds = [
            StdioKind::RegularFile,
            StdioKind::Unknown,
            StdioKind::Terminal,
        ];
        let want = [
            filetype::REGULAR_FILE,
            filetype::UNKNOWN,
            filetype::CHARACTER_DEVICE,
        ];
        for fd in 0..3 {
            assert_eq!(fdstat(&mut ctx, fd).0, want[fd as usize]);
            assert_eq!(filestat_type(&mut ctx, fd), want[fd as usize]);
        }
        assert_eq!(
            (0..3).map(|fd| isatty(&mut ctx, fd)).collect::<Vec<_>>(),
            [false, false, true]
        );
        // stderr moved onto fd 3 is still the terminal; stdout moved onto fd 0 still not.
        let root = ctx.vfs.root();
        assert_eq!(ctx.preopen(root, "/"), Ok(3));
        ctx.fd_renumber(2, 3).unwrap();
        ctx.fd_renumber(1, 0).unwrap();
        assert!(isatty(&mut ctx, 3));
        assert_eq!(filestat_type(&mut ctx, 3), filetype::CHARACTER_DEVICE);
        assert!(!isatty(&mut ctx, 0));
        assert_eq!(filestat_type(&mut ctx, 0), filetype::UNKNOWN);
    }

    #[test]
    fn a_bare_context_claims_no_terminal() {
        // Only the runtime's builder, which may look at the host, says "terminal".
        let mut ctx = WasiCtx::new(Vfs::default());
        for fd in 0..3 {
            assert_eq!(fdstat(&mut ctx, fd).0, filetype::UNKNOWN);
            assert!(!isatty(&mut ctx, fd));
        }
    }
}
