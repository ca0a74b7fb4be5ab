//! A WASI reactor: `_initialize` (runs the constructors, once) and plain exported functions.
//! Scratch dir = fd 3 (writable) for `write_file`.
//!
//! Exports:
//! - `add(i32, i32) -> i32`: wrapping sum.
//! - `write_file() -> i32`: writes `out.txt` (the 26 bytes `written by the reactor: N\n` with
//!   N = the number of calls so far, 1..=9) into the preopen through std::fs, returns the
//!   number of bytes written, or -1 on error.
//! - `initialized() -> i32`: how many times `_initialize` ran (1 after a proper start).
//! - `fail() -> i32`: calls proc_exit(3).

use std::sync::atomic::{AtomicI32, Ordering};

static INIT: AtomicI32 = AtomicI32::new(0);
static CALLS: AtomicI32 = AtomicI32::new(0);

extern "C" {
    fn __wasm_call_ctors();
}

/// The reactor entry point (what wasi-libc's crt1-reactor.o provides for C): runs the static
/// constructors once.
#[no_mangle]
pub extern "C" fn _initialize() {
    if INIT.fetch_add(1, Ordering::SeqCst) == 0 {
        unsafe { __wasm_call_ctors() }
    }
}

#[no_mangle]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

#[no_mangle]
pub extern "C" fn initialized() -> i32 {
    INIT.load(Ordering::SeqCst)
}

#[no_mangle]
pub extern "C" fn write_file() -> i32 {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    let text = format!("written by the reactor: {}\n", n % 10);
    // the preopen's guest name is not fixed: find it through the relative path "out.txt",
    // which wasi-libc resolves against the preopen it knows (any, e.g. "/" or "/scratch").
    let mut path = String::from("out.txt");
    if let Some(dir) = preopen_name() {
        path = format!("{}/out.txt", dir.trim_end_matches('/'));
    }
    match std::fs::write(&path, text.as_bytes()) {
        Ok(()) => text.len() as i32,
        Err(_) => -1,
    }
}

/// The guest name of preopen fd 3.
fn preopen_name() -> Option<String> {
    unsafe {
        let st = wasi::fd_prestat_get(3).ok()?;
        let len = st.u.dir.pr_name_len;
        let mut buf = vec![0u8; len];
        wasi::fd_prestat_dir_name(3, buf.as_mut_ptr(), len).ok()?;
        String::from_utf8(buf).ok()
    }
}

#[no_mangle]
pub extern "C" fn fail() -> i32 {
    unsafe { wasi::proc_exit(3) };
    -1
}
