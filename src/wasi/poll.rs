//! `poll_oneoff`: clock subscriptions really wait (relative or absolute); file and directory
//! subscriptions are ready at once (memory never blocks); stdin readiness is the host's.

use super::abi::{self, Abi, Event, SubscriptionKind};
use super::ctx::{Input, WasiCtx};
use super::fdtable::{FdKind, Stdio};
use super::memory::GuestMemory;
use crate::vfs::{Errno, Result};

/// Most subscriptions one `poll_oneoff` call may pass; beyond, `EINVAL`.
pub const MAX_SUBSCRIPTIONS: u32 = 65536;

/// Longest single wait: long sleeps are cut into slices so an absolute deadline on the
/// realtime clock follows clock changes.
const MAX_SLEEP_NS: u64 = 1_000_000_000;

/// A `poll_oneoff` between reading its subscriptions (`poll_begin`) and writing its events
/// (`poll_end`): what it found ready and what it must wait for. Split so that a runtime with
/// several guest threads can wait without holding the context.
#[derive(Debug)]
pub struct PendingPoll {
    list: Vec<abi::Subscription>,
    ready: Vec<Event>,
    /// Nanoseconds until each clock subscription fires, by subscription index.
    clocks: Vec<(usize, u64)>,
    earliest: Option<u64>,
    waits_on_stdin: bool,
    events: u32,
    nevents: u32,
}

/// What a pending `poll_oneoff` waits for before its events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollWait {
    /// Nothing: something is ready, or nothing can become ready.
    Nothing,
    /// This many nanoseconds (the earliest clock).
    Sleep(u64),
    /// The host's stdin to become readable, or the timeout (ns) to pass.
    Stdin(Option<u64>),
}

impl PendingPoll {
    /// What the call waits for.
    pub fn wait(&self) -> PollWait {
        match (self.ready.is_empty(), self.waits_on_stdin, self.earliest) {
            (false, _, _) => PollWait::Nothing,
            (true, true, timeout) => PollWait::Stdin(timeout),
            (true, false, Some(ns)) => PollWait::Sleep(ns),
            (true, false, None) => PollWait::Nothing,
        }
    }
}

impl WasiCtx {
    /// `poll_oneoff`: waits for the first of `nsubs` subscriptions at `subs`; events go to
    /// `events`, their number to `nevents`.
    #[allow(clippy::too_many_arguments)]
    pub fn poll_oneoff<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        abi: Abi,
        subs: u32,
        events: u32,
        nsubs: u32,
        nevents: u32,
    ) -> Result<()> {
        let pending = self.poll_begin(mem, abi, subs, events, nsubs, nevents)?;
        let stdin_ready = match pending.wait() {
            PollWait::Nothing => false,
            PollWait::Sleep(ns) => {
                self.poll_sleep(ns);
                false
            }
            PollWait::Stdin(timeout) => self.wait_stdin(timeout),
        };
        self.poll_end(mem, pending, stdin_ready)
    }

    /// The first half of `poll_oneoff`: checks and reads the subscriptions, and finds what is
    /// ready now.
    #[allow(clippy::too_many_arguments)]
    pub fn poll_begin<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        abi: Abi,
        subs: u32,
        events: u32,
        nsubs: u32,
        nevents: u32,
    ) -> Result<PendingPoll> {
        if nsubs == 0 {
            return Err(Errno::Inval);
        }
        let sub_size = abi::subscription_size(abi) as u32;
        let ev_size = abi::EVENT_SIZE as u32;
        mem.check(subs, nsubs.checked_mul(sub_size).ok_or(Errno::Fault)?)?;
        mem.check(events, nsubs.checked_mul(ev_size).ok_or(Errno::Fault)?)?;
        mem.check(nevents, 4)?;
        // Each subscription becomes a host-side entry: past the bound the call is refused
        // (as poll(2) refuses more fds than RLIMIT_NOFILE) rather than sized by the guest.
        // Bad pointers are reported first, as EFAULT.
        if nsubs > MAX_SUBSCRIPTIONS {
            return Err(Errno::Inval);
        }
        let mut list = Vec::with_capacity(nsubs as usize);
        for i in 0..nsubs {
            let mut raw = [0u8; abi::SUBSCRIPTION_MAX];
            mem.read(subs + i * sub_size, &mut raw[..sub_size as usize])?;
            list.push(abi::decode_subscription(abi, &raw)?);
        }

        let mut ready: Vec<Event> = Vec::new();
        let mut waits_on_stdin = false;
        let mut clocks: Vec<(usize, u64)> = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match s.kind {
                SubscriptionKind::Clock {
                    id, timeout, flags, ..
                } => {
                    let remaining = match self.clock_now(id) {
                        Ok(now) if flags & abi::subclockflags::ABSTIME != 0 => {
                            timeout.saturating_sub(now)
                        }
                        Ok(_) => timeout,
                        Err(e) => {
                            ready.push(Event::error(s.userdata, e, abi::eventtype::CLOCK));
                            continue;
                        }
                    };
                    clocks.push((i, remaining));
                }
                SubscriptionKind::FdRead(fd) | SubscriptionKind::FdWrite(fd) => {
                    let read = matches!(s.kind, SubscriptionKind::FdRead(_));
                    let ty = if read {
                        abi::eventtype::FD_READ
                    } else {
                        abi::eventtype::FD_WRITE
                    };
                    match self.fd_readiness(fd, read) {
                        Ok(Some(nbytes)) => ready.push(Event::fd(s.userdata, ty, nbytes)),
                        Ok(None) => waits_on_stdin = true,
                        Err(e) => ready.push(Event::error(s.userdata, e, ty)),
                    }
                }
            }
        }
        let earliest = clocks.iter().map(|&(_, ns)| ns).min();
        Ok(PendingPoll {
            list,
            ready,
            clocks,
            earliest,
            waits_on_stdin,
            events,
            nevents,
        })
    }

    /// Waits `ns` in the guest's environment (cut into slices, so an absolute deadline on
    /// the realtime clock follows clock changes; ends early when the run's time is up).
    pub fn poll_sleep(&mut self, ns: u64) {
        let mut left = ns;
        while left > 0 && !self.environment.expired() {
            let step = left.min(MAX_SLEEP_NS);
            self.environment.sleep_ns(step);
            left -= step;
        }
    }

    /// The second half of `poll_oneoff`, after its wait: `stdin_ready` tells whether a wait
    /// on stdin ended because it became readable. Writes the events.
    pub fn poll_end<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        pending: PendingPoll,
        stdin_ready: bool,
    ) -> Result<()> {
        let PendingPoll {
            list,
            mut ready,
            clocks,
            earliest,
            waits_on_stdin,
            events,
            nevents,
        } = pending;
        if ready.is_empty() {
            if waits_on_stdin {
                for s in &list {
                    if let SubscriptionKind::FdRead(fd) = s.kind
                        && stdin_ready
                        && self.fd_readiness(fd, true).ok().flatten().is_some()
                    {
                        ready.push(Event::fd(s.userdata, abi::eventtype::FD_READ, 0));
                    }
                }
                if !ready.is_empty() {
                    return self.write_events(mem, events, nevents, &ready);
                }
            }
            // Report every clock due at the earliest deadline, in subscription order; later
            // ones have not fired yet.
            for &(i, ns) in &clocks {
                if Some(ns) == earliest {
                    ready.push(Event::clock(list[i].userdata));
                }
            }
        }
        self.write_events(mem, events, nevents, &ready)
    }

    fn write_events<M: GuestMemory + ?Sized>(
        &self,
        mem: &mut M,
        at: u32,
        nevents: u32,
        ready: &[Event],
    ) -> Result<()> {
        for (i, e) in ready.iter().enumerate() {
            mem.write(
                at + i as u32 * abi::EVENT_SIZE as u32,
                &abi::encode_event(e),
            )?;
        }
        mem.write_u32(nevents, ready.len() as u32)
    }

    /// `Some(bytes available)` if ready now, `None` if it is stdin and would block.
    fn fd_readiness(&self, fd: u32, read: bool) -> Result<Option<u64>> {
        let e = self.fds.get(fd)?;
        e.require(abi::rights::POLL_FD_READWRITE)?;
        match &e.kind {
            FdKind::Stdio(Stdio::Stdin) if read => Ok(self.stdin_ready().then_some(0)),
            FdKind::Stdio(_) => Ok(Some(0)),
            FdKind::File { node, pos } if read => {
                let size = self.vfs.stat_node(*node)?.size;
                Ok(Some(size.saturating_sub(*pos)))
            }
            FdKind::File { .. } | FdKind::Dir { .. } => Ok(Some(0)),
        }
    }

    /// Waits until stdin is readable or `timeout_ns` passes; true if readable.
    fn wait_stdin(&mut self, timeout_ns: Option<u64>) -> bool {
        if !self.stdin_is_host() {
            return true;
        }
        host_poll_stdin(timeout_ns)
    }

    /// Whether stdin is the host's own (reading it may block).
    pub fn stdin_is_host(&self) -> bool {
        matches!(self.stdin, Input::Inherit)
    }

    /// Whether reading `fd` reads the host's own stdin (and so may block).
    pub fn reads_host_stdin(&self, fd: u32) -> bool {
        self.stdin_is_host()
            && self
                .fds
                .get(fd)
                .is_ok_and(|e| matches!(e.kind, FdKind::Stdio(Stdio::Stdin)))
    }
}

/// Waits until the host's stdin is readable (or at end of file) or `timeout_ns` passes;
/// true if readable.
#[cfg(unix)]
pub fn host_poll_stdin(timeout_ns: Option<u64>) -> bool {
    let ms = timeout_ns.map_or(-1, |ns| ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32);
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one pollfd through a valid pointer.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    rc > 0
}

/// Waits until the host's stdin is readable: on this host, at once.
#[cfg(not(unix))]
pub fn host_poll_stdin(_timeout_ns: Option<u64>) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::Vfs;
    use crate::wasi::abi::Abi;
    use crate::wasi::ctx::WasiCtx;

    #[test]
    fn subscription_count_is_bounded_before_anything_is_allocated() {
        let mut ctx = WasiCtx::new(Vfs::default());
        let sub = abi::subscription_size(Abi::P1) as u32;
        let n = MAX_SUBSCRIPTIONS + 1;
        // Room for every subscription and event, so only the count can be refused.
        let mut mem = vec![0u8; (n * (sub + abi::EVENT_SIZE as u32) + 64) as usize];
        let events = n * sub;
        let out = events + n * abi::EVENT_SIZE as u32;
        assert_eq!(
            ctx.poll_oneoff(&mut mem, Abi::P1, 0, events, n, out),
            Err(Errno::Inval)
        );
        assert_eq!(
            ctx.poll_oneoff(&mut mem, Abi::P1, 0, events, 0, out),
            Err(Errno::Inval)
        );
    }
}
