//! Fault injection (`--fault`, `WasiEnvBuilder::fault`, `SandboxBuilder::fault`): real
//! programs see exactly the failures asked for, on exactly the calls asked for, every run.

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::path::{Path, PathBuf};
use std::process::Output;
use strata::runtime::WasiEnv;
use strata::sandbox::Sandbox;
use strata::vfs::{Errno, Vfs};
use strata::wasi::faults::Fault;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn strata(args: &[&str]) -> Output {
    strata_cmd()
        .args(args)
        .output()
        .expect("the strata binary runs")
}

/// `cat FILES...` on the demo image, with `faults` (and `extra` flags).
fn cat(faults: &[&str], extra: &[&str], files: &[&str]) -> Output {
    let image = repo("fs-images/demo.tar");
    let cat = repo("tests/programs/wasm/cat.wasm");
    let mut args = vec!["run", "--image", image.to_str().unwrap()];
    for f in faults {
        args.extend(["--fault", f]);
    }
    args.extend(extra);
    args.push(cat.to_str().unwrap());
    args.extend(files);
    strata(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Opens `out.log` in the directory at fd 3, then five times: prints the digit `i` on stdout
/// and writes `x` to the file. Exits with the errno of the first failing write, with
/// 90 + bytes written if a write comes back short, 100 + errno if the open fails, else 0.
const WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out.log")
  (data (i32.const 16) "x")
  (func (export "_start")
    (local $fd i32) (local $i i32) (local $r i32)
    ;; path_open(3, 0, "out.log", O_CREAT, FD_WRITE, 0, 0, &fd at 48)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 48)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 100) (local.get $r)))))
    (local.set $fd (i32.load (i32.const 48)))
    (local.set $i (i32.const 1))
    (loop $next
      ;; stdout: the digit i (iovec at 32, nwritten at 40)
      (i32.store8 (i32.const 20) (i32.add (i32.const 48) (local.get $i)))
      (i32.store (i32.const 32) (i32.const 20))
      (i32.store (i32.const 36) (i32.const 1))
      (drop (call $write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))
      ;; the file: "x"
      (i32.store (i32.const 32) (i32.const 16))
      (local.set $r (call $write (local.get $fd) (i32.const 32) (i32.const 1) (i32.const 40)))
      (if (local.get $r) (then (call $exit (local.get $r))))
      (if (i32.ne (i32.load (i32.const 40)) (i32.const 1))
        (then (call $exit (i32.add (i32.const 90) (i32.load (i32.const 40))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.le_u (local.get $i) (i32.const 5))))))"#;

#[test]
fn cat_reports_a_failing_read_and_prints_the_other_files() {
    let files = ["/etc/passwd", "/etc/hostname", "/home/user/hello.txt"];
    let clean = cat(&[], &[], &files);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    let o = cat(&["read:/etc/hostname:1:EIO"], &[], &files);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "cat: /etc/hostname: I/O error (os error 29)\n"
    );
    let out = text(&o.stdout);
    assert!(out.starts_with("root:x:0:0:"), "{out}");
    assert!(
        out.contains("Hello from inside the strata sandbox."),
        "{out}"
    );
    assert!(!out.contains("strata\n"), "hostname not printed: {out}");
    // Exactly the hostname missing.
    assert_eq!(out, text(&clean.stdout).replacen("strata\n", "", 1));
}

#[test]
fn refused_open_and_failing_stdout() {
    let o = cat(
        &["open:/etc/passwd:1:EACCES"],
        &[],
        &["/etc/passwd", "/etc/hostname", "/etc/passwd"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "cat: /etc/passwd: Permission denied (os error 2)\n"
    );
    // Only the first open failed: the second /etc/passwd prints.
    assert!(text(&o.stdout).starts_with("strata\nroot:x:0:0:"));

    let o = cat(&["write:<stdout>:1:EPIPE"], &[], &["/etc/hostname"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        text(&o.stderr),
        "cat: /etc/hostname: Broken pipe (os error 64)\n"
    );
}

#[test]
fn short_reads_are_handled_and_really_happen() {
    let files = ["/etc/passwd", "/etc/hostname"];
    let clean = cat(&[], &["--trace"], &files);
    let short = cat(&["read:*:0:short=1"], &["--trace"], &files);
    assert_eq!(short.status.code(), Some(0), "{}", text(&short.stderr));
    assert_eq!(short.stdout, clean.stdout, "cat copes with 1-byte reads");
    let reads = |o: &Output| text(&o.stderr).matches("trace: fd_read(").count();
    let bytes = clean.stdout.len();
    assert!(reads(&clean) < 10, "{}", reads(&clean));
    // One read per byte, plus one end-of-file read per file.
    assert_eq!(reads(&short), bytes + files.len());
}

#[test]
fn the_third_write_fails_with_enospc_exactly() {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("writer.wat");
    std::fs::write(&m, WRITER).unwrap();
    let (m, host) = (m.to_str().unwrap(), t.path().to_str().unwrap());
    let data = format!("{host}::/data");
    let run = |fault: &str| strata(&["run", "--dir", &data, "--fault", fault, m]);

    let o = run("write:/data/*.log:3:ENOSPC");
    assert_eq!(o.status.code(), Some(51), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "123", "failed on the 3rd write");
    // The same again: the same call fails.
    let again = run("write:/data/*.log:3:ENOSPC");
    assert_eq!((again.status.code(), again.stdout), (Some(51), o.stdout));

    // Other paths are not matched; other calls are not counted.
    let o = run("write:/data/*.txt:1:ENOSPC");
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "12345".into())
    );
    let o = run("write:/data/out.log:5:EIO");
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(29), "12345".into())
    );
    // A short write reaches the guest as one.
    let o = run("write:/data/*:2:short=0");
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(90), "12".into()));
    let o = run("open:/data/out.log:1:EROFS");
    assert_eq!(o.status.code(), Some(100 + Errno::Rofs.code() as i32));
    assert!(o.stdout.is_empty());
}

#[test]
fn bad_specs_are_command_line_errors() {
    for (spec, says) in [
        ("write:/x:3", "expected OP:PATTERN:N:EFFECT"),
        ("seek:/x:1:EIO", "unknown operation"),
        ("write:/x:1:ENOPE", "\"ENOPE\" is not a WASI errno"),
        ("open:/x:1:short=1", "not opens"),
    ] {
        let o = strata(&["run", "--fault", spec, "x.wasm"]);
        assert_eq!(o.status.code(), Some(2), "{spec}");
        let e = text(&o.stderr);
        let first = e.lines().next().unwrap();
        assert!(first.contains("--fault"), "{first}");
        assert!(first.contains(says), "{first}");
    }
}

#[test]
fn library_builders_inject_the_same_faults_every_run() {
    // WasiEnvBuilder: the writer in the root, third write ENOSPC, the file holds two bytes.
    let mut builder = WasiEnv::builder("writer")
        .fs(Vfs::default())
        .fault(Fault::parse("write:/*.log:3:ENOSPC").unwrap());
    let stdout = builder.capture_stdout();
    let run = builder.run(WRITER.as_bytes()).unwrap();
    assert_eq!((run.exit_code, stdout.contents()), (51, b"123".to_vec()));
    let root = run.ctx.vfs.root();
    let f = run.ctx.vfs.lookup(root, b"out.log", true).unwrap();
    assert_eq!(run.ctx.vfs.stat_node(f).unwrap().size, 2);
    assert_eq!(run.ctx.faults.seen(), &[3]);

    // SandboxBuilder: counted afresh in each run, so every run is the same.
    let program = common::program_bytes(WRITER.as_bytes());
    let sandbox = Sandbox::builder()
        .fault(Fault::parse("write:/*.log:2+:short=0").unwrap())
        .fault(Fault::parse("write:*:1:EIO").unwrap())
        .deterministic(1)
        .build()
        .unwrap();
    for _ in 0..3 {
        let o = sandbox.run(&program).unwrap();
        // The first write fails (EIO: the second fault also matches, and fires on call 1).
        assert_eq!((o.exit_code(), o.stdout.as_slice()), (Some(29), &b"1"[..]));
        assert_eq!(o.read("/out.log").unwrap(), b"");
    }

    // cat over a sandbox: the same faults, byte-identical outcomes.
    let cat = common::program_file(repo("tests/programs/wasm/cat.wasm"));
    let sandbox = Sandbox::builder()
        .file("/a.txt", "alpha\n")
        .file("/b.txt", "beta\n")
        .args(["/a.txt", "/b.txt"])
        .fault(Fault::parse("read:/b.*:2:EIO").unwrap())
        .fault(Fault::parse("read:/a.txt:0:short=2").unwrap())
        .build()
        .unwrap();
    let first = sandbox.run(&cat).unwrap();
    assert_eq!(first.exit_code(), Some(1));
    assert_eq!(first.stdout, b"alpha\n");
    assert_eq!(
        text(&first.stderr),
        "cat: /b.txt: I/O error (os error 29)\n"
    );
    for _ in 0..3 {
        let o = sandbox.run(&cat).unwrap();
        assert_eq!(
            (o.exit_code(), &o.stdout, &o.stderr),
            (first.exit_code(), &first.stdout, &first.stderr)
        );
    }
}
