//! The `sock_*` family. The sandbox has no sockets (no fd is ever one), so these only tell a
//! bad fd (`EBADF`) from a non-socket (`ENOTSOCK`), after checking guest pointers.

#![forbid(unsafe_code)]

use super::ctx::WasiCtx;
use super::memory::GuestMemory;
use crate::vfs::{Errno, Result};

impl WasiCtx {
    fn not_a_socket(&self, fd: u32) -> Result<()> {
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }

    /// `sock_accept`: no fd is a socket.
    pub fn sock_accept<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        _flags: u16,
        out: u32,
    ) -> Result<()> {
        mem.check(out, 4)?;
        self.not_a_socket(fd)
    }

    /// `sock_recv`: no fd is a socket.
    #[allow(clippy::too_many_arguments)]
    pub fn sock_recv<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        _flags: u16,
        nread: u32,
        oflags: u32,
    ) -> Result<()> {
        mem.read_iovecs(iovs, count)?;
        mem.check(nread, 4)?;
        mem.check(oflags, 2)?;
        self.not_a_socket(fd)
    }

    /// `sock_send`: no fd is a socket.
    pub fn sock_send<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        _flags: u16,
        nsent: u32,
    ) -> Result<()> {
        mem.read_iovecs(iovs, count)?;
        mem.check(nsent, 4)?;
        self.not_a_socket(fd)
    }

    /// `sock_shutdown`: no fd is a socket.
    pub fn sock_shutdown(&mut self, fd: u32, how: u8) -> Result<()> {
        if how == 0 || how > 3 {
            self.fds.get(fd)?;
            return Err(Errno::Inval);
        }
        self.not_a_socket(fd)
    }
}
