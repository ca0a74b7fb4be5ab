//! The hostile-guest battery: every way `tests/programs/src/bin/hostile.rs` (and a table
//! bomb in WAT) tries to make the host hold more than its limits, run through both doors
//! under a 128 MiB memory budget:
//!
//! - the CLI (`strata run --max-memory 128M ...`), each run reaped with `wait4` for its peak
//!   RSS (`ru_maxrss`), its exit status and strata's own one-line message on stderr checked;
//! - the library (`Sandbox::builder().max_memory(128 MiB)`), each run in a child process (this
//!   test binary again, `library_child`, which checks the `Outcome`) so that its peak RSS is
//!   its own.
//!
//! Each door's baseline is the peak RSS of a trivial run (`hostile.wasm noop`) measured the
//! same way, after the compiled modules are in the (temporary) cache; every attack must stay
//! under budget + baseline + [`MARGIN`]. Both tables are printed (`--nocapture` shows them).
//! `many_hostile_runs_at_once` runs 64 memory and output bombs on a thread pool in one process,
//! with normal runs among them.
//!
//! A child's `ru_maxrss` is at least its parent's own peak when it was spawned (Linux folds the
//! spawning process's high-water mark into the child's at `exec`), so the tests here run
//! nothing heavy in their own process, and record failures to report at the end rather than
//! panicking (a backtrace alone grows a debug test binary by hundreds of MiB).

#![cfg(all(feature = "runtime", target_os = "linux"))]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use strata::sandbox::{
    CachePolicy, Error, Outcome, Program, ProgramOptions, Sandbox, SandboxBuilder, Status,
};

const MIB: u64 = 1 << 20;
/// Every attack's memory budget.
const BUDGET: u64 = 128 * MIB;
/// What a run may hold beyond budget + baseline: allocator slack (freed memory malloc keeps),
/// the transient buffers of one call (a 64 KiB stdio bounce buffer, a `poll_oneoff` of 65536
/// subscriptions decodes about 5 MiB), wasmer's trap unwinding, page tables of a 128 MiB
/// memory.
const MARGIN: u64 = 16 * MIB;
const TIMEOUT: Duration = Duration::from_millis(500);
const FUEL: u64 = 50_000_000;
/// What the floods write when nothing stops them (the CLI's inherited streams): twice the
/// budget.
const FLOOD: &str = "268435456";

/// Grows a table by 4096 elements until `table.grow` returns -1; exits with the number of
/// grows that worked.
const TABLE_BOMB: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "_start") (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 4096)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (call $exit (local.get $n))))"#;

/// One attack: what it runs, what stops it, and how each door must end.
struct Attack {
    /// Its key (`HOSTILE_ATTACK` for the library child).
    id: &'static str,
    /// What it does, for the table.
    what: &'static str,
    /// The limit that stops it, for the table.
    limit: &'static str,
    /// The module's arguments (`hostile.wasm ARGS...`; the table bomb takes none).
    args: &'static [&'static str],
    /// `--timeout 500ms` / `--fuel 50000000`.
    timeout: bool,
    fuel: bool,
    /// The CLI's exit code and the start of strata's own message (`None`: it prints none).
    cli: Option<(i32, Option<&'static str>)>,
}

const ATTACKS: &[Attack] = &[
    Attack {
        id: "grow",
        what: "memory.grow bomb (1 MiB at a time, every 4 KiB touched)",
        limit: "max_memory: memory.grow -> -1",
        args: &["grow"],
        timeout: false,
        fuel: false,
        cli: Some((0, None)),
    },
    Attack {
        id: "table",
        what: "table.grow bomb (WAT, 4096 elements at a time)",
        limit: "table cap (min + 65536), charged",
        args: &[],
        timeout: false,
        fuel: false,
        cli: Some((16, None)),
    },
    Attack {
        id: "stdout",
        what: "stdout flood, 1 MiB writes (lib: captured; CLI: inherited, 256 MiB)",
        limit: "max_memory: ENOSPC (captured)",
        args: &["stdout", FLOOD],
        timeout: false,
        fuel: false,
        cli: Some((0, None)),
    },
    Attack {
        id: "stderr",
        what: "stderr flood, 1 MiB writes (lib: captured; CLI: inherited, 256 MiB)",
        limit: "max_memory: ENOSPC (captured)",
        args: &["stderr", FLOOD],
        timeout: false,
        fuel: false,
        cli: Some((0, None)),
    },
    Attack {
        id: "file",
        what: "file-write flood, 1 MiB writes to /flood",
        limit: "max_memory: ENOSPC",
        args: &["file"],
        timeout: false,
        fuel: false,
        cli: Some((51, None)),
    },
    Attack {
        id: "inodes",
        what: "inode flood, mkdir /i/N",
        limit: "max_memory (1 KiB per inode): ENOSPC",
        args: &["inodes"],
        timeout: false,
        fuel: false,
        cli: Some((51, None)),
    },
    Attack {
        id: "fds",
        what: "fd flood, open without close",
        limit: "max_fds 1024: EMFILE",
        args: &["fds"],
        timeout: false,
        fuel: false,
        cli: Some((33, None)),
    },
    Attack {
        id: "recurse",
        what: "deep recursion",
        limit: "wasm stack: trap",
        args: &["recurse"],
        timeout: false,
        fuel: false,
        cli: Some((134, Some("strata: guest trapped: call stack exhausted"))),
    },
    Attack {
        id: "loop-timeout",
        what: "infinite loop",
        limit: "timeout 500ms",
        args: &["loop"],
        timeout: true,
        fuel: false,
        cli: Some((
            124,
            Some("strata: timeout: the guest ran for more than 500ms"),
        )),
    },
    Attack {
        id: "loop-fuel",
        what: "infinite loop",
        limit: "fuel 50000000",
        args: &["loop"],
        timeout: false,
        fuel: true,
        cli: Some((
            152,
            Some("strata: out of fuel: the guest used all its 50000000 units"),
        )),
    },
    Attack {
        id: "iovecs",
        what: "fd_write with 2^20 iovecs; 1024 iovecs of 8 MiB (8 GiB)",
        limit: "MAX_IOVS: EINVAL; total > u32: EINVAL",
        args: &["iovecs"],
        timeout: false,
        fuel: false,
        cli: Some((28, None)),
    },
    Attack {
        id: "poll",
        what: "poll_oneoff with 2^28, 65537, 65536 subscriptions",
        limit: "EFAULT; MAX_SUBSCRIPTIONS: EINVAL; ok",
        args: &["poll"],
        timeout: false,
        fuel: false,
        cli: Some((28, None)),
    },
    Attack {
        id: "args-refused",
        what: "giant args/env from the embedder (lib: 96+48 MiB; CLI: 1.2 MiB, --max-memory 1M)",
        limit: "max_memory: refused before the run (E2BIG)",
        args: &["args"],
        timeout: false,
        fuel: false,
        cli: Some((
            125,
            Some("strata: arguments and environment too large (E2BIG)"),
        )),
    },
    Attack {
        id: "args-fit",
        what: "giant args from the embedder that fit (lib: 32 MiB; CLI: 1.2 MiB)",
        limit: "max_memory (charged)",
        args: &["args"],
        timeout: false,
        fuel: false,
        cli: Some((0, None)),
    },
    Attack {
        id: "trap-write",
        what: "traps after writing 5 MiB to a file and to stdout",
        limit: "trap",
        args: &["trap-write"],
        timeout: false,
        fuel: false,
        cli: Some((134, Some("strata: guest trapped: unreachable"))),
    },
];

fn attack(id: &str) -> &'static Attack {
    ATTACKS
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no attack {id}"))
}

fn hostile_wasm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/hostile.wasm")
}

/// The scratch directory of this process: the module cache every run shares (CLI and
/// children), the table bomb's module.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("table.wat"), TABLE_BOMB).unwrap();
        t
    })
    .path()
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("HOSTILE_CACHE_DIR") {
        Some(d) => d.into(),
        None => scratch().join("cache"),
    }
}

/// A stream of a child, drained as it comes: its length and its last 64 KiB.
#[derive(Default)]
struct Drained {
    len: u64,
    tail: Vec<u8>,
}

impl Drained {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Drained> {
    std::thread::spawn(move || {
        let mut d = Drained::default();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    d.len += n as u64;
                    d.tail.extend_from_slice(&buf[..n]);
                    if d.tail.len() > 1 << 17 {
                        d.tail.drain(..d.tail.len() - (1 << 16));
                    }
                }
            }
        }
        d
    })
}

/// How a measured child ended.
struct Measured {
    code: Option<i32>,
    peak: u64,
    out: Drained,
    err: Drained,
    took: Duration,
}

/// Runs `cmd`, draining its stdout and stderr, and reaps it with `wait4`, which reports the
/// child's own peak RSS.
#[allow(clippy::zombie_processes)] // reaped by wait4, not Child::wait
fn measure(mut cmd: Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child runs");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it and the status of our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        // ru_maxrss is in KiB on Linux.
        peak: usage.ru_maxrss as u64 * 1024,
        out: out.join().unwrap(),
        err: err.join().unwrap(),
        took: start.elapsed(),
    }
}

/// The CLI's giant arguments: 12 of 100 KiB (the kernel's ARG_MAX allows about 2 MiB).
fn cli_giant_args() -> Vec<String> {
    vec!["a".repeat(100 << 10); 12]
}

/// `strata run --max-memory 128M [limits] MODULE ARGS...` for `a`.
fn cli_command(a: &Attack) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.env("STRATA_CACHE_DIR", cache_dir()).arg("run");
    let budget = match a.id {
        "args-refused" => "1M",
        _ => "128M",
    };
    cmd.args(["--max-memory", budget]);
    if a.timeout {
        cmd.args(["--timeout", "500ms"]);
    }
    if a.fuel {
        cmd.args(["--fuel", &FUEL.to_string()]);
    }
    match a.id {
        "table" => cmd.arg(scratch().join("table.wat")),
        _ => cmd.arg(hostile_wasm()),
    };
    cmd.args(a.args);
    if a.id.starts_with("args-") {
        cmd.args(cli_giant_args());
    }
    cmd
}

/// Compiles what the measured runs load (plain and metered), so no run pays a compilation.
fn warm_cache() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let fuel = FUEL.to_string();
        // The plain modules, and the metered variant the fuel attack runs.
        for (flags, module) in [
            (&[][..], hostile_wasm()),
            (&[][..], scratch().join("table.wat")),
            (&["--fuel", fuel.as_str()][..], hostile_wasm()),
        ] {
            let o = Command::new(env!("CARGO_BIN_EXE_strata"))
                .env("STRATA_CACHE_DIR", cache_dir())
                .arg("run")
                .args(flags)
                .arg(module)
                .arg("noop")
                .output()
                .unwrap();
            assert!(o.status.code().is_some(), "{o:?}");
        }
    });
}

/// One row of a door's table.
struct Row {
    attack: &'static Attack,
    status: String,
    peak: u64,
    allowed: u64,
    took: Duration,
}

fn print_table(door: &str, baseline: u64, rows: &[Row]) {
    let mut t = format!(
        "\n{door}: budget 128 MiB, baseline (noop run) {:.1} MiB, margin {} MiB\n\
         | attack | limit | status | peak RSS | allowed | time |\n|---|---|---|---|---|---|\n",
        baseline as f64 / MIB as f64,
        MARGIN / MIB
    );
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.2} s |\n",
            r.attack.what,
            r.attack.limit,
            r.status,
            r.peak as f64 / MIB as f64,
            r.allowed as f64 / MIB as f64,
            r.took.as_secs_f64()
        ));
    }
    eprintln!("{t}");
}

/// The most a run of `id` may hold beyond its door's baseline and the margin: the budget,
/// and the embedder's own arguments where they are the attack (the library's: strata must
/// not copy refused ones at all, and copies fitting ones only into the budget).
fn allowance(id: &str, door_is_cli: bool) -> u64 {
    match (id, door_is_cli) {
        ("args-refused", false) => 144 * MIB,
        ("args-fit", false) => BUDGET + 32 * MIB,
        _ => BUDGET,
    }
}

#[test]
fn cli_battery() {
    warm_cache();
    let noop = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.env("STRATA_CACHE_DIR", cache_dir())
            .args(["run", "--max-memory", "128M"])
            .arg(hostile_wasm())
            .arg("noop");
        measure(cmd)
    };
    assert_eq!(noop.code, Some(0), "{}", noop.err.text());
    let baseline = noop.peak;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for a in ATTACKS {
        let Some((code, message)) = a.cli else {
            continue;
        };
        let m = measure(cli_command(a));
        let allowed = baseline + MARGIN + allowance(a.id, true);
        let mut fail = |what: String| failures.push(format!("{}: {what}", a.id));
        if m.code != Some(code) {
            fail(format!(
                "exit {:?}, expected {code}: {}",
                m.code,
                m.err.text()
            ));
        }
        if m.peak > allowed {
            fail(format!("peak RSS {} above {allowed}", m.peak));
        }
        // strata's own stderr: exactly one line when it stopped the run, else nothing (the
        // stderr flood's stream is the guest's 256 MiB, with no line of strata's).
        let err = m.err.text();
        match (message, a.id) {
            (Some(start), _) => {
                if !(err.starts_with(start) && err.ends_with('\n') && err.lines().count() == 1) {
                    fail(format!(
                        "stderr is not one line starting {start:?}: {err:?}"
                    ));
                }
            }
            (None, "stderr") => {
                if m.err.len != 256 * MIB || err.contains("strata:") {
                    let head: String = err.chars().take(80).collect();
                    fail(format!("stderr: {} bytes, {head:?}", m.err.len));
                }
            }
            (None, _) => {
                if !err.is_empty() {
                    fail(format!("strata printed {err:?}"));
                }
            }
        }
        let out = m.out.text();
        let want_out = match a.id {
            "grow" => "grow: memory.grow refused".to_string(),
            "file" | "inodes" => ", then errno 51\n".into(),
            "fds" => "fds: 1020 opened, then errno 33\n".into(),
            "iovecs" => "iovecs: 2^20 iovecs -> Err(28); 1024 x 8 MiB -> Err(28)".into(),
            "poll" => {
                "poll: 2^28 subscriptions -> Err(21); 65537 -> Err(28); 65536 -> Ok(65536)".into()
            }
            // argv[0] "hostile.wasm", "args", 12 of 100 KiB; each with its NUL.
            "args-fit" => format!("args: 14 arguments ({} bytes)", 13 + 5 + 12 * 102_401),
            _ => String::new(),
        };
        if a.id != "stdout" && !out.contains(&want_out) {
            fail(format!("stdout {out:?} does not contain {want_out:?}"));
        }
        if a.id == "stdout" && m.out.len != 256 * MIB {
            fail(format!("stdout: {} bytes", m.out.len));
        }
        let status = match m.code {
            Some(c) => format!("exit {c}"),
            None => "killed".into(),
        };
        rows.push(Row {
            attack: a,
            status,
            peak: m.peak,
            allowed,
            took: m.took,
        });
    }
    print_table("CLI (strata run)", baseline, &rows);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The library run of one attack, in this process: its sandbox, under the 128 MiB budget.
fn library_sandbox(a: &Attack) -> SandboxBuilder {
    let mut b = Sandbox::builder()
        .max_memory(BUDGET)
        .args(a.args.iter().copied());
    if a.timeout {
        b = b.timeout(TIMEOUT);
    }
    if a.fuel {
        b = b.fuel(FUEL);
    }
    match a.id {
        // 96 arguments and 48 variables of 1 MiB: past the budget on their own.
        "args-refused" => (0..48).fold(b.args(vec!["a".repeat(MIB as usize); 96]), |b, i| {
            b.env(format!("V{i:02}"), "e".repeat(MIB as usize - 4))
        }),
        "args-fit" => b.args(vec!["a".repeat(MIB as usize); 32]),
        _ => b,
    }
}

fn program(path: &Path, fuel: Option<u64>) -> Program {
    let opts = ProgramOptions {
        cache: CachePolicy::Dir(cache_dir()),
        fuel,
    };
    Program::from_file_with(path, &opts).unwrap()
}

/// Checks the outcome of attack `a` through the library; returns its status, shown.
fn check_library(a: &Attack, got: Result<Outcome, Error>) -> String {
    let stdout_line = |o: &Outcome| String::from_utf8_lossy(&o.stdout).into_owned();
    if a.id == "args-refused" {
        return match got {
            Err(e @ Error::ArgsTooLarge { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with("arguments and environment too large (E2BIG)"),
                    "{msg}"
                );
                assert_eq!(msg.lines().count(), 1);
                "Err(ArgsTooLarge)".into()
            }
            Err(e) => panic!("expected ArgsTooLarge, got {e}"),
            Ok(o) => panic!("expected ArgsTooLarge, the run ended {:?}", o.status),
        };
    }
    let o = got.unwrap_or_else(|e| panic!("{}: {e}", a.id));
    // Past the budget the floods' writes fail: everything captured fits in it.
    let (out, err) = (o.stdout.len() as u64, o.stderr.len() as u64);
    assert!(out + err <= BUDGET, "{out} + {err}");
    let want = match a.id {
        "grow" | "args-fit" => Status::Exited(0),
        "table" => Status::Exited(16),
        "stdout" | "stderr" | "file" | "inodes" => Status::Exited(51),
        "fds" => Status::Exited(33),
        "iovecs" | "poll" => Status::Exited(28),
        "loop-timeout" => Status::TimedOut(TIMEOUT),
        "loop-fuel" => Status::OutOfFuel(FUEL),
        "recurse" | "trap-write" => match &o.status {
            Status::Trapped(m) => {
                let want = if a.id == "recurse" {
                    "call stack exhausted"
                } else {
                    "unreachable"
                };
                assert!(m.starts_with(want), "{m}");
                assert_eq!(m.lines().count(), 1, "{m}");
                o.status.clone()
            }
            other => panic!("{}: expected a trap, got {other:?}", a.id),
        },
        other => panic!("no library expectation for {other}"),
    };
    assert_eq!(o.status, want, "{}: {}", a.id, stdout_line(&o));
    match a.id {
        "grow" => assert!(stdout_line(&o).starts_with("grow: memory.grow refused")),
        // The flooded stream took (almost) the whole budget: all but the guest's memory.
        "stdout" => assert!(out > BUDGET - 8 * MIB, "{out}"),
        "stderr" => assert!(err > BUDGET - 8 * MIB, "{err}"),
        "file" => {
            // Its size, not a copy of it (which would be the embedder's 128 MiB more).
            let root = o.fs.root();
            let n = o.fs.stat(root, b"flood", true).unwrap().size;
            assert!(n > BUDGET - 8 * MIB && n <= BUDGET, "{n}");
        }
        "iovecs" => assert!(stdout_line(&o).contains("1024 x 1 KiB -> Ok(1048576)")),
        // argv[0] "hostile.wasm", "args", 32 of 1 MiB; each with its NUL.
        "args-fit" => assert_eq!(
            stdout_line(&o),
            format!(
                "args: 34 arguments ({} bytes), 0 variables (0 bytes)\n",
                13 + 5 + 32 * (MIB + 1)
            )
        ),
        "trap-write" => {
            let root = o.fs.root();
            assert_eq!(o.fs.stat(root, b"partial", true).unwrap().size, 5 * MIB);
            assert_eq!(out, 5 * MIB, "what was written before the trap is kept");
        }
        _ => {}
    }
    format!("{:?}", o.status)
}

/// Run by `library_battery` in a child process: one attack through the library.
#[test]
#[ignore = "child half of library_battery and many_hostile_runs_at_once"]
fn library_child() {
    let Ok(id) = std::env::var("HOSTILE_ATTACK") else {
        panic!("run by the parent tests only");
    };
    if id == "many" {
        return many_child();
    }
    let (path, a) = match id.as_str() {
        "noop" => (hostile_wasm(), None),
        "table" => (scratch().join("table.wat"), Some(attack("table"))),
        id => (hostile_wasm(), Some(attack(id))),
    };
    let status = match a {
        None => {
            let p = program(&path, None);
            let o = Sandbox::builder()
                .max_memory(BUDGET)
                .args(["noop"])
                .build()
                .unwrap()
                .run(&p)
                .unwrap();
            assert_eq!(o.status, Status::Exited(0));
            format!("{:?}", o.status)
        }
        Some(a) => {
            let p = program(&path, a.fuel.then_some(FUEL));
            let sandbox = library_sandbox(a).build().unwrap();
            check_library(a, sandbox.run(&p))
        }
    };
    println!("HOSTILE-STATUS {status}");
}

/// This test binary again, running `library_child` for `id`.
fn child(id: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "library_child", "--ignored", "--nocapture"])
        .env("HOSTILE_ATTACK", id)
        .env("HOSTILE_CACHE_DIR", cache_dir())
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// A child's status line (`HOSTILE-STATUS ...`), or why it failed.
fn child_status(m: &Measured) -> Result<String, String> {
    let out = m.out.text();
    match (
        m.code,
        out.lines().find_map(|l| l.strip_prefix("HOSTILE-STATUS ")),
    ) {
        (Some(0), Some(s)) => Ok(s.to_string()),
        _ => Err(format!("child exit {:?}: {out}{}", m.code, m.err.text())),
    }
}

#[test]
fn library_battery() {
    warm_cache();
    let noop = measure(child("noop"));
    child_status(&noop).unwrap();
    let baseline = noop.peak;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for a in ATTACKS {
        let m = measure(child(a.id));
        let allowed = baseline + MARGIN + allowance(a.id, false);
        let status = match child_status(&m) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: {e}", a.id));
                "FAILED".into()
            }
        };
        if m.peak > allowed {
            failures.push(format!("{}: peak RSS {} above {allowed}", a.id, m.peak));
        }
        rows.push(Row {
            attack: a,
            status,
            peak: m.peak,
            allowed,
            took: m.took,
        });
    }
    print_table("library (Sandbox, child process)", baseline, &rows);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Sandboxes in `many_hostile_runs_at_once`: memory and output bombs, each with its own
/// budget, and normal runs among them.
const MANY: usize = 64;
const MANY_BUDGET: u64 = 32 * MIB;
const NORMAL: usize = 4;
const WORKERS: usize = 8;

/// Run by `many_hostile_runs_at_once` in a child process.
fn many_child() {
    let hostile = program(&hostile_wasm(), None);
    let cat = program(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/cat.wasm"),
        None,
    );
    // The bombs alternate; the normal runs are spread among them.
    let mut kinds: Vec<&str> = (0..MANY)
        .map(|i| if i % 2 == 0 { "grow" } else { "stdout" })
        .collect();
    for k in 0..NORMAL {
        kinds.insert(3 + k * (MANY / NORMAL + 1), "normal");
    }
    let jobs: Vec<(&str, Sandbox)> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let b = Sandbox::builder().max_memory(MANY_BUDGET);
            let b = match kind {
                "normal" => b.file("/motd", format!("hello {i}\n")).args(["/motd"]),
                kind => b.args([kind]),
            };
            (kind, b.build().unwrap())
        })
        .collect();
    assert_eq!(jobs.iter().filter(|j| j.0 == "normal").count(), NORMAL);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((kind, sandbox)) = jobs.get(i) else {
                        break;
                    };
                    let p = if *kind == "normal" { &cat } else { &hostile };
                    let o = sandbox.run(p).unwrap();
                    match *kind {
                        "normal" => {
                            assert_eq!(o.status, Status::Exited(0));
                            assert_eq!(o.stdout, format!("hello {i}\n").as_bytes());
                        }
                        "grow" => assert_eq!(o.status, Status::Exited(0)),
                        _ => {
                            assert_eq!(o.status, Status::Exited(51), "ENOSPC");
                            assert!(o.stdout.len() as u64 > MANY_BUDGET - 8 * MIB);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), MANY + NORMAL);
    println!("HOSTILE-STATUS {} runs finished as expected", MANY + NORMAL);
}

#[test]
fn many_hostile_runs_at_once() {
    warm_cache();
    let noop = measure(child("noop"));
    child_status(&noop).unwrap();
    let m = measure(child("many"));
    let status = child_status(&m).unwrap();
    let sum = MANY as u64 * MANY_BUDGET;
    // At most WORKERS runs hold their budget at once.
    let bound = noop.peak + WORKERS as u64 * MANY_BUDGET + MARGIN;
    eprintln!(
        "\n{MANY} bombs ({} memory.grow, {} stdout floods, {} MiB each) and {NORMAL} normal \
         runs on {WORKERS} threads in one process: {status}; peak RSS {:.1} MiB (baseline \
         {:.1} MiB; sum of budgets {} MiB; {WORKERS} budgets + baseline + margin {:.1} MiB), \
         {:.2} s",
        MANY / 2,
        MANY / 2,
        MANY_BUDGET / MIB,
        m.peak as f64 / MIB as f64,
        noop.peak as f64 / MIB as f64,
        sum / MIB,
        bound as f64 / MIB as f64,
        m.took.as_secs_f64()
    );
    assert!(m.peak < sum, "peak RSS {} not under the sum {sum}", m.peak);
    assert!(m.peak <= bound, "peak RSS {} above {bound}", m.peak);
}
