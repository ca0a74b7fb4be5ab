//! Writes the seed corpora `corpus/<target>/` (run from `fuzz/`: `cargo run --example
//! gen_seeds`; it replaces the `seed-*` files and leaves any other file alone).
//!
//! - `tar_image`: hand-made archives (ustar, pax, GNU long names, links, whiteouts, devices,
//!   hostile names, duplicates, truncations, base-256 numbers, gzip members and bombs) and
//!   the preset images `fs-images/*.tar`, each after its options byte;
//! - the structured targets: byte strings from a fixed-seed generator, kept when they show
//!   an outcome (a call's success or errno, a resolution's result kind) that no earlier seed
//!   showed, up to `MAX_SEEDS` per target.
//!
//! `cargo run --example gen_seeds -- distill TARGET DIR [MAX]` adds to `corpus/TARGET/` the
//! files of DIR (a campaign's working corpus), smallest first, that show outcomes the corpus
//! does not (at most MAX, default `MAX_SEEDS`), named `distilled-*`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use strata_fuzz::{overlay, resolve_path, syscalls, tar_image};

const MAX_SEEDS: usize = 30;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, target, from, rest @ ..] = &args[..]
        && cmd == "distill"
    {
        let max = rest
            .first()
            .map_or(MAX_SEEDS, |m| m.parse().expect("a number"));
        distill(
            &corpus.join(target),
            features_of(target),
            Path::new(from),
            max,
        );
        return;
    }
    assert!(
        args.is_empty(),
        "usage: gen_seeds [distill TARGET FROM_DIR [MAX]]"
    );
    tar_seeds(&fresh(&corpus, "tar_image"));
    structured(
        &corpus,
        "resolve_path",
        resolve_path::features,
        1,
        60_000,
        MAX_SEEDS,
    );
    // Room for each of the fixed escape attempts too.
    structured(&corpus, "syscalls", syscalls::features, 2, 20_000, 60);
    structured(&corpus, "overlay", overlay::features, 3, 6_000, MAX_SEEDS);
}

fn features_of(target: &str) -> fn(&[u8]) -> Vec<String> {
    match target {
        "resolve_path" => resolve_path::features,
        "tar_image" => tar_image::features,
        "syscalls" => syscalls::features,
        "overlay" => overlay::features,
        _ => panic!("no target {target}"),
    }
}

/// Adds to the corpus `dir` (as `distilled-*`) files of `from` (a campaign's working
/// corpus), smallest first, that show outcomes none of the corpus's files shows, up to `max`.
fn distill(dir: &Path, features: fn(&[u8]) -> Vec<String>, from: &Path, max: usize) {
    let read = |d: &Path| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = std::fs::read_dir(d)
            .map(|it| {
                it.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        v
    };
    let mut seen: HashSet<String> = HashSet::new();
    for data in read(dir) {
        seen.extend(features(&data));
    }
    let mut kept = 0;
    for data in read(from) {
        if kept == max {
            break;
        }
        let f = features(&data);
        if f.iter().any(|x| !seen.contains(x)) {
            seen.extend(f);
            let path = dir.join(format!("distilled-{:016x}", hash(&data)));
            std::fs::write(path, &data).expect("writing a seed");
            kept += 1;
        }
    }
    println!(
        "{}: {kept} distilled, {} outcomes",
        dir.display(),
        seen.len()
    );
}

/// The target's corpus directory, without its old `seed-*` files.
fn fresh(corpus: &Path, target: &str) -> PathBuf {
    let dir = corpus.join(target);
    std::fs::create_dir_all(&dir).expect("creating the corpus directory");
    for e in std::fs::read_dir(&dir).expect("listing the corpus") {
        let p = e.expect("listing the corpus").path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            std::fs::remove_file(p).expect("removing an old seed");
        }
    }
    dir
}

/// FNV-1a, for naming seeds by content.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn save(dir: &Path, data: &[u8]) {
    let path = dir.join(format!("seed-{:016x}", hash(data)));
    std::fs::write(path, data).expect("writing a seed");
}

/// xorshift64*: a fixed sequence, so the corpus is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn structured(
    corpus: &Path,
    target: &str,
    features: fn(&[u8]) -> Vec<String>,
    seed: u64,
    tries: usize,
    max: usize,
) {
    let dir = fresh(corpus, target);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
    let mut seen: HashSet<String> = HashSet::new();
    let mut kept = 0;
    for _ in 0..tries {
        let len = 16 + (rng.next() % 500) as usize;
        let data: Vec<u8> = (0..len).map(|_| (rng.next() >> 56) as u8).collect();
        let f = match std::panic::catch_unwind(|| features(&data)) {
            Ok(f) => f,
            Err(_) => {
                let path =
                    std::env::temp_dir().join(format!("{target}-crash-{:016x}", hash(&data)));
                std::fs::write(&path, &data).expect("writing a crash");
                eprintln!(
                    "{target}: invariant broken, input saved as {}",
                    path.display()
                );
                continue;
            }
        };
        if f.iter().any(|x| !seen.contains(x)) {
            seen.extend(f);
            save(&dir, &data);
            kept += 1;
            if kept == max {
                break;
            }
        }
    }
    println!("{target}: {kept} seeds, {} outcomes", seen.len());
}

// ---------------------------------------------------------------------------------------
// Tar archives, written by hand so that hostile ones can be made too.

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}", v, w = field.len() - 1);
    let s = &s.as_bytes()[s.len() - (field.len() - 1)..];
    field[..s.len()].copy_from_slice(s);
    field[field.len() - 1] = 0;
}

fn checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

fn header(name: &[u8], kind: u8, size: u64, link: &[u8], mode: u32, mtime: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    checksum(&mut h);
    h
}

#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn raw(&mut self, h: [u8; 512], data: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&h);
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    fn member(&mut self, name: &str, kind: u8, data: &[u8], link: &str) -> &mut Self {
        let h = header(
            name.as_bytes(),
            kind,
            data.len() as u64,
            link.as_bytes(),
            0o644,
            1_700_000_000,
        );
        self.raw(h, data)
    }
    fn dir(&mut self, name: &str) -> &mut Self {
        let h = header(name.as_bytes(), b'5', 0, b"", 0o755, 1_700_000_000);
        self.raw(h, b"")
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.member(name, b'0', data, "")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.member(name, b'2', b"", target)
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.member(name, b'1', b"", target)
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body + 1;
            while format!("{len}").len() + body != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let h = header(b"././@PaxHeader", b'x', data.len() as u64, b"", 0o644, 0);
        self.raw(h, &data)
    }
    fn gnu_long(&mut self, kind: u8, name: &[u8]) -> &mut Self {
        let mut data = name.to_vec();
        data.push(0);
        let h = header(b"././@LongLink", kind, data.len() as u64, b"", 0o644, 0);
        self.raw(h, &data)
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.0);
        v.extend(std::iter::repeat_n(0u8, 1024));
        v
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn with_flags(flags: u8, tar: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(tar);
    v
}

fn tar_seeds(dir: &Path) {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let mut add = |flags: u8, tar: Vec<u8>| seeds.push(with_flags(flags, &tar));

    let basic = Tar::default()
        .dir("./")
        .dir("etc/")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .hardlink("etc/passwd.hard", "etc/passwd")
        .symlink("bin", "usr/bin")
        .symlink("lib", "/usr/lib")
        .file("usr/lib/libc.so", b"\x7fELF")
        .file("/abs/name", b"absolute")
        .file("./dot/./slash//name", b"normalised")
        .finish();
    add(0, basic.clone());
    add(2, basic.clone());
    add(3, basic);

    let long = "d".repeat(120) + "/" + &"f".repeat(90);
    add(
        2,
        Tar::default()
            .pax(&[
                ("path", long.as_bytes()),
                ("mtime", b"1234.5678"),
                ("atime", b"99"),
            ])
            .file("short-name", b"pax")
            .pax(&[("linkpath", "t".repeat(150).as_bytes())])
            .symlink("longlink", "x")
            .pax(&[("size", b"3")])
            .file("sized", b"abcdef")
            .finish(),
    );
    add(
        0,
        Tar::default()
            .gnu_long(b'L', "g".repeat(200).as_bytes())
            .file("ignored", b"gnu")
            .gnu_long(b'K', "k".repeat(150).as_bytes())
            .symlink("gnu-link", "ignored")
            .finish(),
    );
    add(
        1,
        Tar::default()
            .dir("a/")
            .file("a/b", b"lower")
            .file("a/.wh.c", b"")
            .file(".wh..wh..opq", b"")
            .file("d/.wh..wh..opq", b"")
            .file("e", b"upper")
            .finish(),
    );
    add(1, Tar::default().file("x/.wh..", b"").finish());
    add(1, Tar::default().file(".wh.x/y", b"").finish());
    for hostile in [
        Tar::default().file("../evil", b"x").finish(),
        Tar::default().file("a/../../evil", b"x").finish(),
        Tar::default()
            .symlink("link", "/etc")
            .file("link/passwd", b"x")
            .finish(),
        Tar::default().file("f", b"x").file("f/g", b"x").finish(),
        Tar::default().hardlink("h", "../outside").finish(),
        Tar::default().hardlink("h", "missing").finish(),
        Tar::default().dir("d/").hardlink("h", "d").finish(),
        Tar::default().symlink("empty-target", "").finish(),
        Tar::default()
            .pax(&[("path", b"nul\0name")])
            .file("x", b"")
            .finish(),
        Tar::default()
            .raw(header(b"bad\xffutf8", b'0', 0, b"", 0o644, 0), b"")
            .finish(),
        Tar::default()
            .file(&"c".repeat(99), b"")
            .pax(&[("path", "c".repeat(256).as_bytes())])
            .file("y", b"")
            .finish(),
        Tar::default().file("", b"").finish(),
        Tar::default().symlink("./", "x").finish(),
    ] {
        add(0, hostile);
    }
    add(
        0,
        Tar::default()
            .file("dup", b"one")
            .file("dup", b"two")
            .dir("dup/")
            .file("dup/inner", b"in")
            .dir("dup/")
            .dir("empty/")
            .file("empty", b"replaces an empty dir")
            .dir("full/")
            .file("full/x", b"")
            .file("full", b"refused")
            .finish(),
    );
    add(
        2,
        Tar::default()
            .member("chr", b'3', b"", "")
            .member("blk", b'4', b"", "")
            .member("fifo", b'6', b"", "")
            .member("label", b'V', b"", "")
            .member("unknown", b'Z', b"", "")
            .raw(header(b"old-style-dir/", b'0', 0, b"", 0o755, 0), b"")
            .raw(header(b"nul-type", 0, 2, b"", 0o644, 0), b"ok")
            .finish(),
    );
    add(0, Tar::default().member("sparse", b'S', b"", "").finish());
    let mut g = Tar::default();
    g.pax(&[("comment", b"global")]);
    let mut global = g.finish();
    global[156] = b'g';
    let mut hh = [0u8; 512];
    hh.copy_from_slice(&global[..512]);
    checksum(&mut hh);
    global[..512].copy_from_slice(&hh);
    add(0, global);
    // Truncations and corruption.
    let t = Tar::default().file("data", &[7u8; 2000]).finish();
    add(0, t[..1200].to_vec());
    add(0, t[..300].to_vec());
    add(2, t[..2560].to_vec());
    let mut bad = t.clone();
    bad[0] ^= 1;
    add(0, bad);
    // Base-256 size and mtime.
    let mut h = header(b"b256", b'0', 0, b"", 0o644, 0);
    h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
    h[136..148].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    checksum(&mut h);
    add(0, Tar::default().raw(h, b"b256").finish());
    // The preset images, plain, gzipped by the target, gzipped in the input.
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fs-images");
    for name in ["demo.tar", "base.tar"] {
        let tar = std::fs::read(images.join(name)).expect("reading a preset image");
        add(0, tar.clone());
        add(2, tar.clone());
        if name == "demo.tar" {
            add(0, gzip(&tar));
            let mut two = gzip(&tar[..4096]);
            two.extend(gzip(&tar[4096..]));
            two.extend([0u8; 10]);
            add(0, two);
            let mut trailing = gzip(&tar);
            trailing.extend(b"garbage");
            add(0, trailing);
        }
    }
    // A gzip bomb: beyond the target's 1 MiB limit.
    add(0, gzip(&vec![0u8; 2 << 20]));
    add(0, Vec::new());
    add(0, b"BZh91AY&SY".to_vec());

    for s in &seeds {
        save(dir, s);
    }
    println!("tar_image: {} seeds", seeds.len());
}
