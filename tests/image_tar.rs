//! Tar / tar.gz images: every format feature, every hostile case (exact error variant or exact
//! normalised result), zero-copy loading, gzip detection, export round trips and
//! reproducibility. Archives are built here, either with the `tar` crate or header by header
//! (raw bytes) for what no well-behaved writer produces.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::sync::Arc;
use strata::image::{
    EntryProblem, ExportOptions, ImageError, Limits, LoadOptions, export_memfs, export_vfs,
    load_bytes, load_path, load_reader,
};
use strata::vfs::dir::Ino;
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::node::NodeKind;
use strata::vfs::{FileData, FileType, MemFs, SetTime, SteppingClock, Vfs};

// ---------------------------------------------------------------------------------------------
// Building archives

/// A tar stream assembled header by header; nothing is validated.
#[derive(Default)]
struct Tar(Vec<u8>);

fn header(name: &[u8], flag: u8, size: u64, link: &[u8], mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        old.linkflag = [flag];
    }
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_cksum();
    h
}

impl Tar {
    fn raw(&mut self, h: &tar::Header, data: &[u8]) -> &mut Self {
        self.0.extend_from_slice(h.as_bytes());
        self.data(data)
    }
    fn data(&mut self, data: &[u8]) -> &mut Self {
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.file_mode(name, data, 0o644, 1_000_000)
    }
    fn file_mode(&mut self, name: &str, data: &[u8], mode: u32, mtime: u64) -> &mut Self {
        let h = header(name.as_bytes(), b'0', data.len() as u64, b"", mode, mtime);
        self.raw(&h, data)
    }
    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let h = header(name.as_bytes(), b'5', 0, b"", mode, 2_000_000);
        self.raw(&h, b"")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let h = header(
            name.as_bytes(),
            b'2',
            0,
            target.as_bytes(),
            0o777,
            3_000_000,
        );
        self.raw(&h, b"")
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let h = header(
            name.as_bytes(),
            b'1',
            0,
            target.as_bytes(),
            0o644,
            4_000_000,
        );
        self.raw(&h, b"")
    }
    fn typed(&mut self, name: &[u8], flag: u8) -> &mut Self {
        let h = header(name, flag, 0, b"", 0o644, 0);
        self.raw(&h, b"")
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let base = k.len() + v.len() + 3;
            let mut len = base + base.to_string().len();
            if len.to_string().len() + base != len {
                len = base + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let h = header(b"PaxHeaders/x", b'x', body.len() as u64, b"", 0o644, 0);
        self.raw(&h, &body)
    }
    fn gnu_long(&mut self, flag: u8, name: &[u8]) -> &mut Self {
        let mut body = name.to_vec();
        body.push(0);
        let h = header(b"././@LongLink", flag, body.len() as u64, b"", 0o644, 0);
        self.raw(&h, &body)
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.0);
        v.extend_from_slice(&[0u8; 1024]);
        v
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Inspecting the result

fn load(data: Vec<u8>) -> strata::image::Image {
    load_bytes(Bytes::from(data), &LoadOptions::default()).expect("loads")
}

fn load_err(data: Vec<u8>) -> ImageError {
    load_bytes(Bytes::from(data), &LoadOptions::default()).expect_err("must be rejected")
}

/// The problem and entry name of a per-member error.
fn problem(e: &ImageError) -> (&str, &EntryProblem) {
    match e {
        ImageError::Entry { entry, problem, .. } => (entry, problem),
        other => panic!("expected an entry error, got {other:?}"),
    }
}

fn lookup(fs: &MemFs, path: &str) -> Option<Ino> {
    let mut cur = ROOT_INO;
    for c in path.split('/').filter(|c| !c.is_empty()) {
        cur = fs.lookup(cur, c).ok()??;
    }
    Some(cur)
}

fn ino(fs: &MemFs, path: &str) -> Ino {
    lookup(fs, path).unwrap_or_else(|| panic!("{path} is missing"))
}

fn content(fs: &MemFs, path: &str) -> Vec<u8> {
    let i = ino(fs, path);
    let mut buf = vec![0u8; fs.stat(i).unwrap().size as usize];
    assert_eq!(fs.read(i, 0, &mut buf).unwrap(), buf.len());
    buf
}

fn kind(fs: &MemFs, path: &str) -> FileType {
    fs.stat(ino(fs, path)).unwrap().filetype
}

/// Every path with its type, mode, mtime, contents / target and hard-link group, sorted.
fn listing(fs: &MemFs) -> Vec<String> {
    let mut out = Vec::new();
    let mut first: std::collections::HashMap<Ino, String> = Default::default();
    let mut stack = vec![(String::new(), ROOT_INO)];
    let st = fs.stat(ROOT_INO).unwrap();
    out.push(format!("/ dir {:o} {}", st.mode, st.mtim));
    while let Some((p, dir)) = stack.pop() {
        let d = fs.dir(dir).unwrap();
        for (name, i) in d.entries.iter() {
            let path = format!("{p}/{name}");
            let st = fs.stat(i).unwrap();
            let desc = match &fs.node(i).unwrap().kind {
                NodeKind::Dir(_) => {
                    stack.push((path.clone(), i));
                    "dir".to_string()
                }
                NodeKind::File(f) => {
                    let mut v = vec![0; f.len() as usize];
                    f.read_at(0, &mut v);
                    let sum: u64 = v.iter().map(|&b| u64::from(b)).sum();
                    format!(
                        "file len={} sum={sum} {:x?}",
                        v.len(),
                        &v[..v.len().min(64)]
                    )
                }
                NodeKind::Symlink(t) => format!("symlink -> {t}"),
            };
            let link = if st.filetype != FileType::Directory && st.nlink > 1 {
                first.entry(i).or_insert_with(|| path.clone()).clone()
            } else {
                String::new()
            };
            out.push(format!(
                "{path} {desc} {:o} {} nlink={} {link}",
                st.mode, st.mtim, st.nlink
            ));
        }
    }
    out.sort();
    // Hard-link groups are named by their first path in sorted order.
    out
}

// ---------------------------------------------------------------------------------------------
// Formats

#[test]
fn ustar_basics_modes_times_links() {
    let img = load(
        Tar::default()
            .dir("etc/", 0o750)
            .file_mode("etc/motd", b"hello", 0o4755, 1234)
            .symlink("etc/link", "motd")
            .hardlink("etc/hard", "etc/motd")
            .finish(),
    );
    let fs = &img.fs;
    assert!(fs.is_readonly());
    assert_eq!(content(fs, "etc/motd"), b"hello");
    let st = fs.stat(ino(fs, "etc/motd")).unwrap();
    assert_eq!(st.mode, 0o4755);
    assert_eq!(st.mtim, 1234 * 1_000_000_000);
    assert_eq!(st.atim, st.mtim);
    // Adding the hard link changed the inode: its ctime is the link member's time.
    assert_eq!(st.ctim, 4_000_000 * 1_000_000_000);
    assert_eq!(st.nlink, 2);
    assert_eq!(ino(fs, "etc/hard"), ino(fs, "etc/motd"));
    assert_eq!(&*fs.readlink(ino(fs, "etc/link")).unwrap(), "motd");
    let d = fs.stat(ino(fs, "etc")).unwrap();
    assert_eq!((d.mode, d.mtim), (0o750, 2_000_000 * 1_000_000_000));
    let s = img.stats;
    assert_eq!((s.files, s.dirs, s.symlinks, s.hard_links), (1, 1, 1, 1));
    assert!(s.end_marker);
    assert!(!s.gzip);
}

#[test]
fn ustar_prefix_field_holds_long_names() {
    let dir = "d".repeat(120);
    let full = format!("{dir}/file.txt");
    let mut h = header(b"file.txt", b'0', 2, b"", 0o644, 0);
    h.as_ustar_mut().unwrap().prefix[..120].copy_from_slice(dir.as_bytes());
    h.set_cksum();
    let img = load(Tar::default().raw(&h, b"hi").finish());
    assert_eq!(content(&img.fs, &full), b"hi");
    assert_eq!(img.stats.implicit_dirs, 1);
}

#[test]
fn pax_path_linkpath_size_mtime_override_the_header() {
    let long = format!("{}/{}", "a".repeat(200), "b".repeat(200));
    let target = format!("{}/t", "c".repeat(150));
    let img = load(
        Tar::default()
            .pax(&[
                ("path", long.as_bytes()),
                ("mtime", b"1700000000.123456789"),
            ])
            .file("short-name-ignored", b"data")
            .pax(&[("linkpath", target.as_bytes()), ("path", b"sym")])
            .symlink("ignored", "ignored")
            .finish(),
    );
    let fs = &img.fs;
    assert_eq!(content(fs, &long), b"data");
    assert!(lookup(fs, "short-name-ignored").is_none());
    let st = fs.stat(ino(fs, &long)).unwrap();
    assert_eq!(st.mtim, 1_700_000_000_123_456_789);
    assert_eq!(*fs.readlink(ino(fs, "sym")).unwrap(), *target);
}

#[test]
fn pax_size_wins_over_the_header_size() {
    // The header claims 512 bytes of data, pax says 0: the 512 bytes are the next header
    // (what GNU tar does). A reader trusting the header would see `a` holding that block.
    let inner = header(b"b", b'0', 3, b"", 0o644, 0);
    let mut t = Tar::default();
    t.pax(&[("size", b"0")]);
    t.raw(&header(b"a", b'0', 512, b"", 0o644, 0), inner.as_bytes());
    t.data(b"xyz");
    let img = load(t.finish());
    assert_eq!(content(&img.fs, "a"), b"");
    assert_eq!(content(&img.fs, "b"), b"xyz");

    // And a larger pax size takes data past the header's size.
    let mut t = Tar::default();
    t.pax(&[("size", b"5")]);
    t.raw(&header(b"c", b'0', 1, b"", 0o644, 0), b"12345");
    let img = load(t.finish());
    assert_eq!(content(&img.fs, "c"), b"12345");
}

#[test]
fn pax_values_may_hold_newlines_and_empty_values_unset() {
    let img = load(
        Tar::default()
            .pax(&[("path", b"new\nline"), ("comment", b"x\ny"), ("uname", b"")])
            .file("x", b"1")
            .pax(&[("path", b"p"), ("path", b"")])
            .file("header-name", b"2")
            .finish(),
    );
    assert_eq!(content(&img.fs, "new\nline"), b"1");
    assert_eq!(content(&img.fs, "header-name"), b"2");
}

#[test]
fn gnu_long_names_and_links() {
    let long = format!("{}/{}", "n".repeat(150), "m".repeat(150));
    let target = format!("{}/target", "t".repeat(120));
    let img = load(
        Tar::default()
            .gnu_long(b'L', long.as_bytes())
            .file("truncated", b"long")
            .gnu_long(b'K', target.as_bytes())
            .symlink("s", "truncated")
            .gnu_long(b'L', b"hl")
            .gnu_long(b'K', long.as_bytes())
            .hardlink("x", "y")
            .finish(),
    );
    let fs = &img.fs;
    assert_eq!(content(fs, &long), b"long");
    assert_eq!(*fs.readlink(ino(fs, "s")).unwrap(), *target);
    assert_eq!(ino(fs, "hl"), ino(fs, &long));
}

#[test]
fn gnu_long_names_from_the_tar_crate() {
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("{}/{}", "q".repeat(180), "r".repeat(180));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o600);
    h.set_mtime(77);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
    let img = load(b.into_inner().unwrap());
    assert_eq!(content(&img.fs, &long), b"abc");
    assert_eq!(img.fs.stat(ino(&img.fs, &long)).unwrap().mode, 0o600);
}

#[test]
fn pax_beats_gnu_long_name() {
    let img = load(
        Tar::default()
            .gnu_long(b'L', b"from-gnu")
            .pax(&[("path", b"from-pax")])
            .file("from-header", b"z")
            .finish(),
    );
    assert!(lookup(&img.fs, "from-pax").is_some());
    assert!(lookup(&img.fs, "from-gnu").is_none());
}

#[test]
fn base256_numbers_and_old_style_directories() {
    let mut h = header(b"big-mtime", b'0', 1, b"", 0o644, 0);
    // mtime 2^33 + 1 in base-256: beyond what 11 octal digits hold.
    let field = &mut h.as_old_mut().mtime;
    *field = [0; 12];
    field[0] = 0x80;
    field[7] = 2;
    field[11] = 1;
    h.set_cksum();
    let img = load(
        Tar::default()
            .raw(&h, b"x")
            .raw(&header(b"olddir/", 0, 0, b"", 0o700, 5), b"")
            .finish(),
    );
    let st = img.fs.stat(ino(&img.fs, "big-mtime")).unwrap();
    assert_eq!(st.mtim, ((1u64 << 33) + 1) * 1_000_000_000);
    assert_eq!(kind(&img.fs, "olddir"), FileType::Directory);
}

#[test]
fn implicit_parents_are_0755_with_time_zero() {
    let img = load(Tar::default().file("a/b/c/file", b"1").finish());
    for d in ["a", "a/b", "a/b/c"] {
        let st = img.fs.stat(ino(&img.fs, d)).unwrap();
        assert_eq!(
            (st.filetype, st.mode, st.mtim, st.ctim),
            (FileType::Directory, 0o755, 0, 0)
        );
    }
    assert_eq!(img.stats.implicit_dirs, 3);
    // A later explicit member for the same directory sets its metadata.
    let img = load(Tar::default().file("a/f", b"1").dir("a", 0o700).finish());
    let st = img.fs.stat(ino(&img.fs, "a")).unwrap();
    assert_eq!((st.mode, st.mtim), (0o700, 2_000_000 * 1_000_000_000));
}

#[test]
fn directory_mtimes_survive_later_entries() {
    let img = load(
        Tar::default()
            .dir("d", 0o755)
            .file("d/1", b"")
            .file("d/2", b"")
            .finish(),
    );
    assert_eq!(
        img.fs.stat(ino(&img.fs, "d")).unwrap().mtim,
        2_000_000 * 1_000_000_000
    );
}

#[test]
fn root_member_sets_root_metadata() {
    let img = load(Tar::default().dir("./", 0o700).file("./x", b"1").finish());
    let st = img.fs.stat(ROOT_INO).unwrap();
    assert_eq!((st.mode, st.mtim), (0o700, 2_000_000 * 1_000_000_000));
    let e = load_err(Tar::default().file(".", b"1").finish());
    assert_eq!(problem(&e), (".", &EntryProblem::RootNotDirectory));
    for name in ["/", "./", "//."] {
        let e = load_err(Tar::default().symlink(name, "x").finish());
        assert_eq!(problem(&e), (name, &EntryProblem::RootNotDirectory));
    }
    // (A regular-file member named `/` or `./` is an old-style directory: the root.)
    load(Tar::default().file("./", b"").finish());
}

#[test]
fn missing_end_marker_is_accepted_and_reported() {
    let mut t = Tar::default();
    t.file("a", b"1");
    let img = load(t.0.clone());
    assert!(!img.stats.end_marker);
    assert_eq!(content(&img.fs, "a"), b"1");
    let img = load(Vec::new());
    assert_eq!(img.fs.inode_count(), 1);
}

#[test]
fn global_pax_headers_volume_labels_and_unknown_types_are_skipped() {
    let mut t = Tar::default();
    let body = b"17 comment=hello\n";
    t.raw(&header(b"global", b'g', body.len() as u64, b"", 0, 0), body);
    t.typed(b"LABEL with ../ anything", b'V');
    t.typed(b"weird", b'Z');
    t.file("f", b"1");
    let img = load(t.finish());
    assert_eq!(img.stats.ignored, 3);
    assert!(lookup(&img.fs, "weird").is_none());
    assert_eq!(img.fs.inode_count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Sources: paths, bytes, readers, gzip by magic, zero copy

fn ranges_of(path: &std::path::Path) -> Vec<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let p = path.to_str().unwrap();
    maps.lines()
        .filter(|l| l.ends_with(p))
        .map(|l| {
            let (a, b) = l
                .split_whitespace()
                .next()
                .unwrap()
                .split_once('-')
                .unwrap();
            (
                usize::from_str_radix(a, 16).unwrap(),
                usize::from_str_radix(b, 16).unwrap(),
            )
        })
        .collect()
}

fn sample_tar() -> Vec<u8> {
    Tar::default()
        .file("one", &vec![1u8; 5000])
        .file("dir/two", &vec![2u8; 700])
        .file("three", b"3")
        .finish()
}

#[test]
fn mapped_tar_file_contents_are_slices_of_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    std::fs::write(&path, sample_tar()).unwrap();
    let img = load_path(&path, &LoadOptions::default()).unwrap();
    let maps = ranges_of(&path);
    assert!(!maps.is_empty(), "the image file is mapped");
    for name in ["one", "dir/two", "three"] {
        let whole = img
            .fs
            .file(ino(&img.fs, name))
            .unwrap()
            .as_whole()
            .unwrap()
            .clone();
        let p = whole.as_ptr() as usize;
        assert!(
            maps.iter().any(|&(a, b)| p >= a && p + whole.len() <= b),
            "{name} is not inside the mapping"
        );
    }
    assert_eq!(content(&img.fs, "one"), vec![1u8; 5000]);
    // The mapping outlives the handle it came from; the image stays readable after the
    // directory is gone (unlinked files stay mapped).
    drop(dir);
    assert_eq!(content(&img.fs, "dir/two"), vec![2u8; 700]);
}

#[test]
fn bytes_input_is_shared_not_copied() {
    let data = Bytes::from(sample_tar());
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let img = load_bytes(data.clone(), &LoadOptions::default()).unwrap();
    let whole = img
        .fs
        .file(ino(&img.fs, "one"))
        .unwrap()
        .as_whole()
        .unwrap()
        .clone();
    assert!(range.contains(&(whole.as_ptr() as usize)));
    assert_eq!(whole.as_ptr() as usize, range.start + 512);
}

#[test]
fn gzip_is_decompressed_once_into_one_buffer_files_are_slices_of_it() {
    let tar = sample_tar();
    let img = load_bytes(Bytes::from(gzip(&tar)), &LoadOptions::default()).unwrap();
    assert!(img.stats.gzip);
    assert_eq!(img.stats.tar_bytes, tar.len() as u64);
    let ptr = |n: &str| {
        img.fs
            .file(ino(&img.fs, n))
            .unwrap()
            .as_whole()
            .unwrap()
            .as_ptr() as usize
    };
    // Offsets in the buffer are the data offsets in the tar: one buffer, no copies.
    assert_eq!(ptr("dir/two") - ptr("one"), 5120 + 512);
    assert_eq!(ptr("three") - ptr("one"), 5120 + 512 + 1024 + 512);
    assert_eq!(content(&img.fs, "dir/two"), vec![2u8; 700]);
}

#[test]
fn gzip_is_detected_by_magic_not_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let tar = sample_tar();
    let cases = [
        ("plain.tar.gz", tar.clone(), false),
        ("compressed.tar", gzip(&tar), true),
        ("no-extension", gzip(&tar), true),
    ];
    for (name, data, gz) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &data).unwrap();
        for mmap in [true, false] {
            let opts = LoadOptions {
                mmap,
                ..Default::default()
            };
            let img = load_path(&path, &opts).unwrap();
            assert_eq!(img.stats.gzip, gz, "{name}");
            assert_eq!(content(&img.fs, "three"), b"3");
        }
        let img = load_reader(std::io::Cursor::new(data), &LoadOptions::default()).unwrap();
        assert_eq!(img.stats.gzip, gz);
        assert_eq!(content(&img.fs, "dir/two"), vec![2u8; 700]);
    }
}

#[test]
fn reader_input_one_byte_at_a_time() {
    struct Slow(std::io::Cursor<Vec<u8>>);
    impl std::io::Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }
    for data in [sample_tar(), gzip(&sample_tar())] {
        let img = load_reader(Slow(std::io::Cursor::new(data)), &LoadOptions::default()).unwrap();
        assert_eq!(content(&img.fs, "one"), vec![1u8; 5000]);
    }
}

#[test]
fn multi_member_gzip_and_zero_padding() {
    let tar = sample_tar();
    let (a, b) = tar.split_at(3000);
    let mut data = gzip(a);
    data.extend(gzip(b));
    data.extend([0u8; 100]);
    let img = load(data.clone());
    assert_eq!(content(&img.fs, "three"), b"3");
    let img = load_reader(std::io::Cursor::new(data), &LoadOptions::default()).unwrap();
    assert_eq!(content(&img.fs, "three"), b"3");
}

#[test]
fn corrupt_gzip_and_trailing_garbage_are_errors() {
    let mut data = gzip(&sample_tar());
    data.extend(b"garbage");
    assert!(matches!(load_err(data), ImageError::Gzip(_)));
    let mut data = gzip(&sample_tar());
    let n = data.len();
    data[n - 6] ^= 0xff; // CRC
    assert!(matches!(load_err(data), ImageError::Gzip(_)));
    let data = gzip(&sample_tar());
    assert!(matches!(
        load_err(data[..data.len() / 2].to_vec()),
        ImageError::Gzip(_)
    ));
}

#[test]
fn other_compressions_are_named() {
    for (magic, name) in [
        (&b"\x28\xb5\x2f\xfd\0\0"[..], "zstd"),
        (&b"\xfd7zXZ\0\0\0"[..], "xz"),
        (&b"BZh91AY&SY\0\0"[..], "bzip2"),
    ] {
        match load_err(magic.to_vec()) {
            ImageError::UnsupportedCompression(n) => assert_eq!(n, name),
            other => panic!("{other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile names

#[test]
fn dot_dot_is_rejected_anywhere() {
    for name in [
        "../x",
        "a/../../x",
        "a/..",
        "..",
        "./../x",
        "/../etc/passwd",
    ] {
        let e = load_err(Tar::default().file(name, b"1").finish());
        assert_eq!(problem(&e), (name, &EntryProblem::DotDot), "{name}");
        assert!(e.to_string().contains(name), "message names the entry: {e}");
    }
    // In a pax path too, and for directories and symlinks.
    let e = load_err(
        Tar::default()
            .pax(&[("path", b"ok/../../x")])
            .file("ok", b"")
            .finish(),
    );
    assert_eq!(problem(&e), ("ok/../../x", &EntryProblem::DotDot));
    let e = load_err(Tar::default().dir("../d", 0o755).finish());
    assert_eq!(problem(&e).1, &EntryProblem::DotDot);
}

#[test]
fn absolute_and_dotted_names_are_normalised() {
    let img = load(
        Tar::default()
            .file("/etc/passwd", b"root")
            .file("./a", b"1")
            .file(".//b/./c//", b"2")
            .file("///d", b"3")
            .finish(),
    );
    let fs = &img.fs;
    assert_eq!(content(fs, "etc/passwd"), b"root");
    assert_eq!(content(fs, "a"), b"1");
    assert_eq!(content(fs, "d"), b"3");
    // A trailing slash on a regular-file member marks an old-style directory.
    assert_eq!(kind(fs, "b/c"), FileType::Directory);
}

#[test]
fn writing_through_a_symlink_is_refused() {
    // Tar-slip: the link points out of the image; nothing is ever followed while loading.
    let e = load_err(
        Tar::default()
            .symlink("link", "/etc")
            .file("link/passwd", b"pwned")
            .finish(),
    );
    assert_eq!(
        problem(&e),
        (
            "link/passwd",
            &EntryProblem::ThroughSymlink {
                parent: "link".into()
            }
        )
    );
    // Even when the link points inside the image, and deeper down.
    let e = load_err(
        Tar::default()
            .dir("d", 0o755)
            .symlink("d/l", "..")
            .dir("d/l/x", 0o755)
            .finish(),
    );
    assert_eq!(
        problem(&e).1,
        &EntryProblem::ThroughSymlink {
            parent: "d/l".into()
        }
    );
    // A file on the way is not a directory.
    let e = load_err(Tar::default().file("f", b"").file("f/g", b"").finish());
    assert_eq!(
        problem(&e).1,
        &EntryProblem::ParentNotDirectory { parent: "f".into() }
    );
}

#[test]
fn symlink_targets_are_kept_verbatim_but_must_be_sane() {
    let img = load(
        Tar::default()
            .symlink("abs", "/etc/passwd")
            .symlink("up", "../../../../x")
            .finish(),
    );
    assert_eq!(
        &*img.fs.readlink(ino(&img.fs, "abs")).unwrap(),
        "/etc/passwd"
    );
    assert_eq!(
        &*img.fs.readlink(ino(&img.fs, "up")).unwrap(),
        "../../../../x"
    );
    let e = load_err(Tar::default().symlink("empty", "").finish());
    assert_eq!(
        problem(&e).1,
        &EntryProblem::BadSymlinkTarget(Box::new(EntryProblem::EmptyName))
    );
    let e = load_err(
        Tar::default()
            .pax(&[("linkpath", b"a\0b")])
            .symlink("nul", "x")
            .finish(),
    );
    assert_eq!(
        problem(&e).1,
        &EntryProblem::BadSymlinkTarget(Box::new(EntryProblem::Nul))
    );
    let e = load_err(
        Tar::default()
            .pax(&[("linkpath", b"\xff\xfe")])
            .symlink("bad", "x")
            .finish(),
    );
    assert_eq!(
        problem(&e).1,
        &EntryProblem::BadSymlinkTarget(Box::new(EntryProblem::NotUtf8))
    );
}

#[test]
fn hard_links_must_name_earlier_members_inside_the_image() {
    let missing = |target: &str| EntryProblem::LinkTargetMissing {
        target: target.into(),
    };
    // Outside the image.
    let e = load_err(Tar::default().hardlink("h", "../etc/passwd").finish());
    assert_eq!(
        problem(&e),
        (
            "h",
            &EntryProblem::BadLinkTarget {
                target: "../etc/passwd".into(),
                problem: Box::new(EntryProblem::DotDot)
            }
        )
    );
    // Absolute targets are image paths, and this one is not there.
    let e = load_err(Tar::default().hardlink("h", "/etc/passwd").finish());
    assert_eq!(problem(&e).1, &missing("/etc/passwd"));
    // Not yet present (a forward reference).
    let e = load_err(Tar::default().hardlink("h", "f").file("f", b"").finish());
    assert_eq!(problem(&e).1, &missing("f"));
    // Through a symlink.
    let e = load_err(
        Tar::default()
            .file("d/f", b"")
            .symlink("l", "d")
            .hardlink("h", "l/f")
            .finish(),
    );
    assert_eq!(problem(&e).1, &missing("l/f"));
    // To a directory, or the root.
    let e = load_err(Tar::default().dir("d", 0o755).hardlink("h", "d").finish());
    assert_eq!(
        problem(&e).1,
        &EntryProblem::LinkToDirectory { target: "d".into() }
    );
    let e = load_err(Tar::default().hardlink("h", "./").finish());
    assert_eq!(
        problem(&e).1,
        &EntryProblem::LinkToDirectory {
            target: "./".into()
        }
    );
    // Absolute and dotted targets that exist are fine; a link to itself is a no-op; a hard
    // link to a symlink links the symlink.
    let img = load(
        Tar::default()
            .file("etc/f", b"x")
            .hardlink("a", "/etc/f")
            .hardlink("b", "./etc//f")
            .hardlink("a", "a")
            .symlink("s", "etc/f")
            .hardlink("s2", "s")
            .finish(),
    );
    let fs = &img.fs;
    assert_eq!(ino(fs, "a"), ino(fs, "etc/f"));
    assert_eq!(ino(fs, "b"), ino(fs, "etc/f"));
    assert_eq!(fs.stat(ino(fs, "a")).unwrap().nlink, 3);
    assert_eq!(ino(fs, "s2"), ino(fs, "s"));
    assert_eq!(kind(fs, "s2"), FileType::SymbolicLink);
}

#[test]
fn duplicates_last_member_wins() {
    let img = load(
        Tar::default()
            .file("f", b"old")
            .hardlink("keep", "f")
            .file("f", b"new")
            // file replaced by a directory, and a directory by a file (it is empty)
            .file("x", b"1")
            .dir("x", 0o700)
            .dir("y", 0o755)
            .file("y", b"now a file")
            // symlink replaced by a file
            .symlink("s", "f")
            .file("s", b"plain")
            // directory twice: metadata updated, entries kept
            .dir("d", 0o755)
            .file("d/child", b"c")
            .dir("d", 0o711)
            .finish(),
    );
    let fs = &img.fs;
    assert_eq!(content(fs, "f"), b"new");
    assert_eq!(
        content(fs, "keep"),
        b"old",
        "other links keep the replaced inode"
    );
    assert_eq!(fs.stat(ino(fs, "keep")).unwrap().nlink, 1);
    assert_eq!(kind(fs, "x"), FileType::Directory);
    assert_eq!(fs.stat(ino(fs, "x")).unwrap().mode, 0o700);
    assert_eq!(content(fs, "y"), b"now a file");
    assert_eq!(content(fs, "s"), b"plain");
    assert_eq!(fs.stat(ino(fs, "d")).unwrap().mode, 0o711);
    assert_eq!(content(fs, "d/child"), b"c");
    assert_eq!(img.stats.replaced, 4);
}

#[test]
fn a_file_over_a_non_empty_directory_is_refused() {
    let e = load_err(Tar::default().file("d/x", b"").file("d", b"").finish());
    assert_eq!(problem(&e), ("d", &EntryProblem::ReplacesNonEmptyDir));
    let e = load_err(Tar::default().file("d/x", b"").symlink("d", "x").finish());
    assert_eq!(problem(&e).1, &EntryProblem::ReplacesNonEmptyDir);
}

#[test]
fn devices_and_fifos_are_skipped_and_counted() {
    let img = load(
        Tar::default()
            .typed(b"dev/null", b'3')
            .typed(b"dev/sda", b'4')
            .typed(b"fifo", b'6')
            .file("f", b"")
            .finish(),
    );
    assert_eq!(img.stats.devices, 3);
    assert!(lookup(&img.fs, "fifo").is_none());
    assert!(lookup(&img.fs, "dev").is_none());
    // Their names are still checked.
    let e = load_err(Tar::default().typed(b"../dev/x", b'3').finish());
    assert_eq!(problem(&e).1, &EntryProblem::DotDot);
}

#[test]
fn bad_names_are_rejected() {
    let e = load_err(Tar::default().typed(b"caf\xe9/x", b'0').finish());
    assert_eq!(problem(&e), ("caf\u{fffd}/x", &EntryProblem::NotUtf8));
    // The message shows the byte itself, escaped.
    assert!(e.to_string().contains(r#""caf\xe9/x""#), "{e}");

    let e = load_err(
        Tar::default()
            .pax(&[("path", b"a\0b")])
            .file("x", b"")
            .finish(),
    );
    assert_eq!(problem(&e), ("a\0b", &EntryProblem::Nul));
    let e = load_err(
        Tar::default()
            .gnu_long(b'L', b"a\0b")
            .file("x", b"")
            .finish(),
    );
    assert_eq!(problem(&e).1, &EntryProblem::Nul);

    let long_component = "c".repeat(256);
    let e = load_err(
        Tar::default()
            .pax(&[("path", format!("d/{long_component}").as_bytes())])
            .file("x", b"")
            .finish(),
    );
    assert_eq!(problem(&e).1, &EntryProblem::ComponentTooLong);
    let ok = "c".repeat(255);
    load(
        Tar::default()
            .pax(&[("path", ok.as_bytes())])
            .file("x", b"")
            .finish(),
    );

    let too_long = vec!["p".repeat(200); 25].join("/");
    let e = load_err(
        Tar::default()
            .pax(&[("path", too_long.as_bytes())])
            .file("x", b"")
            .finish(),
    );
    assert_eq!(problem(&e).1, &EntryProblem::NameTooLong { limit: 4096 });

    let e = load_err(Tar::default().typed(b"", b'0').finish());
    assert_eq!(problem(&e).1, &EntryProblem::EmptyName);
}

// ---------------------------------------------------------------------------------------------
// Hostile encodings and limits

#[test]
fn truncated_archives_are_errors() {
    let mut t = Tar::default();
    t.file("a", b"1");
    t.0.extend_from_slice(header(b"big", b'0', 10_000, b"", 0o644, 0).as_bytes());
    t.0.extend_from_slice(&[7u8; 1000]);
    let e = load_err(t.0);
    assert_eq!(
        problem(&e),
        (
            "big",
            &EntryProblem::Truncated {
                declared: 10_000,
                available: 1000
            }
        )
    );
    let mut data = sample_tar();
    data.truncate(1024 + 100);
    let e = load_err(data);
    assert_eq!(
        problem(&e).1,
        &EntryProblem::Truncated {
            declared: 5000,
            available: 612
        }
    );
    let mut t = Tar::default();
    t.file("a", b"1");
    t.0.extend_from_slice(&header(b"half", b'0', 0, b"", 0, 0).as_bytes()[..300]);
    assert_eq!(problem(&load_err(t.0)).1, &EntryProblem::TruncatedHeader);
}

#[test]
fn corrupt_headers_are_errors() {
    let mut data = sample_tar();
    data[10] ^= 1;
    let e = load_err(data);
    assert_eq!(problem(&e).1, &EntryProblem::BadChecksum);
    let e = load_err(b"this is not a tar archive at all".repeat(20));
    assert!(matches!(
        e,
        ImageError::Entry {
            offset: 0,
            problem: EntryProblem::BadChecksum,
            ..
        }
    ));
    let mut h = header(b"x", b'0', 0, b"", 0o644, 0);
    h.as_old_mut().size = *b"12345678z01\0";
    h.set_cksum();
    let e = load_err(Tar::default().raw(&h, b"").finish());
    assert_eq!(problem(&e).1, &EntryProblem::BadField("size"));
    let e = load_err(
        Tar::default()
            .pax(&[("size", b"-1")])
            .file("x", b"")
            .finish(),
    );
    assert!(matches!(problem(&e).1, EntryProblem::BadPax(_)));
    let mut t = Tar::default();
    let body = b"99 path=x\n";
    t.raw(&header(b"p", b'x', body.len() as u64, b"", 0, 0), body);
    t.file("x", b"");
    assert!(matches!(
        problem(&load_err(t.finish())).1,
        EntryProblem::BadPax(_)
    ));
}

#[test]
fn sparse_and_multivolume_members_are_unsupported() {
    let e = load_err(Tar::default().typed(b"sparse", b'S').finish());
    assert_eq!(problem(&e).1, &EntryProblem::Unsupported("GNU sparse file"));
    let e = load_err(
        Tar::default()
            .pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
            .file("s", b"")
            .finish(),
    );
    assert_eq!(problem(&e).1, &EntryProblem::Unsupported("pax sparse file"));
    let e = load_err(Tar::default().typed(b"cont", b'M').finish());
    assert!(matches!(problem(&e).1, EntryProblem::Unsupported(_)));
}

#[test]
fn gzip_bomb_stops_at_the_limit() {
    // 64 MiB of zeros compresses to ~64 KiB.
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let opts = LoadOptions {
        limits: Limits {
            max_image_bytes: 4 << 20,
            ..Limits::default()
        },
        ..Default::default()
    };
    let e = load_bytes(Bytes::from(bomb.clone()), &opts).unwrap_err();
    assert!(
        matches!(e, ImageError::TooLarge { limit } if limit == 4 << 20),
        "{e:?}"
    );
    let e = load_reader(std::io::Cursor::new(bomb), &opts).unwrap_err();
    assert!(matches!(e, ImageError::TooLarge { .. }));
    // And an uncompressed image over the limit.
    let small = LoadOptions {
        limits: Limits {
            max_image_bytes: 1000,
            ..Limits::default()
        },
        ..Default::default()
    };
    let e = load_bytes(Bytes::from(sample_tar()), &small).unwrap_err();
    assert!(matches!(e, ImageError::TooLarge { limit: 1000 }));
    let e = load_reader(std::io::Cursor::new(sample_tar()), &small).unwrap_err();
    assert!(matches!(e, ImageError::TooLarge { limit: 1000 }));
}

#[test]
fn entry_count_is_limited() {
    let mut t = Tar::default();
    for i in 0..10 {
        t.file(&format!("f{i}"), b"");
    }
    let data = t.finish();
    let opts = |n| LoadOptions {
        limits: Limits {
            max_entries: n,
            ..Limits::default()
        },
        ..Default::default()
    };
    assert!(load_bytes(Bytes::from(data.clone()), &opts(10)).is_ok());
    let e = load_bytes(Bytes::from(data), &opts(9)).unwrap_err();
    assert!(matches!(e, ImageError::TooManyEntries { limit: 9 }));
}

#[test]
fn oversized_extension_headers_are_refused_before_parsing() {
    let huge = vec![b'a'; 5000];
    let e = load_err(Tar::default().gnu_long(b'L', &huge).file("x", b"").finish());
    assert_eq!(
        problem(&e).1,
        &EntryProblem::ExtensionTooLarge {
            kind: "GNU long name",
            size: 5001,
            limit: 4097
        }
    );
    let opts = LoadOptions {
        limits: Limits {
            max_pax_len: 100,
            ..Limits::default()
        },
        ..Default::default()
    };
    let data = Tar::default()
        .pax(&[("comment", &[b'c'; 200][..])])
        .file("x", b"")
        .finish();
    let e = load_bytes(Bytes::from(data), &opts).unwrap_err();
    assert!(matches!(
        problem(&e).1,
        EntryProblem::ExtensionTooLarge {
            kind: "pax extended",
            limit: 100,
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// OCI whiteouts

#[test]
fn oci_whiteouts_are_returned_not_loaded() {
    let data = Tar::default()
        .dir("etc", 0o755)
        .file("etc/.wh.passwd", b"")
        .file("usr/lib/.wh..wh..opq", b"")
        .file("usr/lib/new", b"n")
        .file(".wh.tmp", b"")
        .finish();
    let img = load_bytes(Bytes::from(data.clone()), &LoadOptions::oci()).unwrap();
    let fs = &img.fs;
    assert!(lookup(fs, "etc/.wh.passwd").is_none());
    assert!(lookup(fs, "usr/lib/.wh..wh..opq").is_none());
    let mut expect = vec![
        (ino(fs, "etc"), "passwd".to_string()),
        (ROOT_INO, "tmp".to_string()),
    ];
    expect.sort();
    assert_eq!(img.whiteouts, expect);
    assert_eq!(img.opaque_dirs, vec![ino(fs, "usr/lib")]);
    assert_eq!((img.stats.whiteouts, img.stats.opaque), (2, 1));
    // Without OCI semantics they are ordinary files.
    let img = load(data);
    assert!(lookup(&img.fs, "etc/.wh.passwd").is_some());
    assert!(img.whiteouts.is_empty() && img.opaque_dirs.is_empty());
}

#[test]
fn oci_whiteout_misuse() {
    for name in [
        "a/.wh.",
        "a/.wh..",
        "a/.wh...",
        "a/.wh..wh.x",
        "a/.wh.d/file",
    ] {
        let data = Tar::default().file(name, b"").finish();
        let e = load_bytes(Bytes::from(data), &LoadOptions::oci()).unwrap_err();
        assert_eq!(problem(&e), (name, &EntryProblem::BadWhiteout), "{name}");
    }
    // A directory holding only whiteouts is not empty: a file may not replace it.
    let data = Tar::default().file("d/.wh.x", b"").file("d", b"").finish();
    let e = load_bytes(Bytes::from(data), &LoadOptions::oci()).unwrap_err();
    assert_eq!(problem(&e).1, &EntryProblem::ReplacesNonEmptyDir);
}

// ---------------------------------------------------------------------------------------------
// Export

fn clock() -> Arc<SteppingClock> {
    Arc::new(SteppingClock::new(1_600_000_000_000_000_000, 7))
}

/// A tree with every kind of node and the awkward cases: long names, long link targets,
/// hard links (to files and to a symlink), sub-second times, set-id modes, written files.
fn sample_tree() -> MemFs {
    let mut fs = MemFs::new(1, clock());
    let r = ROOT_INO;
    let etc = fs.mkdir(r, "etc", 0o755).unwrap();
    let f = fs
        .create_file_with(
            etc,
            "passwd",
            FileData::from_bytes(Bytes::from_static(b"root:x:0:0")),
            0o644,
        )
        .unwrap();
    fs.link(r, "passwd-link", f).unwrap();
    fs.link(etc, "passwd.bak", f).unwrap();
    let bin = fs.mkdir(r, "bin", 0o711).unwrap();
    let su = fs.create_file(bin, "su", 0o4755).unwrap();
    fs.write(su, None, &vec![0xAB; 70_000]).unwrap(); // block form, more than one block
    let s = fs.symlink(bin, "sh", "/bin/busybox").unwrap();
    fs.link(r, "sh-hardlink", s).unwrap();
    let long_target = format!("../{}", "t".repeat(150));
    fs.symlink(r, "long-target", &long_target).unwrap();
    let mut dir = r;
    let mut path_len = 0;
    while path_len < 400 {
        dir = fs.mkdir(dir, &"x".repeat(60), 0o755).unwrap();
        path_len += 61;
    }
    fs.create_file_with(
        dir,
        &"y".repeat(200),
        FileData::from_bytes(Bytes::from_static(b"deep")),
        0o600,
    )
    .unwrap();
    fs.mkdir(r, "empty", 0o700).unwrap();
    fs.create_file(r, "empty-file", 0o000).unwrap();
    fs.create_file_with(
        r,
        "ünïcødé ✓",
        FileData::from_bytes(Bytes::from_static(b"u")),
        0o644,
    )
    .unwrap();
    fs.create_file_with(r, "a-b", FileData::default(), 0o644)
        .unwrap();
    fs.mkdir(r, "a", 0o755).unwrap();
    // Times: whole seconds, sub-second, zero; set last (entries touch their directory).
    let mut all = vec![];
    let mut stack = vec![r];
    while let Some(d) = stack.pop() {
        for (_, i) in fs.dir(d).unwrap().entries.iter() {
            all.push(i);
            if fs.node(i).unwrap().is_dir() {
                stack.push(i);
            }
        }
    }
    all.push(r);
    for (n, i) in all.into_iter().enumerate() {
        let t = match n % 3 {
            0 => 1_500_000_000_000_000_000,
            1 => 1_500_000_000_123_456_789 + n as u64,
            _ => 0,
        };
        fs.set_times(i, SetTime::At(t), SetTime::At(t)).unwrap();
    }
    fs
}

fn export_bytes(fs: &MemFs) -> Vec<u8> {
    export_memfs(fs, ROOT_INO, Vec::new(), &ExportOptions::default()).unwrap()
}

#[test]
fn export_load_round_trip() {
    let tree = sample_tree();
    let tar1 = export_bytes(&tree);
    let img = load(tar1.clone());
    assert_eq!(listing(&img.fs), listing(&tree));
    // Exporting the loaded image gives the very same bytes.
    assert_eq!(export_bytes(&img.fs), tar1);
    // And through gzip.
    let img = load(gzip(&tar1));
    assert_eq!(listing(&img.fs), listing(&tree));
}

#[test]
fn export_is_reproducible_and_sorted() {
    let a = export_bytes(&sample_tree());
    let b = export_bytes(&sample_tree());
    assert_eq!(a, b);
    // The same tree built in another order, with other inode numbers and clock readings.
    let mut x = MemFs::new(1, clock());
    let mut y = MemFs::new(2, Arc::new(SteppingClock::new(5, 1000)));
    let _ = x.create_file(ROOT_INO, "pad", 0o644).unwrap();
    for name in ["b", "a", "c"] {
        let i = x.create_file(ROOT_INO, name, 0o644).unwrap();
        x.set_times(i, SetTime::At(9), SetTime::At(9)).unwrap();
    }
    x.unlink(ROOT_INO, "pad").unwrap();
    for name in ["c", "a", "b"] {
        let i = y.create_file(ROOT_INO, name, 0o644).unwrap();
        y.set_times(i, SetTime::At(9), SetTime::At(9)).unwrap();
    }
    for fs in [&mut x, &mut y] {
        fs.set_times(ROOT_INO, SetTime::At(1), SetTime::At(1))
            .unwrap();
    }
    assert_eq!(export_bytes(&x), export_bytes(&y));
    // Members come out sorted bytewise, owners normalised.
    let mut ar = tar::Archive::new(&a[..]);
    let mut names = vec![];
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        names.push(e.path_bytes().into_owned());
    }
    assert_eq!(names[0], b"./");
    let trimmed: Vec<Vec<u8>> = names[1..]
        .iter()
        .map(|n| n.strip_suffix(b"/").unwrap_or(n).to_vec())
        .collect();
    let mut sorted = trimmed.clone();
    sorted.sort();
    assert_eq!(trimmed, sorted);
}

#[test]
fn export_hard_links_point_at_the_first_path() {
    let tar = export_bytes(&sample_tree());
    let mut ar = tar::Archive::new(&tar[..]);
    let mut links = vec![];
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Link {
            links.push((
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                String::from_utf8(e.link_name_bytes().unwrap().into_owned()).unwrap(),
            ));
        }
    }
    links.sort();
    assert_eq!(
        links,
        [
            ("etc/passwd.bak".to_string(), "etc/passwd".to_string()),
            ("passwd-link".to_string(), "etc/passwd".to_string()),
            ("sh-hardlink".to_string(), "bin/sh".to_string()),
        ]
    );
}

#[test]
fn export_writes_whiteouts_for_layer_diffs() {
    let mut fs = MemFs::new(1, clock());
    let d = fs.mkdir(ROOT_INO, "etc", 0o755).unwrap();
    fs.create_file(d, "new", 0o644).unwrap();
    let opts = ExportOptions {
        whiteouts: vec!["etc/old".into(), "/gone".into()],
        opaque_dirs: vec!["etc".into(), "".into()],
        ..Default::default()
    };
    let tar = export_memfs(&fs, ROOT_INO, Vec::new(), &opts).unwrap();
    let img = load_bytes(Bytes::from(tar), &LoadOptions::oci()).unwrap();
    let etc = ino(&img.fs, "etc");
    let mut expect = vec![(etc, "old".to_string()), (ROOT_INO, "gone".to_string())];
    expect.sort();
    assert_eq!(img.whiteouts, expect);
    assert_eq!(img.opaque_dirs, vec![ROOT_INO, etc]);
    assert!(lookup(&img.fs, "etc/new").is_some());
    let bad = ExportOptions {
        whiteouts: vec!["a/../b".into()],
        ..Default::default()
    };
    assert!(matches!(
        export_memfs(&fs, ROOT_INO, Vec::new(), &bad),
        Err(strata::image::ExportError::BadName {
            problem: EntryProblem::DotDot,
            ..
        })
    ));
}

#[test]
fn export_vfs_subtree_through_mounts() {
    let mut vfs = Vfs::new(clock());
    let root = vfs.root();
    let sub = vfs.mkdir(root, b"sub").unwrap();
    vfs.write_file(sub, "local", FileData::from_bytes(Bytes::from_static(b"l")))
        .unwrap();
    let mnt = vfs.mkdir(sub, b"mnt").unwrap();
    let image = load(
        Tar::default()
            .file("inner/file", b"from the image")
            .finish(),
    );
    vfs.mount(mnt, image.fs).unwrap();
    let tar = export_vfs(&vfs, sub, Vec::new(), &ExportOptions::default()).unwrap();
    let img = load(tar);
    assert_eq!(content(&img.fs, "local"), b"l");
    assert_eq!(content(&img.fs, "mnt/inner/file"), b"from the image");
    // A non-directory cannot be exported.
    let f = vfs.lookup(sub, b"local", false).unwrap();
    assert!(export_vfs(&vfs, f, Vec::new(), &ExportOptions::default()).is_err());
}

/// GNU tar, which the tests that read or write archives with an independent tool need:
/// missing, they fail (`.ci/run` installs it), never pass without checking anything.
fn gnu_tar() -> std::process::Command {
    let out = std::process::Command::new("tar")
        .arg("--version")
        .output()
        .expect("GNU tar is needed by this test (Debian: apt-get install tar)");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("GNU tar"),
        "`tar` is not GNU tar, which this test needs: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::process::Command::new("tar")
}

#[test]
fn export_is_readable_by_gnu_tar() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("x.tar");
    std::fs::write(&tar_path, export_bytes(&sample_tree())).unwrap();
    let into = dir.path().join("out");
    std::fs::create_dir(&into).unwrap();
    let st = gnu_tar()
        .arg("-xf")
        .arg(&tar_path)
        .arg("-C")
        .arg(&into)
        .status()
        .unwrap();
    assert!(st.success());
    let deep = std::fs::read_dir(into.join("x".repeat(60)))
        .unwrap()
        .count();
    assert_eq!(deep, 1);
    assert_eq!(
        std::fs::read(into.join("etc/passwd")).unwrap(),
        b"root:x:0:0"
    );
    assert_eq!(
        std::fs::read_link(into.join("long-target"))
            .unwrap()
            .to_str()
            .unwrap(),
        format!("../{}", "t".repeat(150))
    );
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(into.join("etc/passwd")).unwrap();
    let b = std::fs::metadata(into.join("passwd-link")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

// ---------------------------------------------------------------------------------------------
// Large images (walked on a second thread while the tree is built)

fn large_tar(extra: impl FnOnce(&mut Tar)) -> Vec<u8> {
    let mut t = Tar::default();
    t.file("big", &vec![9u8; 5 << 20]);
    for i in 0..3000 {
        t.file(&format!("d{}/f{i}", i % 17), format!("{i}").as_bytes());
    }
    extra(&mut t);
    t.file("last", b"end");
    t.finish()
}

#[test]
fn large_images_load_completely() {
    let img = load(large_tar(|_| {}));
    assert_eq!(img.stats.files, 3002);
    assert_eq!(content(&img.fs, "d7/f2999"), b"2999");
    assert_eq!(content(&img.fs, "last"), b"end");
    assert_eq!(img.fs.file(ino(&img.fs, "big")).unwrap().len(), 5 << 20);
}

#[test]
fn large_images_report_errors_from_either_side() {
    // Found while walking (bad checksum) ...
    let mut data = large_tar(|t| {
        t.file("corrupt-me", b"");
    });
    let at = data.windows(10).position(|w| w == b"corrupt-me").unwrap();
    data[at + 100] ^= 1;
    let e = load_err(data);
    assert_eq!(problem(&e), ("corrupt-me", &EntryProblem::BadChecksum));
    // ... and while building the tree.
    let e = load_err(large_tar(|t| {
        t.file("../escape", b"");
    }));
    assert_eq!(problem(&e), ("../escape", &EntryProblem::DotDot));
    // An error early on, with most of the archive still unwalked.
    let mut t = Tar::default();
    t.file("../early", b"");
    let mut data = t.0;
    data.extend(large_tar(|_| {}));
    let e = load_err(data);
    assert_eq!(problem(&e), ("../early", &EntryProblem::DotDot));
}

#[test]
fn inode_count_is_limited_including_implicit_directories() {
    // Two headers, but each creates a 100-directory-deep path: memory per archive byte is
    // what the limit bounds.
    let deep = |c: char| vec![c.to_string(); 100].join("/");
    let data = Tar::default()
        .pax(&[("path", format!("{}/f", deep('a')).as_bytes())])
        .file("x", b"")
        .pax(&[("path", format!("{}/f", deep('b')).as_bytes())])
        .file("y", b"")
        .finish();
    let opts = |n| LoadOptions {
        limits: Limits {
            max_inodes: n,
            ..Limits::default()
        },
        ..Default::default()
    };
    let img = load_bytes(Bytes::from(data.clone()), &opts(202)).unwrap();
    assert_eq!(img.stats.implicit_dirs, 200);
    let e = load_bytes(Bytes::from(data), &opts(150)).unwrap_err();
    assert_eq!(
        problem(&e),
        (
            &*format!("{}/f", deep('b')),
            &EntryProblem::TooManyInodes { limit: 150 }
        )
    );
}

#[test]
fn parent_directories_are_found_again_after_switching_paths() {
    // Exercises the parent cache: shared prefixes, a sibling whose name extends a cached
    // component, going back up, and a cached directory replaced by a file.
    let img = load(
        Tar::default()
            .file("a/b/c/1", b"1")
            .file("a/b/cd/2", b"2")
            .file("a/b/c/3", b"3")
            .file("a/b/4", b"4")
            .file("a/bb/5", b"5")
            .file("a/b/c/d/e/6", b"6")
            .file("a/b/c/d/7", b"7")
            .file("x/8", b"8")
            .file("a/b/c/9", b"9")
            .dir("e", 0o755)
            .file("e", b"e is a file now")
            .file("f/10", b"10")
            .finish(),
    );
    let fs = &img.fs;
    for (p, c) in [
        ("a/b/c/1", "1"),
        ("a/b/cd/2", "2"),
        ("a/b/c/3", "3"),
        ("a/b/4", "4"),
        ("a/bb/5", "5"),
        ("a/b/c/d/e/6", "6"),
        ("a/b/c/d/7", "7"),
        ("x/8", "8"),
        ("a/b/c/9", "9"),
        ("f/10", "10"),
    ] {
        assert_eq!(content(fs, p), c.as_bytes(), "{p}");
    }
    assert_eq!(fs.dir(ino(fs, "a/b/c")).unwrap().entries.len(), 4);
    assert_eq!(img.stats.implicit_dirs, 9);
    // A file replacing a cached (empty) directory, then used as a parent.
    let e = load_err(
        Tar::default()
            .dir("d/e", 0o755)
            .file("d/e/f", b"")
            .file("d/x", b"")
            .file("d/x/y", b"")
            .finish(),
    );
    assert_eq!(
        problem(&e).1,
        &EntryProblem::ParentNotDirectory {
            parent: "d/x".into()
        }
    );
    let e = load_err(
        Tar::default()
            .file("g/h/i", b"")
            .dir("g/k", 0o755)
            .file("g/k", b"")
            .file("g/k/z", b"")
            .finish(),
    );
    assert_eq!(
        problem(&e).1,
        &EntryProblem::ParentNotDirectory {
            parent: "g/k".into()
        }
    );
}

#[test]
fn paths_that_cannot_be_mapped_are_read_as_streams() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, gzip(&sample_tar())).unwrap())
    };
    let img = load_path(&fifo, &LoadOptions::default()).unwrap();
    writer.join().unwrap();
    assert!(img.stats.gzip);
    assert_eq!(content(&img.fs, "three"), b"3");
    // Unmapped regular files are bounded by the same limit.
    let path = dir.path().join("t.tar");
    std::fs::write(&path, sample_tar()).unwrap();
    let opts = LoadOptions {
        mmap: false,
        limits: Limits {
            max_image_bytes: 1000,
            ..Limits::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        load_path(&path, &opts),
        Err(ImageError::TooLarge { limit: 1000 })
    ));
    match load_path(dir.path().join("missing"), &LoadOptions::default()) {
        Err(ImageError::Io { path, .. }) => assert!(path.ends_with("missing")),
        other => panic!("{other:?}"),
    }
}

/// What `tar --format FORMAT` makes of `src`, loaded by strata.
fn gnu_tar_image(
    src: &std::path::Path,
    format: &str,
    out: &std::path::Path,
) -> Result<MemFs, String> {
    let tar_path = out.join(format!("{format}.tar"));
    let o = gnu_tar()
        .args(["--format", format, "--sort=name", "-C"])
        .arg(src)
        .arg("-cf")
        .arg(&tar_path)
        .arg(".")
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(load_path(&tar_path, &LoadOptions::default()).unwrap().fs)
}

/// The metadata GNU tar records in every format: permission bits and whole-second mtime.
fn assert_meta(fs: &MemFs, path: &str, mode: u32, mtime_s: u64, format: &str) {
    let st = fs.stat(ino(fs, path)).unwrap();
    assert_eq!(st.mode & 0o7777, mode, "{format}: mode of {path}");
    assert_eq!(
        st.mtim / 1_000_000_000,
        mtime_s,
        "{format}: mtime of {path}"
    );
}

#[test]
fn archives_written_by_gnu_tar_in_every_format() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let set_mtime = |p: &std::path::Path, s: u64| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        std::fs::File::open(p).unwrap().set_modified(t).unwrap();
    };
    let dir = tempfile::tempdir().unwrap();
    // A tree every format can hold: names under 100 bytes (ustar also takes a 150-byte path
    // in its prefix field, v7 does not), a regular file, an executable and a hard link to
    // it, a symlink, an empty directory, with modes and times to check.
    let short = dir.path().join("short");
    std::fs::create_dir_all(short.join("sub/empty")).unwrap();
    std::fs::write(short.join("sub/file"), b"contents\n").unwrap();
    std::fs::set_permissions(
        short.join("sub/file"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::write(short.join("exec"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(short.join("exec"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::hard_link(short.join("exec"), short.join("exec-link")).unwrap();
    symlink("sub/file", short.join("sym")).unwrap();
    set_mtime(&short.join("sub/file"), 1_234_567_890);
    set_mtime(&short.join("exec"), 1_000_000_000);
    std::fs::set_permissions(
        short.join("sub/empty"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    set_mtime(&short.join("sub/empty"), 1_500_000_000);
    for format in ["gnu", "oldgnu", "pax", "ustar", "v7"] {
        let fs =
            gnu_tar_image(&short, format, dir.path()).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(content(&fs, "sub/file"), b"contents\n", "{format}");
        assert_meta(&fs, "sub/file", 0o640, 1_234_567_890, format);
        assert_eq!(content(&fs, "exec"), b"#!/bin/sh\n", "{format}");
        assert_meta(&fs, "exec", 0o755, 1_000_000_000, format);
        assert_eq!(
            ino(&fs, "exec-link"),
            ino(&fs, "exec"),
            "{format}: hard link"
        );
        assert_eq!(kind(&fs, "sym"), FileType::SymbolicLink, "{format}");
        assert_eq!(
            &*fs.readlink(ino(&fs, "sym")).unwrap(),
            "sub/file",
            "{format}"
        );
        assert_eq!(kind(&fs, "sub/empty"), FileType::Directory, "{format}");
        assert_meta(&fs, "sub/empty", 0o700, 1_500_000_000, format);
        let mut names: Vec<String> = listing(&fs)
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "/",
                "/exec",
                "/exec-link",
                "/sub",
                "/sub/empty",
                "/sub/file",
                "/sym"
            ],
            "{format}: nothing more, nothing less"
        );
    }
    // Long names: GNU long-name members (gnu, oldgnu) and pax records hold them; ustar and v7
    // cannot, and GNU tar refuses to write them.
    let long = dir.path().join("long");
    let long_dir = long.join("l".repeat(90)).join("m".repeat(90));
    std::fs::create_dir_all(&long_dir).unwrap();
    std::fs::write(long_dir.join("n".repeat(120)), b"long").unwrap();
    set_mtime(&long_dir.join("n".repeat(120)), 1_111_111_111);
    symlink("t".repeat(130), long.join("long-sym")).unwrap();
    let long_path = format!("{}/{}/{}", "l".repeat(90), "m".repeat(90), "n".repeat(120));
    for format in ["gnu", "oldgnu", "pax"] {
        let fs =
            gnu_tar_image(&long, format, dir.path()).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(content(&fs, &long_path), b"long", "{format}");
        assert_meta(&fs, &long_path, 0o644, 1_111_111_111, format);
        assert_eq!(
            *fs.readlink(ino(&fs, "long-sym")).unwrap(),
            "t".repeat(130),
            "{format}"
        );
    }
    for format in ["ustar", "v7"] {
        assert!(
            gnu_tar_image(&long, format, dir.path()).is_err(),
            "{format} holds a 300-byte name"
        );
    }
    // ustar's prefix field: a 150-byte path whose last component is short.
    let prefixed = dir.path().join("prefixed");
    let deep = prefixed.join("p".repeat(70)).join("q".repeat(70));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("f"), b"prefix").unwrap();
    let fs = gnu_tar_image(&prefixed, "ustar", dir.path()).unwrap();
    assert_eq!(
        content(&fs, &format!("{}/{}/f", "p".repeat(70), "q".repeat(70))),
        b"prefix"
    );
}

// ---------------------------------------------------------------------------------------------
// Error messages

/// A name with a terminal escape, a newline, a DEL and a byte that is not UTF-8.
const HOSTILE: &[u8] = b"evil\x1b[31m\nfake line\x7f\xff";

/// The message is one line of printable text showing every hostile byte escaped.
fn assert_escaped(e: &dyn std::fmt::Display) {
    let msg = e.to_string();
    assert!(
        !msg.bytes().any(|b| b < 0x20 || b == 0x7f),
        "raw control byte in {msg:?}"
    );
    assert!(
        !msg.chars().any(char::is_control),
        "control character in {msg:?}"
    );
    assert!(msg.contains(r"\u{1b}[31m\nfake line\u{7f}"), "{msg}");
}

#[test]
fn messages_escape_hostile_member_names() {
    let mut hostile_dir = HOSTILE.to_vec();
    hostile_dir.extend_from_slice(b"/../x");
    let mut corrupt = Tar::default().typed(HOSTILE, b'0').finish();
    corrupt[148] ^= 1; // the checksum field
    let mut truncated = Tar::default();
    truncated.raw(&header(HOSTILE, b'0', 600, b"", 0o644, 0), b"");
    let truncated = truncated.0;
    for (what, tar) in [
        ("not UTF-8", Tar::default().typed(HOSTILE, b'0').finish()),
        (
            "not UTF-8, with ..",
            Tar::default().typed(&hostile_dir, b'0').finish(),
        ),
        ("bad checksum", corrupt),
        ("truncated", truncated),
        (
            "pax path",
            Tar::default()
                .pax(&[("path", &hostile_dir)])
                .file("x", b"")
                .finish(),
        ),
    ] {
        let e = load_err(tar);
        assert!(matches!(e, ImageError::Entry { .. }), "{what}: {e:?}");
        assert_escaped(&e);
        let msg = e.to_string();
        assert!(msg.contains(r"\xff"), "{what}: {msg}");
        assert!(msg.starts_with(r#"tar entry "evil\u{1b}"#), "{what}: {msg}");
    }
    // The exact bytes are kept for callers.
    let e = load_err(Tar::default().typed(HOSTILE, b'0').finish());
    assert_eq!(e.entry_bytes(), Some(HOSTILE));
    assert_eq!(
        e.to_string(),
        r#"tar entry "evil\u{1b}[31m\nfake line\u{7f}\xff" (header at byte 0): name is not valid UTF-8"#
    );
}

#[test]
fn messages_escape_hostile_parent_and_link_target_names() {
    // Valid UTF-8 with control characters: it gets past the name checks to where the parent
    // or the link target is named.
    let name = "evil\u{1b}[31m\nfake line\u{7f}";
    let e = load_err(
        Tar::default()
            .symlink(name, "/etc")
            .file(&format!("{name}/passwd"), b"x")
            .finish(),
    );
    assert!(matches!(problem(&e).1, EntryProblem::ThroughSymlink { .. }));
    assert_escaped(&e);
    let e = load_err(
        Tar::default()
            .file(name, b"x")
            .file(&format!("{name}/y"), b"x")
            .finish(),
    );
    assert!(matches!(
        problem(&e).1,
        EntryProblem::ParentNotDirectory { .. }
    ));
    assert_escaped(&e);
    let e = load_err(Tar::default().hardlink("h", name).finish());
    assert!(matches!(
        problem(&e).1,
        EntryProblem::LinkTargetMissing { .. }
    ));
    assert_escaped(&e);
    let e = load_err(Tar::default().dir(name, 0o755).hardlink("h", name).finish());
    assert!(matches!(
        problem(&e).1,
        EntryProblem::LinkToDirectory { .. }
    ));
    assert_escaped(&e);
    let e = load_err(
        Tar::default()
            .hardlink("h", &format!("{name}/../../x"))
            .finish(),
    );
    assert!(matches!(problem(&e).1, EntryProblem::BadLinkTarget { .. }));
    assert_escaped(&e);
}

#[test]
fn export_messages_escape_names() {
    let mut fs = MemFs::new(0, Arc::new(SteppingClock::new(1_000, 1)));
    fs.create_file(ROOT_INO, "evil\u{1b}[31m\nfake line\u{7f}\0", 0o644)
        .unwrap();
    let e = export_memfs(&fs, ROOT_INO, Vec::new(), &ExportOptions::default()).unwrap_err();
    assert_escaped(&e);
    assert!(e.to_string().contains(r"\0"), "{e}");
}
