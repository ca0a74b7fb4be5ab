//! The filesystem workloads of `benches/peers.rs`.
//!
//! Built twice from this one source: for `wasm32-wasip1` (`build.sh`, committed as
//! `workload.wasm`), run by strata and the other WASI runtimes, and natively, run on tmpfs as
//! the reference. Each subcommand times only its own work with `std::time::Instant` and prints
//! one line,
//!
//! ```text
//! workload <cmd> ms=<float> sum=<16 hex digits>
//! ```
//!
//! where `sum` is computed from what the filesystem gave back (sizes, names, contents), so a
//! runtime that skipped or corrupted the work shows a different sum. Sums do not depend on
//! readdir order, file descriptor numbers or where DIR is, so every runtime prints the same.
//!
//! ```text
//! workload startup                   nothing (process start and exit)
//! workload create N DIR              N files of 100 bytes in a new subdirectory: create,
//!                                    stat each, list the directory, unlink each, rmdir
//! workload seqio MB DIR              write MB MiB to one file in 64 KiB chunks, fsync,
//!                                    close, reopen, read it back in 64 KiB chunks, unlink
//! workload deepopen DEPTH N DIR      a DEPTH-deep directory chain with a file at the bottom,
//!                                    then open and close that file by its path N times
//! workload smallread DIR             walk DIR, reading every regular file to the end
//! ```
//!
//! `create`, `seqio` and `deepopen` first create DIR (and its parents) if missing, outside the
//! timed part, so an in-memory runtime can be given a path that does not exist yet.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::exit;
use std::time::Instant;

/// Read and write granularity of `seqio`.
const CHUNK: usize = 64 * 1024;
/// Starting value of every sum.
const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// Folds `v` into the running sum `h` (order-sensitive).
fn fold(h: u64, v: u64) -> u64 {
    let x = (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 31)
}

fn fold_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = fold(h, u64::from_le_bytes(w.try_into().unwrap()));
    }
    for &b in words.remainder() {
        h = fold(h, u64::from(b));
    }
    fold(h, bytes.len() as u64)
}

/// A cheap digest of a file's contents: its length, one 8-byte word every 512 bytes and the
/// last bytes. Enough to catch missing or misplaced data without the hashing dominating the
/// time of a workload that is meant to measure the filesystem.
fn digest(data: &[u8]) -> u64 {
    if data.len() < 64 {
        return fold_bytes(SEED, data);
    }
    let mut h = fold(SEED, data.len() as u64);
    let mut at = 0;
    while at + 8 <= data.len() {
        h = fold(h, u64::from_le_bytes(data[at..at + 8].try_into().unwrap()));
        at += 512;
    }
    fold_bytes(h, &data[data.len() - 8..])
}

fn fail(msg: std::fmt::Arguments) -> ! {
    eprintln!("workload: {msg}");
    exit(1)
}

/// `result` or exit with `what` and the error.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: std::fmt::Arguments) -> T {
    result.unwrap_or_else(|e| fail(format_args!("{what}: {e}")))
}

fn print_result(cmd: &str, ms: f64, sum: u64) {
    let mut out = std::io::stdout().lock();
    ok(
        writeln!(out, "workload {cmd} ms={ms:.3} sum={sum:016x}").and_then(|()| out.flush()),
        format_args!("writing the result"),
    );
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Creates `dir` with its parents (untimed setup).
fn ensure_dir(dir: &Path) {
    ok(
        fs::create_dir_all(dir),
        format_args!("mkdir -p {}", dir.display()),
    );
}

/// Removes what a previous, interrupted run may have left at `path` (untimed setup).
fn remove_leftover(path: &Path) {
    if let Ok(meta) = fs::symlink_metadata(path) {
        let removed = if meta.is_dir() {
            fs::remove_dir_all(path)
        } else {
            fs::remove_file(path)
        };
        ok(
            removed,
            format_args!("removing leftover {}", path.display()),
        );
    }
}

fn create(n: u64, dir: &Path) -> (f64, u64) {
    ensure_dir(dir);
    let sub = dir.join("create");
    remove_leftover(&sub);
    let paths: Vec<PathBuf> = (0..n).map(|i| sub.join(format!("file{i:06}"))).collect();
    let mut body = [0u8; 100];

    let start = Instant::now();
    ok(
        fs::create_dir(&sub),
        format_args!("mkdir {}", sub.display()),
    );
    for (i, path) in paths.iter().enumerate() {
        body[..8].copy_from_slice(&(i as u64).to_le_bytes());
        body[99] = b'\n';
        let mut file = ok(
            File::create(path),
            format_args!("create {}", path.display()),
        );
        ok(
            file.write_all(&body),
            format_args!("write {}", path.display()),
        );
    }
    let mut sum = SEED;
    for path in &paths {
        let meta = ok(fs::metadata(path), format_args!("stat {}", path.display()));
        sum = fold(sum, meta.len() ^ (u64::from(meta.is_file()) << 63));
    }
    // Listing order is the runtime's business: the names are summed, not folded in order.
    let (mut listed, mut names) = (0u64, 0u64);
    for entry in ok(
        fs::read_dir(&sub),
        format_args!("readdir {}", sub.display()),
    ) {
        let entry = ok(entry, format_args!("readdir {}", sub.display()));
        listed += 1;
        names = names.wrapping_add(fold_bytes(SEED, entry.file_name().as_encoded_bytes()));
    }
    for path in &paths {
        ok(
            fs::remove_file(path),
            format_args!("unlink {}", path.display()),
        );
    }
    ok(
        fs::remove_dir(&sub),
        format_args!("rmdir {}", sub.display()),
    );
    let ms = millis(start);

    if listed != n {
        fail(format_args!(
            "readdir listed {listed} entries, {n} files were created"
        ));
    }
    (ms, fold(fold(sum, names), listed))
}

fn seqio(mib: u64, dir: &Path) -> (f64, u64) {
    ensure_dir(dir);
    let path = dir.join("seqio.bin");
    remove_leftover(&path);
    let chunks = mib * (1 << 20) / CHUNK as u64;
    let mut out: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; CHUNK];

    let start = Instant::now();
    let mut file = ok(
        File::create(&path),
        format_args!("create {}", path.display()),
    );
    for c in 0..chunks {
        // Every chunk differs: its number at the start, middle and end.
        for at in [0, CHUNK / 2, CHUNK - 8] {
            out[at..at + 8].copy_from_slice(&c.to_le_bytes());
        }
        ok(
            file.write_all(&out),
            format_args!("write {}", path.display()),
        );
    }
    ok(file.sync_all(), format_args!("fsync {}", path.display()));
    drop(file);
    let mut file = ok(File::open(&path), format_args!("open {}", path.display()));
    let mut sum = SEED;
    for _ in 0..chunks {
        ok(
            file.read_exact(&mut back),
            format_args!("read {}", path.display()),
        );
        sum = fold(sum, digest(&back));
    }
    if ok(
        file.read(&mut back),
        format_args!("read {}", path.display()),
    ) != 0
    {
        fail(format_args!(
            "{} is longer than what was written",
            path.display()
        ));
    }
    drop(file);
    ok(
        fs::remove_file(&path),
        format_args!("unlink {}", path.display()),
    );
    let ms = millis(start);
    (ms, fold(sum, chunks))
}

fn deepopen(depth: u64, n: u64, dir: &Path) -> (f64, u64) {
    ensure_dir(dir);
    let top = dir.join("deep");
    remove_leftover(&top);
    let mut leaf = top.clone();
    for level in 0..depth {
        leaf.push(format!("d{level:02}"));
    }
    let chain = leaf.clone();
    leaf.push("leaf.txt");

    let start = Instant::now();
    ok(
        fs::create_dir_all(&chain),
        format_args!("mkdir -p {}", chain.display()),
    );
    ok(
        fs::write(&leaf, b"at the bottom\n"),
        format_args!("write {}", leaf.display()),
    );
    let mut opened = 0u64;
    for _ in 0..n {
        let file = ok(File::open(&leaf), format_args!("open {}", leaf.display()));
        opened += 1;
        drop(file);
    }
    let contents = ok(fs::read(&leaf), format_args!("read {}", leaf.display()));
    let ms = millis(start);

    ok(
        fs::remove_dir_all(&top),
        format_args!("rm -r {}", top.display()),
    );
    (ms, fold(fold(fold_bytes(SEED, &contents), opened), depth))
}

/// What `smallread` collects: every regular file's path below the walked directory and the
/// digest of its contents, and the number of directories.
struct Tree {
    files: Vec<(String, u64)>,
    dirs: u64,
    buf: Vec<u8>,
}

fn walk(dir: &Path, rel: &str, tree: &mut Tree) {
    tree.dirs += 1;
    for entry in ok(fs::read_dir(dir), format_args!("readdir {}", dir.display())) {
        let entry = ok(entry, format_args!("readdir {}", dir.display()));
        let kind = ok(
            entry.file_type(),
            format_args!("file type in {}", dir.display()),
        );
        let name = entry.file_name();
        let rel = format!("{rel}/{}", name.to_string_lossy());
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, &rel, tree);
        } else if kind.is_file() {
            tree.buf.clear();
            let mut file = ok(File::open(&path), format_args!("open {}", path.display()));
            ok(
                file.read_to_end(&mut tree.buf),
                format_args!("read {}", path.display()),
            );
            tree.files.push((rel, digest(&tree.buf)));
        }
        // Symlinks and special files are left alone.
    }
}

fn smallread(dir: &Path) -> (f64, u64) {
    let mut tree = Tree {
        files: Vec::new(),
        dirs: 0,
        buf: Vec::with_capacity(1 << 20),
    };
    let start = Instant::now();
    walk(dir, "", &mut tree);
    tree.files.sort_unstable();
    let mut sum = fold(SEED, tree.dirs);
    for (path, contents) in &tree.files {
        sum = fold(fold_bytes(sum, path.as_bytes()), *contents);
    }
    let ms = millis(start);
    (ms, fold(sum, tree.files.len() as u64))
}

fn usage() -> ! {
    eprintln!(
        "usage: workload startup | create N DIR | seqio MB DIR | deepopen DEPTH N DIR | smallread DIR"
    );
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { usage() };
    let number = |i: usize| -> u64 {
        let Some(text) = args.get(i) else { usage() };
        text.parse()
            .unwrap_or_else(|_| fail(format_args!("not a number: {text:?}")))
    };
    let path = |i: usize| -> PathBuf { args.get(i).map(PathBuf::from).unwrap_or_else(|| usage()) };
    let (ms, sum) = match (cmd.as_str(), args.len()) {
        ("startup", 1) => (0.0, 0),
        ("create", 3) => create(number(1), &path(2)),
        ("seqio", 3) => seqio(number(1), &path(2)),
        ("deepopen", 4) => deepopen(number(1), number(2), &path(3)),
        ("smallread", 2) => smallread(&path(1)),
        _ => usage(),
    };
    print_result(cmd, ms, sum);
}
