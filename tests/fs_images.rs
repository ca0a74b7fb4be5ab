//! The preset images in `fs-images/` are what `strata image build` makes of their source
//! trees, byte for byte (so they are reproducible and up to date), and the demo image works.

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::path::Path;

#[test]
fn committed_images_match_their_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fs-images");
    let t = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let dir = e.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let out = t.path().join(format!("{name}.tar"));
        let o = strata_cmd()
            .args([
                "image",
                "build",
                dir.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let committed = std::fs::read(root.join(format!("{name}.tar")))
            .unwrap_or_else(|_| panic!("fs-images/{name}.tar is missing: run fs-images/build.sh"));
        assert!(
            std::fs::read(&out).unwrap() == committed,
            "fs-images/{name}.tar differs from its source tree: run fs-images/build.sh"
        );
        checked += 1;
    }
    assert!(checked >= 2, "expected the base and demo images");
}

#[test]
fn image_subcommands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fs-images");
    let strata = |args: &[&str]| strata_cmd().args(args).output().unwrap();
    let demo = root.join("demo.tar");
    let base = root.join("base.tar");
    let o = strata(&["image", "cat", demo.to_str().unwrap(), "/etc/hostname"]);
    assert_eq!(
        o.stdout,
        std::fs::read(root.join("demo/etc/hostname")).unwrap()
    );
    let o = strata(&["image", "ls", demo.to_str().unwrap(), "home"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "d 0755          1 home\nd 0755          1 home/user\n- 0644         99 home/user/hello.txt\n"
    );
    let o = strata(&[
        "image",
        "diff",
        demo.to_str().unwrap(),
        demo.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let o = strata(&[
        "image",
        "diff",
        demo.to_str().unwrap(),
        base.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("- home/user/hello.txt\n") && out.contains("+ etc/hosts\n"),
        "{out}"
    );
    let o = strata(&["image", "cat", demo.to_str().unwrap(), "nope"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no entry \"nope\""));
}
