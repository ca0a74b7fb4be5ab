//! Build script: links the `strata` binary with the functions a run executes first placed
//! side by side (`linker/startup-order.txt`, see `linker/record-startup-order.sh`), so that a
//! short run faults in fewer pages of the binary's code. Only where the toolchain's own lld
//! links (x86_64 Linux since Rust 1.90, and no linker configured): another linker may not
//! know the flag. `STRATA_LINK_ORDER=0` turns it off. Names the binary lacks are ignored.

#![forbid(unsafe_code)]

use std::env;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=linker/startup-order.txt");
    println!("cargo::rerun-if-env-changed=STRATA_LINK_ORDER");
    if env::var("STRATA_LINK_ORDER").is_ok_and(|v| v == "0") {
        return;
    }
    if env::var("TARGET").ok().as_deref() != Some("x86_64-unknown-linux-gnu")
        || env::var_os("RUSTC_LINKER").is_some()
    {
        return;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&dir).join("linker/startup-order.txt");
    // The path goes through `-Wl,`, which splits at commas.
    match order.to_str() {
        Some(path) if order.is_file() && !path.contains(',') => println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={path},--no-warn-symbol-ordering"
        ),
        _ => {}
    }
}
