//! The wasmer binding: every `wasi_snapshot_preview1` and `wasi_unstable` import as a host
//! function that hands the guest's linear memory and the locked WASI context to the syscall
//! layer for the length of the call, and `wasi.thread-spawn`. Nothing here interprets
//! arguments: with a trace installed, `crate::wasi::trace` decodes them. In a wasi-threads
//! program the memory is shared, so calls see it through copies (`CopyingMemory`), and the
//! two calls that can wait (`poll_oneoff`, `fd_read` on the host's stdin) wait without the
//! context, so other threads' calls go on meanwhile.

use super::copying_memory::CopyingMemory;
use super::threads::{Stopped, ThreadLink};
use super::{ExitCode, WasiState, lock};
use crate::vfs::Errno;
use crate::wasi::abi::Abi;
use crate::wasi::ctx::WasiCtx;
use crate::wasi::memory::{GuestMemory, SliceMemory};
use crate::wasi::poll::{PollWait, host_poll_stdin};
use crate::wasi::trace::{self, Call, CallId, TraceEvent};
use std::time::Duration;
use wasmer::{Exports, Function, FunctionEnv, FunctionEnvMut, Imports, RuntimeError, Store};

/// How long a thread waiting outside the context sleeps between looks at whether the
/// program is ending.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Runs one syscall with the guest memory; maps the result to an errno number. Untraced (no
/// trace, or one whose filter leaves this call out), that is all; traced, the call goes
/// through `trace::traced`, which reads its `args` from memory before it and its result after
/// it, and the event goes to the trace hook.
///
/// The call comes twice, `plain` over a borrowed unshared memory and `shared` over a shared
/// one (the same code, compiled for each memory type, so the usual case pays no indirection).
fn call(
    mut env: FunctionEnvMut<'_, WasiState>,
    id: CallId,
    abi: Abi,
    args: &[u64],
    plain: impl FnOnce(&mut WasiCtx, &mut SliceMemory<'_>) -> crate::vfs::Result<()>,
    shared: impl FnOnce(&mut WasiCtx, &mut CopyingMemory<'_>) -> crate::vfs::Result<()>,
) -> Result<i32, RuntimeError> {
    if env.data().thread.is_some() {
        return call_shared(env, id, abi, args, shared);
    }
    let (state, store) = env.data_and_store_mut();
    let Some(memory) = state.memory.clone() else {
        // No memory handed over yet: every call fails (and a trace can show no argument).
        let mut none = SliceMemory::new(&mut []);
        return Ok(dispatch(state, &mut none, id, abi, args, |_, _| {
            Err(Errno::Fault)
        }));
    };
    let view = memory.view(&store);
    // SAFETY: the memory is not shared (a shared one is only handed over with the threads
    // machinery, which takes `call_shared`), and the guest is suspended inside this host
    // call, so nothing else reads, writes or grows it while the slice lives; the slice does
    // not outlive the call.
    let bytes = unsafe { view.data_unchecked_mut() };
    let mut mem = SliceMemory::new(bytes);
    Ok(dispatch(state, &mut mem, id, abi, args, plain))
}

/// `call` for a thread of a wasi-threads program: refused once the program is ending; the
/// memory seen through copies (`CopyingMemory`), a write's input copied before the context
/// is locked.
fn call_shared(
    mut env: FunctionEnvMut<'_, WasiState>,
    id: CallId,
    abi: Abi,
    args: &[u64],
    f: impl FnOnce(&mut WasiCtx, &mut CopyingMemory<'_>) -> crate::vfs::Result<()>,
) -> Result<i32, RuntimeError> {
    let (state, store) = env.data_and_store_mut();
    if state.thread.as_ref().is_some_and(|t| t.group.stopping()) {
        return Err(RuntimeError::user(Box::new(Stopped)));
    }
    let Some(memory) = state.memory.clone() else {
        let mut none = SliceMemory::new(&mut []);
        return Ok(dispatch(state, &mut none, id, abi, args, |_, _| {
            Err(Errno::Fault)
        }));
    };
    let mut mem = CopyingMemory::new(memory.view(&store));
    prefetch_input(&mut mem, id, args);
    Ok(dispatch(state, &mut mem, id, abi, args, f))
}

/// Most bytes of one call's input copied before it takes the context lock.
const PREFETCH_MAX: u64 = 64 << 20;

/// Copies the buffers a writing call (`fd_write`, `fd_pwrite`, `sock_send`) will read
/// before the context is locked: other threads' calls are held up by one copy of the data
/// (into the file), not two. Anything odd (a bad pointer, too much) is left to the call.
fn prefetch_input(mem: &mut CopyingMemory<'_>, id: CallId, args: &[u64]) {
    if !matches!(id.name(), "fd_write" | "fd_pwrite" | "sock_send") {
        return;
    }
    let (Some(&iovs), Some(&count)) = (args.get(1), args.get(2)) else {
        return;
    };
    let Ok(iovs) = mem.read_iovecs(iovs as u32, count as u32) else {
        return;
    };
    if iovs.iter().map(|&(_, len)| u64::from(len)).sum::<u64>() > PREFETCH_MAX {
        return;
    }
    for (ptr, len) in iovs {
        mem.prefetch(ptr, len);
    }
}

fn dispatch<M: GuestMemory>(
    state: &mut WasiState,
    mem: &mut M,
    id: CallId,
    abi: Abi,
    args: &[u64],
    f: impl FnOnce(&mut WasiCtx, &mut M) -> crate::vfs::Result<()>,
) -> i32 {
    let tid = state.thread.as_ref().map_or(0, |t| t.tid);
    let mut tracer = state.trace.as_ref().map(|t| lock(t));
    let mut ctx = state.ctx.get();
    let result = match tracer.as_deref_mut() {
        Some(t) if t.filter.allows(id) => {
            let call = Call { id, abi, args };
            let (result, mut event) = trace::traced(&mut ctx, mem, &call, t.time, f);
            event.thread = tid;
            (t.hook)(&event);
            result
        }
        _ => f(&mut ctx, mem),
    };
    match result {
        Ok(()) => 0,
        Err(e) => e.code() as i32,
    }
}

/// Runs `f` on the locked context and memory, untraced, outside any errno mapping: the
/// first half of a call that waits.
fn peek<R>(
    env: &mut FunctionEnvMut<'_, WasiState>,
    f: impl FnOnce(&mut WasiCtx, &mut dyn GuestMemory) -> R,
) -> R {
    let (state, store) = env.data_and_store_mut();
    let memory = state.memory.clone();
    let mut ctx = state.ctx.get();
    match memory {
        Some(memory) => f(&mut ctx, &mut CopyingMemory::new(memory.view(&store))),
        None => f(&mut ctx, &mut SliceMemory::new(&mut [])),
    }
}

/// Waits, without the context, until the host's stdin is readable (or `timeout_ns` passes:
/// then false), or the program ends (`Stopped`).
fn wait_host_stdin(link: &ThreadLink, timeout_ns: Option<u64>) -> Result<bool, RuntimeError> {
    let step = STOP_POLL.as_nanos() as u64;
    let mut left = timeout_ns;
    loop {
        if link.group.stopping() {
            return Err(RuntimeError::user(Box::new(Stopped)));
        }
        let slice = left.map_or(step, |l| l.min(step));
        if host_poll_stdin(Some(slice)) {
            return Ok(true);
        }
        if let Some(l) = &mut left {
            *l -= slice;
            if *l == 0 {
                return Ok(false);
            }
        }
    }
}

/// `poll_oneoff` for a thread of a threaded program: subscriptions read under the context
/// lock, the wait outside it (ended by the program ending), the events written under it.
fn poll_threaded(
    mut env: FunctionEnvMut<'_, WasiState>,
    abi: Abi,
    args: [u32; 4],
) -> Result<i32, RuntimeError> {
    let id = CallId::of("poll_oneoff").expect("in trace::CALLS");
    let [subs, events, nsubs, nevents] = args;
    let raw = args.map(u64::from);
    let Some(link) = env.data().thread.clone() else {
        return call(
            env,
            id,
            abi,
            &raw,
            move |c, m| c.poll_oneoff(m, abi, subs, events, nsubs, nevents),
            move |c, m| c.poll_oneoff(m, abi, subs, events, nsubs, nevents),
        );
    };
    if link.group.stopping() {
        return Err(RuntimeError::user(Box::new(Stopped)));
    }
    let begun = peek(&mut env, |c, m| {
        c.poll_begin(m, abi, subs, events, nsubs, nevents)
            .map(|p| (p, c.environment.waits_for_real(), c.stdin_is_host()))
    });
    let (pending, real, host_stdin) = match begun {
        Ok(p) => p,
        Err(e) => return call_shared(env, id, abi, &raw, move |_, _| Err(e)),
    };
    let stdin_ready = match pending.wait() {
        PollWait::Nothing => false,
        PollWait::Sleep(ns) if real => {
            if link.group.wait_stop(Duration::from_nanos(ns)) {
                return Err(RuntimeError::user(Box::new(Stopped)));
            }
            false
        }
        PollWait::Sleep(ns) => {
            peek(&mut env, |c, _| c.poll_sleep(ns));
            false
        }
        PollWait::Stdin(timeout) if host_stdin => wait_host_stdin(&link, timeout)?,
        PollWait::Stdin(_) => true,
    };
    call_shared(env, id, abi, &raw, move |c, m| {
        c.poll_end(m, pending, stdin_ready)
    })
}

/// `fd_read` for a thread of a threaded program: a read of the host's stdin first waits,
/// without the context, until there is something to read.
fn fd_read_threaded(
    mut env: FunctionEnvMut<'_, WasiState>,
    abi: Abi,
    args: [u32; 4],
) -> Result<i32, RuntimeError> {
    let id = CallId::of("fd_read").expect("in trace::CALLS");
    let [fd, iovs, n, out] = args;
    if let Some(link) = env.data().thread.clone()
        && peek(&mut env, |c, _| c.reads_host_stdin(fd))
    {
        wait_host_stdin(&link, None)?;
    }
    // A file still one shared buffer is copied into guest memory after the context is let
    // go, so threads reading files do not wait on each other's copies (untraced calls only:
    // a trace decodes the call under the context).
    if env.data().thread.is_some() && env.data().trace.is_none() {
        if env
            .data()
            .thread
            .as_ref()
            .is_some_and(|t| t.group.stopping())
        {
            return Err(RuntimeError::user(Box::new(Stopped)));
        }
        if let Some(read) = peek(&mut env, |c, m| c.fd_read_shared(m, fd, iovs, n, out)) {
            let (state, store) = env.data_and_store_mut();
            let Some(memory) = &state.memory else {
                return Ok(Errno::Fault.code() as i32);
            };
            let mut mem = CopyingMemory::new(memory.view(&store));
            return Ok(read
                .finish(&mut mem)
                .map_or_else(|e| e.code() as i32, |()| 0));
        }
    }
    call(
        env,
        id,
        abi,
        &args.map(u64::from),
        move |c, m| c.fd_read(m, fd, iovs, n, out),
        move |c, m| c.fd_read(m, fd, iovs, n, out),
    )
}

/// `wasi.thread-spawn(start_arg)`: the new thread's id (positive), or -1 if it could not be
/// started (the wasi-threads proposal leaves the negative value open; wasi-libc reports
/// `EAGAIN`).
pub(crate) fn thread_spawn(store: &mut Store, env: &FunctionEnv<WasiState>) -> Function {
    Function::new_typed_with_env(
        store,
        env,
        |env: FunctionEnvMut<'_, WasiState>, arg: i32| -> Result<i32, RuntimeError> {
            let Some(link) = &env.data().thread else {
                return Ok(-1);
            };
            if link.group.stopping() {
                return Err(RuntimeError::user(Box::new(Stopped)));
            }
            // Thread ids fit in 29 bits; the argument is the guest's, passed back as is.
            Ok(link.group.spawn(arg as u32).map_or(-1, |tid| tid as i32))
        },
    )
}

/// Both WASI namespaces bound to `env`; `threaded`: with the waiting calls of threaded
/// programs.
pub(crate) fn wasi_imports(
    store: &mut Store,
    env: &FunctionEnv<WasiState>,
    threaded: bool,
) -> Imports {
    let mut imports = Imports::new();
    for (name, abi) in [
        ("wasi_snapshot_preview1", Abi::P1),
        ("wasi_unstable", Abi::P0),
    ] {
        let mut ns = namespace(store, env, abi);
        if threaded {
            ns.insert(
                "poll_oneoff",
                Function::new_typed_with_env(
                    store,
                    env,
                    move |env: FunctionEnvMut<'_, WasiState>, i: u32, o: u32, n: u32, out: u32| {
                        poll_threaded(env, abi, [i, o, n, out])
                    },
                ),
            );
            ns.insert(
                "fd_read",
                Function::new_typed_with_env(
                    store,
                    env,
                    move |env: FunctionEnvMut<'_, WasiState>,
                          fd: u32,
                          iovs: u32,
                          n: u32,
                          out: u32| {
                        fd_read_threaded(env, abi, [fd, iovs, n, out])
                    },
                ),
            );
        }
        imports.register_namespace(name, ns);
    }
    imports
}

/// Narrows a wasm `i32` argument to a smaller WASI integer type, `EINVAL` if it does not fit.
fn narrow<T: TryFrom<u32>>(v: u32) -> crate::vfs::Result<T> {
    T::try_from(v).map_err(|_| Errno::Inval)
}

macro_rules! wasi_imports {
    ($store:expr, $env:expr, $abi:expr;
     $( $name:literal => |$ctx:ident, $mem:ident $(, $arg:ident : $ty:ty)*| $body:expr ;)*) => {{
        let mut ns = Exports::new();
        let abi: Abi = $abi;
        $(
            let id = CallId::of($name).expect("every import is in trace::CALLS");
            ns.insert(
                $name,
                Function::new_typed_with_env(
                    $store,
                    $env,
                    move |env: FunctionEnvMut<'_, WasiState>, $($arg: $ty),*| -> Result<i32, RuntimeError> {
                        // The raw arguments, widened (an i64 as its bits), for a trace.
                        let args = [$($arg as u64),*];
                        call(
                            env, id, abi, &args,
                            |$ctx, $mem: &mut SliceMemory<'_>| { let _ = &$mem; $body },
                            |$ctx, $mem: &mut CopyingMemory<'_>| { let _ = &$mem; $body },
                        )
                    },
                ),
            );
        )*
        ns
    }};
}

/// The import namespace for `abi`, bound to `env`.
fn namespace(store: &mut Store, env: &FunctionEnv<WasiState>, abi: Abi) -> Exports {
    let mut ns = wasi_imports! { store, env, abi;
        "args_get" => |c, m, a: u32, b: u32| c.args_get(m, a, b);
        "args_sizes_get" => |c, m, a: u32, b: u32| c.args_sizes_get(m, a, b);
        "environ_get" => |c, m, a: u32, b: u32| c.environ_get(m, a, b);
        "environ_sizes_get" => |c, m, a: u32, b: u32| c.environ_sizes_get(m, a, b);
        "clock_res_get" => |c, m, id: u32, out: u32| c.clock_res_get(m, id, out);
        "clock_time_get" => |c, m, id: u32, p: u64, out: u32| c.clock_time_get(m, id, p, out);
        "fd_advise" => |c, m, fd: u32, o: u64, l: u64, a: u32| c.fd_advise(fd, o, l, narrow(a)?);
        "fd_allocate" => |c, m, fd: u32, o: u64, l: u64| c.fd_allocate(fd, o, l);
        "fd_close" => |c, m, fd: u32| c.fd_close(fd);
        "fd_datasync" => |c, m, fd: u32| c.fd_sync(fd, true);
        "fd_fdstat_get" => |c, m, fd: u32, out: u32| c.fd_fdstat_get(m, fd, out);
        "fd_fdstat_set_flags" => |c, m, fd: u32, f: u32| c.fd_fdstat_set_flags(fd, narrow(f)?);
        "fd_fdstat_set_rights" => |c, m, fd: u32, b: u64, i: u64| c.fd_fdstat_set_rights(fd, b, i);
        "fd_filestat_get" => |c, m, fd: u32, out: u32| c.fd_filestat_get(m, abi, fd, out);
        "fd_filestat_set_size" => |c, m, fd: u32, s: u64| c.fd_filestat_set_size(fd, s);
        "fd_filestat_set_times" => |c, m, fd: u32, a: u64, t: u64, f: u32| c.fd_filestat_set_times(fd, a, t, narrow(f)?);
        "fd_pread" => |c, m, fd: u32, iovs: u32, n: u32, off: u64, out: u32| c.fd_pread(m, fd, iovs, n, off, out);
        "fd_prestat_get" => |c, m, fd: u32, out: u32| c.fd_prestat_get(m, fd, out);
        "fd_prestat_dir_name" => |c, m, fd: u32, p: u32, l: u32| c.fd_prestat_dir_name(m, fd, p, l);
        "fd_pwrite" => |c, m, fd: u32, iovs: u32, n: u32, off: u64, out: u32| c.fd_pwrite(m, fd, iovs, n, off, out);
        "fd_read" => |c, m, fd: u32, iovs: u32, n: u32, out: u32| c.fd_read(m, fd, iovs, n, out);
        "fd_readdir" => |c, m, fd: u32, b: u32, l: u32, ck: u64, out: u32| c.fd_readdir(m, fd, b, l, ck, out);
        "fd_renumber" => |c, m, fd: u32, to: u32| c.fd_renumber(fd, to);
        "fd_seek" => |c, m, fd: u32, off: i64, w: u32, out: u32| c.fd_seek(m, abi, fd, off, narrow(w)?, out);
        "fd_sync" => |c, m, fd: u32| c.fd_sync(fd, false);
        "fd_tell" => |c, m, fd: u32, out: u32| c.fd_tell(m, fd, out);
        "fd_write" => |c, m, fd: u32, iovs: u32, n: u32, out: u32| c.fd_write(m, fd, iovs, n, out);
        "path_create_directory" => |c, m, fd: u32, p: u32, l: u32| c.path_create_directory(m, fd, p, l);
        "path_filestat_get" => |c, m, fd: u32, fl: u32, p: u32, l: u32, out: u32| c.path_filestat_get(m, abi, fd, fl, p, l, out);
        "path_filestat_set_times" => |c, m, fd: u32, fl: u32, p: u32, l: u32, a: u64, t: u64, f: u32|
            c.path_filestat_set_times(m, fd, fl, p, l, a, t, narrow(f)?);
        "path_link" => |c, m, fd: u32, fl: u32, p: u32, l: u32, fd2: u32, p2: u32, l2: u32| c.path_link(m, fd, fl, p, l, fd2, p2, l2);
        "path_open" => |c, m, fd: u32, df: u32, p: u32, l: u32, of: u32, rb: u64, ri: u64, ff: u32, out: u32|
            c.path_open(m, fd, df, p, l, narrow(of)?, rb, ri, narrow(ff)?, out);
        "path_readlink" => |c, m, fd: u32, p: u32, l: u32, b: u32, bl: u32, out: u32| c.path_readlink(m, fd, p, l, b, bl, out);
        "path_remove_directory" => |c, m, fd: u32, p: u32, l: u32| c.path_remove_directory(m, fd, p, l);
        "path_rename" => |c, m, fd: u32, p: u32, l: u32, fd2: u32, p2: u32, l2: u32| c.path_rename(m, fd, p, l, fd2, p2, l2);
        "path_symlink" => |c, m, p: u32, l: u32, fd: u32, p2: u32, l2: u32| c.path_symlink(m, p, l, fd, p2, l2);
        "path_unlink_file" => |c, m, fd: u32, p: u32, l: u32| c.path_unlink_file(m, fd, p, l);
        "poll_oneoff" => |c, m, i: u32, o: u32, n: u32, out: u32| c.poll_oneoff(m, abi, i, o, n, out);
        "proc_raise" => |c, m, s: u32| c.proc_raise(narrow(s)?);
        "sched_yield" => |c, m| c.sched_yield();
        "random_get" => |c, m, b: u32, l: u32| c.random_get(m, b, l);
        "sock_recv" => |c, m, fd: u32, iovs: u32, n: u32, f: u32, out: u32, of: u32| c.sock_recv(m, fd, iovs, n, narrow(f)?, out, of);
        "sock_send" => |c, m, fd: u32, iovs: u32, n: u32, f: u32, out: u32| c.sock_send(m, fd, iovs, n, narrow(f)?, out);
        "sock_shutdown" => |c, m, fd: u32, how: u32| c.sock_shutdown(fd, narrow(how)?);
    };
    if abi == Abi::P1 {
        // sock_accept exists only in preview1.
        ns.insert(
            "sock_accept",
            Function::new_typed_with_env(
                store,
                env,
                move |env: FunctionEnvMut<'_, WasiState>,
                      fd: u32,
                      f: u32,
                      out: u32|
                      -> Result<i32, RuntimeError> {
                    let id = CallId::of("sock_accept").expect("in trace::CALLS");
                    let args = [fd, f, out].map(u64::from);
                    call(
                        env,
                        id,
                        abi,
                        &args,
                        |c, m| c.sock_accept(m, fd, narrow(f)?, out),
                        |c, m| c.sock_accept(m, fd, narrow(f)?, out),
                    )
                },
            ),
        );
    }
    ns.insert(
        "proc_exit",
        Function::new_typed_with_env(
            store,
            env,
            |env: FunctionEnvMut<'_, WasiState>, code: u32| -> Result<(), RuntimeError> {
                let state = env.data();
                if let Some(t) = &state.trace {
                    let mut t = lock(t);
                    if t.filter
                        .allows(CallId::of("proc_exit").expect("in trace::CALLS"))
                    {
                        let mut event = TraceEvent::exit(code);
                        event.thread = state.thread.as_ref().map_or(0, |t| t.tid);
                        (t.hook)(&event);
                    }
                }
                Err(RuntimeError::user(Box::new(ExitCode(code))))
            },
        ),
    );
    ns
}
