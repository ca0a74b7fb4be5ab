//! A worked example of what strata is for: a golden-output test of a wasm program against a
//! preset image, written the way a user of the library would write it. The program runs in a
//! deterministic sandbox over `fs-images/base.tar`; its stdout must match the golden file
//! byte for byte, and the filesystem it leaves behind is checked too.

#![cfg(feature = "runtime")]

mod common;

use std::path::Path;
use std::sync::Arc;
use strata::image::{ExportOptions, LoadOptions, export_memfs, load_path};
use strata::sandbox::Sandbox;
use strata::vfs::memfs::ROOT_INO;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn cat_prints_os_release_from_the_base_image() {
    // Load the image once; it is shared (never copied) by every sandbox built on it.
    let image = Arc::new(load_path(repo("fs-images/base.tar"), &LoadOptions::default()).unwrap());
    let program = common::program_file(repo("tests/programs/wasm/cat.wasm"));

    let sandbox = Sandbox::builder()
        .image(image.clone())
        .args(["/etc/os-release", "/etc/missing"])
        .deterministic(1)
        .build()
        .unwrap();
    let outcome = sandbox.run(&program).unwrap();

    let golden = std::fs::read(repo("tests/golden/cat_os_release.stdout")).unwrap();
    assert_eq!(
        outcome.stdout, golden,
        "stdout differs from tests/golden/cat_os_release.stdout"
    );
    assert_eq!(outcome.exit_code(), Some(1), "cat reports the missing file");
    assert!(String::from_utf8_lossy(&outcome.stderr).starts_with("cat: /etc/missing: "));
    // The run wrote nothing: the whole filesystem it left is the image, byte for byte as a
    // tar (every path, type, content, link, mode and time), and its diff holds no change.
    assert_eq!(outcome.read("/etc/os-release").unwrap(), golden);
    let image_tar =
        export_memfs(&image.fs, ROOT_INO, Vec::new(), &ExportOptions::default()).unwrap();
    assert!(
        outcome.export_tar().unwrap() == image_tar,
        "the filesystem the run left differs from the image"
    );
    let diff = outcome.diff_tar().unwrap();
    let changed: Vec<String> = tar::Archive::new(&diff[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .filter(|p| p != "./")
        .collect();
    assert!(changed.is_empty(), "the run changed {changed:?}");
}
