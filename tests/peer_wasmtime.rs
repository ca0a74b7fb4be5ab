//! Peer validation: every test program also runs on wasmtime, the reference implementation
//! (`tests/programs/tools/validate_wasmtime.py`, PyPI package `wasmtime`), and must print
//! the committed expected output there too, so the expectations strata's own tests hold it
//! to are the reference's and not only strata's.
//!
//! The interpreter is `$STRATA_WASMTIME_PYTHON` (`.ci/run` points it at a virtualenv where it
//! installed wasmtime), else `python3`. Where it cannot import wasmtime the test says so and
//! passes, unless `STRATA_REQUIRE_WASMTIME=1` (as in `.ci/run`), when it fails. The report of
//! which cases ran on wasmtime and which only on strata is printed, and written to
//! `$STRATA_PEER_REPORT` if that is set.

use std::path::Path;
use std::process::Command;

#[test]
fn every_program_matches_wasmtime() {
    let python = std::env::var("STRATA_WASMTIME_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var_os("STRATA_REQUIRE_WASMTIME").is_some_and(|v| v == "1");
    let probe = Command::new(&python)
        .args(["-c", "import wasmtime"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let why = match &probe {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            !required,
            "STRATA_REQUIRE_WASMTIME=1 but {python} cannot import wasmtime: {why}"
        );
        eprintln!(
            "SKIPPED every_program_matches_wasmtime: {python} cannot import wasmtime \
             (pip install wasmtime, or set STRATA_WASMTIME_PYTHON): {why}"
        );
        return;
    }
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let out = Command::new(&python)
        .arg(programs.join("tools/validate_wasmtime.py"))
        .current_dir(&programs)
        .output()
        .expect("running validate_wasmtime.py");
    let report = String::from_utf8_lossy(&out.stdout);
    if let Some(path) = std::env::var_os("STRATA_PEER_REPORT") {
        std::fs::write(path, report.as_bytes()).expect("writing the peer report");
    }
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "the programs do not behave on wasmtime as expected/ says:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("all programs match wasmtime"), "{report}");
    // Every program was run (a program left out of the script would not be validated).
    for e in std::fs::read_dir(programs.join("wasm")).unwrap() {
        let name = e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .replace(".wasm", "");
        let checked = match name.as_str() {
            "missing_import" | "missing_wasi" => "fails to instantiate".to_string(),
            // Not peer-validated here: their output is the host stream's kind (stdio), a
            // script's (sh, which tests/doors.rs compares between strata's two doors), an
            // attack on strata's own limits (hostile, tests/hostile.rs), or compared with
            // Linux and wasmtime by its own test (fsdiff, tests/fs_differential.rs), or a
            // wasi-threads program, which wasmtime's Python API cannot run (threads; its peer
            // check is the public wasi-threads suite).
            "stdio" | "sh" | "hostile" | "fsdiff" | "threads" => continue,
            n => format!("PASS {n}"),
        };
        assert!(
            report
                .lines()
                .any(|l| l.contains(&name) && l.contains(&checked)),
            "{name}.wasm is not validated on wasmtime:\n{report}"
        );
    }
}
