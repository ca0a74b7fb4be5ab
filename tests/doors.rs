//! One behaviour through both doors: every case states a run twice, as `strata run` flags and
//! as `SandboxBuilder` calls, and both must give the expected exit status, stdout, stderr and
//! files (read back from each door's exported tar). The guest is mostly `sh.wasm`, a tiny
//! scriptable program (tests/programs/src/bin/sh.rs), so each case says what it does.

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use strata::image::{EntryKind, LoadOptions, entries, load_path};
use strata::sandbox::{
    CachePolicy, Error, Fault, ImageSource, Mode, Preopens, Program, ProgramOptions, Sandbox,
    SandboxBuilder, Status, Stdin,
};

const EXIT_SETUP: i32 = 125;
const EXIT_TRAP: i32 = 134;
const EXIT_TIMEOUT: i32 = 124;
const EXIT_FUEL: i32 = 152;

fn wasm(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/wasm/{name}.wasm"))
}

/// A tar of `(path, contents)` files (a path ending in `/` is a directory).
fn tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_000_000);
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, path, &[][..]).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// Files every case may use: two image layers, a host tree, a stdin file, modules as text.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("lower.tar"),
            tar(&[("etc/", ""), ("etc/a", "lower a\n"), ("etc/b", "lower b\n")]),
        )
        .unwrap();
        std::fs::write(
            p.join("upper.tar"),
            tar(&[
                ("etc/", ""),
                ("etc/.wh.a", ""),
                ("etc/b", "upper b\n"),
                ("etc/c", "upper c\n"),
            ]),
        )
        .unwrap();
        std::fs::create_dir_all(p.join("host/sub")).unwrap();
        std::fs::write(p.join("host/h.txt"), "from the host\n").unwrap();
        std::fs::write(p.join("host/sub/deep.txt"), "deep\n").unwrap();
        std::fs::create_dir_all(p.join("other")).unwrap();
        std::fs::write(p.join("other/o.txt"), "other\n").unwrap();
        std::fs::write(p.join("stdin.txt"), "line one\nline two\n").unwrap();
        std::fs::write(p.join("loop.wat"), LOOP).unwrap();
        std::fs::write(p.join("reactor.wat"), REACTOR).unwrap();
        std::fs::write(p.join("shared.wat"), SHARED_MEMORY).unwrap();
        std::fs::create_dir_all(p.join("cache")).unwrap();
        World { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
}

const LOOP: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))"#;

/// `_initialize` sets a global; `add` returns a + b + that global.
const REACTOR: &str = r#"(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $g (i32.const 100)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (global.get $g) (i32.add (local.get 0) (local.get 1)))))"#;

const SHARED_MEMORY: &str = r#"(module (memory (export "memory") 1 1 shared)
  (func (export "_start")))"#;

/// What a case must give, through either door.
struct Expect {
    /// The CLI's exit status (the library's `Status` is checked to map to it).
    code: i32,
    stdout: &'static str,
    /// Text stderr must contain (both doors; the CLI's own messages start with `strata: `).
    stderr: &'static str,
    /// Files of the final filesystem: `(guest path, Some(contents) | None for absent)`.
    files: &'static [(&'static str, Option<&'static str>)],
}

struct Case {
    name: &'static str,
    /// Flags before the module.
    flags: Vec<String>,
    builder: Box<dyn Fn(SandboxBuilder) -> SandboxBuilder>,
    module: PathBuf,
    args: Vec<&'static str>,
    expect: Expect,
}

/// What one door produced.
#[derive(Debug, PartialEq)]
struct Got {
    code: i32,
    stdout: String,
    stderr: String,
    files: Vec<(String, Option<String>)>,
}

fn files_of(tar: &Path, wanted: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    let Ok(img) = load_path(tar, &LoadOptions::default()) else {
        return Vec::new();
    };
    let all = entries(&img.fs).unwrap();
    wanted
        .iter()
        .map(|(p, _)| {
            let e = all.get(p.trim_start_matches('/'));
            let data = e
                .filter(|e| e.kind == EntryKind::File)
                .map(|e| String::from_utf8_lossy(e.data.as_deref().unwrap()).into_owned());
            (p.to_string(), data)
        })
        .collect()
}

fn through_cli(w: &World, c: &Case, out_tar: &Path) -> Got {
    let mut cmd = strata_cmd();
    cmd.arg("run")
        .args(&c.flags)
        .arg("--save-fs")
        .arg(out_tar)
        .arg(&c.module)
        .args(&c.args)
        .env("STRATA_CACHE_DIR", w.path("cache"));
    let o = cmd.output().unwrap();
    Got {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        files: files_of(out_tar, c.expect.files),
    }
}

fn through_library(w: &World, c: &Case, out_tar: &Path) -> Got {
    let opts = ProgramOptions {
        cache: CachePolicy::Dir(w.path("cache")),
        fuel: None,
    };
    let program = match Program::from_file_with(&c.module, &opts) {
        Ok(p) => p,
        Err(e) => return setup_error(e),
    };
    let builder = (c.builder)(Sandbox::builder().args(c.args.iter().copied())).export_fs(out_tar);
    let outcome = match builder.build().and_then(|s| s.run(&program)) {
        Ok(o) => o,
        Err(e) => return setup_error(e),
    };
    // The library's statuses, as the CLI documents them.
    let (code, why) = match &outcome.status {
        Status::Exited(code) => ((code & 0xff) as i32, String::new()),
        Status::Trapped(m) => (EXIT_TRAP, format!("strata: guest trapped: {m}\n")),
        Status::TimedOut(_) => (EXIT_TIMEOUT, "strata: timeout:\n".into()),
        Status::OutOfFuel(_) => (EXIT_FUEL, "strata: out of fuel:\n".into()),
    };
    let results: String = outcome.results.iter().map(|r| format!("{r}\n")).collect();
    Got {
        code,
        stdout: String::from_utf8_lossy(&outcome.stdout).into_owned() + &results,
        stderr: String::from_utf8_lossy(&outcome.stderr).into_owned() + &why,
        files: files_of(out_tar, c.expect.files),
    }
}

fn setup_error(e: Error) -> Got {
    Got {
        code: EXIT_SETUP,
        stdout: String::new(),
        stderr: format!("strata: {e}\n"),
        files: Vec::new(),
    }
}

fn check(w: &World, c: &Case) {
    let cli = through_cli(w, c, &w.path(&format!("{}-cli.tar", c.name)));
    let lib = through_library(w, c, &w.path(&format!("{}-lib.tar", c.name)));
    for (door, got) in [("cli", &cli), ("library", &lib)] {
        let e = &c.expect;
        assert_eq!(
            got.code, e.code,
            "{}: {door}: exit status\n{got:#?}",
            c.name
        );
        assert_eq!(got.stdout, e.stdout, "{}: {door}: stdout\n{got:#?}", c.name);
        assert!(
            got.stderr.contains(e.stderr),
            "{}: {door}: stderr lacks {:?}\n{got:#?}",
            c.name,
            e.stderr
        );
        if e.code != EXIT_SETUP {
            let want: Vec<(String, Option<String>)> = e
                .files
                .iter()
                .map(|(p, d)| (p.to_string(), d.map(str::to_string)))
                .collect();
            assert_eq!(got.files, want, "{}: {door}: files", c.name);
        }
    }
    // The guest's own stderr is the same through both doors (strata's messages aside).
    let guest = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("strata: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        guest(&cli.stderr),
        guest(&lib.stderr),
        "{}: guest stderr",
        c.name
    );
}

fn flags(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn sh() -> PathBuf {
    wasm("sh")
}

fn cases(w: &World) -> Vec<Case> {
    let lower = w.s("lower.tar");
    let upper = w.s("upper.tar");
    let host = w.s("host");
    let other = w.s("other");
    let stdin_file = w.path("stdin.txt");
    let (l, u, h, o) = (lower.clone(), upper.clone(), host.clone(), other.clone());
    let file = |p: &str| ImageSource::File(PathBuf::from(p));
    vec![
        Case {
            name: "oci_layers_at_root_with_whiteouts",
            flags: flags(&["--image", &lower, "--image", &upper]),
            builder: Box::new({
                let (l, u) = (l.clone(), u.clone());
                move |b| {
                    b.layer(file(&l), "/", Mode::ReadWrite)
                        .layer(file(&u), "/", Mode::ReadWrite)
                }
            }),
            module: sh(),
            args: vec![
                "ls", "/etc", ";", "cat", "/etc/b", ";", "write", "/etc/new", "n",
            ],
            expect: Expect {
                code: 0,
                stdout: "b c\nupper b\n",
                stderr: "",
                files: &[
                    ("/etc/a", None),
                    ("/etc/b", Some("upper b\n")),
                    ("/etc/new", Some("n")),
                ],
            },
        },
        Case {
            name: "oci_layers_at_a_guest_path",
            flags: flags(&[
                "--image",
                &format!("{lower}::/opt/img"),
                "--image",
                &format!("{upper}::/opt/img"),
            ]),
            builder: Box::new({
                let (l, u) = (l.clone(), u.clone());
                move |b| {
                    b.layer(file(&l), "/opt/img", Mode::ReadWrite).layer(
                        file(&u),
                        "/opt/img",
                        Mode::ReadWrite,
                    )
                }
            }),
            module: sh(),
            args: vec!["ls", "/opt/img/etc", ";", "ls", "/"],
            expect: Expect {
                code: 0,
                stdout: "b c\nopt\n",
                stderr: "",
                files: &[("/opt/img/etc/c", Some("upper c\n"))],
            },
        },
        Case {
            name: "read_only_image_refuses_writes_with_erofs",
            flags: flags(&["--image", &format!("{lower}::/::ro")]),
            builder: Box::new({
                let l = l.clone();
                move |b| b.layer(file(&l), "/", Mode::ReadOnly)
            }),
            module: sh(),
            args: vec!["write", "/etc/x", "data", ";", "cat", "/etc/a"],
            expect: Expect {
                code: 1,
                stdout: "lower a\n",
                stderr: "write /etc/x: Read-only file system (os error 69)",
                files: &[("/etc/x", None), ("/etc/a", Some("lower a\n"))],
            },
        },
        Case {
            name: "read_only_host_dir",
            flags: flags(&["--dir", &format!("{host}::/data::ro")]),
            builder: Box::new({
                let h = h.clone();
                move |b| b.dir_with(&h, "/data", Mode::ReadOnly)
            }),
            module: sh(),
            args: vec!["rm", "/data/h.txt", ";", "cat", "/data/h.txt"],
            expect: Expect {
                code: 1,
                stdout: "from the host\n",
                stderr: "rm /data/h.txt: Read-only file system (os error 69)",
                files: &[("/data/h.txt", Some("from the host\n"))],
            },
        },
        Case {
            name: "host_dir_at_root_merges_over_the_image",
            flags: flags(&["--image", &lower, "--dir", &format!("{host}::/")]),
            builder: Box::new({
                let (l, h) = (l.clone(), h.clone());
                move |b| b.layer(file(&l), "/", Mode::ReadWrite).dir(&h, "/")
            }),
            module: sh(),
            args: vec!["ls", "/", ";", "preopens"],
            expect: Expect {
                code: 0,
                stdout: "etc h.txt sub\n3 /\n",
                stderr: "",
                files: &[
                    ("/etc/a", Some("lower a\n")),
                    ("/sub/deep.txt", Some("deep\n")),
                ],
            },
        },
        Case {
            name: "preopens_in_flag_order_then_the_root",
            flags: flags(&[
                "--dir",
                &format!("{host}::/a"),
                "--dir",
                &format!("{other}::/b/c"),
            ]),
            builder: Box::new({
                let (h, o) = (h.clone(), o.clone());
                move |b| b.dir(&h, "/a").dir(&o, "/b/c")
            }),
            module: sh(),
            args: vec!["preopens", ";", "cat", "/b/c/o.txt"],
            expect: Expect {
                code: 0,
                stdout: "3 /a, 4 /b/c, 5 /\nother\n",
                stderr: "",
                files: &[],
            },
        },
        Case {
            name: "exactly_the_dirs_without_root_preopen",
            flags: flags(&["--no-root-preopen", "--dir", &format!("{host}::/a")]),
            builder: Box::new({
                let h = h.clone();
                move |b| b.dir(&h, "/a").preopens(Preopens::DirsOnly)
            }),
            module: sh(),
            args: vec!["preopens", ";", "cat", "/a/h.txt"],
            expect: Expect {
                code: 0,
                stdout: "3 /a\nfrom the host\n",
                stderr: "",
                files: &[],
            },
        },
        Case {
            name: "stdin_from_a_file",
            flags: vec!["--stdin".into(), w.s("stdin.txt")],
            builder: Box::new(move |b| b.stdin_from(Stdin::File(stdin_file.clone()))),
            module: sh(),
            args: vec!["stdin"],
            expect: Expect {
                code: 0,
                stdout: "line one\nline two\n",
                stderr: "",
                files: &[],
            },
        },
        Case {
            name: "args_env_and_argv0",
            flags: flags(&["--env", "GREETING=hi there", "--env", "EMPTY="]),
            builder: Box::new(|b| b.env("GREETING", "hi there").env("EMPTY", "")),
            module: sh(),
            args: vec!["args", ";", "env", "GREETING", ";", "env", "EMPTY"],
            expect: Expect {
                code: 0,
                stdout: "sh.wasm args ; env GREETING ; env EMPTY\nhi there\n\n",
                stderr: "",
                files: &[],
            },
        },
        Case {
            name: "fault_on_the_first_read_of_a_file",
            flags: flags(&["--image", &lower, "--fault", "read:/etc/a:1:EIO"]),
            builder: Box::new({
                let l = l.clone();
                move |b| {
                    b.layer(file(&l), "/", Mode::ReadWrite)
                        .fault(Fault::parse("read:/etc/a:1:EIO").unwrap())
                }
            }),
            module: sh(),
            args: vec!["cat", "/etc/a", ";", "cat", "/etc/a"],
            expect: Expect {
                code: 1,
                stdout: "lower a\n",
                stderr: "cat /etc/a: I/O error (os error 29)",
                files: &[],
            },
        },
        Case {
            name: "memory_limit_is_enospc",
            flags: flags(&["--max-memory", "4M"]),
            builder: Box::new(|b| b.max_memory(4 << 20)),
            module: sh(),
            // 8 MB of file data does not fit in 4 MiB; once it is removed, a small file does.
            args: vec![
                "fill", "/big", "8000000", ";", "rm", "/big", ";", "write", "/small", "s",
            ],
            expect: Expect {
                code: 1,
                stdout: "",
                stderr: "fill /big: No space left on device (os error 51)",
                files: &[("/small", Some("s")), ("/big", None)],
            },
        },
        Case {
            name: "fd_limit_is_emfile",
            flags: flags(&["--image", &lower, "--max-fds", "4"]),
            builder: Box::new({
                let l = l.clone();
                move |b| b.layer(file(&l), "/", Mode::ReadWrite).max_fds(4)
            }),
            module: sh(),
            args: vec!["cat", "/etc/a"],
            expect: Expect {
                code: 1,
                stdout: "",
                stderr: "cat /etc/a: No file descriptors available (os error 33)",
                files: &[],
            },
        },
        Case {
            name: "timeout_is_124",
            flags: flags(&["--timeout", "200ms"]),
            builder: Box::new(|b| b.timeout(Duration::from_millis(200))),
            module: w.path("loop.wat"),
            args: vec![],
            expect: Expect {
                code: EXIT_TIMEOUT,
                stdout: "",
                stderr: "strata: timeout:",
                files: &[],
            },
        },
        Case {
            name: "fuel_is_152",
            flags: flags(&["--fuel", "100000"]),
            builder: Box::new(|b| b.fuel(100_000)),
            module: w.path("loop.wat"),
            args: vec![],
            expect: Expect {
                code: EXIT_FUEL,
                stdout: "",
                stderr: "strata: out of fuel:",
                files: &[],
            },
        },
        Case {
            name: "deterministic_runs_agree_across_doors",
            flags: flags(&["--deterministic=9"]),
            builder: Box::new(|b| b.deterministic(9)),
            module: wasm("determinism"),
            args: vec![],
            expect: Expect {
                code: 0,
                // Checked apart: whatever the seed gives, the same through both doors.
                stdout: "",
                stderr: "",
                files: &[],
            },
        },
        Case {
            name: "reactor_export_with_arguments",
            flags: flags(&["--invoke", "add"]),
            builder: Box::new(|b| b.invoke("add", ["2", "3"])),
            module: w.path("reactor.wat"),
            args: vec!["2", "3"],
            expect: Expect {
                code: 0,
                stdout: "105\n",
                stderr: "",
                files: &[],
            },
        },
        Case {
            name: "missing_import_is_a_setup_error",
            flags: vec![],
            builder: Box::new(|b| b),
            module: wasm("missing_import"),
            args: vec![],
            expect: Expect {
                code: EXIT_SETUP,
                stdout: "",
                stderr: "module imports env::host_fn, which strata does not provide",
                files: &[],
            },
        },
        Case {
            name: "own_shared_memory_is_refused",
            flags: vec![],
            builder: Box::new(|b| b),
            module: w.path("shared.wat"),
            args: vec![],
            expect: Expect {
                code: EXIT_SETUP,
                stdout: "",
                stderr: "module defines its own shared memory",
                files: &[],
            },
        },
    ]
}

#[test]
fn every_case_behaves_the_same_through_the_cli_and_the_library() {
    let w = World::new();
    for c in cases(&w) {
        if c.name == "deterministic_runs_agree_across_doors" {
            // The expected bytes are whatever the seed gives, as long as both doors (and two
            // runs of each) give the same.
            let a = through_cli(&w, &c, &w.path("det-a.tar"));
            let b = through_library(&w, &c, &w.path("det-b.tar"));
            assert_eq!(a.code, 0, "{a:#?}");
            assert!(!a.stdout.is_empty());
            assert_eq!(a, b, "deterministic output differs between the doors");
            assert_eq!(through_library(&w, &c, &w.path("det-c.tar")), b);
            continue;
        }
        check(&w, &c);
    }
}

#[test]
fn a_shared_image_and_bytes_are_the_same_layer_as_a_file() {
    let w = World::new();
    let image = Arc::new(load_path(w.path("lower.tar"), &LoadOptions::oci()).unwrap());
    let bytes = std::fs::read(w.path("upper.tar")).unwrap();
    let program = common::program_file(sh());
    let o = Sandbox::builder()
        .layer(ImageSource::Shared(image), "/", Mode::ReadWrite)
        .layer(ImageSource::Bytes(bytes.into()), "/", Mode::ReadWrite)
        .args(["ls", "/etc"])
        .build()
        .unwrap()
        .run(&program)
        .unwrap();
    assert_eq!((o.status, o.stdout), (Status::Exited(0), b"b c\n".to_vec()));
}

#[test]
fn setup_errors_name_their_input() {
    let w = World::new();
    let program = common::program_file(sh());
    let err = |b: SandboxBuilder| match b.build().and_then(|s| s.run(&program)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error"),
    };
    assert_eq!(
        err(Sandbox::builder().image_file(w.path("nope.tar"), "/")),
        format!(
            "image \"{0}\": \"{0}\": No such file or directory (os error 2)",
            w.s("nope.tar")
        )
    );
    assert!(
        err(Sandbox::builder().dir("/nonexistent-dir", "/x"))
            .starts_with("host directory \"/nonexistent-dir\": ")
    );
    assert!(
        err(Sandbox::builder().stdin_from(Stdin::File(w.path("nope.txt"))))
            .starts_with(&format!("stdin file \"{}\": ", w.s("nope.txt")))
    );
    assert_eq!(
        err(Sandbox::builder().dir(w.path("host"), "/a/../b")),
        format!(
            "host directory \"{}\": guest path \"/a/../b\" must not contain '..'",
            w.s("host")
        )
    );
}

/// The realtime start of deterministic runs (2000-01-01) plus a day: virtual timestamps stay
/// below it, wall-clock ones (and host files' mtimes) lie far above.
const VIRTUAL_UNTIL_S: u64 = 946_684_800 + 86_400;

/// `(path, mtime in seconds)` of every member of a tar.
fn tar_mtimes(bytes: &[u8]) -> Vec<(String, u64)> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            (path, e.header().mtime().unwrap())
        })
        .collect()
}

#[test]
fn deterministic_mount_points_leave_byte_identical_tars_sequentially_and_in_parallel() {
    let w = World::new();
    let (image, host) = (w.s("lower.tar"), w.s("host"));
    // `/new/mount` is not in the image: both directories are created for the mount.
    let args = [
        "write",
        "/new/mount/out.txt",
        "x",
        ";",
        "mkdir",
        "/new/made",
        ";",
        "ls",
        "/new",
    ];
    let cli = |out: PathBuf| {
        let o = strata_cmd()
            .args(["run", "--deterministic=5", "--image", &image, "--dir"])
            .arg(format!("{host}::/new/mount"))
            .arg("--save-fs")
            .arg(&out)
            .arg(sh())
            .args(args)
            .env("STRATA_CACHE_DIR", w.path("cache"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!(o.stdout, b"made mount\n");
        std::fs::read(out).unwrap()
    };
    let program = common::program_file(sh());
    let library = |out: PathBuf| {
        let o = Sandbox::builder()
            .deterministic(5)
            .image_file(w.path("lower.tar"), "/")
            .dir(w.path("host"), "/new/mount")
            .export_fs(&out)
            .args(args)
            .build()
            .unwrap()
            .run(&program)
            .unwrap();
        assert_eq!(
            (o.status, o.stdout),
            (Status::Exited(0), b"made mount\n".to_vec())
        );
        std::fs::read(out).unwrap()
    };
    let mut tars = vec![
        cli(w.path("cli-1.tar")),
        cli(w.path("cli-2.tar")),
        library(w.path("lib-1.tar")),
        library(w.path("lib-2.tar")),
    ];
    std::thread::scope(|s| {
        let runs = [
            s.spawn(|| cli(w.path("cli-p1.tar"))),
            s.spawn(|| cli(w.path("cli-p2.tar"))),
            s.spawn(|| library(w.path("lib-p1.tar"))),
            s.spawn(|| library(w.path("lib-p2.tar"))),
        ];
        tars.extend(runs.map(|t| t.join().unwrap()));
    });
    for (i, t) in tars.iter().enumerate() {
        assert!(*t == tars[0], "tar {i} differs from the first");
    }
    // The mount points and what the run made carry virtual times; the imported host file
    // keeps its host mtime.
    let times = tar_mtimes(&tars[0]);
    let mtime = |p: &str| times.iter().find(|(q, _)| q == p).map(|(_, t)| *t);
    for p in ["new/", "new/mount/", "new/made/", "new/mount/out.txt"] {
        let t = mtime(p).unwrap_or_else(|| panic!("{p} in {times:?}"));
        assert!(t < VIRTUAL_UNTIL_S, "{p}: mtime {t} is not virtual");
    }
    let host_mtime = std::fs::metadata(w.path("host/h.txt"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(mtime("new/mount/h.txt"), Some(host_mtime));
}

#[test]
fn a_deterministic_run_sees_no_wall_clock_time() {
    use strata::vfs::{NodeId, Vfs};
    let w = World::new();
    let o = Sandbox::builder()
        .deterministic(2)
        .image_file(w.path("lower.tar"), "/")
        .image_file(w.path("upper.tar"), "/")
        .image_file(w.path("lower.tar"), "/opt/img")
        .image_file(w.path("upper.tar"), "/opt/img")
        .dir(w.path("host"), "/new/mount")
        .args(["write", "/etc/new", "n", ";", "rm", "/etc/b"])
        .build()
        .unwrap()
        .run(&common::program_file(sh()))
        .unwrap();
    assert_eq!(o.status, Status::Exited(0));
    // Every change time: from an image, the virtual clock, never the wall clock. (Host
    // files keep their host mtimes, so only change times are comparable everywhere.)
    // Host trees are read lazily: the walk reads them (`&mut`, `load_dir`).
    fn walk(vfs: &mut Vfs, dir: NodeId, path: &str, out: &mut Vec<(String, u64)>) {
        out.push((path.to_string(), vfs.stat_node(dir).unwrap().ctim));
        vfs.load_dir(dir).unwrap();
        for (_, name, _, _) in vfs.readdir(dir, 0).unwrap() {
            if matches!(&*name, "." | "..") {
                continue;
            }
            let id = vfs.lookup_loading(dir, name.as_bytes(), false).unwrap();
            let p = format!("{path}/{name}");
            if vfs.stat_node(id).unwrap().filetype == strata::vfs::FileType::Directory {
                walk(vfs, id, &p, out);
            } else {
                out.push((p, vfs.stat_node(id).unwrap().ctim));
            }
        }
    }
    let mut ctimes = Vec::new();
    let mut fs = o.fs.clone();
    let root = fs.root();
    walk(&mut fs, root, "", &mut ctimes);
    assert!(ctimes.len() > 10, "{ctimes:?}");
    let wall: Vec<_> = ctimes
        .iter()
        .filter(|(_, t)| *t / 1_000_000_000 >= VIRTUAL_UNTIL_S)
        .collect();
    assert!(wall.is_empty(), "wall-clock change times: {wall:?}");
}
