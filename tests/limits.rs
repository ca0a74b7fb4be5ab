//! Resource limits end to end: a guest writing forever ends with `ENOSPC` while the strata
//! process stays within the memory limit (its peak RSS, measured by the kernel), inode and
//! fd limits, the wall-clock timeout (exit status 124) and instruction fuel (152), through
//! the CLI and the library. Nothing here asserts timings beyond "terminates".

#![cfg(feature = "runtime")]

mod common;
use common::{program_bytes, strata_cmd};

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;
use strata::runtime::{Error, WasiEnv, engine_for};
use strata::sandbox::{Sandbox, Status};

fn strata(args: &[&str]) -> Output {
    strata_cmd()
        .args(args)
        .output()
        .expect("the strata binary runs")
}

fn write_module(dir: &Path, name: &str, wat: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, wat).unwrap();
    p.to_str().unwrap().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Creates `/endless` and writes 64 KiB to it again and again until a write fails, then
/// exits with that errno (100 + errno if the open fails).
const ENDLESS_WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "endless")
  (func (export "_start") (local $fd i32) (local $err i32)
    (local.set $err (call $path_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 7)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $exit (i32.add (i32.const 100) (local.get $err)))))
    (local.set $fd (i32.load (i32.const 16)))
    ;; iovec at 32: the 64 KiB at 65536
    (i32.store (i32.const 32) (i32.const 65536))
    (i32.store (i32.const 36) (i32.const 65536))
    (loop $again
      (local.set $err (call $fd_write (local.get $fd) (i32.const 32) (i32.const 1) (i32.const 48)))
      (br_if $again (i32.eqz (local.get $err))))
    (call $exit (local.get $err))))"#;

const INFINITE_LOOP: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#;

/// Waits in `poll_oneoff` on a monotonic clock for u64::MAX ns.
const SLEEP_FOREVER: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const -1))
    (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))))"#;

/// Creates directories `aaaa`, `baaa`, ... until that fails; exits with the errno.
const MKDIR_FOREVER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32) (local $err i32) (local $k i32)
    (loop $again
      ;; name: four letters, the nibbles of $i
      (local.set $k (i32.const 0))
      (loop $digits
        (i32.store8 (local.get $k)
          (i32.add (i32.const 97)
            (i32.and (i32.shr_u (local.get $i) (i32.mul (local.get $k) (i32.const 4)))
                     (i32.const 15))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $digits (i32.lt_u (local.get $k) (i32.const 4))))
      (local.set $err (call $mkdir (i32.const 3) (i32.const 0) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.eqz (local.get $err))))
    (call $exit (local.get $err))))"#;

/// Opens the preopened directory again and again; exits with the errno once it fails and
/// stores the number of fds it got at address 100.
const OPEN_FOREVER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) ".")
  (func (export "_start") (local $err i32)
    (loop $again
      (local.set $err (call $path_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 1)
        (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 16)))
      (br_if $again (i32.eqz (local.get $err))))
    (call $exit (local.get $err))))"#;

/// Writes "x" to stdout forever.
const PRINT_FOREVER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "x")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 1))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100)))
      (br $l))))"#;

/// Runs the CLI and reaps it with `wait4`, which reports the child's own peak RSS.
#[cfg(target_os = "linux")]
#[allow(clippy::zombie_processes)] // reaped by wait4, not Child::wait
fn run_measured(args: &[&str]) -> (Option<i32>, u64, String) {
    use std::io::Read;
    // The cache directory must outlive the child.
    let mut cmd = strata_cmd();
    let mut child = cmd
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the strata binary runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it and the status for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // ru_maxrss is in KiB on Linux.
    (code, usage.ru_maxrss as u64 * 1024, err)
}

#[test]
#[cfg(target_os = "linux")]
fn endless_writer_ends_with_enospc_within_the_memory_limit() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "writer.wat", ENDLESS_WRITER);
    // The same run with almost no room: what strata itself (wasmer, the compiled module,
    // the guest's memory) costs.
    let (code, baseline, err) = run_measured(&["run", "--max-memory", "1M", &m]);
    assert_eq!(code, Some(51), "ENOSPC: {err}");
    let limit: u64 = 128 << 20;
    let (code, peak, err) = run_measured(&["run", "--max-memory", "128M", &m]);
    assert_eq!(code, Some(51), "the guest saw ENOSPC: {err}");
    eprintln!(
        "endless writer: peak RSS {} MiB with --max-memory 128M, {} MiB with 1M",
        peak >> 20,
        baseline >> 20
    );
    let slack = 16 << 20;
    assert!(
        peak <= limit + baseline + slack,
        "peak RSS {peak} above the limit {limit} + baseline {baseline} + {slack}"
    );
    assert!(
        peak >= baseline + limit / 2,
        "the guest did fill its memory: {peak}"
    );
}

#[test]
fn inode_limit_ends_creations_with_enospc() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "mkdir.wat", MKDIR_FOREVER);
    let o = strata(&["run", "--max-inodes", "300", &m]);
    assert_eq!(o.status.code(), Some(51), "{}", stderr(&o));
    // The library: exactly `max_inodes` directories were made.
    let out = WasiEnv::builder("mkdir")
        .max_inodes(300)
        .run(MKDIR_FOREVER.as_bytes())
        .unwrap();
    assert_eq!(out.exit_code, 51);
    let root = out.ctx.vfs.root();
    assert_eq!(out.ctx.vfs.readdir(root, 2).unwrap().len(), 300);
}

#[test]
fn fd_limit_ends_opens_with_emfile() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "open.wat", OPEN_FOREVER);
    let o = strata(&["run", "--max-fds", "10", &m]);
    assert_eq!(o.status.code(), Some(33), "EMFILE: {}", stderr(&o));
    let mut builder = WasiEnv::builder("open").max_fds(10);
    let _ = builder.capture_stdout();
    let out = builder.run(OPEN_FOREVER.as_bytes()).unwrap();
    assert_eq!(out.exit_code, 33);
    assert_eq!(out.ctx.fds.iter().count(), 10, "stdio, the root and 6 more");
}

#[test]
fn timeout_stops_a_busy_guest_with_124() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "loop.wat", INFINITE_LOOP);
    let o = strata(&["run", "--timeout", "300ms", &m]);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with("strata: timeout:") && e.contains("300ms"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    // --quiet: the status alone.
    let o = strata(&["run", "-q", "--timeout", "100ms", &m]);
    assert_eq!(o.status.code(), Some(124));
    assert!(o.stderr.is_empty());
}

#[test]
fn timeout_stops_a_guest_waiting_in_poll_oneoff() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "sleep.wat", SLEEP_FOREVER);
    let o = strata(&["run", "--timeout", "300ms", &m]);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
}

#[test]
fn fuel_stops_a_busy_guest_with_152() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "loop.wat", INFINITE_LOOP);
    let o = strata(&["run", "--fuel", "1000000", &m]);
    assert_eq!(o.status.code(), Some(152), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with("strata: out of fuel:") && e.contains("1000000"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    // Enough fuel: the program's own status.
    let ok = write_module(
        t.path(),
        "ok.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let o = strata(&["run", "--fuel", "100", &ok]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A real trap stays a trap under metering.
    let trap = write_module(
        t.path(),
        "trap.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
    );
    let o = strata(&["run", "--fuel", "100", &trap]);
    assert_eq!(o.status.code(), Some(134), "{}", stderr(&o));
}

#[test]
fn fuel_is_deterministic() {
    let run = || {
        let mut builder = WasiEnv::builder("print").fuel(20_000);
        let stdout = builder.capture_stdout();
        let mut store = wasmer::Store::new(engine_for(Some(20_000)));
        let module = wasmer::Module::new(&store, PRINT_FOREVER).unwrap();
        let env = builder.finalize(&mut store).unwrap();
        let imports = env.import_object(&mut store, &module).unwrap();
        let instance = wasmer::Instance::new(&mut store, &module, &imports).unwrap();
        env.initialize(&mut store, &instance).unwrap();
        let r = env.call(&mut store, &instance, None, &[]);
        assert!(matches!(r, Err(Error::OutOfFuel)), "{:?}", r.err());
        stdout.contents()
    };
    let a = run();
    assert!(!a.is_empty());
    assert_eq!(a, run(), "the same fuel, the same output");
}

#[test]
fn sandbox_limits_and_the_metered_module_cache() {
    let program = common::program_bytes(INFINITE_LOOP.as_bytes());
    let fuelled = Sandbox::builder().fuel(10_000).build().unwrap();
    for _ in 0..2 {
        assert_eq!(
            fuelled.run(&program).unwrap().status,
            Status::OutOfFuel(10_000)
        );
    }
    let timed = Sandbox::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(
        timed.run(&program).unwrap().status,
        Status::TimedOut(Duration::from_millis(200))
    );
    // The unmetered module is still the cached one; a run without limits on time is not
    // stopped by fuel.
    let writer = common::program_bytes(ENDLESS_WRITER.as_bytes());
    let small = Sandbox::builder()
        .file("/etc/motd", vec![1u8; 4 << 20])
        .max_memory(1 << 20)
        .build()
        .unwrap();
    let out = small.run(&writer).unwrap();
    assert_eq!(out.exit_code(), Some(51), "ENOSPC");
    assert_eq!(
        out.read("/etc/motd").unwrap().len(),
        4 << 20,
        "the base is free"
    );
    let used = out.fs.budget().unwrap().usage().memory;
    assert!(used <= 1 << 20, "{used}");
}

#[test]
fn bad_limit_values_are_command_line_errors() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "loop.wat", INFINITE_LOOP);
    for args in [
        ["--max-memory", "12X"],
        ["--timeout", "soon"],
        ["--fuel", "-1"],
        ["--max-fds", "many"],
    ] {
        let o = strata(&["run", args[0], args[1], &m]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

/// Grows its memory 16 pages (1 MiB) at a time until `memory.grow` fails; exits with the
/// number of grows that succeeded.
const GROW_BOMB: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (call $exit (local.get $n))))"#;

/// Writes 64 KiB to stdout until a write fails; exits with its errno.
const STDOUT_FLOOD: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $e i32)
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $l
      (local.set $e (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $l (i32.eqz (local.get $e))))
    (call $exit (local.get $e))))"#;

#[test]
fn linear_memory_growth_counts_against_the_memory_budget() {
    let program = common::program_bytes(GROW_BOMB);
    // 8 MiB: the first page and 7 grows of 16 pages fit (113 pages), the 8th does not.
    let sandbox = Sandbox::builder().max_memory(8 << 20).build().unwrap();
    assert_eq!(sandbox.run(&program).unwrap().status, Status::Exited(7));
    assert_eq!(
        sandbox.run(&program).unwrap().status,
        Status::Exited(7),
        "each run has its own budget, and a run's memory is given back"
    );
    // Without a tight limit, the grows go on far past 8 MiB.
    let roomy = Sandbox::builder().max_memory(64 << 20).build().unwrap();
    assert_eq!(roomy.run(&program).unwrap().status, Status::Exited(63));
    // Through the CLI, the same.
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("grow.wat");
    std::fs::write(&m, GROW_BOMB).unwrap();
    let out = strata_cmd()
        .args(["run", "--max-memory", "8M"])
        .arg(&m)
        .env("STRATA_CACHE_DIR", t.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{out:?}");
}

#[test]
fn captured_output_counts_against_the_memory_budget() {
    let program = common::program_bytes(STDOUT_FLOOD);
    let o = Sandbox::builder()
        .max_memory(8 << 20)
        .build()
        .unwrap()
        .run(&program)
        .unwrap();
    assert_eq!(o.status, Status::Exited(51), "ENOSPC");
    // The two pages of linear memory, argv[0] ("main.wasm", 42 bytes with its cost) and the
    // captured output share the 8 MiB: 125 writes of 64 KiB fit, the 126th does not.
    assert_eq!(o.stdout.len(), (8 << 20) - 3 * 65536);
}

/// A fixed table of 100,000 elements, then memory grown 1 MiB at a time until refused; exits
/// with the number of grows.
const TABLE_THEN_GROW: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table 100000 100000 funcref)
  (func (export "_start") (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (call $exit (local.get $n))))"#;

#[test]
fn tables_count_against_the_memory_budget() {
    // 8 MiB: the table's 100,000 elements at 16 bytes (1.6 MB) leave room for 6 grows of
    // 1 MiB, where GROW_BOMB alone gets 7.
    let sandbox = Sandbox::builder().max_memory(8 << 20).build().unwrap();
    let program = program_bytes(TABLE_THEN_GROW);
    assert_eq!(sandbox.run(&program).unwrap().status, Status::Exited(6));
    assert_eq!(
        sandbox.run(&program).unwrap().status,
        Status::Exited(6),
        "the table's share is given back with the run"
    );
    // A table that cannot fit fails instantiation, saying why.
    let huge = program_bytes(TABLE_THEN_GROW.replace("100000 100000", "10000000"));
    match sandbox.run(&huge) {
        Err(Error::Instantiate(m)) => assert!(m.contains("memory budget"), "{m}"),
        Err(e) => panic!("expected an instantiation error, got {e}"),
        Ok(o) => panic!(
            "expected an instantiation error, the run ended {:?}",
            o.status
        ),
    }
}

#[test]
fn arguments_and_environment_count_against_the_memory_budget() {
    let big = "a".repeat(600 << 10);
    // The runtime's builder: charged at setup, refused past the budget.
    let refused = WasiEnv::builder("prog")
        .args([big.as_str(), big.as_str()])
        .max_memory(1 << 20)
        .run(GROW_BOMB.as_bytes());
    match refused {
        Err(e @ Error::ArgsTooLarge { .. }) => {
            assert!(e.to_string().contains("E2BIG"), "{e}");
        }
        Err(e) => panic!("expected ArgsTooLarge, got {e}"),
        Ok(o) => panic!("expected ArgsTooLarge, exited {}", o.exit_code),
    }
    // They share the budget with linear memory: 4 MiB of environment leaves GROW_BOMB 3
    // grows of its 8 MiB, not 7.
    let program = program_bytes(GROW_BOMB);
    let sandbox = Sandbox::builder()
        .max_memory(8 << 20)
        .env("BIG", "e".repeat(4 << 20))
        .build()
        .unwrap();
    assert_eq!(sandbox.run(&program).unwrap().status, Status::Exited(3));
    // The sandbox refuses before copying them for the run; the CLI says which flag.
    let sandbox = Sandbox::builder()
        .max_memory(1 << 20)
        .args([big.as_str(), big.as_str()])
        .build()
        .unwrap();
    assert!(matches!(
        sandbox.run(&program),
        Err(Error::ArgsTooLarge { .. })
    ));
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "grow.wat", GROW_BOMB);
    // 12 arguments of 100 KiB (one argument of the host may not pass 128 KiB).
    let mut args = vec!["run", "--max-memory", "1M", &m];
    let arg = "a".repeat(100 << 10);
    args.extend(std::iter::repeat_n(arg.as_str(), 12));
    let o = strata(&args);
    assert_eq!(o.status.code(), Some(125));
    let e = stderr(&o);
    assert!(
        e.starts_with("strata: arguments and environment too large (E2BIG):")
            && e.contains("--max-memory")
            && e.lines().count() == 1,
        "{e}"
    );
}
