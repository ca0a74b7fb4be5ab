//! Records the version of wasmer that strata is built against, as `Cargo.lock` resolved it,
//! in `STRATA_WASMER_VERSION` (`strata::runtime::WASMER_VERSION`, printed by `strata
//! --version` for bug reports). The lock is the one beside the manifest or, for a member of a
//! workspace, the nearest one above it; without one (strata built as a published dependency)
//! the version is `unknown`, never a guess.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let lock = manifest
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.is_file());
    let version = match &lock {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.display());
            wasmer_version(path).unwrap_or_else(|| "unknown".into())
        }
        None => "unknown".into(),
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=STRATA_WASMER_VERSION={version}");
}

/// One `[[package]]` entry of a lock file.
struct Package {
    name: String,
    version: String,
    dependencies: Vec<String>,
}

/// The version of the `wasmer` package this crate depends on, per the lock at `path`.
fn wasmer_version(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let packages = parse(&text);
    let this = std::env::var("CARGO_PKG_NAME").ok()?;
    let us = packages.iter().find(|p| p.name == this)?;
    // A dependency is listed as `name`, or `name version` when the lock holds several.
    let dep = us
        .dependencies
        .iter()
        .find(|d| d.split(' ').next() == Some("wasmer"))?;
    match dep.split(' ').nth(1) {
        Some(version) => Some(version.to_string()),
        None => {
            let mut w = packages.iter().filter(|p| p.name == "wasmer");
            let only = w.next()?;
            w.next().is_none().then(|| only.version.clone())
        }
    }
}

/// The packages of a `Cargo.lock` (only the fields read here).
fn parse(text: &str) -> Vec<Package> {
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|r| r.trim().strip_prefix('='))
            .map(|r| r.trim().trim_matches('"').to_string())
    };
    let mut packages = Vec::new();
    for block in text.split("[[package]]").skip(1) {
        let mut p = Package {
            name: String::new(),
            version: String::new(),
            dependencies: Vec::new(),
        };
        let mut in_deps = false;
        for line in block.lines() {
            let line = line.trim();
            if in_deps {
                match line {
                    "]" => in_deps = false,
                    dep => p
                        .dependencies
                        .push(dep.trim_end_matches(',').trim_matches('"').to_string()),
                }
            } else if let Some(v) = value(line, "name") {
                p.name = v;
            } else if let Some(v) = value(line, "version") {
                p.version = v;
            } else if line.starts_with("dependencies") {
                in_deps = !line.ends_with(']');
            }
        }
        packages.push(p);
    }
    packages
}
