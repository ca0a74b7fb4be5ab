//! args, environ, clocks, random, sched_yield, proc_raise, proc_exit. No preopen needed.
//!
//! Protocol: `proc.wasm CODE hello "with space" "" "ünï=cødé"` with the environment exactly
//! `PROC_A=1`, `PROC_B=x=y`, `PROC_EMPTY=` (in this order, nothing else). Prints the `ok` lines and
//! `all ok`, then calls proc_exit(CODE).

use strata_test_programs::*;

const ARGS: [&str; 4] = ["hello", "with space", "", "ünï=cødé"];
const ENV: [&str; 3] = ["PROC_A=1", "PROC_B=x=y", "PROC_EMPTY="];

fn main() {
    let argv = args_raw();
    expect_true("args count", argv.len() == 6, "6 (argv[0], CODE and 4 more)", argv.len());
    let code: u32 = match std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse().ok()) {
        Some(c) => c,
        None => fail("exit code argument", "a number", String::from_utf8_lossy(&argv[1])),
    };
    let rest: Vec<String> = argv[2..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    expect_eq("args values", rest, ARGS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let std_args: Vec<String> = std::env::args().skip(2).collect();
    expect_eq("std::env::args agrees", std_args, ARGS.iter().map(|s| s.to_string()).collect::<Vec<_>>());

    // the harness switches KEEP_GOING and WASI_STRICT may be there too
    let env: Vec<String> = environ_raw()
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .filter(|e| !e.starts_with("KEEP_GOING=") && !e.starts_with("WASI_STRICT="))
        .collect();
    expect_eq("environ values", env, ENV.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    expect_eq("std::env::var", std::env::var("PROC_B").ok(), Some("x=y".to_string()));

    clocks();
    random();
    expect_eq("sched_yield", unsafe { raw::sched_yield() }, 0);
    // Signals are not supported. strata: ENOSYS, wasmtime: ENOTSUP.
    let e = unsafe { raw::proc_raise(15) };
    expect_wt("proc_raise", errno_result(e), Err(NOSYS), Err(NOTSUP));

    if failures() == 0 {
        println!("all ok");
    }
    unsafe { raw::proc_exit(if failures() == 0 { code as i32 } else { 1 }) }
}

/// args_sizes_get + args_get, checking the layout the host writes.
fn args_raw() -> Vec<Vec<u8>> {
    let (mut count, mut size) = (0u32, 0u32);
    let e = unsafe { raw::args_sizes_get(&mut count as *mut u32 as i32, &mut size as *mut u32 as i32) };
    check_eq("args_sizes_get", e, 0);
    strings("args", count, size, |ptrs, buf| unsafe { raw::args_get(ptrs, buf) })
}

fn environ_raw() -> Vec<Vec<u8>> {
    let (mut count, mut size) = (0u32, 0u32);
    let e = unsafe { raw::environ_sizes_get(&mut count as *mut u32 as i32, &mut size as *mut u32 as i32) };
    check_eq("environ_sizes_get", e, 0);
    strings("environ", count, size, |ptrs, buf| unsafe { raw::environ_get(ptrs, buf) })
}

fn strings(what: &str, count: u32, size: u32, get: impl FnOnce(i32, i32) -> i32) -> Vec<Vec<u8>> {
    // a canary after the buffer must stay untouched
    let mut ptrs = vec![0u32; count as usize + 1];
    let mut buf = vec![0xEEu8; size as usize + 1];
    ptrs[count as usize] = 0xDEAD_BEEF;
    check_eq(&format!("{what}_get"), get(ptrs.as_mut_ptr() as i32, buf.as_mut_ptr() as i32), 0);
    check_eq(&format!("{what} canaries"), (ptrs[count as usize], buf[size as usize]), (0xDEAD_BEEF, 0xEE));
    let base = buf.as_ptr() as u32;
    let mut out = Vec::new();
    for (i, &p) in ptrs[..count as usize].iter().enumerate() {
        if p < base || p >= base + size {
            fail(&format!("{what} pointer {i}"), "inside the buffer", p);
        }
        let start = (p - base) as usize;
        let len = buf[start..size as usize].iter().position(|&b| b == 0);
        match len {
            Some(n) => out.push(buf[start..start + n].to_vec()),
            None => fail(&format!("{what} string {i}"), "NUL-terminated", "no NUL"),
        }
    }
    let total: usize = out.iter().map(|s| s.len() + 1).sum();
    check_eq(&format!("{what} buffer size"), total, size as usize);
    ok(&format!("{what}_sizes_get/{what}_get layout"));
    out
}

fn clocks() {
    let rt = expect_ok("clock realtime", clock_time_get(0, 1));
    // after 2020-01-01 and before 2200-01-01
    expect_true("realtime is plausible", rt > 1_577_836_800_000_000_000 && rt < 7_258_118_400_000_000_000, "2020..2200", rt);
    let m1 = expect_ok("clock monotonic", clock_time_get(1, 1));
    let m2 = must("clock monotonic again", clock_time_get(1, 0));
    expect_true("monotonic does not go back", m2 >= m1, ">= first reading", (m1, m2));
    for id in [0u32, 1] {
        let r = expect_ok(&format!("clock_res_get {id}"), clock_res_get(id));
        expect_true(&format!("clock_res_get {id} value"), r > 0 && r <= 1_000_000_000, "1..=1e9 ns", r);
    }
    // CPU-time clocks: strata implements them, wasmtime returns EBADF.
    for id in [2u32, 3] {
        let t1 = clock_time_get(id, 1);
        let t2 = clock_time_get(id, 1);
        let res = clock_res_get(id);
        let case = format!("clock {id}");
        match (t1, t2, res) {
            (Ok(a), Ok(b), Ok(r)) if b >= a && r > 0 => ok(&case),
            (Err(BADF), Err(BADF), Err(BADF)) if !strict() => {
                note_alternative(&case);
                ok(&case)
            }
            other => soft_fail(&case, "Ok(t1 <= t2, res > 0) (wasmtime: Err(BADF))", format!("{other:?}")),
        }
    }
    // wasmtime traps on a clock id outside the enum
    strict_only("clock_time_get invalid id", |c| expect_err(c, clock_time_get(4, 1), INVAL));
    strict_only("clock_res_get invalid id", |c| expect_err(c, clock_res_get(4), INVAL));
}

fn random() {
    let e = unsafe { raw::random_get(8, 0) };
    expect_eq("random_get zero bytes", e, 0);
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    let ea = unsafe { raw::random_get(a.as_mut_ptr() as i32, 64) };
    let eb = unsafe { raw::random_get(b.as_mut_ptr() as i32, 64) };
    expect_eq("random_get", (ea, eb), (0, 0));
    expect_true("random_get fills", a != [0u8; 64] && a != b, "non-zero, differing buffers", "");
    let mut big = vec![0u8; 100_000];
    let e = unsafe { raw::random_get(big.as_mut_ptr() as i32, big.len() as i32) };
    expect_eq("random_get 100000 bytes", e, 0);
    expect_true("random_get 100000 bytes filled", big[99_000..].iter().any(|&x| x != 0), "non-zero tail", "");
}
