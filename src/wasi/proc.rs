//! Process-level calls: arguments, environment, clocks, randomness, scheduling, signals.

#![forbid(unsafe_code)]

use super::abi::clockid;
use super::ctx::WasiCtx;
use super::memory::GuestMemory;
use crate::vfs::{Errno, Result};

/// Most bytes one `random_get` fills through a bounce buffer at a time.
const RANDOM_CHUNK: usize = 64 * 1024;

/// Writes `strings` as NUL-terminated bytes at `buf` and their addresses at `ptrs`.
fn write_strings<M: GuestMemory + ?Sized>(
    mem: &mut M,
    strings: &[Vec<u8>],
    ptrs: u32,
    buf: u32,
) -> Result<()> {
    let total: u64 = strings.iter().map(|s| s.len() as u64 + 1).sum();
    mem.check(
        ptrs,
        u32::try_from(strings.len() * 4).map_err(|_| Errno::Fault)?,
    )?;
    mem.check(buf, u32::try_from(total).map_err(|_| Errno::Fault)?)?;
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        mem.write_u32(ptrs + 4 * i as u32, at)?;
        mem.write(at, s)?;
        mem.write_u8(at + s.len() as u32, 0)?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

fn write_sizes<M: GuestMemory + ?Sized>(
    mem: &mut M,
    strings: &[Vec<u8>],
    count: u32,
    size: u32,
) -> Result<()> {
    let total: usize = strings.iter().map(|s| s.len() + 1).sum();
    mem.check(count, 4)?;
    mem.check(size, 4)?;
    mem.write_u32(count, strings.len() as u32)?;
    mem.write_u32(size, u32::try_from(total).map_err(|_| Errno::Overflow)?)
}

impl WasiCtx {
    /// `args_get`: the arguments as NUL-terminated strings at `buf`, their addresses at `argv`.
    pub fn args_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        argv: u32,
        buf: u32,
    ) -> Result<()> {
        write_strings(mem, &self.args, argv, buf)
    }

    /// `args_sizes_get`: the number of arguments and their total size with NULs.
    pub fn args_sizes_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        count: u32,
        size: u32,
    ) -> Result<()> {
        write_sizes(mem, &self.args, count, size)
    }

    /// `environ_get`: `KEY=VALUE` strings at `buf`, their addresses at `environ`.
    pub fn environ_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        environ: u32,
        buf: u32,
    ) -> Result<()> {
        write_strings(mem, &self.env, environ, buf)
    }

    /// `environ_sizes_get`: the number of variables and their total size with NULs.
    pub fn environ_sizes_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        count: u32,
        size: u32,
    ) -> Result<()> {
        write_sizes(mem, &self.env, count, size)
    }

    /// The current time of clock `id`, ns.
    pub(crate) fn clock_now(&mut self, id: u32) -> Result<u64> {
        match id {
            clockid::REALTIME => Ok(self.environment.realtime_ns()),
            clockid::MONOTONIC => Ok(self.environment.monotonic_ns()),
            clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => {
                Ok(self.environment.cputime_ns())
            }
            _ => Err(Errno::Inval),
        }
    }

    /// `clock_res_get`: every clock ticks in nanoseconds.
    pub fn clock_res_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        id: u32,
        out: u32,
    ) -> Result<()> {
        let res = match id {
            clockid::REALTIME
            | clockid::MONOTONIC
            | clockid::PROCESS_CPUTIME_ID
            | clockid::THREAD_CPUTIME_ID => 1,
            _ => return Err(Errno::Inval),
        };
        mem.write_u64(out, res)
    }

    /// `clock_time_get`: the clock's time, ns, goes to `out`.
    pub fn clock_time_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        id: u32,
        _precision: u64,
        out: u32,
    ) -> Result<()> {
        mem.check(out, 8)?;
        let now = self.clock_now(id)?;
        mem.write_u64(out, now)
    }

    /// `random_get`: fills `len` bytes at `buf`.
    pub fn random_get<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        buf: u32,
        len: u32,
    ) -> Result<()> {
        let out = mem.slice_mut(buf, len)?;
        for chunk in out.chunks_mut(RANDOM_CHUNK) {
            self.environment.fill_random(chunk)?;
        }
        Ok(())
    }

    /// `sched_yield`: yields the host thread.
    pub fn sched_yield(&mut self) -> Result<()> {
        std::thread::yield_now();
        Ok(())
    }

    /// Signals are not supported, as in wasmtime.
    pub fn proc_raise(&mut self, _sig: u8) -> Result<()> {
        Err(Errno::Nosys)
    }
}
