//! wasi-threads: `tests/programs/wasm/threads.wasm` (Rust `std::thread`, built for
//! wasm32-wasip1-threads) run through the library and the CLI. Every thread of a program
//! shares one filesystem and one fd table; the first `proc_exit`, trap, return from `_start`
//! or timeout ends every thread; the thread limit holds; escapes and bad pointers stay
//! refused while other threads race.

mod common;

use common::{program_file, strata_cmd};
use std::path::PathBuf;
use std::time::Duration;
use strata::sandbox::{Preopens, Program, Sandbox, SandboxBuilder, Status};

fn threads() -> Program {
    program_file(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/threads.wasm"))
}

fn run(b: SandboxBuilder, args: &[&str]) -> strata::sandbox::Outcome {
    let sandbox: Sandbox = b.args(args.iter().copied()).build().expect("sandbox");
    sandbox.run(&threads()).expect("run")
}

fn stdout(o: &strata::sandbox::Outcome) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `args`, which must exit 0 printing exactly `out`.
fn run_ok(b: SandboxBuilder, args: &[&str], out: &str) -> strata::sandbox::Outcome {
    let o = run(b, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status, Status::Exited(0), "{args:?}: {err}");
    assert_eq!(stdout(&o), out, "{args:?}");
    o
}

#[test]
fn threads_share_one_filesystem() {
    let o = run_ok(
        Sandbox::builder(),
        &["spawn", "8"],
        "spawned 8, wrote 7200 bytes, read back 7200\n",
    );
    // What the threads wrote is in the run's filesystem.
    for i in 0..8 {
        assert_eq!(
            o.read(&format!("/tmp/spawn/t{i}")).unwrap(),
            format!("thread {i}\n").repeat(100).into_bytes()
        );
    }
}

#[test]
fn threads_write_through_one_fd() {
    // No line lost or torn: each write is one call under the context lock.
    run_ok(
        Sandbox::builder(),
        &["shared-fd", "4"],
        "lines per thread: [200, 200, 200, 200], total 800\n",
    );
}

#[test]
fn concurrent_create_rename_link_delete_keeps_the_directory_consistent() {
    // 8 threads x (150 odd b-files + 100 links): no entry lost or duplicated, every link
    // count and every file's contents right.
    run_ok(
        Sandbox::builder(),
        &["stress", "8", "300"],
        "stress: 2000 entries, expected 2000, same names: true, wrong link counts: 0, \
         wrong contents: 0\n",
    );
}

#[test]
fn proc_exit_in_a_thread_ends_the_program() {
    let o = run(Sandbox::builder(), &["exit-thread", "9"]);
    assert_eq!(o.status, Status::Exited(9));
}

#[test]
fn proc_exit_in_main_stops_a_spinning_thread() {
    let o = run(Sandbox::builder(), &["exit-main", "7"]);
    assert_eq!(o.status, Status::Exited(7));
}

#[test]
fn returning_from_main_ends_the_program() {
    run_ok(Sandbox::builder(), &["return-main"], "main returns\n");
}

#[test]
fn a_trap_in_a_thread_ends_the_program() {
    let o = run(Sandbox::builder(), &["trap-thread"]);
    match &o.status {
        Status::Trapped(msg) => assert!(msg.contains("unreachable"), "{msg}"),
        s => panic!("expected a trap, got {s:?}"),
    }
}

#[test]
fn the_timeout_stops_every_thread() {
    let o = run(
        Sandbox::builder().timeout(Duration::from_millis(300)),
        &["hang"],
    );
    assert_eq!(o.status, Status::TimedOut(Duration::from_millis(300)));
}

#[test]
fn the_thread_limit_counts_the_main_thread() {
    let many = ["many", "100"];
    run_ok(
        Sandbox::builder().max_threads(8),
        &many,
        "started 7 of 100\n",
    );
    run_ok(Sandbox::builder(), &many, "started 63 of 100\n");
}

#[test]
fn a_thread_reads_stdin() {
    run_ok(
        Sandbox::builder().stdin("hello\n"),
        &["stdin"],
        "read 6 bytes: \"hello\\n\"\n",
    );
}

#[test]
fn racing_path_changes_never_open_a_way_out() {
    // The guest sees only `/box` (its parent holds the secret); one thread swaps symlinks and
    // directories inside it while another resolves paths through them.
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host.path().join("a/b")).unwrap();
    run_ok(
        Sandbox::builder()
            .file("/secret", "secret")
            .dir(host.path(), "/box")
            .preopens(Preopens::DirsOnly),
        &["escape", "3000"],
        "escape: 3000 tries, 0 got out, swapper ran: true\n",
    );
}

#[test]
fn buffers_past_the_end_of_a_growing_memory_are_efault() {
    // Every call either saw EFAULT or (memory having grown past the buffer meanwhile) wrote:
    // no other error, no crash.
    run_ok(
        Sandbox::builder(),
        &["efault", "2000"],
        "efault: 2000 calls, EFAULT seen: true, other errors 0\n",
    );
}

#[test]
fn the_cli_runs_threads_as_the_library_does() {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/threads.wasm");
    let cases: &[(&[&str], &[&str], i32, &str)] = &[
        (
            &[],
            &["spawn", "4"],
            0,
            "spawned 4, wrote 3600 bytes, read back 3600\n",
        ),
        (&[], &["exit-thread", "9"], 9, ""),
        (&[], &["exit-main", "7"], 7, ""),
        (&[], &["trap-thread"], 134, ""),
        (
            &["--max-threads", "4"],
            &["many", "10"],
            0,
            "started 3 of 10\n",
        ),
        (&["--timeout", "300ms"], &["hang"], 124, ""),
        // Fuel is per thread: the spinning thread burns its own and ends the program.
        (&["--fuel", "5000000"], &["hang"], 152, ""),
    ];
    for (flags, args, code, out) in cases {
        let o = strata_cmd()
            .arg("run")
            .args(*flags)
            .arg(&wasm)
            .arg("--")
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), *out, "{args:?}");
        // The same through the library.
        let lib = run(
            match flags.first() {
                Some(&"--max-threads") => Sandbox::builder().max_threads(4),
                Some(&"--timeout") => Sandbox::builder().timeout(Duration::from_millis(300)),
                Some(&"--fuel") => Sandbox::builder().fuel(5_000_000),
                _ => Sandbox::builder(),
            },
            args,
        );
        assert_eq!(stdout(&lib), *out, "{args:?} (library)");
        let lib_code = match lib.status {
            Status::Exited(c) => c as i32,
            Status::Trapped(_) => 134,
            Status::TimedOut(_) => 124,
            Status::OutOfFuel(_) => 152,
        };
        assert_eq!(lib_code, *code, "{args:?} (library)");
    }
}

#[test]
fn the_cli_reads_stdin_from_a_file_in_a_thread() {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/threads.wasm");
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.txt"), "from a file\n").unwrap();
    let o = strata_cmd()
        .arg("run")
        .arg(&wasm)
        .arg("--")
        .arg("stdin")
        .stdin(std::fs::File::open(t.path().join("in.txt")).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "read 12 bytes: \"from a file\\n\"\n"
    );
}

#[test]
fn a_module_defining_its_own_shared_memory_is_refused() {
    let wat = r#"(module (memory (export "memory") 1 1 shared) (func (export "_start")))"#;
    let program = common::program_bytes(wat);
    let Err(err) = Sandbox::builder().build().unwrap().run(&program) else {
        panic!("a module defining its own shared memory ran");
    };
    assert_eq!(
        err.to_string(),
        "module defines its own shared memory: wasi-threads programs import it (build for \
         wasm32-wasip1-threads), or build for wasm32-wasip1 without threads"
    );
}

#[test]
fn the_trace_names_the_thread_of_each_call() {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    run_ok(
        Sandbox::builder().trace(strata::sandbox::Trace::Sink(std::sync::Arc::new(
            move |l: &str| sink.lock().unwrap().push(l.to_string()),
        ))),
        &["spawn", "2"],
        "spawned 2, wrote 1800 bytes, read back 1800\n",
    );
    let lines = lines.lock().unwrap();
    // Each spawned thread opens and writes its own file; the main thread's lines carry no
    // prefix, and it reads both files back.
    for tid in [1, 2] {
        let mine: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("[thread {tid}] ")))
            .collect();
        assert!(
            mine.iter()
                .any(|l| l.contains("path_open(3, \"tmp/spawn/t")),
            "{mine:?}"
        );
        assert!(mine.iter().any(|l| l.contains("fd_write(")), "{mine:?}");
    }
    assert!(lines.iter().any(|l| l.starts_with("args_get(")));
    assert!(!lines.iter().any(|l| l.starts_with("[thread 0]")));
}

#[test]
fn threads_reading_one_image_file_all_see_its_bytes() {
    // Read without the context held (the file is still one shared buffer): every thread's
    // checksum is the one of the file's bytes, read twice over in 64 KiB reads.
    let blob: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut want = 0u64;
    for _ in 0..2 {
        for chunk in blob.chunks(64 << 10) {
            want = chunk
                .iter()
                .step_by(512)
                .fold(want, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
        }
    }
    let o = run(
        Sandbox::builder().file("/data/blob", blob),
        &["readers", "4", "8", "/data/blob"],
    );
    assert_eq!(o.status, Status::Exited(0));
    let out = stdout(&o);
    assert!(
        out.ends_with(&format!("checksums agree: true, first {want:x}\n")),
        "{out}"
    );
}

#[test]
fn the_memory_budget_covers_every_thread() {
    // 4 threads take 1 MiB blocks until `memory.grow` is refused: together they hold less than
    // the 64 MiB budget (the shared memory is charged once, whichever thread grows it), and no
    // block is handed out twice.
    let o = run(Sandbox::builder().max_memory(64 << 20), &["budget", "4"]);
    assert_eq!(
        o.status,
        Status::Exited(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    let mib: u64 = out
        .strip_prefix("held ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((32..64).contains(&mib), "{out}");
    assert!(out.ends_with(" MiB, overwritten blocks 0\n"), "{out}");
}
