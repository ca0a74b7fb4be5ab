//! The sandbox API: deterministic runs are byte-identical (sequentially and in parallel),
//! runs never see each other's writes, and many sandboxes over one image share it.

#![cfg(feature = "runtime")]

mod common;

use std::path::Path;
use std::sync::Arc;
use strata::image::{Image, LoadOptions, load_bytes};
use strata::sandbox::{Program, Sandbox};

fn program(name: &str) -> Program {
    common::program_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/wasm/{name}.wasm")),
    )
}

fn image(files: usize, size: usize) -> Arc<Image> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..files {
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o644);
        h.set_mtime(1_000_000);
        let data = vec![(i % 251) as u8; size];
        b.append_data(&mut h, format!("data/f{i:04}"), &data[..])
            .unwrap();
    }
    Arc::new(load_bytes(b.into_inner().unwrap().into(), &LoadOptions::default()).unwrap())
}

#[test]
fn deterministic_runs_are_byte_identical_even_in_parallel() {
    let p = program("determinism");
    let sandbox = Arc::new(
        Sandbox::builder()
            .image(image(3, 10))
            .deterministic(7)
            .build()
            .unwrap(),
    );
    let first = sandbox.run(&p).unwrap();
    assert_eq!(
        first.exit_code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        text.contains("clock 0: Ok(946684800000"),
        "realtime starts at 2000-01-01: {text}"
    );
    assert!(text.ends_with("all ok\n"), "{text}");
    let tar = first.export_tar().unwrap();

    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (s, p) = (sandbox.clone(), p.clone());
            std::thread::spawn(move || {
                let o = s.run(&p).unwrap();
                (o.stdout.clone(), o.export_tar().unwrap())
            })
        })
        .collect();
    for t in threads {
        let (stdout, t_tar) = t.join().unwrap();
        assert_eq!(String::from_utf8_lossy(&stdout), text);
        assert!(
            t_tar == tar,
            "the final filesystems are byte-identical tars"
        );
    }

    let other = Sandbox::builder()
        .image(image(3, 10))
        .deterministic(8)
        .build()
        .unwrap();
    let o = other.run(&p).unwrap();
    assert_ne!(
        o.stdout, first.stdout,
        "another seed gives other random bytes"
    );
}

/// `sh` (tests/programs/src/bin/sh.rs), which exits 1 if any of its commands fails.
fn sh() -> Program {
    program("sh")
}

/// What every run of `LEAK_SCRIPT` prints when it starts from the prepared tree: anything a
/// previous run created, changed or deleted would change a line, or make a command fail.
const LEAK_EXPECTED: &str = "data etc\nhi\nimage a\nimage b\na\n";

/// Reads what the prepared tree holds, then changes every kind of thing: appends to a file
/// given with `.file` and to an image file, creates a directory and a file, deletes an image
/// file. `mkdir` fails if the directory is already there, `rm` if the file is already gone.
fn leak_script(tag: &str) -> Vec<String> {
    let script = format!(
        "ls / ; cat /etc/motd ; cat /data/a ; cat /data/b ; append /etc/motd {tag} ; \
         append /data/a {tag} ; mkdir /made ; write /made/by {tag} ; rm /data/b ; ls /data"
    );
    script.split(' ').map(str::to_string).collect()
}

fn leak_sandbox(tag: &str) -> Sandbox {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [("data/a", "image a\n"), ("data/b", "image b\n")] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    let img = load_bytes(b.into_inner().unwrap().into(), &LoadOptions::default()).unwrap();
    Sandbox::builder()
        .image(Arc::new(img))
        .file("/etc/motd", "hi\n")
        .args(leak_script(tag))
        .build()
        .unwrap()
}

fn assert_fresh(o: &strata::sandbox::Outcome, tag: &str, run: &str) {
    assert_eq!(
        (
            o.exit_code(),
            String::from_utf8_lossy(&o.stdout).as_ref(),
            String::from_utf8_lossy(&o.stderr).as_ref()
        ),
        (Some(0), LEAK_EXPECTED, ""),
        "{run} did not start from the prepared tree"
    );
    // And it left exactly its own changes.
    assert_eq!(
        o.read("/etc/motd").unwrap(),
        format!("hi\n{tag}").as_bytes()
    );
    assert_eq!(
        o.read("/data/a").unwrap(),
        format!("image a\n{tag}").as_bytes()
    );
    assert_eq!(o.read("/made/by").unwrap(), tag.as_bytes());
    assert!(o.read("/data/b").is_err(), "{run}: /data/b deleted");
}

#[test]
fn runs_do_not_see_each_other() {
    let p = sh();
    let sandbox = Arc::new(leak_sandbox("first"));
    // Sequential runs: each sees the prepared tree, whatever the one before it did.
    let a = sandbox.run(&p).unwrap();
    assert_fresh(&a, "first", "run 1");
    let b = sandbox.run(&p).unwrap();
    assert_fresh(&b, "first", "run 2");
    // Parallel runs, while the first two outcomes (and their filesystems) are alive.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (s, p) = (sandbox.clone(), p.clone());
            std::thread::spawn(move || {
                let o = s.run(&p).unwrap();
                assert_fresh(&o, "first", &format!("parallel run {i}"));
                o
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // Later runs did not change what an earlier outcome holds: each file was appended once.
    assert_fresh(&a, "first", "run 1, after the others");
    assert_eq!(outcomes.len(), 4);
    // Another sandbox over an equal image and the same file is independent of this one.
    let other = leak_sandbox("other");
    assert_fresh(&other.run(&p).unwrap(), "other", "the other sandbox's run");
    assert_fresh(
        &sandbox.run(&p).unwrap(),
        "first",
        "run after the other sandbox",
    );
}

#[test]
fn image_files_are_loaded_once_and_diffs_hold_only_the_run() {
    use strata::image::ImageCache;
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("img.tar");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    b.append_data(&mut h, "data/keep.txt", &b"keep\n"[..])
        .unwrap();
    std::fs::write(&img, b.into_inner().unwrap()).unwrap();

    let opts = LoadOptions::oci();
    let a = ImageCache::global().load_path(&img, &opts).unwrap();
    let b = ImageCache::global().load_path(&img, &opts).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "the second load is the same image");

    let sandbox = Sandbox::builder().image_file(&img, "/").build().unwrap();
    let o = sandbox.run(&program("determinism")).unwrap();
    assert_eq!(o.read("/data/keep.txt").unwrap(), b"keep\n");
    let diff = o.diff_tar().unwrap();
    let mut names: Vec<String> = tar::Archive::new(&diff[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["./", "dir/", "file0", "file1", "file3", "file4"]);
}

/// A guest that prints what its data segments put at 100 (page 0) and 70,000 (page 1), a
/// byte of a page no segment touches, and a byte of a page it grows, then overwrites all of
/// them; its start function (run at instantiation) adds one to the byte at 100.
const IMAGED: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "abc")
  (data (i32.const 70000) "def")
  (func $start (i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1))))
  (start $start)
  (func $print (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at)) (i32.store (i32.const 4) (local.get $len))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (call $print (i32.const 100) (i32.const 3))
    (call $print (i32.const 70000) (i32.const 3))
    (i32.store8 (i32.const 5000) (i32.add (i32.load8_u (i32.const 5000)) (i32.const 48)))
    (call $print (i32.const 5000) (i32.const 1))
    (drop (memory.grow (i32.const 1)))
    (i32.store8 (i32.const 140000) (i32.add (i32.load8_u (i32.const 140000)) (i32.const 48)))
    (call $print (i32.const 140000) (i32.const 1))
    (i32.store (i32.const 100) (i32.const 0x5a5a5a5a))
    (i32.store (i32.const 70000) (i32.const 0x5a5a5a5a))))"#;

#[test]
fn every_run_starts_from_the_modules_own_memory() {
    // Without a start function the module's later instances start from the saved image of
    // its initialised memory; with one, from wasmer's own initialisation. Either way no run
    // sees what an earlier one wrote.
    for (wat, first) in [
        (IMAGED, "b"),
        (&IMAGED.replace("(start $start)", "")[..], "a"),
    ] {
        let p = Program::from_bytes(wat).unwrap();
        let expected = format!("{first}bcdef00");
        let sandbox = Arc::new(Sandbox::builder().build().unwrap());
        for run in 0..4 {
            let o = sandbox.run(&p).unwrap();
            assert_eq!(o.stdout, expected.as_bytes(), "run {run}");
        }
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (s, p) = (sandbox.clone(), p.clone());
                std::thread::spawn(move || s.run(&p).unwrap().stdout)
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), expected.as_bytes());
        }
        // The memory budget still counts the initial memory of an imaged instance.
        let small = Sandbox::builder().max_memory(100_000).build().unwrap();
        for run in 0..3 {
            let err = small
                .run(&p)
                .err()
                .expect("two pages do not fit in 100,000 bytes");
            assert!(err.to_string().contains("max_memory"), "run {run}: {err}");
        }
    }
}
