//! strata against other ways of running the same WASI program: the filesystem workloads of
//! `benches/workload/` run through strata, wasmtime (the PyPI package, through
//! `benches/peers/wasmtime_run.py`), Node's `node:wasi` (`benches/peers/node_run.mjs`) and the
//! native build of the same program, interleaved in one invocation.
//!
//! ```sh
//! cargo bench --bench peers
//! ```
//!
//! strata runs entirely in memory: no `--dir`, the guest creates `/work` in its own writable
//! root, and the image is mounted with `--image TAR::/img`. The host-directory peers get a
//! fresh directory on `/dev/shm` as `/work` and the image extracted there (`tar -x`, timed on
//! its own) as `/img`; the native program runs in a fresh `/dev/shm` directory and reads the
//! extracted image directly. Every run is a child process: its wall time from spawn to exit and
//! its peak RSS (`wait4`) are measured from outside, the workload times itself inside.
//!
//! Environment:
//!
//! - `STRATA_BENCH_REPS` (default 5): timed rounds, after one untimed warm-up round.
//! - `STRATA_BENCH_QUICK=1`: tiny sizes, a tiny image and 2 rounds (a smoke test).
//! - `STRATA_BENCH_PEERS=strata,native,wasmtime,node`: run only these.
//! - `STRATA_BENCH_BASELINE=path/to/strata`: add a `baseline` column, another strata binary
//!   (e.g. built from the previous commit) run the same way in the same rounds.
//! - `STRATA_BENCH_IMAGE=path/to/image.tar`: use this image instead of the generated one
//!   (`path/to/image.tar.gz` beside it, if present, is used for the `.tar.gz` rows).
//! - `STRATA_BENCH_PYTHON`, `STRATA_BENCH_PYTHON_STDLIB`, `STRATA_BENCH_CLANG`,
//!   `STRATA_BENCH_YOSYS`: add real programs (an interpreter, a compiler, a synthesis tool)
//!   from start to exit on strata and on wasmtime, time and peak RSS (`real_programs`).
//!
//! A peer that is not installed is skipped with a message. A failed run or checksums that
//! differ between runs of one workload are reported and make the exit status non-zero.
//! Results are printed as markdown and written to `<target>/bench-results/peers-<time>.md`.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[path = "peers/real_programs.rs"]
mod real_programs;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Guest paths of the work directory and the image.
const GUEST_WORK: &str = "/work";
const GUEST_IMAGE: &str = "/img";

// ----------------------------------------------------------------------------------------------
// Peers and workloads.

/// The strata binary to compare against (`STRATA_BENCH_BASELINE`), if given.
fn baseline_binary() -> Option<OsString> {
    std::env::var_os("STRATA_BENCH_BASELINE").filter(|v| !v.is_empty())
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Peer {
    Native,
    Strata,
    /// Another strata binary (`STRATA_BENCH_BASELINE`), e.g. the previous commit's, run the
    /// same way in the same rounds: before/after figures from one run.
    Baseline,
    Wasmtime,
    Node,
}

impl Peer {
    /// Column order of the tables.
    const ALL: [Peer; 5] = [
        Peer::Native,
        Peer::Strata,
        Peer::Baseline,
        Peer::Wasmtime,
        Peer::Node,
    ];

    fn is_strata(self) -> bool {
        matches!(self, Peer::Strata | Peer::Baseline)
    }

    fn name(self) -> &'static str {
        match self {
            Peer::Native => "native",
            Peer::Strata => "strata",
            Peer::Baseline => "baseline",
            Peer::Wasmtime => "wasmtime",
            Peer::Node => "node",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Workload {
    Startup,
    Create,
    Seqio,
    Deepopen,
    Smallread,
    /// `startup` with the image mounted by `--image` (strata only).
    Mount,
    /// The same with the `.tar.gz` image.
    MountGz,
}

impl Workload {
    const ALL: [Workload; 7] = [
        Workload::Startup,
        Workload::Create,
        Workload::Seqio,
        Workload::Deepopen,
        Workload::Smallread,
        Workload::Mount,
        Workload::MountGz,
    ];

    /// The subcommand of the workload program.
    fn command(self) -> &'static str {
        match self {
            Workload::Startup | Workload::Mount | Workload::MountGz => "startup",
            Workload::Create => "create",
            Workload::Seqio => "seqio",
            Workload::Deepopen => "deepopen",
            Workload::Smallread => "smallread",
        }
    }

    /// Whether it needs a writable work directory.
    fn writes(self) -> bool {
        matches!(
            self,
            Workload::Create | Workload::Seqio | Workload::Deepopen
        )
    }

    fn label(self, sizes: &Sizes) -> String {
        match self {
            Workload::Startup => "startup".into(),
            Workload::Create => format!("create {}", sizes.create_files),
            Workload::Seqio => format!("seqio {} MiB", sizes.seqio_mib),
            Workload::Deepopen => format!("deepopen {} × {}", sizes.deep_depth, sizes.deep_opens),
            Workload::Smallread => "smallread image".into(),
            Workload::Mount => "mount image.tar".into(),
            Workload::MountGz => "mount image.tar.gz".into(),
        }
    }
}

struct Sizes {
    create_files: u64,
    seqio_mib: u64,
    deep_depth: u64,
    deep_opens: u64,
}

/// One child process to run.
struct Invocation {
    argv: Vec<OsString>,
    /// A fresh directory to create before and remove after the run (host-directory peers and
    /// native); native runs in it.
    workdir: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

/// What one successful run measured.
struct Run {
    wall_ms: f64,
    rss_mib: f64,
    guest_ms: f64,
    sum: String,
}

struct Bench {
    wasm: PathBuf,
    native: PathBuf,
    runners: PathBuf,
    image: Image,
    /// The image extracted for the host-directory peers and native.
    extracted: PathBuf,
    /// Everything this run puts on tmpfs, removed at the end.
    scratch: PathBuf,
    sizes: Sizes,
    fresh: u64,
}

struct Image {
    tar: PathBuf,
    gz: Option<PathBuf>,
}

impl Bench {
    /// The command line of `workload` on `peer`, or `None` if that peer does not run it.
    fn invocation(&mut self, peer: Peer, workload: Workload) -> Option<Invocation> {
        let mounts = matches!(workload, Workload::Mount | Workload::MountGz);
        if mounts
            && (!peer.is_strata() || (workload == Workload::MountGz && self.image.gz.is_none()))
        {
            return None;
        }
        let s = &self.sizes;
        let guest_args = |dir: &str, image: &str| -> Vec<OsString> {
            let mut args = vec![workload.command().to_string()];
            match workload {
                Workload::Startup | Workload::Mount | Workload::MountGz => {}
                Workload::Create => args.extend([s.create_files.to_string(), dir.into()]),
                Workload::Seqio => args.extend([s.seqio_mib.to_string(), dir.into()]),
                Workload::Deepopen => args.extend([
                    s.deep_depth.to_string(),
                    s.deep_opens.to_string(),
                    dir.into(),
                ]),
                Workload::Smallread => args.push(image.into()),
            }
            args.into_iter().map(OsString::from).collect()
        };
        let workdir = (workload.writes() && !peer.is_strata()).then(|| {
            self.fresh += 1;
            self.scratch.join(format!("work-{}", self.fresh))
        });
        let mut argv: Vec<OsString> = Vec::new();
        let mut cwd = None;
        match peer {
            Peer::Strata | Peer::Baseline => {
                let binary = match peer {
                    Peer::Baseline => baseline_binary().unwrap_or_default(),
                    _ => STRATA.into(),
                };
                argv.push(binary);
                argv.extend(["run", "--quiet"].map(OsString::from));
                let image = match workload {
                    Workload::Smallread | Workload::Mount => Some(&self.image.tar),
                    Workload::MountGz => self.image.gz.as_ref(),
                    _ => None,
                };
                if let Some(image) = image {
                    argv.push("--image".into());
                    argv.push(mapping(image, GUEST_IMAGE));
                }
                argv.push(self.wasm.clone().into());
                argv.extend(guest_args(GUEST_WORK, GUEST_IMAGE));
            }
            Peer::Native => {
                argv.push(self.native.clone().into());
                argv.extend(guest_args(".", &self.extracted.to_string_lossy()));
                cwd = workdir.clone();
            }
            Peer::Wasmtime | Peer::Node => {
                if peer == Peer::Wasmtime {
                    argv.push("python3".into());
                    argv.push(self.runners.join("wasmtime_run.py").into());
                } else {
                    argv.extend(["node", "--no-warnings"].map(OsString::from));
                    argv.push(self.runners.join("node_run.mjs").into());
                }
                argv.push("run".into());
                if let Some(dir) = &workdir {
                    argv.extend(["--dir".into(), mapping(dir, GUEST_WORK)]);
                }
                if workload == Workload::Smallread {
                    argv.extend(["--dir".into(), mapping(&self.extracted, GUEST_IMAGE)]);
                }
                argv.push(self.wasm.clone().into());
                argv.extend(guest_args(GUEST_WORK, GUEST_IMAGE));
            }
        }
        Some(Invocation { argv, workdir, cwd })
    }

    /// Runs one child and measures it from outside; the workload's own line gives the rest.
    fn measure(&self, inv: &Invocation, command: &str) -> Result<Run, String> {
        if let Some(dir) = &inv.workdir {
            fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        let out_path = self.scratch.join("stdout");
        let err_path = self.scratch.join("stderr");
        let out = File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
        let err = File::create(&err_path).map_err(|e| format!("{}: {e}", err_path.display()))?;
        let mut cmd = Command::new(&inv.argv[0]);
        cmd.args(&inv.argv[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(cwd) = &inv.cwd {
            cmd.current_dir(cwd);
        }

        let start = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", inv.argv[0]))?;
        let waited = wait_for(child.id());
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        // Reaped by `wait_for`: dropping the handle neither waits nor kills.
        drop(child);

        if let Some(dir) = &inv.workdir {
            let _ = fs::remove_dir_all(dir);
        }
        let (status, rss_kib) = waited.map_err(|e| format!("wait4: {e}"))?;
        let stdout = fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        let with_stderr = |what: String| {
            let all = stderr.trim();
            let tail = &all[all.floor_char_boundary(all.len().saturating_sub(400))..];
            if tail.is_empty() {
                what
            } else {
                format!("{what}; stderr: {tail}")
            }
        };
        if let Some(problem) = status {
            return Err(with_stderr(problem));
        }
        let line = stdout.lines().find(|l| l.starts_with("workload "));
        let Some((guest_ms, sum)) = line.and_then(|l| parse_result(l, command)) else {
            return Err(with_stderr(format!(
                "no `workload {command}` result line in {stdout:?}"
            )));
        };
        Ok(Run {
            wall_ms,
            rss_mib: rss_kib as f64 / 1024.0,
            guest_ms,
            sum,
        })
    }
}

fn mapping(host: &Path, guest: &str) -> OsString {
    let mut m = host.as_os_str().to_owned();
    m.push("::");
    m.push(guest);
    m
}

/// Waits for the child `pid`: `None` if it exited with status 0, else what went wrong; and its
/// peak RSS in KiB.
fn wait_for(pid: u32) -> io::Result<(Option<String>, u64)> {
    let mut status = 0;
    // SAFETY: rusage is plain data, all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; `pid` is our own unreaped child.
        let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if got == pid as libc::pid_t {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let problem = if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        (code != 0).then(|| format!("exit status {code}"))
    } else if libc::WIFSIGNALED(status) {
        Some(format!("killed by signal {}", libc::WTERMSIG(status)))
    } else {
        Some(format!("wait status {status:#x}"))
    };
    Ok((problem, usage.ru_maxrss.max(0) as u64))
}

/// `workload <command> ms=<float> sum=<16 hex>` → (ms, sum).
fn parse_result(line: &str, command: &str) -> Option<(f64, String)> {
    let mut fields = line.split_whitespace();
    if fields.next() != Some("workload") || fields.next() != Some(command) {
        return None;
    }
    let ms = fields.next()?.strip_prefix("ms=")?.parse().ok()?;
    let sum = fields.next()?.strip_prefix("sum=")?;
    (sum.len() == 16 && sum.bytes().all(|b| b.is_ascii_hexdigit()) && fields.next().is_none())
        .then(|| (ms, sum.to_string()))
}

// ----------------------------------------------------------------------------------------------
// Finding the peers.

/// Output of a command that succeeded, trimmed; else why not.
fn output_of(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let mut why = format!("{program} failed ({})", out.status);
        if let Some(last) = err.trim().lines().last() {
            why = format!("{why}: {last}");
        }
        return Err(why);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn wasmtime_version() -> Result<String, String> {
    output_of(
        "python3",
        &[
            "-c",
            "import importlib.metadata as m, wasmtime; print(m.version('wasmtime'))",
        ],
    )
    .map_err(|e| format!("cannot import wasmtime in python3 ({e}); pip install wasmtime"))
}

fn node_version() -> Result<String, String> {
    let version =
        output_of("node", &["--version"]).map_err(|e| format!("node ≥ 18 is needed: {e}"))?;
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("cannot read node's version {version:?}"))?;
    if major < 18 {
        return Err(format!(
            "node {version} has no usable node:wasi; node ≥ 18 is needed"
        ));
    }
    Ok(version)
}

/// Builds the native workload program; its path.
fn build_native(target: &Path) -> Result<PathBuf, String> {
    let manifest = Path::new(MANIFEST_DIR).join("benches/workload/Cargo.toml");
    let target_dir = target.join("bench-workload");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of {} failed ({status})",
            manifest.display()
        ));
    }
    Ok(target_dir.join("release/workload"))
}

// ----------------------------------------------------------------------------------------------
// The synthetic image: a source-tree-like shape, generated from a fixed seed.

/// xorshift64: small, fast, and the same sequence everywhere.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const WORDS: [&str; 64] = [
    "fn", "let", "mut", "impl", "struct", "enum", "match", "self", "use", "pub", "return", "if",
    "else", "for", "while", "loop", "const", "static", "type", "trait", "where", "mod", "crate",
    "super", "value", "index", "buffer", "len", "iter", "map", "result", "error", "config",
    "parse", "token", "node", "tree", "table", "entry", "cache", "state", "reader", "writer",
    "handle", "offset", "count", "size", "data", "bytes", "string", "vec", "option", "some",
    "none", "ok", "err", "unwrap", "clone", "into", "from", "new", "default", "test", "assert",
];
const EXTENSIONS: [&str; 8] = ["rs", "rs", "rs", "rs", "md", "toml", "txt", "json"];

struct Shape {
    dirs: u64,
    files: u64,
    bytes: u64,
}

/// Text made of `WORDS`, `size` bytes, the same for the same `index`.
fn fill_text(index: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut rng = XorShift::new(index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5151);
    let mut column = 0;
    while out.len() < size {
        let r = rng.next();
        for k in 0..8 {
            let word = WORDS[(r >> (8 * k)) as usize % WORDS.len()].as_bytes();
            out.extend_from_slice(word);
            column += word.len() + 1;
            if column > 80 {
                out.push(b'\n');
                column = 0;
            } else {
                out.push(b' ');
            }
        }
    }
    out.truncate(size);
}

/// Writes the synthetic image as `tar` (sorted, owners and times zeroed) and its gzip.
fn generate_image(shape: &Shape, tar: &Path, gz: &Path) -> io::Result<()> {
    let mut rng = XorShift::new(0x00c0_ffee_2024_5eed);
    // Directories: a few hundred top-level "packages", the rest hung under random earlier ones.
    let mut dirs: Vec<String> = vec![String::new()];
    let mut taken = HashSet::new();
    let packages = (shape.dirs / 7).max(1);
    for i in 1..=shape.dirs {
        let (parent, name) = if i <= packages {
            let (a, b) = (rng.pick(&WORDS), rng.pick(&WORDS));
            (0, format!("{a}-{b}-0.{}.{}", rng.below(20), rng.below(30)))
        } else {
            (1 + rng.below(i - 1) as usize, rng.pick(&WORDS).to_string())
        };
        let mut path = if parent == 0 {
            name
        } else {
            format!("{}/{name}", dirs[parent])
        };
        if !taken.insert(path.clone()) {
            path = format!("{path}{i}");
            taken.insert(path.clone());
        }
        dirs.push(path);
    }
    // File sizes: mostly 64 B – 64 KiB, spread evenly over the powers of two; one in 200 of
    // 256 KiB – 2 MiB; then all scaled so that they add up to `shape.bytes`.
    let mut sizes: Vec<u64> = (0..shape.files)
        .map(|_| {
            let (base, spread) = if rng.below(200) == 0 {
                (256 << 10, 3)
            } else {
                (64, 10)
            };
            let low = base << rng.below(spread);
            low + rng.below(low)
        })
        .collect();
    let total: u64 = sizes.iter().sum();
    for size in &mut sizes {
        *size = (u128::from(*size) * u128::from(shape.bytes) / u128::from(total)) as u64;
    }
    let mut entries: Vec<(String, Option<u64>)> =
        dirs.iter().skip(1).map(|d| (d.clone(), None)).collect();
    for file in 0..shape.files {
        let dir = &dirs[1 + rng.below(dirs.len() as u64 - 1) as usize];
        let (word, ext) = (rng.pick(&WORDS), rng.pick(&EXTENSIONS));
        entries.push((format!("{dir}/{word}_{file}.{ext}"), Some(file)));
    }
    entries.sort();

    let partial = tar.with_extension("tar.partial");
    let mut builder = tar::Builder::new(BufWriter::new(File::create(&partial)?));
    let mut body = Vec::new();
    for (path, file) in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match file {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), io::empty())?;
            }
            Some(index) => {
                fill_text(*index, sizes[*index as usize] as usize, &mut body);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(body.len() as u64);
                builder.append_data(&mut header, path, body.as_slice())?;
            }
        }
    }
    builder
        .into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    fs::rename(&partial, tar)?;

    let partial = gz.with_extension("gz.partial");
    let mut encoder = flate2::write::GzEncoder::new(
        BufWriter::new(File::create(&partial)?),
        flate2::Compression::new(6),
    );
    io::copy(&mut File::open(tar)?, &mut encoder)?;
    encoder
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    fs::rename(&partial, gz)
}

/// The image to use: `STRATA_BENCH_IMAGE`, else the generated one (made once, then reused).
fn image(target: &Path, quick: bool) -> Result<Image, String> {
    if let Some(given) = std::env::var_os("STRATA_BENCH_IMAGE") {
        let tar = PathBuf::from(given);
        if !tar.is_file() {
            return Err(format!(
                "STRATA_BENCH_IMAGE={}: no such file",
                tar.display()
            ));
        }
        let mut gz = tar.clone().into_os_string();
        gz.push(".gz");
        let gz = PathBuf::from(gz);
        return Ok(Image {
            tar,
            gz: gz.is_file().then_some(gz),
        });
    }
    let dir = target.join("bench-data");
    let (stem, shape) = if quick {
        (
            "image-quick",
            Shape {
                dirs: 60,
                files: 400,
                bytes: 4 << 20,
            },
        )
    } else {
        (
            "image",
            Shape {
                dirs: 3_500,
                files: 20_000,
                bytes: 230 << 20,
            },
        )
    };
    let tar = dir.join(format!("{stem}.tar"));
    let gz = dir.join(format!("{stem}.tar.gz"));
    if !(tar.is_file() && gz.is_file()) {
        eprintln!(
            "peers: generating {} ({} files in {} directories, {} MiB)",
            tar.display(),
            shape.files,
            shape.dirs,
            shape.bytes >> 20
        );
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        generate_image(&shape, &tar, &gz)
            .map_err(|e| format!("generating {}: {e}", tar.display()))?;
    }
    Ok(Image { tar, gz: Some(gz) })
}

/// Files, directories (below the top) and bytes of file data in an extracted tree.
fn tree_stats(dir: &Path) -> io::Result<(u64, u64, u64)> {
    let (mut files, mut dirs, mut bytes) = (0, 0, 0);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (f, d, b) = tree_stats(&entry.path())?;
            files += f;
            dirs += d + 1;
            bytes += b;
        } else if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, dirs, bytes))
}

/// Extracts `archive` into a fresh `into` with `tar FLAGS` `reps` times; the wall times.
fn time_extraction(
    archive: &Path,
    flags: &str,
    into: &Path,
    reps: usize,
) -> Result<Vec<f64>, String> {
    let mut times = Vec::new();
    for _ in 0..reps {
        if into.exists() {
            fs::remove_dir_all(into).map_err(|e| format!("rm -r {}: {e}", into.display()))?;
        }
        fs::create_dir_all(into).map_err(|e| format!("mkdir {}: {e}", into.display()))?;
        let start = Instant::now();
        let status = Command::new("tar")
            .arg(flags)
            .arg(archive)
            .arg("-C")
            .arg(into)
            .status()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if !status.success() {
            return Err(format!(
                "tar {flags} {} failed ({status})",
                archive.display()
            ));
        }
    }
    Ok(times)
}

// ----------------------------------------------------------------------------------------------
// Reporting.

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    })
}

fn fmt_ms(ms: f64) -> String {
    if ms.abs() >= 100.0 {
        format!("{ms:.0}")
    } else if ms.abs() >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 1.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// `value (ratio to base)`, or just the value without a base.
fn with_ratio(value: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 => format!("{} ({})", fmt_ms(value), fmt_ratio(value / b)),
        _ => fmt_ms(value),
    }
}

type Results = BTreeMap<(Workload, Peer), Vec<Result<Run, String>>>;

/// Median of `metric` over the successful runs of `workload` on `peer`.
fn med(results: &Results, workload: Workload, peer: Peer, metric: fn(&Run) -> f64) -> Option<f64> {
    let runs = results.get(&(workload, peer))?;
    median(
        runs.iter()
            .filter_map(|r| r.as_ref().ok())
            .map(metric)
            .collect(),
    )
}

fn table_head(md: &mut String, first: &str, peers: &[Peer]) {
    let names: Vec<&str> = peers.iter().map(|p| p.name()).collect();
    let _ = writeln!(md, "| {first} | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(peers.len()));
}

/// A table of one metric, one row per workload, with the ratio to native when `ratio`.
fn metric_table(
    md: &mut String,
    results: &Results,
    rows: &[(Workload, String)],
    peers: &[Peer],
    metric: fn(&Run) -> f64,
    ratio: bool,
) {
    table_head(md, "workload", peers);
    for (workload, label) in rows {
        if !peers.iter().any(|p| results.contains_key(&(*workload, *p))) {
            continue;
        }
        let base = if ratio {
            med(results, *workload, Peer::Native, metric)
        } else {
            None
        };
        let cells: Vec<String> = peers
            .iter()
            .map(|&peer| {
                let Some(runs) = results.get(&(*workload, peer)) else {
                    return "—".into();
                };
                let failed = runs.iter().filter(|r| r.is_err()).count();
                let mut cell = match med(results, *workload, peer, metric) {
                    Some(v) if ratio => with_ratio(v, base),
                    Some(v) => format!("{v:.0}"),
                    None => "—".into(),
                };
                if failed > 0 {
                    let _ = write!(cell, " **{failed} FAILED**");
                }
                cell
            })
            .collect();
        let _ = writeln!(md, "| {label} | {} |", cells.join(" | "));
    }
    md.push('\n');
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ----------------------------------------------------------------------------------------------

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --benches` runs this without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("peers: a benchmark; run it with `cargo bench --bench peers`");
        return ExitCode::SUCCESS;
    }
    let mut problems: Vec<String> = Vec::new();
    let code = match run(&mut problems) {
        Ok(()) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(e) => {
            problems.push(e);
            ExitCode::FAILURE
        }
    };
    if !problems.is_empty() {
        eprintln!("\npeers: FAILED:");
        for p in &problems {
            eprintln!("  - {p}");
        }
    }
    code
}

fn run(problems: &mut Vec<String>) -> Result<(), String> {
    let env_is = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v == value);
    let quick = env_is("STRATA_BENCH_QUICK", "1");
    let reps: usize = match std::env::var("STRATA_BENCH_REPS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(format!("STRATA_BENCH_REPS={v:?}: not a positive number"))?,
        Err(_) if quick => 2,
        Err(_) => 5,
    };
    let sizes = if quick {
        Sizes {
            create_files: 200,
            seqio_mib: 8,
            deep_depth: 8,
            deep_opens: 300,
        }
    } else {
        Sizes {
            create_files: 3_000,
            seqio_mib: 256,
            deep_depth: 32,
            deep_opens: 20_000,
        }
    };
    // <target>/release/strata → <target>
    let target = Path::new(STRATA)
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory from the strata binary's path")?
        .to_path_buf();
    let load_at_start = load_average();
    let started = Instant::now();

    let wanted: Vec<String> = std::env::var("STRATA_BENCH_PEERS")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for name in &wanted {
        if !Peer::ALL.iter().any(|p| p.name() == name) {
            return Err(format!(
                "STRATA_BENCH_PEERS: unknown peer {name:?} (strata, baseline, native, wasmtime, node)"
            ));
        }
    }
    let mut notes: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut peers: Vec<Peer> = Vec::new();
    let mut native = PathBuf::new();
    for peer in Peer::ALL {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == peer.name()) {
            continue;
        }
        let found = match peer {
            Peer::Strata => Ok(format!("strata {}", env!("CARGO_PKG_VERSION"))),
            Peer::Baseline => baseline_binary()
                .map(|b| format!("baseline: strata at {}", b.to_string_lossy()))
                .ok_or_else(|| "STRATA_BENCH_BASELINE is not set".to_string()),
            Peer::Native => build_native(&target).map(|path| {
                native = path;
                format!(
                    "native ({} release build of the same source)",
                    std::env::consts::ARCH
                )
            }),
            Peer::Wasmtime => wasmtime_version().map(|v| format!("wasmtime {v} (PyPI)")),
            Peer::Node => node_version().map(|v| format!("node {v} (node:wasi)")),
        };
        match found {
            Ok(what) => {
                peers.push(peer);
                notes.push(what);
            }
            Err(why) => {
                let line = format!("skipping {}: {why}", peer.name());
                eprintln!("peers: {line}");
                skipped.push(line);
                if peer == Peer::Native {
                    problems.push(format!("native: {why}"));
                }
            }
        }
    }
    if peers.is_empty() {
        return Err("no peer to run".into());
    }

    let image = image(&target, quick)?;
    let shm = Path::new("/dev/shm");
    let shm = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let scratch = shm.join(format!("strata-bench-{}", std::process::id()));
    let mut bench = Bench {
        wasm: Path::new(MANIFEST_DIR).join("benches/workload/workload.wasm"),
        native,
        runners: Path::new(MANIFEST_DIR).join("benches/peers"),
        extracted: scratch.join("image"),
        image,
        scratch: scratch.clone(),
        sizes,
        fresh: 0,
    };
    fs::create_dir_all(&scratch).map_err(|e| format!("mkdir {}: {e}", scratch.display()))?;
    let outcome = measure_all(&mut bench, &peers, reps, problems);
    let _ = fs::remove_dir_all(&scratch);
    let measured = outcome?;
    let real = fs::create_dir_all(&scratch)
        .map_err(|e| format!("mkdir {}: {e}", scratch.display()))
        .and_then(|()| real_programs::table(&peers, reps, &scratch, problems));
    let _ = fs::remove_dir_all(&scratch);
    let real = real?;

    let mut md = report(
        &bench,
        &peers,
        reps,
        (&notes, &skipped),
        &measured,
        problems,
        &load_at_start,
        started,
    );
    md.push_str(&real.unwrap_or_default());
    print!("{md}");
    let results_dir = target.join("bench-results");
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let file = results_dir.join(format!("peers-{unix}.md"));
    fs::create_dir_all(&results_dir)
        .and_then(|()| fs::write(&file, &md))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    eprintln!("peers: wrote {}", file.display());
    Ok(())
}

/// Everything measured.
struct Measured {
    results: Results,
    /// `tar -x` wall times: image.tar, image.tar.gz.
    untar: Vec<f64>,
    untar_gz: Vec<f64>,
    /// Files, directories and bytes of the extracted image.
    tree: (u64, u64, u64),
}

fn measure_all(
    bench: &mut Bench,
    peers: &[Peer],
    reps: usize,
    problems: &mut Vec<String>,
) -> Result<Measured, String> {
    // Extraction first, on its own: what a host-directory runtime needs before its first run.
    let extract_reps = reps.max(3);
    eprintln!(
        "peers: timing tar -x of {} ({extract_reps} times)",
        bench.image.tar.display()
    );
    let untar_gz = match &bench.image.gz {
        Some(gz) => time_extraction(gz, "-xzf", &bench.extracted, extract_reps)?,
        None => Vec::new(),
    };
    let untar = time_extraction(&bench.image.tar, "-xf", &bench.extracted, extract_reps)?;
    let tree = tree_stats(&bench.extracted)
        .map_err(|e| format!("walking {}: {e}", bench.extracted.display()))?;

    let mut results = Results::new();
    let mut sums: BTreeMap<Workload, BTreeMap<String, Vec<Peer>>> = BTreeMap::new();
    // Round 0 is the warm-up: page cache, strata's module cache; checked but not recorded.
    for round in 0..=reps {
        let round_start = Instant::now();
        for workload in Workload::ALL {
            // Rotate the order of the peers from round to round, against drift.
            for i in 0..peers.len() {
                let peer = peers[(i + round) % peers.len()];
                let Some(inv) = bench.invocation(peer, workload) else {
                    continue;
                };
                let outcome = bench.measure(&inv, workload.command());
                let label = workload.label(&bench.sizes);
                match &outcome {
                    Ok(run) => {
                        let seen = sums
                            .entry(workload)
                            .or_default()
                            .entry(run.sum.clone())
                            .or_default();
                        if !seen.contains(&peer) {
                            seen.push(peer);
                        }
                    }
                    Err(e) => {
                        let what = if round == 0 { " (warm-up)" } else { "" };
                        eprintln!("peers: FAILED: {label} on {}{what}: {e}", peer.name());
                        problems.push(format!("{label} on {}{what}: {e}", peer.name()));
                    }
                }
                if round > 0 {
                    results.entry((workload, peer)).or_default().push(outcome);
                }
            }
        }
        let which = if round == 0 {
            "warm-up round".to_string()
        } else {
            format!("round {round}/{reps}")
        };
        eprintln!(
            "peers: {which} done in {:.1} s",
            round_start.elapsed().as_secs_f64()
        );
    }
    for (workload, by_sum) in &sums {
        if by_sum.len() > 1 {
            let detail: Vec<String> = by_sum
                .iter()
                .map(|(sum, ps)| {
                    format!(
                        "{sum} from {}",
                        ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            let line = format!(
                "checksum mismatch in {}: {}",
                workload.label(&bench.sizes),
                detail.join("; ")
            );
            eprintln!("peers: {line}");
            problems.push(line);
        }
    }
    Ok(Measured {
        results,
        untar,
        untar_gz,
        tree,
    })
}

#[allow(clippy::too_many_arguments)]
fn report(
    bench: &Bench,
    peers: &[Peer],
    reps: usize,
    (notes, skipped): (&[String], &[String]),
    m: &Measured,
    problems: &[String],
    load_at_start: &str,
    started: Instant,
) -> String {
    let date = output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|_| "?".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let s = &bench.sizes;
    let results = &m.results;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "**strata vs peers** — {date} · nproc {nproc} · load average {load_at_start} at start, {} at end · \
         median of {reps} interleaved runs after a warm-up round · {:.0} s in all\n",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    let (files, dirs, bytes) = m.tree;
    let tar_mib = fs::metadata(&bench.image.tar)
        .map(|md| md.len() as f64 / 1048576.0)
        .unwrap_or(0.0);
    let _ = writeln!(
        md,
        "Peers: {}. Image: `{}`, {files} files in {dirs} directories, {:.0} MiB of file data ({tar_mib:.0} MiB tar). \
         strata runs in memory (no `--dir`; `--image TAR::/img`); wasmtime and node get fresh `/dev/shm` \
         directories (`--dir`) and the extracted image; native runs on `/dev/shm`. wasmtime and node \
         compile the module at every start, strata loads it from its module cache.\n",
        notes.join("; "),
        bench.image.tar.display(),
        bytes as f64 / 1048576.0,
    );
    for line in skipped {
        let _ = writeln!(md, "{line}\n");
    }

    let rows = |ws: &[Workload]| -> Vec<(Workload, String)> {
        ws.iter().map(|w| (*w, w.label(s))).collect()
    };
    let guest_rows = rows(&[
        Workload::Create,
        Workload::Seqio,
        Workload::Deepopen,
        Workload::Smallread,
    ]);
    let all_rows = rows(&Workload::ALL);

    md.push_str("**Guest-measured time**, ms (inside the program, around the work only; ratio to native)\n\n");
    metric_table(&mut md, results, &guest_rows, peers, |r| r.guest_ms, true);
    md.push_str(
        "**Whole-process time**, ms (spawn to exit: runtime start, compilation or cache load, \
         image mount, the work; ratio to native)\n\n",
    );
    metric_table(&mut md, results, &all_rows, peers, |r| r.wall_ms, true);

    // A run over an image from nothing: the host-directory peers extract it first.
    let untar = median(m.untar.clone());
    let smallread = |p: Peer| med(results, Workload::Smallread, p, |r| r.wall_ms);
    let prepared = |p: Peer| match p {
        Peer::Strata | Peer::Baseline => smallread(p),
        _ => Some(untar? + smallread(p)?),
    };
    md.push_str(
        "**Image run including preparation**, ms (strata: whole-process smallread with `--image`; \
         others: median `tar -x` onto tmpfs + median whole-process smallread; ratio to native)\n\n",
    );
    table_head(&mut md, "workload", peers);
    let base = prepared(Peer::Native);
    let cells: Vec<String> = peers
        .iter()
        .map(|&p| prepared(p).map_or("—".into(), |v| with_ratio(v, base)))
        .collect();
    let _ = writeln!(md, "| smallread image.tar | {} |\n", cells.join(" | "));

    md.push_str(
        "**Mounting vs extracting**: `tar -x` onto tmpfs vs strata's `--image` (whole-process mount − \
         whole-process startup; peak RSS likewise)\n\n",
    );
    md.push_str("| image | size MiB | `tar -x` ms | strata mount ms | mount / `tar -x` | strata +RSS MiB |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|\n");
    let mut mount_row =
        |label: &str, archive: Option<&PathBuf>, times: &[f64], workload: Workload| {
            let Some(archive) = archive else { return };
            let size = fs::metadata(archive)
                .map(|m| m.len() as f64 / 1048576.0)
                .unwrap_or(0.0);
            let untar = median(times.to_vec());
            let diff = |metric: fn(&Run) -> f64| {
                Some(
                    med(results, workload, Peer::Strata, metric)?
                        - med(results, Workload::Startup, Peer::Strata, metric)?,
                )
            };
            let mount = diff(|r| r.wall_ms);
            let rss = diff(|r| r.rss_mib);
            let ratio = match (mount, untar) {
                (Some(a), Some(b)) if b > 0.0 => fmt_ratio(a.max(0.0) / b),
                _ => "—".into(),
            };
            let _ = writeln!(
                md,
                "| {label} | {size:.0} | {} | {} | {ratio} | {} |",
                untar.map_or("—".into(), fmt_ms),
                mount.map_or("—".into(), fmt_ms),
                rss.map_or("—".into(), |v| format!("{v:.0}")),
            );
        };
    mount_row(
        "image.tar",
        Some(&bench.image.tar),
        &m.untar,
        Workload::Mount,
    );
    mount_row(
        "image.tar.gz",
        bench.image.gz.as_ref(),
        &m.untar_gz,
        Workload::MountGz,
    );
    md.push('\n');

    md.push_str(
        "**Peak RSS**, MiB (`wait4`; the python and node interpreters included; strata's includes \
         the pages of the memory-mapped image it touched, which are the page cache's)\n\n",
    );
    metric_table(&mut md, results, &all_rows, peers, |r| r.rss_mib, false);

    let _ = writeln!(
        md,
        "Workloads: `create` {} files of 100 B (create, stat each, readdir, unlink each, rmdir); `seqio` \
         {} MiB in 64 KiB chunks (write, fsync, read back, unlink); `deepopen` open+close a file {} \
         directories deep {} times; `smallread` walk the image and read every file; `mount` = `startup` \
         with the image mounted.\n",
        s.create_files, s.seqio_mib, s.deep_depth, s.deep_opens
    );
    if problems.is_empty() {
        md.push_str("All runs succeeded; checksums agree across peers for every workload.\n");
    } else {
        md.push_str("**Problems:**\n\n");
        for p in problems {
            let _ = writeln!(md, "- {p}");
        }
    }
    md
}
