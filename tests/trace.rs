//! The decoded WASI call trace (`--trace`, `Trace`): a golden trace of `cat` over the demo
//! image, the same lines through the CLI and the library, a trace file, the filter, timing,
//! and the rule that tracing never changes what the guest sees (a bad pointer shows as
//! `<EFAULT>` and the call fails exactly as it does untraced).
//!
//! `STRATA_BLESS=1 cargo test --test trace` rewrites the golden file after an intended change
//! of the format (then review the diff).

#![cfg(feature = "runtime")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use strata::sandbox::{Program, Sandbox, SandboxBuilder, Status, Trace, TraceFilter};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("the strata binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `cat` reads a file of the demo image and fails on a missing one.
const CAT_ARGS: [&str; 2] = ["/home/user/hello.txt", "/nope"];

/// Runs `cat` through the CLI with `flags` (the trace going to `trace`); its output.
fn cat_cli(flags: &[&str]) -> Output {
    let image = repo("fs-images/demo.tar");
    let cat = repo("tests/programs/wasm/cat.wasm");
    let mut args = vec!["run", "--image", image.to_str().unwrap()];
    args.extend(flags);
    args.push(cat.to_str().unwrap());
    args.extend(CAT_ARGS);
    strata(&args)
}

/// The lines a sink receives, collected.
fn collector() -> (Trace, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let sink = Trace::Sink(Arc::new(move |line: &str| {
        l.lock().unwrap().push(line.to_string())
    }));
    (sink, lines)
}

#[test]
fn golden_trace_of_cat_through_both_doors() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("cat.trace");
    let o = cat_cli(&["--deterministic", &format!("--trace={}", file.display())]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        o.stdout
            .starts_with(b"Hello from inside the strata sandbox.")
    );
    // Only the guest's own message: the trace went to the file.
    assert_eq!(
        text(&o.stderr),
        "cat: /nope: No such file or directory (os error 44)\n"
    );
    let cli = std::fs::read_to_string(&file).unwrap();

    let golden_path = repo("tests/golden/cat_hello.trace");
    if std::env::var_os("STRATA_BLESS").is_some() {
        std::fs::write(&golden_path, &cli).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(
        cli, golden,
        "the trace differs from tests/golden/cat_hello.trace (STRATA_BLESS=1 rewrites it)"
    );

    // A second deterministic run traces the same bytes.
    let again = t.path().join("again.trace");
    cat_cli(&["--deterministic", &format!("--trace={}", again.display())]);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), golden);

    // The library, given what the CLI gives, hands its sink the same lines.
    let (sink, lines) = collector();
    let program = Program::from_file(repo("tests/programs/wasm/cat.wasm")).unwrap();
    let outcome = Sandbox::builder()
        .image_file(repo("fs-images/demo.tar"), "/")
        .args(CAT_ARGS)
        .deterministic(0)
        .trace(sink)
        .build()
        .unwrap()
        .run(&program)
        .unwrap();
    assert_eq!(outcome.status, Status::Exited(1));
    let lib: String = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(lib, golden);

    // And stderr carries them too, each with the prefix. The guest's own stderr is the same
    // stream: a line the guest has not ended yet goes on after the trace's lines.
    let o = cat_cli(&["--deterministic", "--trace"]);
    let stderr = text(&o.stderr);
    let traced: String = stderr
        .split("strata: trace: ")
        .skip(1)
        .map(|l| format!("{}\n", &l[..l.find('\n').unwrap()]))
        .collect();
    assert_eq!(traced, golden);
}

#[test]
fn the_filter_selects_calls_and_families() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("t");
    let trace = format!("--trace={}", file.display());
    let lines = |filter: &str| -> Vec<String> {
        let o = cat_cli(&["--deterministic", &trace, "--trace-filter", filter]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let calls = |ls: &[String]| -> Vec<String> {
        ls.iter()
            .map(|l| l[..l.find('(').unwrap()].to_string())
            .collect()
    };
    let l = lines("path_open,fd_read");
    assert_eq!(
        calls(&l),
        ["path_open", "fd_read", "fd_read", "path_open"],
        "{l:?}"
    );
    let l = lines("fs,!fd_write");
    assert!(
        calls(&l)
            .iter()
            .all(|c| (c.starts_with("fd_") || c.starts_with("path_")) && c != "fd_write"),
        "{l:?}"
    );
    let l = lines("!fd,!path");
    assert_eq!(calls(&l), ["args_sizes_get", "args_get", "proc_exit"]);

    // The library takes the same filter.
    let (sink, got) = collector();
    let program = Program::from_file(repo("tests/programs/wasm/cat.wasm")).unwrap();
    Sandbox::builder()
        .image_file(repo("fs-images/demo.tar"), "/")
        .args(CAT_ARGS)
        .deterministic(0)
        .trace(sink)
        .trace_filter(TraceFilter::parse("!fd,!path").unwrap())
        .build()
        .unwrap()
        .run(&program)
        .unwrap();
    assert_eq!(*got.lock().unwrap(), l);

    // Bad filters and a filter without a trace are command-line errors.
    let o = cat_cli(&["--trace", "--trace-filter", "open"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("\"open\" is neither a WASI call nor a family"));
    let o = cat_cli(&["--trace-filter", "fs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn trace_file_errors_and_timing() {
    let t = tempfile::tempdir().unwrap();
    // A trace file that cannot be created: a setup error naming the flag.
    let bad = t.path().join("missing/dir/t");
    let o = cat_cli(&[&format!("--trace={}", bad.display())]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).starts_with(&format!("strata: --trace=\"{}\": ", bad.display())),
        "{}",
        text(&o.stderr)
    );

    // With --trace-time every line but proc_exit's ends with the call's time...
    let file = t.path().join("timed");
    cat_cli(&["--trace-time", &format!("--trace={}", file.display())]);
    let timed = std::fs::read_to_string(&file).unwrap();
    for line in timed.lines().filter(|l| !l.starts_with("proc_exit(")) {
        let (_, time) = line.rsplit_once(" <").expect(line);
        let secs = time.strip_suffix('>').expect(line);
        assert!(secs.parse::<f64>().is_ok() && secs.len() == 11, "{line}");
    }
    // ...but not under --deterministic, whose trace stays the golden one.
    cat_cli(&[
        "--trace-time",
        "--deterministic",
        &format!("--trace={}", file.display()),
    ]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(repo("tests/golden/cat_hello.trace")).unwrap()
    );
}

/// Opens a path lying outside memory, then writes through an iovec array outside memory, and
/// exits with both errnos (`100 * open + write`).
const BAD_POINTERS: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $open i32)
    (local.set $open (call $open (i32.const 3) (i32.const 1) (i32.const 65530) (i32.const 100)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
    (call $exit (i32.add (i32.mul (local.get $open) (i32.const 100))
      (call $write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 16))))))"#;

#[test]
fn a_bad_pointer_fails_the_same_traced_or_not() {
    let program = Program::from_bytes(BAD_POINTERS).unwrap();
    let run = |b: SandboxBuilder| b.build().unwrap().run(&program).unwrap();
    let plain = run(Sandbox::builder());
    let (sink, lines) = collector();
    let traced = run(Sandbox::builder().trace(sink).trace_time(true));
    // EFAULT (21) from both calls, with and without the trace.
    assert_eq!(plain.status, Status::Exited(2121));
    assert_eq!(traced.status, plain.status);
    assert_eq!(traced.stdout, plain.stdout);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "path_open(3, <EFAULT>, lookup=SYMLINK_FOLLOW, oflags=0, rights=FD_READ, "
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(" = -1 EFAULT (Bad address) <"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("fd_write(1, iovs=<EFAULT>) = -1 EFAULT (Bad address) <"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "proc_exit(2121) = ?");

    // The CLI shows the same lines (its exit status is the code modulo 256).
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("bad.wat");
    std::fs::write(&m, BAD_POINTERS).unwrap();
    let o = strata(&["run", "--trace", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2121 % 256));
    let e = text(&o.stderr);
    assert!(e.contains("strata: trace: path_open(3, <EFAULT>, "), "{e}");
    assert!(
        e.contains("strata: trace: fd_write(1, iovs=<EFAULT>) = -1 EFAULT"),
        "{e}"
    );
    let o = strata(&["run", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2121 % 256));
    assert!(o.stderr.is_empty());
}
