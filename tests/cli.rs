//! The `strata` binary: exit statuses, error messages, `--dir`, `--env`, `--invoke`. Modules
//! here are small WAT texts (the CLI accepts text as well as binary modules) so each test
//! states exactly what the guest does.

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::path::Path;
use std::process::{Command, Output};

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

const EXIT_7: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))"#;

#[test]
fn exit_code_is_the_guests() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "exit.wat", EXIT_7);
    let o = strata(&["run", &m]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
}

#[test]
fn returning_from_start_is_exit_zero() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(
        t.path(),
        "ok.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let o = strata(&["run", &m]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn unstable_namespace_runs_too() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(
        t.path(),
        "p0.wat",
        &EXIT_7.replace("wasi_snapshot_preview1", "wasi_unstable"),
    );
    let o = strata(&["run", &m]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
}

#[test]
fn trap_exits_134_with_message() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(
        t.path(),
        "trap.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
    );
    let o = strata(&["run", &m]);
    assert_eq!(o.status.code(), Some(134));
    let e = stderr(&o);
    assert!(e.starts_with("strata: guest trapped"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
}

#[test]
fn missing_import_is_named() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(
        t.path(),
        "missing.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "not_a_function" (func))
  (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let o = strata(&["run", &m]);
    assert_eq!(o.status.code(), Some(125));
    let e = stderr(&o);
    assert!(e.contains("wasi_snapshot_preview1::not_a_function"), "{e}");

    let m = write_module(
        t.path(),
        "host.wat",
        r#"(module (import "env" "host_fn" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let o = strata(&["run", &m]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("env::host_fn"), "{}", stderr(&o));
}

#[test]
fn setup_errors_exit_125_naming_the_culprit() {
    let t = tempfile::tempdir().unwrap();
    let o = strata(&["run", "/nonexistent/x.wasm"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("/nonexistent/x.wasm"), "{}", stderr(&o));

    let bad = t.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0garbage").unwrap();
    let o = strata(&["run", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("bad.wasm"), "{}", stderr(&o));

    let m = write_module(t.path(), "exit.wat", EXIT_7);
    let o = strata(&["run", "--dir", "/nonexistent-dir::/x", &m]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("/nonexistent-dir"), "{}", stderr(&o));

    let o = strata(&["run", "--env", "NOEQUALS", &m]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("NOEQUALS"), "{}", stderr(&o));
}

#[test]
fn bad_command_line_exits_2() {
    let o = strata(&["run", "--no-such-flag", "x.wasm"]);
    assert_eq!(o.status.code(), Some(2));
    let o = strata(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A reactor: `_initialize` sets a global; `add` returns a + b + that global.
const REACTOR: &str = r#"(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $g (i32.const 100)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (global.get $g) (i32.add (local.get 0) (local.get 1)))))"#;

#[test]
fn invoke_runs_initialize_then_the_export() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "reactor.wat", REACTOR);
    let o = strata(&["run", "--invoke", "add", &m, "2", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "105\n");

    let o = strata(&["run", "--invoke", "add", &m, "2"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("expects 2 argument(s), got 1"),
        "{}",
        stderr(&o)
    );

    let o = strata(&["run", "--invoke", "add", &m, "2", "x"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("\"x\""), "{}", stderr(&o));

    let o = strata(&["run", "--invoke", "nope", &m]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

/// Writes "data" to `new.txt` under the first preopen (fd 3), truncates
/// `old.txt` there, and exits with path_open's errno for `new.txt` (0 on success).
const WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "new.txt")
  (data (i32.const 8) "old.txt")
  (data (i32.const 16) "data")
  (func (export "_start") (local $e i32)
    (i32.store (i32.const 32) (i32.const 16))
    (i32.store (i32.const 36) (i32.const 4))
    (local.set $e (call $open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 7)
      (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 48)))
    (if (local.get $e) (then (call $exit (local.get $e))))
    (drop (call $write (i32.load (i32.const 48)) (i32.const 32) (i32.const 1) (i32.const 52)))
    ;; O_TRUNC on old.txt
    (call $exit (call $open (i32.const 3) (i32.const 1) (i32.const 8) (i32.const 7)
      (i32.const 8) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 48)))))"#;

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    out.sort();
    out
}

#[test]
fn dir_writes_stay_in_memory() {
    let t = tempfile::tempdir().unwrap();
    let host = t.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("old.txt"), b"precious").unwrap();
    let before = snapshot(&host);
    let m = write_module(t.path(), "writer.wat", WRITER);
    let spec = format!("{}::/data", host.display());
    let o = strata(&["run", "--dir", &spec, &m]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(snapshot(&host), before, "the host tree is unchanged");
}

/// Prints the environment (environ_get) as lines to stdout.
const PRINT_ENV: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32) (local $i i32) (local $p i32) (local $len i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    ;; pointers at 1024, strings at 2048
    (drop (call $get (i32.const 1024) (i32.const 2048)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $p (i32.load (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
      ;; strlen, then replace the NUL by a newline
      (local.set $len (i32.const 0))
      (block $end (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $len)))))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (br $scan)))
      (i32.store8 (i32.add (local.get $p) (local.get $len)) (i32.const 10))
      (i32.store (i32.const 16) (local.get $p))
      (i32.store (i32.const 20) (i32.add (local.get $len) (i32.const 1)))
      (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))) "#;

#[test]
fn env_is_passed_in_order() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "env.wat", PRINT_ENV);
    let o = strata(&["run", "--env", "A=1", "--env", "B=x=y", &m]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "A=1\nB=x=y\n");
}

#[test]
fn version_flag() {
    // strata's version, the wasmer in Cargo.lock, the cache directory in use.
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let at = lock.find("\nname = \"wasmer\"\nversion = \"").unwrap();
    let wasmer = lock[at..].split('"').nth(3).unwrap();
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("modules");
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--version")
        .env("STRATA_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "strata {}\nwasmer {wasmer}\nmodule cache: {}\n",
            env!("CARGO_PKG_VERSION"),
            cache.display()
        )
    );
    // Without STRATA_CACHE_DIR: $XDG_CACHE_HOME/strata/modules.
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--version")
        .env_remove("STRATA_CACHE_DIR")
        .env("XDG_CACHE_HOME", t.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let want = format!(
        "module cache: {}\n",
        t.path().join("strata/modules").display()
    );
    assert!(out.ends_with(&want), "{out}");
    // -V stays one line.
    let o = strata(&["-V"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("strata {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Copies stdin to stdout (one fd_read of up to 64 bytes).
const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 64))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

#[test]
fn stdin_file_trace_and_quiet() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "echo.wat", ECHO);
    let input = t.path().join("in.txt");
    std::fs::write(&input, "from a file\n").unwrap();
    let o = strata(&["run", "--stdin", input.to_str().unwrap(), "--trace", &m]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, b"from a file\n");
    assert_eq!(
        stderr(&o),
        "strata: trace: fd_read(0, iovs=1 total=64) = 12\n\
         strata: trace: fd_write(1, iovs=1 total=12) = 12\n"
    );
    let o = strata(&["run", "--stdin", "/nonexistent/in", &m]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("--stdin \"/nonexistent/in\""));
    let o = strata(&["run", "--quiet", "--stdin", "/nonexistent/in", &m]);
    assert_eq!(o.status.code(), Some(125));
    assert!(o.stderr.is_empty());
}

#[test]
fn deterministic_runs_print_and_save_the_same_bytes() {
    let t = tempfile::tempdir().unwrap();
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/determinism.wasm");
    let mut runs = Vec::new();
    for (i, seed) in ["--deterministic=5", "--deterministic=5", "--deterministic"]
        .iter()
        .enumerate()
    {
        let out = t.path().join(format!("fs{i}.tar"));
        let o = strata(&[
            "run",
            seed,
            "--save-fs",
            out.to_str().unwrap(),
            module.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        runs.push((o.stdout, std::fs::read(out).unwrap()));
    }
    assert!(
        runs[0] == runs[1],
        "same seed: identical stdout and --save-fs tar"
    );
    assert_ne!(runs[0].0, runs[2].0, "seed 0 differs from seed 5");
    assert!(String::from_utf8_lossy(&runs[0].0).contains("clock 0: Ok(946684800000"));
}

#[test]
fn no_root_preopen_leaves_fd_3_unused() {
    let t = tempfile::tempdir().unwrap();
    let m = write_module(
        t.path(),
        "prestat.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $p (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (call $p (i32.const 3) (i32.const 0)))))"#,
    );
    assert_eq!(
        strata(&["run", &m]).status.code(),
        Some(0),
        "the root is preopened at fd 3"
    );
    assert_eq!(
        strata(&["run", "--no-root-preopen", &m]).status.code(),
        Some(8),
        "EBADF"
    );
}

#[test]
fn compiled_modules_are_cached_on_disk() {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, SystemTime};
    let t = tempfile::tempdir().unwrap();
    let m = write_module(t.path(), "exit.wat", EXIT_7);
    let cache = t.path().join("cache");
    let run = |extra: &[&str]| {
        strata_cmd()
            .arg("run")
            .args(extra)
            .arg(&m)
            .env("STRATA_CACHE_DIR", &cache)
            .output()
            .unwrap()
    };
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    assert_eq!(run(&["--no-cache"]).status.code(), Some(7));
    assert_eq!(entries().len(), 0, "--no-cache writes nothing");
    assert_eq!(run(&[]).status.code(), Some(7));
    let entry = match &entries()[..] {
        [one] => one.clone(),
        other => panic!("one entry expected: {other:?}"),
    };
    // A hit uses the entry where it is (same inode, same bytes) and marks it used (mtime, for
    // the least-recently-used bound); a miss would compile again and rename a new file in.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&entry)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (ino, bytes) = (
        std::fs::metadata(&entry).unwrap().ino(),
        std::fs::read(&entry).unwrap(),
    );
    assert_eq!(run(&[]).status.code(), Some(7), "runs from the cache entry");
    let after = std::fs::metadata(&entry).unwrap();
    assert_eq!(after.ino(), ino, "the entry was not replaced: a cache hit");
    assert!(
        after.modified().unwrap() > old,
        "the hit marked the entry used"
    );
    assert_eq!(std::fs::read(&entry).unwrap(), bytes);
    assert_eq!(entries(), std::slice::from_ref(&entry));
    // A corrupt entry is detected, recompiled and replaced.
    std::fs::write(&entry, b"strata-module-cache-v1\ngarbage").unwrap();
    assert_eq!(run(&[]).status.code(), Some(7));
    assert!(std::fs::read(&entry).unwrap().len() > 100, "rewritten");
    assert_eq!(entries().len(), 1);
}
