//! The sandbox API: deterministic runs are byte-identical (sequentially and in parallel),
//! runs never see each other's writes, and many sandboxes over one image share it.

#![cfg(feature = "runtime")]

use std::path::Path;
use std::sync::Arc;
use strata::image::{Image, LoadOptions, load_bytes};
use strata::sandbox::{Program, Sandbox};

fn program(name: &str) -> Program {
    Program::from_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/wasm/{name}.wasm")),
    )
    .unwrap()
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

#[test]
fn runs_do_not_see_each_other() {
    let p = program("determinism");
    let sandbox = Sandbox::builder().file("/etc/motd", "hi").build().unwrap();
    let a = sandbox.run(&p).unwrap();
    assert_eq!(a.read("/file0").unwrap(), b"contents 0\n");
    assert_eq!(a.read("/etc/motd").unwrap(), b"hi");
    let mut names = a.list("/").unwrap();
    names.sort();
    assert_eq!(names, ["dir", "etc", "file0", "file1", "file3", "file4"]);
    // A second run starts from the prepared tree again: file2 exists until it deletes it,
    // and nothing of the first run is there.
    let b = sandbox.run(&p).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&b.stdout).matches("file0:").count(),
        1
    );
    assert!(b.read("/nope").is_err());
}

/// Resident set size of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_thousand_sandboxes_share_one_image() {
    const SIZE: usize = 50 << 20;
    let img = image(500, SIZE / 500);
    let before = rss();
    let p = program("determinism");
    let mut outcomes = Vec::new();
    for i in 0..1000 {
        let s = Sandbox::builder()
            .image(img.clone())
            .args([format!("{i}")])
            .build()
            .unwrap();
        let o = s.run(&p).unwrap();
        assert_eq!(o.exit_code(), Some(0));
        // Each keeps its filesystem (image fork + what it wrote) alive.
        outcomes.push((s, o));
    }
    let grown = rss().saturating_sub(before);
    eprintln!(
        "1000 sandboxes over a 50 MiB image: RSS grew {} KiB",
        grown >> 10
    );
    assert!(
        grown < 2 * SIZE as u64,
        "1000 sandboxes over a 50 MiB image grew RSS by {} MiB",
        grown >> 20
    );
    assert_eq!(
        outcomes[999].1.read("/data/f0499").unwrap().len(),
        SIZE / 500
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
