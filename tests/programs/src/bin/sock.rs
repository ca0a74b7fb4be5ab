//! sock_* on things that are not sockets. Scratch dir = fd 3 (empty, writable). No args.

use strata_test_programs::*;

fn recv(fd: Fd) -> R<(u32, u16)> {
    let mut buf = [0u8; 16];
    let iov = [buf.as_mut_ptr() as u32, buf.len() as u32];
    let (mut n, mut flags) = (0u32, 0u16);
    let e = unsafe {
        raw::sock_recv(fd as i32, iov.as_ptr() as i32, 1, 0, &mut n as *mut u32 as i32, &mut flags as *mut u16 as i32)
    };
    if e == 0 { Ok((n, flags)) } else { Err(Errno(e as u16)) }
}

fn send(fd: Fd) -> R<u32> {
    let buf = *b"data";
    let iov = [buf.as_ptr() as u32, buf.len() as u32];
    let mut n = 0u32;
    let e = unsafe { raw::sock_send(fd as i32, iov.as_ptr() as i32, 1, 0, &mut n as *mut u32 as i32) };
    if e == 0 { Ok(n) } else { Err(Errno(e as u16)) }
}

fn shutdown(fd: Fd, how: u8) -> R<()> {
    let e = unsafe { raw::sock_shutdown(fd as i32, how as i32) };
    if e == 0 { Ok(()) } else { Err(Errno(e as u16)) }
}

fn accept(fd: Fd) -> R<Fd> {
    let mut out = 0u32;
    let e = unsafe { raw::sock_accept(fd as i32, 0, &mut out as *mut u32 as i32) };
    if e == 0 { Ok(out) } else { Err(Errno(e as u16)) }
}

fn all_calls(what: &str, fd: Fd, errno: Errno) {
    expect_err(&format!("sock_recv on {what}"), recv(fd), errno);
    expect_err(&format!("sock_send on {what}"), send(fd), errno);
    expect_err(&format!("sock_shutdown on {what}"), shutdown(fd, 3), errno);
    expect_err(&format!("sock_accept on {what}"), accept(fd), errno);
}

fn main() {
    require_scratch();
    must("write f", write_file(PREOPEN, b"f", b"not a socket"));
    let f = must("open f", open(PREOPEN, b"f", 0, 0));
    all_calls("a file", f, NOTSOCK);
    expect_eq("file untouched", read_file(PREOPEN, b"f"), Ok(b"not a socket".to_vec()));
    must("close f", fd_close(f));
    all_calls("a directory", PREOPEN, NOTSOCK);
    all_calls("a forged fd", 4242, BADF);
    all_calls("a closed fd", f, BADF);
    all_ok();
}
