//! What the guest is told fds 0–2 are, through the `strata` binary on a real pseudo-terminal,
//! pipes and files, and through the library. The guest is `stdio.wasm`
//! (tests/programs/src/bin/stdio.rs): per fd, wasi-libc's own `isatty` and the filetypes of
//! `fd_fdstat_get` and `fd_filestat_get`; with `--read` it then behaves like an interpreter
//! started without a script (CPython reads a script from stdin unless `isatty(0)`): a
//! terminal gives `interactive`, anything else is read to the end as a script.
//!
//! Expected kinds (wasmtime 50 answers the same, except that it says `UNKNOWN` for a regular
//! file): a terminal `CHARACTER_DEVICE` (the only one `isatty` accepts), a regular file
//! `REGULAR_FILE`, a pipe or `/dev/null` `UNKNOWN`; bytes, captures and `Null` given to the
//! library `UNKNOWN`; every inherited stream of a deterministic run `UNKNOWN`.

#![cfg(all(feature = "runtime", target_os = "linux"))]

mod common;
use common::strata_cmd;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use strata::sandbox::{Sandbox, Status, Stdin, Stream};

const TTY: &str = "CHARACTER_DEVICE";
const FILE: &str = "REGULAR_FILE";
const OTHER: &str = "UNKNOWN";

/// A script as CPython would be fed it on stdin.
const SCRIPT: &str = "print('hello from a script')\n";

fn module() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/stdio.wasm")
}

/// The guest's report for kinds of fds 0, 1, 2 (then what `--read` prints, if anything).
fn report(kinds: [&str; 3], then: Option<&str>) -> String {
    let mut s: String = kinds
        .iter()
        .enumerate()
        .map(|(fd, k)| {
            let tty = (*k == TTY) as u8;
            format!("{fd} isatty={tty} fdstat={k} filestat={k} seek=0\n")
        })
        .collect();
    if let Some(line) = then {
        s.push_str(line);
        s.push('\n');
    }
    s
}

fn script_read() -> String {
    format!("script: {} bytes", SCRIPT.len())
}

/// A pseudo-terminal pair, both ends close-on-exec (so no other child inherits them).
struct Pty {
    master: std::fs::File,
    slave: OwnedFd,
}

fn pty() -> Pty {
    let master = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .expect("a pseudo-terminal");
    let fd = master.as_raw_fd();
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: plain calls on an open ptmx fd; ptsname_r writes a NUL-terminated name into
    // the buffer of the given length.
    unsafe {
        assert_eq!(libc::grantpt(fd), 0);
        assert_eq!(libc::unlockpt(fd), 0);
        assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated path.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path.to_str().unwrap())
        .expect("the terminal's slave end");
    Pty {
        master,
        slave: slave.into(),
    }
}

/// Where one of the CLI's streams comes from or goes.
#[derive(Clone)]
enum End {
    /// The terminal (one shared by every stream that names it).
    Tty,
    /// A pipe (stdin: `SCRIPT` written into it, then closed).
    Pipe,
    /// A host file (stdin: it holds `SCRIPT`; stdout: created).
    File(PathBuf),
    /// `/dev/null`: a character device that is not a terminal.
    DevNull,
}

/// Runs `strata run FLAGS stdio.wasm ARGS` with these streams (compiled modules cached in
/// `cache`); returns the guest's stdout (from the terminal, the pipe or the file, whichever
/// stdout was; `\r` of the terminal's output processing removed).
fn cli(
    cache: &Path,
    flags: &[&str],
    args: &[&str],
    stdin: End,
    stdout: End,
    stderr: End,
) -> String {
    let t = pty();
    let stdio = |end: &End, input: bool| -> Stdio {
        match end {
            End::Tty => Stdio::from(t.slave.try_clone().unwrap()),
            End::Pipe => Stdio::piped(),
            End::File(p) if input => Stdio::from(std::fs::File::open(p).unwrap()),
            End::File(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            End::DevNull => Stdio::null(),
        }
    };
    // A temporary command, dropped at the end of the statement: it holds the slave ends it
    // was given, and the terminal's output is read until every slave end is closed. (The
    // cache is the test's own, set below.)
    let mut child = strata_cmd()
        .arg("run")
        .args(flags)
        .arg(module())
        .args(args)
        .env("STRATA_CACHE_DIR", cache)
        .stdin(stdio(&stdin, true))
        .stdout(stdio(&stdout, false))
        .stderr(stdio(&stderr, false))
        .spawn()
        .expect("the strata binary runs");
    drop(t.slave);
    // The terminal's output, read until every slave end is closed (EIO).
    let mut master = t.master;
    let tty = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    if let Some(mut w) = child.stdin.take() {
        w.write_all(SCRIPT.as_bytes()).unwrap();
    }
    let mut piped = Vec::new();
    if let Some(mut r) = child.stdout.take() {
        r.read_to_end(&mut piped).unwrap();
    }
    let mut err = Vec::new();
    if let Some(mut r) = child.stderr.take() {
        r.read_to_end(&mut err).unwrap();
    }
    let status = child.wait().unwrap();
    let tty = tty.join().unwrap();
    assert!(
        status.success(),
        "{status}: stderr {:?}, terminal {:?}",
        String::from_utf8_lossy(&err),
        String::from_utf8_lossy(&tty)
    );
    let out = match stdout {
        End::Tty => tty,
        End::Pipe => piped,
        End::File(p) => std::fs::read(p).unwrap(),
        End::DevNull => Vec::new(),
    };
    String::from_utf8(out).unwrap().replace('\r', "")
}

#[test]
fn the_cli_tells_the_guest_what_each_stream_really_is() {
    let t = tempfile::tempdir().unwrap();
    let script = t.path().join("script.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let script_s = script.to_str().unwrap();
    let out = t.path().join("out.txt");
    let read = Some(script_read());
    let read = read.as_deref();
    use End::*;
    let cli = |flags: &[&str], args: &[&str], stdin, stdout, stderr| {
        cli(t.path(), flags, args, stdin, stdout, stderr)
    };

    // Everything on a terminal: an interactive session.
    let all_tty = cli(&[], &["--read"], Tty, Tty, Tty);
    assert_eq!(all_tty, report([TTY, TTY, TTY], Some("interactive")));

    // `| cat`: stdout is a pipe, the others still the terminal.
    let got = cli(&[], &["--read"], Tty, Pipe, Tty);
    assert_eq!(got, report([TTY, OTHER, TTY], Some("interactive")));

    // `> out.txt`
    let got = cli(&[], &["--read"], Tty, File(out.clone()), Tty);
    assert_eq!(got, report([TTY, FILE, TTY], Some("interactive")));

    // `2>/dev/null`: a character device, but no terminal.
    let got = cli(&[], &["--read"], Tty, Tty, DevNull);
    assert_eq!(got, report([TTY, TTY, OTHER], Some("interactive")));

    // `< script.py`: a script, not an interactive session (the CPython case).
    let got = cli(&[], &["--read"], File(script.clone()), Tty, Tty);
    assert_eq!(got, report([FILE, TTY, TTY], read));

    // `cat script.py | strata run ...`
    let got = cli(&[], &["--read"], Pipe, Tty, Tty);
    assert_eq!(got, report([OTHER, TTY, TTY], read));

    // `--stdin script.py` while strata's own stdin is the terminal.
    let got = cli(&["--stdin", script_s], &["--read"], Tty, Tty, Tty);
    assert_eq!(got, report([FILE, TTY, TTY], read));

    // Deterministic: the host's streams are not revealed, terminal or file.
    let got = cli(&["--deterministic"], &[], Tty, Tty, Tty);
    assert_eq!(got, report([OTHER, OTHER, OTHER], None));
    let got = cli(
        &["--deterministic"],
        &["--read"],
        Pipe,
        File(out.clone()),
        Tty,
    );
    assert_eq!(got, report([OTHER, OTHER, OTHER], read));
    // ... but a file given by name is the run's input: it stays a regular file.
    let got = cli(
        &["--deterministic=3", "--stdin", script_s],
        &["--read"],
        Tty,
        Tty,
        Tty,
    );
    assert_eq!(got, report([FILE, OTHER, OTHER], read));
}

fn run(sandbox: strata::sandbox::SandboxBuilder, args: &[&str]) -> String {
    let program = common::program_file(module());
    let o = sandbox
        .args(args.iter().copied())
        .build()
        .unwrap()
        .run(&program)
        .unwrap();
    assert_eq!(
        o.status,
        Status::Exited(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn the_library_never_calls_what_it_was_given_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let script = t.path().join("script.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let read = Some(script_read());
    let read = read.as_deref();

    // Defaults: empty stdin, captured stdout and stderr.
    let got = run(Sandbox::builder(), &["--read"]);
    assert_eq!(got, report([OTHER, OTHER, OTHER], Some("script: 0 bytes")));

    // Bytes on stdin: a script.
    let got = run(Sandbox::builder().stdin(SCRIPT), &["--read"]);
    assert_eq!(got, report([OTHER, OTHER, OTHER], read));

    // A stdin file and a stdout file; stderr nowhere. The report goes to the file.
    let out = t.path().join("out.txt");
    let b = Sandbox::builder()
        .stdin_from(Stdin::File(script.clone()))
        .stdout(Stream::File(out.clone()))
        .stderr(Stream::Null);
    assert_eq!(run(b, &["--read"]), "");
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(got, report([FILE, FILE, OTHER], read));

    // strata's own stdin (whatever the test harness has): hidden when deterministic ...
    let b = Sandbox::builder()
        .stdin_from(Stdin::Inherit)
        .deterministic(1);
    assert_eq!(run(b, &[]), report([OTHER, OTHER, OTHER], None));
    // ... and otherwise what it is.
    // SAFETY: isatty only looks at the fd number.
    let host = if unsafe { libc::isatty(0) } == 1 {
        TTY
    } else if std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.is_file()) {
        FILE
    } else {
        OTHER
    };
    let b = Sandbox::builder().stdin_from(Stdin::Inherit);
    assert_eq!(run(b, &[]), report([host, OTHER, OTHER], None));
}
