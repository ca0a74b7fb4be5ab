//! Loads a tar / tar.gz image and prints how long it took and what it cost in memory.
//!
//! `cargo run --release --no-default-features --example mount_image -- IMAGE [REPEATS]`

use std::time::Instant;
use strata::image::{LoadOptions, load_path};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_ms() -> f64 {
    // SAFETY: rusage is plain data (all-zero is valid); getrusage writes one through a
    // valid pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: mount_image IMAGE [REPEATS]");
    let repeats: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(1);
    let before_anon = status_kib("RssAnon:");
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut image = None;
    for _ in 0..repeats {
        drop(image.take());
        let (t, c) = (Instant::now(), cpu_ms());
        let opts = LoadOptions {
            parallel: std::env::var_os("SEQUENTIAL").is_none(),
            ..Default::default()
        };
        let img = load_path(&path, &opts).expect("load");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - c);
        image = Some(img);
    }
    let img = image.unwrap();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let s = img.stats;
    println!(
        "{path}: gzip={} tar={} B files={} dirs={} implicit={} symlinks={} hardlinks={} inodes={}",
        s.gzip,
        s.tar_bytes,
        s.files,
        s.dirs,
        s.implicit_dirs,
        s.symlinks,
        s.hard_links,
        img.fs.inode_count()
    );
    println!(
        "load ms: wall min {:.1} median {:.1} max {:.1}; cpu (user+sys) min {:.1} median {:.1} ({} runs)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        cpu[0],
        cpu[cpu.len() / 2],
        times.len()
    );
    // SAFETY: rusage is plain data (all-zero is valid); getrusage writes one through a
    // valid pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    println!(
        "peak RSS (ru_maxrss) {} KiB; now: RssAnon {} KiB (+{} KiB since start), RssFile {} KiB, VmHWM {} KiB",
        ru.ru_maxrss,
        status_kib("RssAnon:"),
        status_kib("RssAnon:").saturating_sub(before_anon),
        status_kib("RssFile:"),
        status_kib("VmHWM:")
    );
    // Like a CLI run that ends: the process exits without freeing the tree piece by piece.
    std::mem::forget(img);
}
