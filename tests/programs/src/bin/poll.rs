//! poll_oneoff. Scratch dir = fd 3 (empty, writable). No args. Takes about 0.3 s (real sleeps).

use strata_test_programs::*;

const MS: u64 = 1_000_000;
const CLOCK: u8 = 0;
const FD_READ: u8 = 1;
const FD_WRITE: u8 = 2;
const ABSTIME: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    userdata: u64,
    error: u16,
    ty: u8,
    nbytes: u64,
}

fn sub_clock(userdata: u64, id: u32, timeout: u64, flags: u16) -> [u8; 48] {
    let mut s = [0u8; 48];
    s[0..8].copy_from_slice(&userdata.to_le_bytes());
    s[8] = CLOCK;
    s[16..20].copy_from_slice(&id.to_le_bytes());
    s[24..32].copy_from_slice(&timeout.to_le_bytes());
    s[32..40].copy_from_slice(&0u64.to_le_bytes());
    s[40..42].copy_from_slice(&flags.to_le_bytes());
    s
}

fn sub_fd(userdata: u64, ty: u8, fd: Fd) -> [u8; 48] {
    let mut s = [0u8; 48];
    s[0..8].copy_from_slice(&userdata.to_le_bytes());
    s[8] = ty;
    s[16..20].copy_from_slice(&fd.to_le_bytes());
    s
}

fn poll(subs: &[[u8; 48]]) -> R<Vec<Event>> {
    let mut ev = vec![[0xAAu8; 32]; subs.len().max(1)];
    let mut n = 0u32;
    let e = unsafe { raw::poll_oneoff(subs.as_ptr() as i32, ev.as_mut_ptr() as i32, subs.len() as i32, &mut n as *mut u32 as i32) };
    if e != 0 {
        return Err(Errno(e as u16));
    }
    Ok(ev[..n as usize]
        .iter()
        .map(|b| Event {
            userdata: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            error: u16::from_le_bytes([b[8], b[9]]),
            ty: b[10],
            nbytes: u64::from_le_bytes(b[16..24].try_into().unwrap()),
        })
        .collect())
}

fn clock_event(userdata: u64) -> Event {
    Event { userdata, error: 0, ty: CLOCK, nbytes: 0 }
}

fn main() {
    require_scratch();
    clocks();
    files();
    mixed();
    errors();
    all_ok();
}

/// A clock no test waits for: only a runtime that blocks on it would take this long.
const LONG: u64 = 30_000 * MS;

fn clocks() {
    let t0 = monotonic_now();
    let ev = expect_ok("relative monotonic 20ms", poll(&[sub_clock(7, 1, 20 * MS, 0)]));
    let dt = monotonic_now() - t0;
    expect_eq("relative monotonic event", ev, vec![clock_event(7)]);
    expect_true("relative monotonic waited", dt >= 20 * MS, ">= 20ms", dt);

    let deadline = monotonic_now() + 30 * MS;
    let ev = expect_ok("absolute monotonic +30ms", poll(&[sub_clock(8, 1, deadline, ABSTIME)]));
    let now = monotonic_now();
    expect_eq("absolute monotonic event", ev, vec![clock_event(8)]);
    expect_true("absolute monotonic waited", now >= deadline, ">= deadline", (now, deadline));

    // "Does not wait" is judged against a second clock of 30 s in the same call: a runtime
    // that waited would have that one fire too, or return after it; no bound here depends on
    // how fast the machine is (only lower bounds, which no delay can break, are timed).
    let t0 = monotonic_now();
    let ev = expect_ok(
        "absolute deadline in the past",
        poll(&[sub_clock(9, 1, 1, ABSTIME), sub_clock(99, 1, LONG, 0)]),
    );
    expect_eq("past deadline event", ev, vec![clock_event(9)]);
    expect_true("past deadline does not wait", monotonic_now() - t0 < LONG, "< 30s", "");

    let t0 = monotonic_now();
    let ev = expect_ok("relative zero timeout", poll(&[sub_clock(10, 1, 0, 0), sub_clock(98, 1, LONG, 0)]));
    expect_eq("zero timeout event", ev, vec![clock_event(10)]);
    expect_true("zero timeout does not wait", monotonic_now() - t0 < LONG, "< 30s", "");

    let t0 = monotonic_now();
    let ev = expect_ok("relative realtime 10ms", poll(&[sub_clock(11, 0, 10 * MS, 0)]));
    let dt = monotonic_now() - t0;
    expect_eq("relative realtime event", ev, vec![clock_event(11)]);
    expect_true("relative realtime waited", dt >= 10 * MS, ">= 10ms", dt);

    let rt = must("realtime", clock_time_get(0, 1));
    let t0 = monotonic_now();
    let ev = expect_ok("absolute realtime +10ms", poll(&[sub_clock(12, 0, rt + 10 * MS, ABSTIME)]));
    let dt = monotonic_now() - t0;
    expect_eq("absolute realtime event", ev, vec![clock_event(12)]);
    // realtime and monotonic may drift a little: allow 2ms
    expect_true("absolute realtime waited", dt >= 8 * MS, ">= 8ms", dt);

    // the earliest of several clocks fires alone
    let t0 = monotonic_now();
    let ev = expect_ok(
        "three clocks",
        poll(&[sub_clock(1, 1, 150 * MS, 0), sub_clock(2, 1, 15 * MS, 0), sub_clock(3, 1, 300 * MS, 0)]),
    );
    let dt = monotonic_now() - t0;
    expect_eq("earliest clock fires", ev, vec![clock_event(2)]);
    expect_true("earliest clock waited", dt >= 15 * MS, ">= 15ms", dt);
}

/// Regular files and directories are always ready. wasmtime reports only the first ready file
/// subscription of one call (and fails the whole call with EBADF for a directory); strata
/// reports all of them. WASI_STRICT=1 requires all.
fn files() {
    must("write f", write_file(PREOPEN, b"f", b"0123456789"));
    let f = must("open f", open(PREOPEN, b"f", 0, 0));
    must("seek 3", fd_seek(f, 3, WHENCE_SET));
    let ev = expect_ok("file read+write", poll(&[sub_fd(1, FD_READ, f), sub_fd(2, FD_WRITE, f)]));
    let good = |e: &Event| e.error == 0 && ((e.userdata == 1 && e.ty == FD_READ) || (e.userdata == 2 && e.ty == FD_WRITE));
    let all_there = ev.len() == 2 && ev.iter().all(good) && ev[0].userdata != ev[1].userdata;
    if !all_there && !strict() {
        note_alternative("file read+write both ready");
    }
    expect_true(
        "file read+write both ready",
        all_there || (!strict() && ev.len() == 1 && good(&ev[0])),
        "read (userdata 1) and write (userdata 2) events",
        &ev,
    );
    if strict() {
        let r = ev.iter().find(|e| e.ty == FD_READ).map(|e| e.nbytes);
        expect_eq("file read nbytes = bytes after position", r, Some(7));
    } else {
        not_checked("file read nbytes = bytes after position");
    }
    let ev = expect_ok("file read only", poll(&[sub_fd(5, FD_READ, f)]));
    expect_true("file read ready", ev.len() == 1 && ev[0].userdata == 5 && ev[0].ty == FD_READ && ev[0].error == 0, "one read event", &ev);
    must("close f", fd_close(f));

    let d = must("open dir", open_dir(PREOPEN, b"."));
    match poll(&[sub_fd(3, FD_READ, d), sub_fd(4, FD_WRITE, d)]) {
        Err(BADF) if !strict() => {
            note_alternative("directory read+write");
            ok("directory read+write")
        }
        Ok(ev) => {
            let good = |e: &Event| e.error == 0 && ((e.userdata == 3 && e.ty == FD_READ) || (e.userdata == 4 && e.ty == FD_WRITE));
            expect_true("directory read+write", ev.len() == 2 && ev.iter().all(good), "both events ready", &ev);
        }
        other => soft_fail("directory read+write", "Ok(2 events) (wasmtime: Err(BADF))", show(&other)),
    }
    must("close dir", fd_close(d));
}

fn mixed() {
    // a ready file beats a 30 s clock: the call returns without the clock event
    must("write m", write_file(PREOPEN, b"m", b"x"));
    let f = must("open m", open(PREOPEN, b"m", 0, 0));
    let t0 = monotonic_now();
    let ev = expect_ok("clock and ready file", poll(&[sub_clock(1, 1, LONG, 0), sub_fd(2, FD_READ, f)]));
    let dt = monotonic_now() - t0;
    expect_true(
        "ready file fires, clock does not",
        ev.len() == 1 && ev[0].userdata == 2 && ev[0].ty == FD_READ && ev[0].error == 0,
        "one read event",
        &ev,
    );
    expect_true("ready file does not wait", dt < LONG, "< 30s", dt);
    must("close m", fd_close(f));
}

fn errors() {
    expect_err("zero subscriptions", poll(&[]), INVAL);
    // a bad fd: strata reports an event with error EBADF, wasmtime fails the call with EBADF
    match poll(&[sub_fd(1, FD_READ, 999)]) {
        Err(BADF) if !strict() => {
            note_alternative("bad fd subscription");
            ok("bad fd subscription")
        }
        Ok(ev) if ev.len() == 1 && ev[0].userdata == 1 && ev[0].error == BADF.0 => ok("bad fd subscription"),
        other => soft_fail("bad fd subscription", "event with error BADF (wasmtime: Err(BADF))", show(&other)),
    }
    // wasmtime traps on an event type outside the enum
    strict_only("invalid event type", |c| {
        let mut s = sub_fd(1, 3, PREOPEN);
        s[8] = 3;
        expect_err(c, poll(&[s]), INVAL)
    });
}
