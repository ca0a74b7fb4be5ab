//! Resolver and file-operation throughput of the in-memory filesystem, each measured side by
//! side with the same operation on the host's tmpfs (`/dev/shm`, through libc `*at` calls on a
//! directory fd) so that the report puts the two next to each other.
//!
//! Run with `cargo bench --no-default-features --bench vfs`.

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, black_box};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};
use strata::vfs::{NodeId, OpenOptions, Vfs};

/// Components in the deep-path benchmark (19 directories and the file).
const DEPTH: usize = 20;
/// Entries in the big-directory benchmarks.
const NFILES: usize = 10_000;
/// Chunk size and file size of the data benchmarks.
const CHUNK: usize = 64 * 1024;
const FILE_SIZE: usize = 16 * 1024 * 1024;
/// What wasi-libc hands `fd_readdir` (its default `readdir` buffer).
const GUEST_DIRENT_BUF: usize = 4096;
/// Size of a WASI `dirent` header before the name.
const WASI_DIRENT_HEAD: usize = 24;

// ----------------------------------------------------------------------------------------------
// Host side helpers.

/// Panics with the OS error when a libc call returned -1.
fn check(ret: libc::c_long, what: &str) -> libc::c_long {
    if ret < 0 {
        panic!("{what}: {}", std::io::Error::last_os_error());
    }
    ret
}

fn cstr(s: &[u8]) -> CString {
    CString::new(s).expect("no NUL in benchmark paths")
}

fn open_dir(at: RawFd, path: &[u8]) -> OwnedFd {
    let p = cstr(path);
    // SAFETY: `p` is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::openat(
            at,
            p.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    check(fd as _, "openat dir");
    // SAFETY: `check` returned, so `fd` is a new descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn mkdirat(at: RawFd, path: &[u8]) {
    let p = cstr(path);
    check(
        // SAFETY: `p` is a NUL-terminated string that outlives the call.
        unsafe { libc::mkdirat(at, p.as_ptr(), 0o755) } as _,
        "mkdirat",
    );
}

fn symlinkat(target: &[u8], at: RawFd, path: &[u8]) {
    let (t, p) = (cstr(target), cstr(path));
    check(
        // SAFETY: `t` and `p` are NUL-terminated strings that outlive the call.
        unsafe { libc::symlinkat(t.as_ptr(), at, p.as_ptr()) } as _,
        "symlinkat",
    );
}

fn create_at(at: RawFd, path: &CString) -> RawFd {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::openat(
            at,
            path.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    check(fd as _, "openat create") as RawFd
}

fn stat_at(at: RawFd, path: &CString, flags: libc::c_int) -> libc::stat {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    check(
        // SAFETY: `path` is NUL-terminated; `st` is valid for one `stat` to be written.
        unsafe { libc::fstatat(at, path.as_ptr(), st.as_mut_ptr(), flags) } as _,
        "fstatat",
    );
    // SAFETY: `check` returned, so fstatat succeeded and filled `st`.
    unsafe { st.assume_init() }
}

fn unlink_at(at: RawFd, path: &CString) {
    check(
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        unsafe { libc::unlinkat(at, path.as_ptr(), 0) } as _,
        "unlinkat",
    );
}

fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe { libc::close(fd) };
}

/// A scratch directory on the host's tmpfs, removed at the end.
struct HostDir {
    _tmp: tempfile::TempDir,
    fd: OwnedFd,
}

impl HostDir {
    fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("strata-bench-")
            .tempdir_in("/dev/shm")
            .expect("a scratch directory in /dev/shm");
        let path = std::os::unix::ffi::OsStrExt::as_bytes(tmp.path().as_os_str()).to_vec();
        let fd = open_dir(libc::AT_FDCWD, &path);
        HostDir { _tmp: tmp, fd }
    }

    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

// ----------------------------------------------------------------------------------------------
// Shared fixtures.

fn deep_dirs() -> Vec<String> {
    (0..DEPTH - 1)
        .map(|i| ((b'a' + i as u8) as char).to_string())
        .collect()
}

/// `a/b/.../s/file`: 20 components.
fn deep_path() -> Vec<u8> {
    let mut p = deep_dirs().join("/");
    p.push_str("/file");
    assert_eq!(p.split('/').count(), DEPTH);
    p.into_bytes()
}

/// Symlinks met on the way to `e/f/target` (all relative, as strata refuses absolute ones):
/// `sym` -> `d` (a directory), `d/l0` -> `l1`, `d/l1` -> `../e/l2`, `e/l2` -> `f/target`.
const SYMLINKS: [(&str, &str); 4] = [
    ("sym", "d"),
    ("d/l0", "l1"),
    ("d/l1", "../e/l2"),
    ("e/l2", "f/target"),
];
const SYM_PATH: &[u8] = b"sym/l0";

fn file_names() -> Vec<Vec<u8>> {
    (0..NFILES)
        .map(|i| format!("file-{i:05}").into_bytes())
        .collect()
}

fn vfs_create(vfs: &mut Vfs, base: NodeId, path: &[u8]) -> NodeId {
    let id = vfs
        .open(
            base,
            path,
            OpenOptions {
                create: true,
                exclusive: true,
                ..Default::default()
            },
        )
        .expect("vfs create");
    vfs.release(id);
    id
}

fn vfs_open_file(vfs: &mut Vfs, base: NodeId, path: &[u8]) -> NodeId {
    vfs.open(
        base,
        path,
        OpenOptions {
            follow: true,
            ..Default::default()
        },
    )
    .expect("vfs open")
}

// ----------------------------------------------------------------------------------------------
// 1 and 2: path resolution.

fn bench_resolve(c: &mut Criterion) {
    let path = deep_path();
    let cpath = cstr(&path);

    let mut vfs = Vfs::default();
    let root = vfs.root();
    vfs.mkdir_all(root, &deep_dirs().join("/")).unwrap();
    vfs_create(&mut vfs, root, &path);

    let host = HostDir::new();
    let mut prefix = Vec::new();
    for d in deep_dirs() {
        prefix.extend_from_slice(d.as_bytes());
        mkdirat(host.fd(), &prefix);
        prefix.push(b'/');
    }
    close(create_at(host.fd(), &cpath));

    let mut g = c.benchmark_group("resolve_20_components");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strata_stat", |b| {
        b.iter(|| black_box(vfs.stat(root, black_box(&path), true).unwrap()))
    });
    g.bench_function("tmpfs_fstatat", |b| {
        b.iter(|| black_box(stat_at(host.fd(), black_box(&cpath), 0)))
    });
    g.bench_function("strata_open_release", |b| {
        b.iter(|| {
            let id = vfs_open_file(&mut vfs, root, black_box(&path));
            vfs.release(id);
        })
    });
    g.bench_function("tmpfs_openat_close", |b| {
        b.iter(|| {
            // SAFETY: `cpath` is a NUL-terminated string that outlives the call.
            let fd = unsafe {
                libc::openat(
                    host.fd(),
                    black_box(&cpath).as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                )
            };
            close(check(fd as _, "openat") as RawFd);
        })
    });
    g.finish();

    // Symlink hops.
    let mut vfs = Vfs::default();
    let root = vfs.root();
    let host = HostDir::new();
    for dir in ["d", "e", "e/f"] {
        vfs.mkdir(root, dir.as_bytes()).unwrap();
        mkdirat(host.fd(), dir.as_bytes());
    }
    vfs_create(&mut vfs, root, b"e/f/target");
    close(create_at(host.fd(), &cstr(b"e/f/target")));
    for (link, target) in SYMLINKS {
        vfs.symlink(target.as_bytes(), root, link.as_bytes())
            .unwrap();
        symlinkat(target.as_bytes(), host.fd(), link.as_bytes());
    }
    let target = vfs.lookup(root, b"e/f/target", false).unwrap();
    assert_eq!(vfs.lookup(root, SYM_PATH, true).unwrap(), target);
    let csym = cstr(SYM_PATH);
    assert_eq!(
        stat_at(host.fd(), &csym, 0).st_ino,
        stat_at(host.fd(), &cstr(b"e/f/target"), 0).st_ino
    );

    let mut g = c.benchmark_group("resolve_4_symlinks");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strata_stat", |b| {
        b.iter(|| black_box(vfs.stat(root, black_box(SYM_PATH), true).unwrap()))
    });
    g.bench_function("tmpfs_fstatat", |b| {
        b.iter(|| black_box(stat_at(host.fd(), black_box(&csym), 0)))
    });
    g.finish();
}

// ----------------------------------------------------------------------------------------------
// 3: create, stat and remove 10,000 files in one directory. Every iteration starts from the
// same state: create times creating into the empty directory (and untimed removal after),
// unlink times removing from the full one (after an untimed re-creation).

fn bench_many_files(c: &mut Criterion) {
    let names = file_names();
    let cnames: Vec<CString> = names.iter().map(|n| cstr(n)).collect();

    let mut vfs = Vfs::default();
    let root = vfs.root();
    let vdir = vfs.mkdir(root, b"churn").unwrap();
    let host = HostDir::new();
    mkdirat(host.fd(), b"churn");
    let hdir = open_dir(host.fd(), b"churn");
    let hdir = hdir.as_raw_fd();

    let v_create_all = |vfs: &mut Vfs| {
        for n in &names {
            vfs_create(vfs, vdir, n);
        }
    };
    let v_unlink_all = |vfs: &mut Vfs| {
        for n in &names {
            vfs.unlink(vdir, n).unwrap();
        }
    };
    let h_create_all = || {
        for n in &cnames {
            close(create_at(hdir, n));
        }
    };
    let h_unlink_all = || {
        for n in &cnames {
            unlink_at(hdir, n);
        }
    };

    let mut g = c.benchmark_group("files_10k");
    g.throughput(Throughput::Elements(NFILES as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);

    g.bench_function("strata_create", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let s = Instant::now();
                v_create_all(&mut vfs);
                t += s.elapsed();
                v_unlink_all(&mut vfs);
            }
            t
        })
    });
    g.bench_function("tmpfs_create", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let s = Instant::now();
                h_create_all();
                t += s.elapsed();
                h_unlink_all();
            }
            t
        })
    });

    v_create_all(&mut vfs);
    h_create_all();
    g.bench_function("strata_stat", |b| {
        b.iter(|| {
            for n in &names {
                black_box(vfs.stat(vdir, n, false).unwrap());
            }
        })
    });
    g.bench_function("tmpfs_fstatat", |b| {
        b.iter(|| {
            for n in &cnames {
                black_box(stat_at(hdir, n, libc::AT_SYMLINK_NOFOLLOW));
            }
        })
    });

    g.bench_function("strata_unlink", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let s = Instant::now();
                v_unlink_all(&mut vfs);
                t += s.elapsed();
                v_create_all(&mut vfs);
            }
            t
        })
    });
    g.bench_function("tmpfs_unlink", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let s = Instant::now();
                h_unlink_all();
                t += s.elapsed();
                h_create_all();
            }
            t
        })
    });
    g.finish();
}

// ----------------------------------------------------------------------------------------------
// 4: sequential 64 KiB writes and reads of a 16 MiB file.

fn bench_data(c: &mut Criterion) {
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let mut buf = vec![0u8; CHUNK];
    let chunks = FILE_SIZE / CHUNK;

    let mut vfs = Vfs::default();
    let root = vfs.root();
    vfs_create(&mut vfs, root, b"data");
    let vid = vfs_open_file(&mut vfs, root, b"data");

    let host = HostDir::new();
    let hfd = {
        // SAFETY: a NUL-terminated literal path.
        let fd = unsafe {
            libc::openat(
                host.fd(),
                c"data".as_ptr(),
                libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
                0o644 as libc::c_uint,
            )
        };
        // SAFETY: `check` returned, so `fd` is a new descriptor nothing else owns.
        unsafe { OwnedFd::from_raw_fd(check(fd as _, "openat data") as RawFd) }
    };
    let hfd = hfd.as_raw_fd();

    let v_write_all = |vfs: &mut Vfs| {
        for i in 0..chunks {
            vfs.write(vid, Some((i * CHUNK) as u64), black_box(&chunk))
                .unwrap();
        }
    };
    let h_write_all = || {
        for i in 0..chunks {
            // SAFETY: `chunk` holds CHUNK readable bytes for the length of the call.
            let n = unsafe {
                libc::pwrite(
                    hfd,
                    chunk.as_ptr().cast(),
                    CHUNK,
                    (i * CHUNK) as libc::off_t,
                )
            };
            assert_eq!(check(n as _, "pwrite") as usize, CHUNK);
        }
    };

    let mut g = c.benchmark_group("data_16MiB_64KiB_chunks");
    g.throughput(Throughput::Bytes(FILE_SIZE as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);

    // Writing into an emptied file: block (page) allocation included, as for a fresh file.
    g.bench_function("strata_write_after_truncate", |b| {
        b.iter(|| {
            vfs.set_size(vid, 0).unwrap();
            v_write_all(&mut vfs);
        })
    });
    g.bench_function("tmpfs_write_after_truncate", |b| {
        b.iter(|| {
            // SAFETY: `hfd` is the open data file.
            check(unsafe { libc::ftruncate(hfd, 0) } as _, "ftruncate");
            h_write_all();
        })
    });

    // Overwriting in place: the file keeps its 16 MiB between iterations.
    g.bench_function("strata_overwrite", |b| b.iter(|| v_write_all(&mut vfs)));
    g.bench_function("tmpfs_overwrite", |b| b.iter(h_write_all));

    g.bench_function("strata_read", |b| {
        b.iter(|| {
            for i in 0..chunks {
                let n = vfs.read(vid, (i * CHUNK) as u64, &mut buf).unwrap();
                assert_eq!(n, CHUNK);
                black_box(&buf);
            }
        })
    });
    g.bench_function("tmpfs_read", |b| {
        b.iter(|| {
            for i in 0..chunks {
                // SAFETY: `buf` has CHUNK writable bytes for the length of the call.
                let n = unsafe {
                    libc::pread(
                        hfd,
                        buf.as_mut_ptr().cast(),
                        CHUNK,
                        (i * CHUNK) as libc::off_t,
                    )
                };
                assert_eq!(check(n as _, "pread") as usize, CHUNK);
                black_box(&buf);
            }
        })
    });
    g.finish();
    vfs.release(vid);
}

// ----------------------------------------------------------------------------------------------
// 5: listing a 10,000-entry directory.

/// One `fd_readdir`-sized page: the entries that fit whole in a guest buffer of `cap` bytes,
/// resuming at `cookie`; returns the cookie to resume from, or `None` at the end.
fn vfs_readdir_page(
    vfs: &Vfs,
    dir: NodeId,
    cookie: u64,
    cap: usize,
    seen: &mut usize,
) -> Option<u64> {
    // Lazily, as `fd_readdir` does: only the entries that fit are produced.
    let mut used = 0;
    let mut next = cookie;
    for (c, name, ino, _ft) in vfs.readdir_iter(dir, cookie).unwrap() {
        let size = WASI_DIRENT_HEAD + name.len();
        if used + size > cap {
            // Cut short: the guest asks again from the last whole entry.
            return Some(next);
        }
        used += size;
        next = c;
        *seen += 1;
        black_box((&name, ino));
    }
    None
}

/// Walks the `getdents64` records in `buf[..n]`; returns how many.
fn count_dirents(buf: &[u8]) -> usize {
    let mut off = 0;
    let mut count = 0;
    while off < buf.len() {
        // d_ino: u64, d_off: i64, d_reclen: u16, d_type: u8, d_name...
        let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
        black_box(&buf[off + 19..off + reclen]);
        count += 1;
        off += reclen;
    }
    count
}

fn host_list(fd: RawFd, buf: &mut [u8]) -> usize {
    // SAFETY: lseek on a descriptor the caller owns; no memory is touched.
    check(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } as _, "lseek");
    let mut seen = 0;
    loop {
        // SAFETY: getdents64 writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        let n = check(n, "getdents64") as usize;
        if n == 0 {
            return seen;
        }
        seen += count_dirents(&buf[..n]);
    }
}

fn bench_readdir(c: &mut Criterion) {
    let names = file_names();

    let mut vfs = Vfs::default();
    let root = vfs.root();
    let vdir = vfs.mkdir(root, b"big").unwrap();
    for n in &names {
        vfs_create(&mut vfs, vdir, n);
    }
    let host = HostDir::new();
    mkdirat(host.fd(), b"big");
    let hdir = open_dir(host.fd(), b"big");
    for n in &names {
        close(create_at(hdir.as_raw_fd(), &cstr(n)));
    }
    let hdir = hdir.as_raw_fd();
    let all = NFILES + 2; // with `.` and `..`

    let mut g = c.benchmark_group("readdir_10k");
    g.throughput(Throughput::Elements(all as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);

    // Pages of what fits in a 4 KiB guest buffer, resumed by cookie, as a guest's readdir does.
    let cap = GUEST_DIRENT_BUF;
    g.bench_function(BenchmarkId::new("strata_cookie_pages", cap), |b| {
        b.iter(|| {
            let mut seen = 0;
            let mut cookie = 0;
            while let Some(c) = vfs_readdir_page(&vfs, vdir, cookie, cap, &mut seen) {
                cookie = c;
            }
            assert_eq!(seen, all);
        })
    });
    let mut small = vec![0u8; cap];
    g.bench_function(BenchmarkId::new("tmpfs_getdents64", cap), |b| {
        b.iter(|| assert_eq!(host_list(hdir, &mut small), all))
    });

    // One entry per call, resumed by cookie (a guest with a tiny buffer): the whole listing
    // stays linear, each call finding its cookie's place directly (`tests/vfs_ops.rs` checks
    // that every entry is seen once; how long it takes is measured here, not asserted there).
    g.bench_function("strata_one_entry_per_call", |b| {
        b.iter(|| {
            let (mut cookie, mut seen) = (0, 0);
            while let Some((next, ..)) = vfs.readdir_iter(vdir, cookie).unwrap().next() {
                cookie = next;
                seen += 1;
            }
            assert_eq!(seen, all);
        })
    });

    // Everything in one call.
    g.bench_function("strata_one_call", |b| {
        b.iter(|| {
            let mut seen = 0;
            assert!(vfs_readdir_page(&vfs, vdir, 0, usize::MAX, &mut seen).is_none());
            assert_eq!(seen, all);
        })
    });
    let mut large = vec![0u8; 1 << 20];
    g.bench_function(BenchmarkId::new("tmpfs_getdents64", 1 << 20), |b| {
        b.iter(|| assert_eq!(host_list(hdir, &mut large), all))
    });
    g.finish();
}

// ----------------------------------------------------------------------------------------------
// 6: forking a prepared filesystem (what every sandbox run does) and its first write.

fn bench_fork(c: &mut Criterion) {
    use strata::vfs::{FileData, MemFs, SystemClock};
    let mut fs = MemFs::new(1, std::sync::Arc::new(SystemClock));
    let root = fs.root();
    for d in 0..100 {
        let dir = fs.mkdir(root, &format!("d{d}"), 0o755).unwrap();
        for f in 0..200 {
            let data = FileData::from_bytes(vec![7u8; 1000].into());
            fs.create_file_with(dir, &format!("f{f}"), data, 0o644)
                .unwrap();
        }
    }
    fs.freeze();
    let mut g = c.benchmark_group("fork_20k_nodes");
    g.bench_function("fork", |b| b.iter(|| black_box(fs.fork())));
    let target = fs
        .lookup(fs.lookup(root, "d50").unwrap().unwrap(), "f100")
        .unwrap()
        .unwrap();
    g.bench_function("fork_then_first_write", |b| {
        b.iter(|| {
            let mut f = fs.fork();
            f.write(target, Some(0), b"changed").unwrap();
            black_box(f)
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_millis(2500))
        .configure_from_args();
    bench_resolve(&mut c);
    bench_many_files(&mut c);
    bench_data(&mut c);
    bench_readdir(&mut c);
    bench_fork(&mut c);
    c.final_summary();
}
