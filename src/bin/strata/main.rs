//! The `strata` command line: a thin layer over the library.
//!
//! Exit status: the guest's exit code (0 when `_start` returns); 2 for a bad command line;
//! 125 when strata cannot set the run up (missing or invalid module, unreadable `--dir`,
//! missing import, unreadable image); 134 when the guest traps; 124 when it runs past
//! `--timeout`; 152 when it runs out of `--fuel`. Guests should keep their own codes below
//! 124. `strata image`: 0 on success (`diff`: 0 identical, 1 different), 125 on any error.

#![forbid(unsafe_code)]

mod args;
mod cache_cmd;
mod image_cmd;

use args::{parse_duration, parse_size};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use strata::image::{quoted, quoted_path};
use strata::sandbox::{
    CachePolicy, Error, ErrorInput, Fault, ImageSource, Mode, Outcome, Preopens, Program,
    ProgramOptions, ResourceLimits, Sandbox, SandboxBuilder, Status, Stdin, Stream, Trace,
    TraceFilter, WASMER_VERSION,
};

const EXIT_SETUP: u8 = 125;
const EXIT_TRAP: u8 = 134;
/// As coreutils `timeout`.
const EXIT_TIMEOUT: u8 = 124;
/// 128 + SIGXCPU, the signal Unix sends a process past its CPU-time limit.
const EXIT_FUEL: u8 = 152;

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Run WASI programs inside a virtual, in-memory filesystem"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI module (wasmtime's spellings).
    Run(Box<RunArgs>),
    /// Work with tar images: build, ls, cat, diff.
    #[command(subcommand)]
    Image(image_cmd::ImageCommand),
    /// The on-disk cache of compiled modules: info, prune, clean.
    #[command(subcommand)]
    Cache(cache_cmd::CacheCommand),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Make the host directory HOST visible at GUEST (default: HOST) and preopen it; the
    /// guest's writes stay in memory, the host is never modified. `HOST::/` makes it the root.
    /// `HOST::GUEST::ro` makes it read-only inside the sandbox too (EROFS).
    #[arg(long = "dir", value_name = "HOST[::GUEST[::ro]]")]
    dirs: Vec<String>,
    /// Mount the tar or tar.gz image TAR at GUEST (default: `/`, the root), copy-on-write:
    /// nothing is extracted, the guest's writes stay in memory. Several images at the same
    /// GUEST stack as OCI layers, lowest first (`.wh.` whiteouts apply). Images are mounted
    /// before `--dir` directories.
    /// `TAR::GUEST::ro` mounts it read-only (every write fails with EROFS).
    #[arg(long = "image", value_name = "TAR[::GUEST[::ro]]")]
    images: Vec<String>,
    /// After the run, write the whole final filesystem as a tar to OUT (reproducible: sorted,
    /// owners normalised).
    #[arg(long = "save-fs", value_name = "OUT.tar")]
    save_fs: Option<PathBuf>,
    /// After the run, write only what the run changed as a tar layer to OUT, with OCI
    /// whiteouts for what it deleted.
    #[arg(long = "save-diff", value_name = "OUT.tar")]
    save_diff: Option<PathBuf>,
    /// Set an environment variable for the guest.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<String>,
    /// Call this export (after `_initialize` if present) instead of `_start`, with ARGS
    /// parsed as its parameters; print its results.
    #[arg(long, value_name = "FUNC")]
    invoke: Option<String>,
    /// Feed the guest's stdin from FILE (default: strata's own stdin).
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// Deterministic run: virtual clocks from 2000-01-01 advancing 1 µs per reading, file
    /// timestamps likewise, random bytes from a generator seeded with SEED (default 0).
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "0", require_equals = true)]
    deterministic: Option<u64>,
    /// Do not preopen the sandbox root `/` after the `--dir` preopens (the guest then has
    /// exactly the preopens given, as under wasmtime).
    #[arg(long)]
    no_root_preopen: bool,
    /// One budget for what the guest makes strata hold: its linear memory (memory.grow past
    /// it returns -1), tables, the arguments and environment, and the in-memory filesystem:
    /// file blocks it wrote (64 KiB each at most) and a fixed cost per inode and hard link it
    /// created (image and host-directory contents cost nothing until written; beyond it writes
    /// and creations fail with ENOSPC). Suffixes K, M, G, T (powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "4G")]
    max_memory: u64,
    /// Most inodes (files, directories, symlinks) the guest may create; beyond, ENOSPC.
    #[arg(long, value_name = "N", default_value_t = ResourceLimits::DEFAULT_MAX_INODES)]
    max_inodes: u64,
    /// Most open file descriptors, stdio and preopens included; beyond, EMFILE.
    #[arg(long, value_name = "N", default_value_t = ResourceLimits::DEFAULT_MAX_FDS)]
    max_fds: u32,
    /// Stop the guest after this much wall-clock time (500ms, 10s, 2m, 1h); exit status 124.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Most guest threads running at once, the main thread included (wasi-threads
    /// programs); a thread-spawn beyond it fails.
    #[arg(long, value_name = "N", default_value_t = ResourceLimits::DEFAULT_MAX_THREADS)]
    max_threads: u32,
    /// Stop the guest once it has executed N WebAssembly instructions (deterministic; the
    /// module is compiled with metering); exit status 152.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Do not use the on-disk cache of compiled modules ($XDG_CACHE_HOME/strata/modules,
    /// else ~/.cache/strata/modules).
    #[arg(long)]
    no_cache: bool,
    /// Make chosen calls fail, deterministically (repeatable). OP is open, read or write;
    /// PATTERN a guest path with * and ? wildcards (`<stdout>` etc. for stdio); N the Nth
    /// matching call (from 1), N+ the Nth and later ones, 0 every one; EFFECT an errno name
    /// (ENOSPC, EIO, ...) or short=BYTES for reads and writes. E.g. write:/data/*.log:3:ENOSPC
    #[arg(long = "fault", value_name = "OP:PATTERN:N:EFFECT", value_parser = Fault::parse)]
    faults: Vec<Fault>,
    /// Print every WASI call, decoded, and its result, one line per call as strace does: to
    /// stderr (each line prefixed `strata: trace: `), or with `=FILE` to FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    trace: Option<Option<PathBuf>>,
    /// Trace only these calls: a comma-separated list of call names (path_open) and families
    /// (fs = fd and path; args, clock, environ, fd, path, poll, proc, random, sched, sock;
    /// all); a leading `!` removes, e.g. `fs,!fd_write` or `!clock,!poll`.
    #[arg(long, value_name = "LIST", requires = "trace", value_parser = TraceFilter::parse)]
    trace_filter: Option<TraceFilter>,
    /// End each trace line with the host time the call took, ` <SECONDS>` (not under
    /// --deterministic, whose traces stay byte-identical).
    #[arg(long, requires = "trace")]
    trace_time: bool,
    /// Print none of strata's own messages (exit statuses stay the same).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// The module to run.
    module: PathBuf,
    /// Arguments for the guest (or for --invoke).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// A failure of strata itself, with the exit code it maps to.
struct Fail(u8, String);

fn setup(msg: impl Into<String>) -> Fail {
    Fail(EXIT_SETUP, msg.into())
}

/// What `strata --version` prints after the name, for bug reports: strata's version, the
/// wasmer it runs on and the module cache directory it would use.
fn long_version() -> String {
    let cache = match CachePolicy::Default.disk_dir() {
        Some(dir) => dir.display().to_string(),
        None => "none (neither $STRATA_CACHE_DIR, $XDG_CACHE_HOME nor $HOME is set)".into(),
    };
    format!(
        "{}\nwasmer {WASMER_VERSION}\nmodule cache: {cache}",
        env!("CARGO_PKG_VERSION")
    )
}

fn main() -> ExitCode {
    // Leaked once: clap keeps the text for the life of the process anyway.
    let version: &'static str = Box::leak(long_version().into_boxed_str());
    let matches = Cli::command().long_version(version).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let (result, quiet) = match cli.command {
        Command::Run(args) => {
            let quiet = args.quiet;
            (run(*args), quiet)
        }
        Command::Image(cmd) => (image_cmd::run(cmd), false),
        Command::Cache(cmd) => (cache_cmd::run(cmd), false),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            if !quiet {
                eprintln!("strata: {msg}");
            }
            ExitCode::from(code)
        }
    }
}

/// `--FLAG SOURCE[::GUEST][::ro]`, parsed once.
struct Spec<'a> {
    src: &'a str,
    guest: &'a str,
    mode: Mode,
}

/// Splits `SPEC` of `--FLAG SPEC`; without `::GUEST` the guest path is `default`, or the
/// source itself when `default` is `None`.
fn split_spec<'a>(flag: &str, spec: &'a str, default: Option<&'a str>) -> Result<Spec<'a>, Fail> {
    // A trailing `::ro` is an option, not part of the guest path.
    let (spec, mode) = match spec.strip_suffix("::ro") {
        Some(rest) => (rest, Mode::ReadOnly),
        None => (spec, Mode::ReadWrite),
    };
    let (src, guest) = spec
        .split_once("::")
        .unwrap_or((spec, default.unwrap_or(spec)));
    if src.is_empty() || guest.is_empty() {
        return Err(setup(format!(
            "--{flag} {spec:?}: expected SOURCE[::GUEST]"
        )));
    }
    Ok(Spec { src, guest, mode })
}

/// The run specification the flags describe.
fn sandbox(args: &RunArgs) -> Result<SandboxBuilder, Fail> {
    let mut b = Sandbox::builder()
        .args(args.args.iter().cloned())
        .stdin_from(match &args.stdin {
            Some(p) => Stdin::File(p.clone()),
            None => Stdin::Inherit,
        })
        .stdout(Stream::Inherit)
        .stderr(Stream::Inherit)
        .preopens(match args.no_root_preopen {
            true => Preopens::DirsOnly,
            false => Preopens::DirsThenRoot,
        })
        .limits(ResourceLimits {
            max_memory: args.max_memory,
            max_inodes: args.max_inodes,
            max_fds: args.max_fds,
            timeout: args.timeout,
            fuel: args.fuel,
            max_threads: args.max_threads,
        });
    if let Some(name) = args.module.file_name() {
        b = b.argv0(name.to_string_lossy());
    }
    for spec in &args.images {
        let s = split_spec("image", spec, Some("/"))?;
        b = b.layer(ImageSource::File(s.src.into()), s.guest, s.mode);
    }
    for spec in &args.dirs {
        let s = split_spec("dir", spec, None)?;
        b = b.dir_with(s.src, s.guest, s.mode);
    }
    for kv in &args.envs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| setup(format!("--env {kv:?}: expected KEY=VALUE")))?;
        b = b.env(k, v);
    }
    for f in &args.faults {
        b = b.fault(f.clone());
    }
    if let Some(seed) = args.deterministic {
        b = b.deterministic(seed);
    }
    match &args.trace {
        None => {}
        Some(None) => b = b.trace(Trace::Stderr),
        Some(Some(file)) => b = b.trace(Trace::File(file.clone())),
    }
    if let Some(filter) = args.trace_filter {
        b = b.trace_filter(filter);
    }
    b = b.trace_time(args.trace_time);
    if let Some(func) = &args.invoke {
        b = b.invoke(func, args.args.iter().cloned());
    }
    if let Some(p) = &args.save_fs {
        b = b.export_fs(p);
    }
    if let Some(p) = &args.save_diff {
        b = b.export_diff(p);
    }
    Ok(b)
}

/// A setup error, with the flag its input came from.
fn setup_failed(args: &RunArgs, e: Error) -> Fail {
    let msg = match e {
        Error::Input { input, message } => match input {
            ErrorInput::Module(p) => format!("{}: {message}", quoted_path(&p)),
            ErrorInput::Image(s) => format!("--image {}: {message}", quoted(&s)),
            ErrorInput::HostDir(p) => format!("--dir {}: {message}", quoted_path(&p)),
            ErrorInput::StdinFile(p) => format!("--stdin {}: {message}", quoted_path(&p)),
            ErrorInput::OutputFile(p) => format!("{}: {message}", quoted_path(&p)),
            ErrorInput::ExportFile(p) => {
                let flag = match args.save_fs.as_ref() == Some(&p) {
                    true => "--save-fs",
                    false => "--save-diff",
                };
                format!("{flag} {}: {message}", quoted_path(&p))
            }
            ErrorInput::TraceFile(p) => format!("--trace={}: {message}", quoted_path(&p)),
        },
        Error::Invoke(m) => format!("--invoke {m}"),
        Error::ArgsTooLarge { bytes, max_memory } => format!(
            "arguments and environment too large (E2BIG): {bytes} bytes, more than \
             --max-memory {max_memory} allows"
        ),
        Error::NoExport(f) if args.invoke.as_ref() == Some(&f) => {
            format!("--invoke {f}: the module exports no function {f}")
        }
        other => other.to_string(),
    };
    setup(msg)
}

/// The exit status of a finished run, and the line that explains a forced end.
fn exit_status(outcome: &Outcome) -> Result<u8, Fail> {
    match &outcome.status {
        // Exit statuses are 8 bits; a guest code above 255 is reported modulo 256, as on Unix.
        Status::Exited(code) => Ok((code & 0xff) as u8),
        Status::Trapped(msg) => Err(Fail(EXIT_TRAP, format!("guest trapped: {msg}"))),
        Status::TimedOut(t) => Err(Fail(
            EXIT_TIMEOUT,
            format!("timeout: the guest ran for more than {t:?} (--timeout) and was stopped"),
        )),
        Status::OutOfFuel(n) => Err(Fail(
            EXIT_FUEL,
            format!(
                "out of fuel: the guest used all its {n} units of fuel (--fuel) and was stopped"
            ),
        )),
    }
}

fn run(args: RunArgs) -> Result<u8, Fail> {
    let opts = ProgramOptions {
        cache: match args.no_cache {
            true => CachePolicy::MemoryOnly,
            false => CachePolicy::Default,
        },
        fuel: args.fuel,
    };
    let program =
        Program::from_file_with(&args.module, &opts).map_err(|e| setup_failed(&args, e))?;
    let sandbox = sandbox(&args)?
        .build()
        .map_err(|e| setup_failed(&args, e))?;
    let outcome = sandbox.run(&program).map_err(|e| setup_failed(&args, e))?;
    for r in &outcome.results {
        println!("{r}");
    }
    let status = exit_status(&outcome);
    // The process exits next and the kernel reclaims everything at once: freeing a large
    // filesystem node by node would only delay the exit (guest output is already flushed).
    std::mem::forget(outcome);
    std::mem::forget(sandbox);
    status
}
