//! The library's on-disk module cache: a program compiled in one process is loaded, not
//! compiled, by the next process that asks for it (each test here uses its own cache
//! directory, never the user's).

#![cfg(feature = "runtime")]

mod common;
use common::strata_cmd;

use std::path::Path;
use std::process::Command;
use strata::sandbox::{CacheOutcome, CachePolicy, Program, ProgramOptions, Sandbox, Status};

/// A module with `n` small functions (so compiling it costs something), whose `_start`
/// exits with the sum of a few of them.
fn big_module(n: usize) -> String {
    let mut m = String::from(
        "(module\n (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))\n \
         (memory (export \"memory\") 1)\n",
    );
    for i in 0..n {
        m.push_str(&format!(
            " (func $f{i} (param i32) (result i32) (i32.add (local.get 0) (i32.const {}))\n",
            i % 7
        ));
        m.push_str("  )\n");
    }
    m.push_str(
        " (func (export \"_start\") (call $exit (call $f3 (call $f1 (i32.const 10)))))\n)\n",
    );
    m
}

fn opts(dir: &Path) -> ProgramOptions {
    ProgramOptions {
        cache: CachePolicy::Dir(dir.to_path_buf()),
        fuel: None,
    }
}

/// Run by `a_second_process_loads_the_compiled_module_from_disk` in a child process.
#[test]
#[ignore = "child half of a_second_process_loads_the_compiled_module_from_disk"]
fn child_loads_from_cache() {
    let (Some(dir), Some(module)) = (
        std::env::var_os("STRATA_TEST_CACHE_DIR"),
        std::env::var_os("STRATA_TEST_MODULE"),
    ) else {
        panic!("run by the parent test only");
    };
    let p = Program::from_file_with(&module, &opts(Path::new(&dir))).unwrap();
    assert_eq!(p.cache_outcome(), CacheOutcome::Hit);
    let o = Sandbox::builder().build().unwrap().run(&p).unwrap();
    assert_eq!(o.status, Status::Exited(14));
}

#[test]
fn a_second_process_loads_the_compiled_module_from_disk() {
    let t = tempfile::tempdir().unwrap();
    let module = t.path().join("big.wat");
    std::fs::write(&module, big_module(4000)).unwrap();
    let cache = t.path().join("cache");
    let p = Program::from_file_with(&module, &opts(&cache)).unwrap();
    assert_eq!(p.cache_outcome(), CacheOutcome::Compiled);
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one entry written"
    );
    // Same process: the in-memory cache answers.
    let again = Program::from_file_with(&module, &opts(&cache)).unwrap();
    assert_eq!(again.cache_outcome(), CacheOutcome::Memory);

    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_loads_from_cache",
            "--ignored",
            "--nocapture",
        ])
        .env("STRATA_TEST_CACHE_DIR", &cache)
        .env("STRATA_TEST_MODULE", &module)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(out.contains("1 passed"), "the child ran its test: {out}");
}

#[test]
fn memory_only_policy_writes_nothing() {
    // Another module than the other tests', so the process-wide memory cache does not answer.
    let wat = big_module(8).replace("(i32.const 10)", "(i32.const 11)");
    let p = Program::from_bytes_with(
        &wat,
        &ProgramOptions {
            cache: CachePolicy::MemoryOnly,
            fuel: None,
        },
    )
    .unwrap();
    // Uncached: compiled, and stored in no directory.
    assert_eq!(p.cache_outcome(), CacheOutcome::Uncached);
}

#[test]
fn the_default_policy_honours_strata_cache_dir() {
    let t = tempfile::tempdir().unwrap();
    let wat = big_module(8).replace("(i32.const 10)", "(i32.const 12)");
    let module = t.path().join("m.wat");
    std::fs::write(&module, &wat).unwrap();
    let cache = t.path().join("c");
    // In a child process, so the variable does not leak into other tests of this one.
    let child = strata_cmd()
        .arg("run")
        .arg(&module)
        .env("STRATA_CACHE_DIR", &cache)
        .env_remove("XDG_CACHE_HOME")
        .output()
        .unwrap();
    assert_eq!(child.status.code(), Some(16), "{:?}", child);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn strata_cache_shows_prunes_and_cleans() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("c");
    let strata = |args: &[&str]| {
        let o = strata_cmd()
            .args(args)
            .env("STRATA_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    for n in [20, 21] {
        let m = t.path().join(format!("m{n}.wat"));
        std::fs::write(
            &m,
            big_module(8).replace("(i32.const 10)", &format!("(i32.const {n})")),
        )
        .unwrap();
        strata_cmd()
            .arg("run")
            .arg(&m)
            .env("STRATA_CACHE_DIR", &cache)
            .status()
            .unwrap();
    }
    let info = strata(&["cache", "info"]);
    assert!(
        info.contains(&format!("directory: {}", cache.display())),
        "{info}"
    );
    assert!(info.contains("entries: 2,"), "{info}");
    assert!(!info.contains("other version"), "{info}");
    // The newest entry is listed first; pruning to 1 byte removes both.
    let out = strata(&["cache", "prune", "--max", "1"]);
    assert!(out.starts_with("removed 2 entries"), "{out}");
    assert!(strata(&["cache", "info"]).contains("entries: 0,"));
    std::fs::write(cache.join("00000000-old"), b"x").unwrap();
    assert!(strata(&["cache", "info"]).contains("(other version)"));
    let out = strata(&["cache", "prune", "--other-versions"]);
    assert!(out.starts_with("removed 1 entries"), "{out}");
    assert_eq!(strata(&["cache", "clean"]), "removed 0 entries, 0.0 MiB\n");
}

/// Entries are zstd-compressed unless `STRATA_CACHE_COMPRESS=0` (or smaller than
/// `STRATA_CACHE_COMPRESS_MIN`); either kind is loaded (not rewritten) whatever the setting;
/// a corrupted compressed entry is compiled again.
#[test]
fn entries_are_compressed_by_default_and_either_kind_loads_under_any_setting() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.wat");
    std::fs::write(
        &m,
        big_module(300).replace("(i32.const 10)", "(i32.const 30)"),
    )
    .unwrap();
    let run = |cache: &Path, compress: Option<&str>| {
        let mut c = strata_cmd();
        // This module's artifact is small: compressed only below the default threshold.
        c.arg("run")
            .arg(&m)
            .env("STRATA_CACHE_DIR", cache)
            .env("STRATA_CACHE_COMPRESS_MIN", "0");
        match compress {
            Some(level) => c.env("STRATA_CACHE_COMPRESS", level),
            None => c.env_remove("STRATA_CACHE_COMPRESS"),
        };
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(34), "{o:?}");
    };
    let info = |cache: &Path, compress: Option<&str>| {
        let mut c = strata_cmd();
        c.args(["cache", "info"])
            .env("STRATA_CACHE_DIR", cache)
            .env("STRATA_CACHE_COMPRESS_MIN", "0");
        match compress {
            Some(level) => c.env("STRATA_CACHE_COMPRESS", level),
            None => c.env_remove("STRATA_CACHE_COMPRESS"),
        };
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    let the_entry = |cache: &Path| {
        let mut all: Vec<_> = std::fs::read_dir(cache).unwrap().collect();
        assert_eq!(all.len(), 1, "one entry");
        all.pop().unwrap().unwrap().path()
    };
    // The default: compressed.
    let zcache = t.path().join("z");
    run(&zcache, None);
    let zentry = the_entry(&zcache);
    let shown = info(&zcache, None);
    assert!(
        shown.contains(
            "compression: zstd level 3 (STRATA_CACHE_COMPRESS), artifacts from 0.0 MiB \
             (STRATA_CACHE_COMPRESS_MIN)"
        ),
        "{shown}"
    );
    assert!(shown.contains(" zstd "), "listed as compressed: {shown}");
    // Plain when asked.
    let pcache = t.path().join("p");
    run(&pcache, Some("0"));
    let pentry = the_entry(&pcache);
    let shown = info(&pcache, Some("0"));
    assert!(
        shown.contains("compression: none (STRATA_CACHE_COMPRESS)"),
        "{shown}"
    );
    assert!(!shown.contains(" zstd "), "listed as plain: {shown}");
    assert!(std::fs::metadata(&zentry).unwrap().len() < std::fs::metadata(&pentry).unwrap().len());
    // Each loaded, not rewritten, under the other setting and under a third.
    for (cache, entry) in [(&zcache, &zentry), (&pcache, &pentry)] {
        let inode = std::fs::metadata(entry).unwrap().ino();
        for setting in [None, Some("0"), Some("9")] {
            run(cache, setting);
        }
        assert_eq!(std::fs::metadata(entry).unwrap().ino(), inode);
        assert_eq!(the_entry(cache), *entry);
    }
    // A corrupted compressed entry is compiled again and replaced.
    let inode = std::fs::metadata(&zentry).unwrap().ino();
    let mut bytes = std::fs::read(&zentry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&zentry, &bytes).unwrap();
    run(&zcache, None);
    assert_ne!(
        std::fs::metadata(&zentry).unwrap().ino(),
        inode,
        "rewritten"
    );
}

/// A program read from a file does not keep the module's bytes: a run with other fuel reads
/// the file again for its variant, runs it when the bytes are the same, and names the file
/// when they changed (never compiling other bytes than the program's).
#[test]
fn a_fuel_variant_of_a_file_program_rereads_the_file_and_checks_it() {
    let t = tempfile::tempdir().unwrap();
    let module = t.path().join("m.wat");
    let source = big_module(50).replace("(i32.const 10)", "(i32.const 20)");
    std::fs::write(&module, &source).unwrap();
    let p = Program::from_file_with(&module, &opts(&t.path().join("c"))).unwrap();
    let fuelled = Sandbox::builder().fuel(1_000_000).build().unwrap();
    assert_eq!(fuelled.run(&p).unwrap().status, Status::Exited(24));
    // Another fuel, after the file changed: refused, naming the file.
    std::fs::write(&module, source.replace("(i32.const 20)", "(i32.const 30)")).unwrap();
    let other = Sandbox::builder().fuel(2_000_000).build().unwrap();
    let e = match other.run(&p) {
        Err(e) => e.to_string(),
        Ok(o) => panic!("ran: {:?}", o.status),
    };
    assert!(
        e.contains("m.wat") && e.contains("changed since the program was loaded"),
        "{e}"
    );
    // The variant already compiled still runs; so does the plain one.
    assert_eq!(fuelled.run(&p).unwrap().status, Status::Exited(24));
    let plain = Sandbox::builder().build().unwrap();
    assert_eq!(plain.run(&p).unwrap().status, Status::Exited(24));
}
