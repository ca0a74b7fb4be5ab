//! Out-of-bounds guest pointers and lengths: every call must fail with EFAULT (21) without side
//! effects, and the program keeps running. Scratch dir = fd 3 (empty, writable).
//!
//! `efault.wasm` runs every case; `efault.wasm CASE` runs one case (then the usual `all ok`);
//! `efault.wasm --list` prints the case names, one per line. wasmtime traps ("pointer out of
//! bounds") instead of returning EFAULT, so under wasmtime each single case must end in a trap.

use strata_test_programs::*;

fn mem_end() -> u32 {
    (core::arch::wasm32::memory_size(0) * 65536) as u32
}

/// Addresses that stay valid for the whole run.
struct Ctx {
    end: u32,
    f: i32,
    /// "abcd"
    data: u32,
    /// a valid iovec over `data`
    iov: u32,
    /// scratch iovec array (2 entries) filled per case
    iovs: *mut [u32; 4],
    /// a u32 result slot
    word: i32,
    /// the path "f"
    path: i32,
    /// 64-byte result buffer
    buf: i32,
    /// a clock subscription (monotonic, relative, 0 ns)
    sub: i32,
}

fn leak<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

fn setup() -> Ctx {
    let f = must("create f", open(PREOPEN, b"f", O_CREAT, 0));
    must("write f", fd_write(f, &[b"0123456789"]));
    must("symlink sl -> f", path_symlink(b"f", PREOPEN, b"sl"));
    let data = leak(*b"abcd") as u32;
    let mut sub = [0u8; 48];
    sub[16] = 1;
    Ctx {
        end: mem_end(),
        f: f as i32,
        data,
        iov: leak([data, 4u32]) as u32,
        iovs: leak([0u32; 4]),
        word: leak(0u32) as i32,
        path: leak(*b"f") as i32,
        buf: leak([0u8; 64]) as i32,
        sub: leak(sub) as i32,
    }
}

const CASES: &[&str] = &[
    "fd_write iovec array past end",
    "fd_write iovec array at end",
    "fd_write iovec count huge",
    "fd_write buffer straddling end",
    "fd_write buffer ptr+len overflowing",
    "fd_write buffer length huge",
    "fd_write second buffer past end",
    "fd_write result past end",
    "fd_write result pointer -1",
    "fd_pwrite buffer past end",
    "fd_read buffer past end",
    "fd_read iovec array past end",
    "fd_read result past end",
    "fd_pread buffer past end",
    "fd_read buffer ptr+len overflowing",
    "path_open path past end",
    "path_open path ptr+len overflowing",
    "path_open path length huge",
    "path_open result past end",
    "path_create_directory path past end",
    "path_unlink_file path past end",
    "path_rename new path past end",
    "path_symlink target past end",
    "path_filestat_get path past end",
    "path_filestat_get result past end",
    "path_readlink buffer past end",
    "fd_filestat_get result past end",
    "fd_fdstat_get result past end",
    "fd_seek result past end",
    "fd_tell result past end",
    "fd_prestat_get result past end",
    "fd_prestat_dir_name buffer past end",
    "fd_readdir buffer past end",
    "clock_time_get result past end",
    "clock_res_get result past end",
    "args_sizes_get result past end",
    "args_get argv past end",
    "environ_sizes_get result past end",
    "random_get buffer past end",
    "random_get length huge",
    "poll_oneoff subscriptions past end",
    "poll_oneoff events past end",
    "poll_oneoff count huge",
];

fn run(c: &Ctx, name: &str) -> i32 {
    let end = c.end;
    let (f, w) = (c.f, c.word);
    let all = R_ALL as i64;
    let iovs = |a: u32, b: u32, x: u32, y: u32| -> i32 {
        unsafe { *c.iovs = [a, b, x, y] };
        c.iovs as i32
    };
    unsafe {
        match name {
            "fd_write iovec array past end" => raw::fd_write(f, (end - 4) as i32, 1, w),
            "fd_write iovec array at end" => raw::fd_write(f, end as i32, 1, w),
            "fd_write iovec count huge" => raw::fd_write(f, c.iov as i32, 0x2000_0000, w),
            "fd_write buffer straddling end" => raw::fd_write(f, iovs(end - 2, 4, 0, 0), 1, w),
            "fd_write buffer ptr+len overflowing" => raw::fd_write(f, iovs(0xffff_fff0, 0x20, 0, 0), 1, w),
            "fd_write buffer length huge" => raw::fd_write(f, iovs(c.data, 0xffff_ffff, 0, 0), 1, w),
            "fd_write second buffer past end" => raw::fd_write(f, iovs(c.data, 4, end + 0x1000, 4), 2, w),
            "fd_write result past end" => raw::fd_write(f, c.iov as i32, 1, (end - 2) as i32),
            "fd_write result pointer -1" => raw::fd_write(f, c.iov as i32, 1, -1),
            "fd_pwrite buffer past end" => raw::fd_pwrite(f, iovs(end, 4, 0, 0), 1, 0, w),
            "fd_read buffer past end" => raw::fd_read(f, iovs(end - 1, 4, 0, 0), 1, w),
            "fd_read iovec array past end" => raw::fd_read(f, (end - 4) as i32, 1, w),
            "fd_read result past end" => raw::fd_read(f, c.iov as i32, 1, end as i32),
            "fd_pread buffer past end" => raw::fd_pread(f, iovs(end - 1, 4, 0, 0), 1, 0, w),
            "fd_read buffer ptr+len overflowing" => raw::fd_read(f, iovs(0xffff_fff0, 0x20, 0, 0), 1, w),
            "path_open path past end" => raw::path_open(3, 1, (end - 1) as i32, 4, 0, all, all, 0, w),
            "path_open path ptr+len overflowing" => raw::path_open(3, 1, -16, 32, 0, all, all, 0, w),
            "path_open path length huge" => raw::path_open(3, 1, c.path, 0x7fff_ffff, 0, all, all, 0, w),
            "path_open result past end" => raw::path_open(3, 1, c.path, 1, 0, all, all, 0, (end - 1) as i32),
            "path_create_directory path past end" => raw::path_create_directory(3, end as i32, 1),
            "path_unlink_file path past end" => raw::path_unlink_file(3, (end - 1) as i32, 2),
            "path_rename new path past end" => raw::path_rename(3, c.path, 1, 3, end as i32, 3),
            "path_symlink target past end" => raw::path_symlink(end as i32, 3, 3, c.path, 1),
            "path_filestat_get path past end" => raw::path_filestat_get(3, 1, end as i32, 1, c.buf),
            "path_filestat_get result past end" => raw::path_filestat_get(3, 1, c.path, 1, (end - 32) as i32),
            "path_readlink buffer past end" => raw::path_readlink(3, b"sl".as_ptr() as i32, 2, (end + 16) as i32, 8, w),
            "fd_filestat_get result past end" => raw::fd_filestat_get(f, (end - 8) as i32),
            "fd_fdstat_get result past end" => raw::fd_fdstat_get(f, (end - 8) as i32),
            "fd_seek result past end" => raw::fd_seek(f, 0, 0, (end - 4) as i32),
            "fd_tell result past end" => raw::fd_tell(f, end as i32),
            "fd_prestat_get result past end" => raw::fd_prestat_get(3, (end - 4) as i32),
            "fd_prestat_dir_name buffer past end" => {
                let (_, len) = must("prestat", fd_prestat_get(PREOPEN));
                raw::fd_prestat_dir_name(3, (end - 1) as i32, len.max(2) as i32)
            }
            "fd_readdir buffer past end" => raw::fd_readdir(3, (end - 8) as i32, 64, 0, w),
            "clock_time_get result past end" => raw::clock_time_get(1, 1, (end - 4) as i32),
            "clock_res_get result past end" => raw::clock_res_get(1, end as i32),
            "args_sizes_get result past end" => raw::args_sizes_get(end as i32, w),
            "args_get argv past end" => raw::args_get((end - 2) as i32, (end - 2) as i32),
            "environ_sizes_get result past end" => raw::environ_sizes_get(w, end as i32),
            "random_get buffer past end" => raw::random_get((end - 8) as i32, 16),
            "random_get length huge" => raw::random_get(16, -1),
            "poll_oneoff subscriptions past end" => raw::poll_oneoff((end - 16) as i32, c.buf, 1, w),
            "poll_oneoff events past end" => raw::poll_oneoff(c.sub, (end - 16) as i32, 1, w),
            "poll_oneoff count huge" => raw::poll_oneoff(c.sub, c.buf, 0x1000_0000, w),
            _ => fail("case name", "one of --list", name),
        }
    }
}

/// What wasmtime returns instead of trapping, for the few cases where it does not trap:
/// ENOMEM for lengths it refuses to allocate, success where it ignores all iovecs but the first.
fn wasmtime_alternative(name: &str) -> Option<R<()>> {
    match name {
        "fd_write iovec count huge" | "fd_write buffer length huge" | "path_open path length huge" | "poll_oneoff count huge" => {
            Some(Err(NOMEM))
        }
        "fd_write second buffer past end" => Some(Ok(())),
        _ => None,
    }
}

fn main() {
    let args = args();
    if args.first().map(|s| s.as_str()) == Some("--list") {
        for c in CASES {
            println!("{c}");
        }
        return;
    }
    require_scratch();
    let ctx = setup();
    let selected: Vec<&str> = match args.first() {
        Some(one) => vec![one.as_str()],
        None => CASES.to_vec(),
    };
    for name in selected {
        let r = run(&ctx, name);
        let r = errno_result(r);
        match wasmtime_alternative(name) {
            Some(alt) => expect_wt(name, r, Err(FAULT), alt),
            None => expect_err(name, r, FAULT),
        }
    }
    // nothing was written (the fd's position is at the end, so a write would append), the fd
    // still works
    let mut buf = [0u8; 16];
    expect_eq("file intact", fd_pread(ctx.f as Fd, &mut [&mut buf], 0).map(|_| buf[..10].to_vec()), Ok(b"0123456789".to_vec()));
    if strict() {
        expect_eq("file size unchanged", fd_filestat_get(ctx.f as Fd).map(|s| s.size), Ok(10));
    } else {
        not_checked("file size unchanged");
    }
    expect_eq("no directory or rename happened", names(PREOPEN, b"."), Ok(vec!["f".to_string(), "sl".to_string()]));
    expect_err("invalid UTF-8 path", open(PREOPEN, b"f\xff", 0, 0), ILSEQ);
    all_ok();
}
