//! `stdio [--read]`: what the guest is told fds 0–2 are. One line per fd:
//! `FD isatty=0|1 fdstat=TYPE filestat=TYPE seek=0|1`, where `isatty` is wasi-libc's own
//! `isatty(3)` (a `CHARACTER_DEVICE` without `FD_SEEK`/`FD_TELL` rights: what CPython, Rust's
//! `IsTerminal` and C stdio's line buffering rely on), `TYPE` the filetype from
//! `fd_fdstat_get` and `fd_filestat_get`, and `seek` whether the fd holds `FD_SEEK` or
//! `FD_TELL`. With `--read` it then decides like an interpreter started without a script
//! (CPython: `isatty(0)` means interactive): `interactive` when stdin is a terminal (nothing
//! is read), else it reads stdin to the end and prints `script: N bytes`.

use std::io::Read;

extern "C" {
    /// wasi-libc's `isatty`, exactly what C programs and CPython call.
    fn isatty(fd: i32) -> i32;
}

fn filetype(raw: u8) -> String {
    const NAMES: [&str; 8] = [
        "UNKNOWN",
        "BLOCK_DEVICE",
        "CHARACTER_DEVICE",
        "DIRECTORY",
        "REGULAR_FILE",
        "SOCKET_DGRAM",
        "SOCKET_STREAM",
        "SYMBOLIC_LINK",
    ];
    NAMES
        .get(raw as usize)
        .map_or_else(|| format!("filetype {raw}"), |n| n.to_string())
}

fn describe(fd: u32) -> String {
    // SAFETY: plain WASI calls writing into locals.
    let tty = unsafe { isatty(fd as i32) } == 1;
    let fdstat = unsafe { wasi::fd_fdstat_get(fd) };
    let filestat = unsafe { wasi::fd_filestat_get(fd) };
    let (fdstat, seek) = match fdstat {
        Ok(s) => (
            filetype(s.fs_filetype.raw()),
            s.fs_rights_base & (wasi::RIGHTS_FD_SEEK | wasi::RIGHTS_FD_TELL) != 0,
        ),
        Err(e) => (format!("Err({})", e.raw()), false),
    };
    let filestat = match filestat {
        Ok(s) => filetype(s.filetype.raw()),
        Err(e) => format!("Err({})", e.raw()),
    };
    format!(
        "{fd} isatty={} fdstat={fdstat} filestat={filestat} seek={}",
        tty as u8, seek as u8
    )
}

fn main() {
    for fd in 0..3 {
        println!("{}", describe(fd));
    }
    if std::env::args().nth(1).as_deref() == Some("--read") {
        // SAFETY: as above.
        if unsafe { isatty(0) } == 1 {
            println!("interactive");
        } else {
            let mut buf = Vec::new();
            match std::io::stdin().read_to_end(&mut buf) {
                Ok(n) => println!("script: {n} bytes"),
                Err(e) => println!("script: read failed: {e}"),
            }
        }
    }
}
