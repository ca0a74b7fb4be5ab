//! The WASI test programs of `tests/programs/` (committed `.wasm`), each run through the
//! library (the one-call runner over a virtual namespace) and through the `strata` binary
//! (with `--dir` over a host temp dir), comparing stdout byte for byte with
//! `tests/programs/expected/NAME.stdout`. `WASI_STRICT=1` makes the programs require the
//! spec's behaviour where wasmtime does less (see tests/programs/README.md).

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use strata::runtime::{RunOutcome, WasiEnv, WasiEnvBuilder};
use strata::vfs::{FileData, SystemClock, Vfs};

fn wasm(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/wasm/{name}.wasm"))
}

fn expected(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/programs/expected/{name}.stdout"));
    std::fs::read_to_string(p).unwrap()
}

/// Asserts `got` is the expected stdout of `name`, showing the first line that differs.
fn assert_stdout(name: &str, how: &str, got: &str, stderr: &str) {
    let want = expected(name);
    if got == want {
        return;
    }
    let (mut g, mut w) = (got.lines(), want.lines());
    let mut n = 1;
    loop {
        match (g.next(), w.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (a, b) => {
                panic!("{name} ({how}): stdout line {n} is {a:?}, expected {b:?}; stderr: {stderr}")
            }
        }
    }
}

fn lib_run(name: &str, builder: WasiEnvBuilder) -> (RunOutcome, String, String) {
    let mut builder = builder.env("WASI_STRICT", "1");
    let out = builder.capture_stdout();
    let err = builder.capture_stderr();
    let bytes = std::fs::read(wasm(name)).unwrap();
    let outcome = builder
        .run(&bytes)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (outcome, text(out.contents()), text(err.contents()))
}

/// A namespace with an empty `/scratch`, preopened first (fd 3).
fn scratch_builder(name: &str) -> WasiEnvBuilder {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    vfs.mkdir(root, b"scratch").unwrap();
    WasiEnv::builder(name)
        .fs(vfs)
        .preopen("/scratch", "/scratch")
}

fn assert_lib_ok(name: &str, builder: WasiEnvBuilder) -> RunOutcome {
    let (outcome, stdout, stderr) = lib_run(name, builder);
    assert_stdout(name, "library", &stdout, &stderr);
    assert_eq!(outcome.exit_code, 0, "{name} (library)");
    outcome
}

fn strata(args: &[&str]) -> Output {
    strata_cmd()
        .args(args)
        .output()
        .expect("the strata binary runs")
}

/// Runs `name` with a fresh host temp dir as `--dir T::/scratch` (fd 3).
fn assert_cli_ok(name: &str, extra: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let spec = format!("{}::/scratch", t.path().display());
    let module = wasm(name);
    let mut args = vec![
        "run",
        "--dir",
        &spec,
        "--env",
        "WASI_STRICT=1",
        module.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = strata(&args);
    assert_stdout(
        name,
        "cli",
        &String::from_utf8_lossy(&o.stdout),
        &String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{name} (cli)");
    assert_eq!(
        std::fs::read_dir(t.path()).unwrap().count(),
        0,
        "{name}: the host dir stays empty"
    );
}

macro_rules! scratch_program {
    ($lib:ident, $cli:ident, $name:literal $(, $arg:literal)*) => {
        #[test]
        fn $lib() {
            let args: &[&str] = &[$($arg),*];
            assert_lib_ok($name, scratch_builder($name).args(args.iter().copied()));
        }
        #[test]
        fn $cli() {
            assert_cli_ok($name, &[$($arg),*]);
        }
    };
}

scratch_program!(fd_ops_lib, fd_ops_cli, "fd_ops", "/scratch");
scratch_program!(path_ops_lib, path_ops_cli, "path_ops");
scratch_program!(readdir_lib, readdir_cli, "readdir");
scratch_program!(poll_lib, poll_cli, "poll");
scratch_program!(sock_lib, sock_cli, "sock");
scratch_program!(efault_lib, efault_cli, "efault");
scratch_program!(p0_lib, p0_cli, "p0");
scratch_program!(c_fsdemo_lib, c_fsdemo_cli, "c_fsdemo", "/scratch");

const PROC_ARGS: [&str; 5] = ["7", "hello", "with space", "", "ünï=cødé"];

#[test]
fn proc_lib() {
    let b = WasiEnv::builder("proc")
        .args(PROC_ARGS)
        .env("PROC_A", "1")
        .env("PROC_B", "x=y")
        .env("PROC_EMPTY", "");
    let (outcome, stdout, stderr) = lib_run("proc", b);
    assert_stdout("proc", "library", &stdout, &stderr);
    assert_eq!(outcome.exit_code, 7);
}

#[test]
fn proc_cli() {
    let module = wasm("proc");
    let mut args = vec![
        "run",
        "--env",
        "PROC_A=1",
        "--env",
        "PROC_B=x=y",
        "--env",
        "PROC_EMPTY=",
    ];
    args.extend(["--env", "WASI_STRICT=1", module.to_str().unwrap()]);
    args.extend(PROC_ARGS);
    let o = strata(&args);
    assert_stdout(
        "proc",
        "cli",
        &String::from_utf8_lossy(&o.stdout),
        &String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn cat_reads_the_demo_tree_and_reports_errors() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fs-images/demo");
    let spec = format!("{}::/", demo.display());
    let module = wasm("cat");
    let o = strata(&[
        "run",
        "--dir",
        &spec,
        module.to_str().unwrap(),
        "/home/user/hello.txt",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        o.stdout,
        std::fs::read(demo.join("home/user/hello.txt")).unwrap()
    );

    let o = strata(&[
        "run",
        "--dir",
        &spec,
        module.to_str().unwrap(),
        "/nope",
        "/etc/hostname",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("cat: /nope: "));
    assert_eq!(o.stdout, std::fs::read(demo.join("etc/hostname")).unwrap());
}

/// The escape layout: `/secret/key.txt` beside the preopened `/jail`, which holds three
/// absolute symlinks a guest could not create itself.
fn escape_vfs() -> Vfs {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    vfs.write_file(
        root,
        "secret/key.txt",
        FileData::from_bytes("the key".into()),
    )
    .unwrap();
    vfs.write_file(
        root,
        "etc/passwd",
        FileData::from_bytes("root:x:0:0".into()),
    )
    .unwrap();
    let jail = vfs.mkdir(root, b"jail").unwrap();
    let fs = vfs.fs_mut(jail).unwrap();
    fs.symlink(jail.ino, "abs_root", "/").unwrap();
    fs.symlink(jail.ino, "abs_passwd", "/etc/passwd").unwrap();
    fs.symlink(jail.ino, "abs_secret", "/secret/key.txt")
        .unwrap();
    vfs
}

fn listing(vfs: &Vfs, path: &str) -> Vec<String> {
    let dir = match path {
        "/" => vfs.root(),
        p => vfs.lookup(vfs.root(), p.as_bytes(), true).unwrap(),
    };
    vfs.readdir(dir, 0)
        .unwrap()
        .into_iter()
        .map(|(_, name, _, _)| name.to_string())
        .collect()
}

#[test]
fn escape_lib() {
    let b = WasiEnv::builder("escape")
        .fs(escape_vfs())
        .preopen("/jail", "/jail");
    let outcome = assert_lib_ok("escape", b);
    let vfs = &outcome.ctx.vfs;
    assert_eq!(listing(vfs, "/"), [".", "..", "secret", "etc", "jail"]);
    assert_eq!(listing(vfs, "secret"), [".", "..", "key.txt"]);
    let key = vfs.lookup(vfs.root(), b"secret/key.txt", true).unwrap();
    let mut buf = [0u8; 32];
    let n = vfs.read(key, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"the key");
}

#[test]
fn escape_cli() {
    let t = tempfile::tempdir().unwrap();
    let jail = t.path().join("jail");
    let secret = t.path().join("secret");
    std::fs::create_dir(&jail).unwrap();
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("key.txt"), "the key").unwrap();
    std::os::unix::fs::symlink("/", jail.join("abs_root")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", jail.join("abs_passwd")).unwrap();
    std::os::unix::fs::symlink("/secret/key.txt", jail.join("abs_secret")).unwrap();
    let jail_spec = format!("{}::/jail", jail.display());
    let secret_spec = format!("{}::/secret", secret.display());
    let module = wasm("escape");
    let o = strata(&[
        "run",
        "--dir",
        &jail_spec,
        "--dir",
        &secret_spec,
        "--env",
        "WASI_STRICT=1",
        module.to_str().unwrap(),
    ]);
    assert_stdout(
        "escape",
        "cli",
        &String::from_utf8_lossy(&o.stdout),
        &String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0));
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&jail), ["abs_passwd", "abs_root", "abs_secret"]);
    assert_eq!(names(&secret), ["key.txt"]);
    assert_eq!(std::fs::read(secret.join("key.txt")).unwrap(), b"the key");
}

#[test]
fn missing_imports_fail_naming_the_import() {
    for (name, import) in [
        ("missing_import", "env::host_fn"),
        ("missing_wasi", "wasi_snapshot_preview1::not_a_function"),
    ] {
        let o = strata(&["run", wasm(name).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(125), "{name}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(import), "{name}: {e}");
    }
    let bytes = std::fs::read(wasm("missing_wasi")).unwrap();
    match WasiEnv::builder("m").run(&bytes) {
        Err(e) => assert_eq!(
            e.to_string(),
            "module imports wasi_snapshot_preview1::not_a_function, which strata does not provide"
        ),
        Ok(_) => panic!("a module with a missing import ran"),
    }
}

#[test]
fn reactor_via_invoke() {
    let t = tempfile::tempdir().unwrap();
    let spec = format!("{}::/scratch", t.path().display());
    let module = wasm("reactor");
    let m = module.to_str().unwrap();
    let o = strata(&["run", "--dir", &spec, "--invoke", "add", m, "2", "3"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "5\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = strata(&["run", "--dir", &spec, "--invoke", "initialized", m]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1\n");
    let o = strata(&["run", "--dir", &spec, "--invoke", "write_file", m]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "26\n");
    assert_eq!(
        std::fs::read_dir(t.path()).unwrap().count(),
        0,
        "the write stayed in memory"
    );
    let o = strata(&["run", "--dir", &spec, "--invoke", "fail", m]);
    assert_eq!(o.status.code(), Some(3));
}
