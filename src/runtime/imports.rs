//! The wasmer binding: every `wasi_snapshot_preview1` and `wasi_unstable` import as a host
//! function that borrows the guest's linear memory as a byte slice for the duration of the
//! call and hands it to the syscall layer. Nothing here interprets arguments: with a trace
//! installed, `crate::wasi::trace` decodes them.

use super::{ExitCode, WasiState};
use crate::vfs::Errno;
use crate::wasi::abi::Abi;
use crate::wasi::ctx::WasiCtx;
use crate::wasi::memory::SliceMemory;
use crate::wasi::trace::{self, Call, CallId, TraceEvent};
use wasmer::{Exports, Function, FunctionEnv, FunctionEnvMut, RuntimeError, Store};

/// Runs one syscall with the guest memory; maps the result to an errno number. Untraced (no
/// trace, or one whose filter leaves this call out), that is all; traced, the call goes
/// through `trace::traced`, which reads its `args` from memory before it and its result after
/// it, and the event goes to the trace hook.
fn call(
    mut env: FunctionEnvMut<'_, WasiState>,
    id: CallId,
    abi: Abi,
    args: &[u64],
    f: impl FnOnce(&mut WasiCtx, &mut SliceMemory<'_>) -> crate::vfs::Result<()>,
) -> i32 {
    let (state, store) = env.data_and_store_mut();
    let view = state.memory.as_ref().map(|m| m.view(&store));
    let mut none: [u8; 0] = [];
    let bytes: &mut [u8] = match &view {
        // SAFETY: the guest is suspended inside this host call and wasm threads are not
        // enabled, so nothing else reads, writes or grows this memory while the slice lives;
        // the slice does not outlive the call.
        Some(view) => unsafe { view.data_unchecked_mut() },
        None => &mut none,
    };
    let mut mem = SliceMemory::new(bytes);
    // No memory handed over yet: every call fails (and a trace can show no argument).
    let has_memory = view.is_some();
    let f = move |ctx: &mut WasiCtx, mem: &mut SliceMemory<'_>| match has_memory {
        true => f(ctx, mem),
        false => Err(Errno::Fault),
    };
    let result = match &mut state.trace {
        Some(t) if t.filter.allows(id) => {
            let call = Call { id, abi, args };
            let (result, event) = trace::traced(&mut state.ctx, &mut mem, &call, t.time, f);
            (t.hook)(&event);
            result
        }
        _ => f(&mut state.ctx, &mut mem),
    };
    match result {
        Ok(()) => 0,
        Err(e) => e.code() as i32,
    }
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
                    move |env: FunctionEnvMut<'_, WasiState>, $($arg: $ty),*| -> i32 {
                        // The raw arguments, widened (an i64 as its bits), for a trace.
                        let args = [$($arg as u64),*];
                        call(env, id, abi, &args, |$ctx, $mem| { let _ = &$mem; $body })
                    },
                ),
            );
        )*
        ns
    }};
}

/// The import namespace for `abi`, bound to `env`.
pub(crate) fn namespace(store: &mut Store, env: &FunctionEnv<WasiState>, abi: Abi) -> Exports {
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
                move |env: FunctionEnvMut<'_, WasiState>, fd: u32, f: u32, out: u32| -> i32 {
                    let id = CallId::of("sock_accept").expect("in trace::CALLS");
                    let args = [fd, f, out].map(u64::from);
                    call(env, id, abi, &args, |c, m| {
                        c.sock_accept(m, fd, narrow(f)?, out)
                    })
                },
            ),
        );
    }
    ns.insert(
        "proc_exit",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: FunctionEnvMut<'_, WasiState>, code: u32| -> Result<(), RuntimeError> {
                if let Some(t) = &mut env.data_mut().trace
                    && t.filter
                        .allows(CallId::of("proc_exit").expect("in trace::CALLS"))
                {
                    (t.hook)(&TraceEvent::exit(code));
                }
                Err(RuntimeError::user(Box::new(ExitCode(code))))
            },
        ),
    );
    ns
}
