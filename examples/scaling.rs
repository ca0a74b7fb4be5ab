//! Scaling of the filesystem with the size of the work (issue 7's table): files in one
//! directory, directory depth, file size (sparse extension), image entries, host trees
//! (`STRATA_SCALING=host` runs only those; they are made under the temp dir and removed).
//! Prints a markdown
//! table of time per item and resident memory growth, so a step that is worse than linear
//! stands out. Run: `cargo run --release --no-default-features --example scaling`.

use std::sync::Arc;
use std::time::Instant;
use strata::image::{LoadOptions, load_bytes};
use strata::vfs::{NodeId, OpenOptions, SystemClock, Vfs};

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn row(what: &str, n: u64, secs: f64, kib: u64) {
    row_per(what, n, secs, n, kib);
}

/// A row whose time is spread over `items` items (not necessarily `n`).
fn row_per(what: &str, n: u64, secs: f64, items: u64, kib: u64) {
    let per = secs * 1e9 / items.max(1) as f64;
    println!(
        "| {what} | {n} | {:.1} ms | {per:.0} ns | {} KiB |",
        secs * 1e3,
        kib
    );
}

fn files_in_one_dir(n: u64) {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    let before = rss_kib();
    let t = Instant::now();
    let create = OpenOptions {
        create: true,
        exclusive: true,
        ..Default::default()
    };
    for i in 0..n {
        let id = vfs.open(root, format!("f{i}").as_bytes(), create).unwrap();
        vfs.release(id);
    }
    for i in 0..n {
        vfs.stat(root, format!("f{i}").as_bytes(), true).unwrap();
    }
    // A full listing the way a guest does it: pages resumed by cookie.
    let mut cookie = 0;
    let mut seen = 0u64;
    loop {
        let page: Vec<_> = vfs.readdir_iter(root, cookie).unwrap().take(128).collect();
        let Some(last) = page.last() else { break };
        cookie = last.0;
        seen += page.len() as u64;
    }
    assert_eq!(seen, n + 2);
    row(
        "create+stat+readdir, files in one directory",
        n,
        t.elapsed().as_secs_f64(),
        rss_kib().saturating_sub(before),
    );
}

fn depth(d: u64) {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    let path = vec!["d"; d as usize].join("/");
    vfs.mkdir_all(root, &path).unwrap();
    let reps = 20_000 / d.max(1) + 1;
    let t = Instant::now();
    for _ in 0..reps {
        vfs.stat(root, path.as_bytes(), true).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    row(
        "resolve a path of N components (time: one resolve)",
        d,
        secs / reps as f64,
        0,
    );
}

/// A fresh filesystem holding one empty file, `/f`.
fn one_file() -> (Vfs, NodeId) {
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    let opts = OpenOptions {
        create: true,
        ..Default::default()
    };
    let id = vfs.open(root, b"f", opts).unwrap();
    (vfs, id)
}

fn sparse(size: u64) {
    let before = rss_kib();
    let t = Instant::now();
    let (mut vfs, id) = one_file();
    vfs.set_size(id, size).unwrap();
    vfs.write(id, Some(size - 1), b"x").unwrap();
    let mut b = [0u8; 1];
    vfs.read(id, size / 2, &mut b).unwrap();
    assert_eq!(b[0], 0);
    row(
        "sparse extend to N bytes + write at the end",
        size,
        t.elapsed().as_secs_f64(),
        rss_kib().saturating_sub(before),
    );
}

/// Dense contents: `kib` KiB written in 64 KiB chunks, then read back (time per KiB).
fn dense(kib: u64) {
    let before = rss_kib();
    let t = Instant::now();
    let (mut vfs, id) = one_file();
    let size = kib << 10;
    let chunk = vec![0x5au8; (64 << 10).min(size as usize)];
    let mut at = 0;
    while at < size {
        at = vfs.write(id, Some(at), &chunk).unwrap();
    }
    let grown = rss_kib().saturating_sub(before);
    let mut buf = vec![0u8; chunk.len()];
    let (mut at, mut sum) = (0, 0u64);
    while at < size {
        let n = vfs.read(id, at, &mut buf).unwrap();
        sum += u64::from(buf[n - 1]);
        at += n as u64;
    }
    assert_eq!(sum, 0x5a * size.div_ceil(buf.len() as u64));
    row(
        "write then read N KiB in 64 KiB chunks (per KiB)",
        kib,
        t.elapsed().as_secs_f64(),
        grown,
    );
}

fn image(n: u64) {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..n {
        let mut h = tar::Header::new_gnu();
        h.set_size(100);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("d{}/f{i}", i % 100), &[1u8; 100][..])
            .unwrap();
    }
    let data = bytes::Bytes::from(b.into_inner().unwrap());
    let before = rss_kib();
    let t = Instant::now();
    let img = load_bytes(data, &LoadOptions::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    row(
        "load a tar image, entries",
        n,
        secs,
        rss_kib().saturating_sub(before),
    );
    drop(img);
}

/// A host tree of `n` empty files, 100 per directory, under the temp dir.
fn make_host_tree(n: u64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-scaling-{}-{n}", std::process::id()));
    for i in 0..n {
        let d = dir.join(format!("d{}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&d).unwrap();
        }
        std::fs::File::create(d.join(format!("f{i}"))).unwrap();
    }
    dir
}

/// Opens (and so reads) the host file number `i` of a `make_host_tree` tree.
fn open_host_file(vfs: &mut Vfs, root: NodeId, i: u64) {
    let path = format!("d{}/f{i}", i / 100);
    let id = vfs
        .open(root, path.as_bytes(), OpenOptions::default())
        .unwrap();
    vfs.release(id);
}

/// Opens 1,000 of `n` files spread evenly (`open(i)`) and prints the row `work` for `entries`,
/// with the RSS growth since `before` (KiB).
fn open_spread(work: &str, (n, entries, before): (u64, u64, u64), mut open: impl FnMut(u64)) {
    let spread: Vec<u64> = (1..=1000).map(|k| k * n / 1001).collect();
    let t = Instant::now();
    for &i in &spread {
        open(i);
    }
    row_per(
        work,
        entries,
        t.elapsed().as_secs_f64(),
        spread.len() as u64,
        rss_kib().saturating_sub(before),
    );
}

/// Importing a host tree of `n` entries: the start (import and the first open), then opening
/// 1,000 files spread over the tree (each in a directory not read yet), then every file.
fn host_tree(n: u64) {
    let dir = make_host_tree(n);
    let entries = n + n.div_ceil(100);
    let before = rss_kib();
    let t = Instant::now();
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    strata::image::host::import_dir(&mut vfs, root, &dir).unwrap();
    open_host_file(&mut vfs, root, 0);
    let start = t.elapsed().as_secs_f64();
    row_per(
        "host tree of N entries: import + first open (per item: per entry)",
        entries,
        start,
        entries,
        rss_kib().saturating_sub(before),
    );
    open_spread(
        "host tree of N entries: then open 1,000 files spread over it (per file)",
        (n, entries, before),
        |i| open_host_file(&mut vfs, root, i),
    );
    let t = Instant::now();
    for i in 0..n {
        open_host_file(&mut vfs, root, i);
    }
    row_per(
        "host tree of N entries: then open every file (per file)",
        entries,
        t.elapsed().as_secs_f64(),
        n,
        rss_kib().saturating_sub(before),
    );
    drop(vfs);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One host directory of `n` empty files: the first open of one of them (the listing, and
/// that entry's attributes), then 1,000 more opened one by one (per file).
fn host_flat_dir(n: u64) {
    let dir = std::env::temp_dir().join(format!("strata-scaling-flat-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        std::fs::File::create(dir.join(format!("f{i}"))).unwrap();
    }
    let open = |vfs: &mut Vfs, root: NodeId, i: u64| {
        let id = vfs
            .open(root, format!("f{i}").as_bytes(), OpenOptions::default())
            .unwrap();
        vfs.release(id);
    };
    let before = rss_kib();
    let t = Instant::now();
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    strata::image::host::import_dir(&mut vfs, root, &dir).unwrap();
    open(&mut vfs, root, n / 2);
    row(
        "host directory of N files: import + open one",
        n,
        t.elapsed().as_secs_f64(),
        rss_kib().saturating_sub(before),
    );
    open_spread(
        "host directory of N files: then open 1,000 of them (per file)",
        (n, n, before),
        |i| open(&mut vfs, root, i),
    );
    drop(vfs);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    println!("| work | N | time | per item | RSS growth |");
    println!("|---|---|---|---|---|");
    if std::env::var("STRATA_SCALING").is_ok_and(|v| v == "host") {
        for n in [1_000, 10_000, 100_000, 1_000_000] {
            host_tree(n);
        }
        for n in [1_000, 10_000, 100_000, 1_000_000] {
            host_flat_dir(n);
        }
        return;
    }
    for n in [1_000, 10_000, 100_000, 1_000_000] {
        files_in_one_dir(n);
    }
    for d in [1, 10, 100, 1000] {
        depth(d);
    }
    for s in [1u64 << 10, 1 << 20, 1 << 30, 4 << 30] {
        sparse(s);
    }
    for kib in [1, 1 << 10, 1 << 16, 1 << 20, 4 << 20] {
        dense(kib);
    }
    for n in [1_000, 10_000, 100_000] {
        image(n);
    }
    for n in [1_000, 10_000, 100_000, 1_000_000] {
        host_tree(n);
    }
    for n in [1_000, 10_000, 100_000, 1_000_000] {
        host_flat_dir(n);
    }
}
