//! A worked example of what strata is for: a golden-output test of a wasm program against a
//! preset image, written the way a user of the library would write it. The program runs in a
//! deterministic sandbox over `fs-images/base.tar`; its stdout must match the golden file
//! byte for byte, and the filesystem it leaves behind is checked too.

#![cfg(feature = "runtime")]

mod common;

use std::path::Path;
use std::sync::Arc;
use strata::image::{LoadOptions, load_path};
use strata::sandbox::Sandbox;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn cat_prints_os_release_from_the_base_image() {
    // Load the image once; it is shared (never copied) by every sandbox built on it.
    let image = Arc::new(load_path(repo("fs-images/base.tar"), &LoadOptions::default()).unwrap());
    let program = common::program_file(repo("tests/programs/wasm/cat.wasm"));

    let sandbox = Sandbox::builder()
        .image(image)
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
    // The image is untouched and the run wrote nothing.
    assert_eq!(outcome.read("/etc/os-release").unwrap(), golden);
    let mut top = outcome.list("/").unwrap();
    top.sort();
    assert_eq!(top, ["etc", "home", "tmp", "usr"]);
}
