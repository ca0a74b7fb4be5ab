//! The `strata` command line: a thin layer over the library.
//!
//! Exit status: the guest's exit code (0 when `_start` returns); 2 for a bad command line;
//! 125 when strata cannot set the run up (missing or invalid module, unreadable `--dir`,
//! missing import); 134 when the guest traps. Guests should keep their own codes below 125.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use strata::runtime::{Error, WasiEnv, WasiFunctionEnv, run_instance};
use strata::vfs::{MemFs, SystemClock, Vfs};
use wasmer::{Instance, Module, Store, Type, Value};

const EXIT_SETUP: u8 = 125;
const EXIT_TRAP: u8 = 134;

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
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Make the host directory HOST visible at GUEST (default: HOST) and preopen it; the
    /// guest's writes stay in memory, the host is never modified. `HOST::/` makes it the root.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable for the guest.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<String>,
    /// Call this export (after `_initialize` if present) instead of `_start`, with ARGS
    /// parsed as its parameters; print its results.
    #[arg(long, value_name = "FUNC")]
    invoke: Option<String>,
    /// The module to run.
    module: PathBuf,
    /// Arguments for the guest (or for --invoke).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// A failure of strata itself, with the exit code it maps to.
struct Fail(u8, String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let code = if matches!(e, Error::Trap(_)) {
            EXIT_TRAP
        } else {
            EXIT_SETUP
        };
        Fail(code, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            eprintln!("strata: {msg}");
            ExitCode::from(code)
        }
    }
}

fn setup(msg: impl Into<String>) -> Fail {
    Fail(EXIT_SETUP, msg.into())
}

/// Lexically normalises a guest mount path to components (no `..` allowed).
fn guest_components(guest: &str) -> Result<Vec<&str>, Fail> {
    let mut out = Vec::new();
    for c in guest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(setup(format!(
                    "--dir guest path {guest:?} must not contain '..'"
                )));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn build_fs(dirs: &[String]) -> Result<(Vfs, Vec<(String, String)>), Fail> {
    let clock = Arc::new(SystemClock);
    let mut vfs = Vfs::new(clock.clone());
    let mut preopens = Vec::new();
    for spec in dirs {
        let (host, guest) = match spec.split_once("::") {
            Some((h, g)) => (h, g),
            None => (spec.as_str(), spec.as_str()),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(setup(format!("--dir {spec:?}: expected HOST[::GUEST]")));
        }
        let comps = guest_components(guest)?;
        let root = vfs.root();
        let target = if comps.is_empty() {
            root
        } else {
            let at = vfs.mkdir_all(root, &comps.join("/")).map_err(|e| {
                setup(format!(
                    "--dir {spec:?}: cannot create guest path {guest}: {e}"
                ))
            })?;
            vfs.mount(at, MemFs::new(0, clock.clone()))
                .map_err(|e| setup(format!("--dir {spec:?}: cannot mount at {guest}: {e}")))?
        };
        strata::image::host::import_dir(&mut vfs, target, host.as_ref())
            .map_err(|e| setup(format!("--dir {spec:?}: {e}")))?;
        preopens.push((format!("/{}", comps.join("/")), guest.to_string()));
    }
    Ok((vfs, preopens))
}

fn parse_value(ty: &Type, s: &str) -> Result<Value, Fail> {
    let bad = || setup(format!("--invoke argument {s:?} is not a valid {ty}"));
    Ok(match ty {
        Type::I32 => Value::I32(
            s.parse::<i32>()
                .or_else(|_| s.parse::<u32>().map(|v| v as i32))
                .map_err(|_| bad())?,
        ),
        Type::I64 => Value::I64(
            s.parse::<i64>()
                .or_else(|_| s.parse::<u64>().map(|v| v as i64))
                .map_err(|_| bad())?,
        ),
        Type::F32 => Value::F32(s.parse().map_err(|_| bad())?),
        Type::F64 => Value::F64(s.parse().map_err(|_| bad())?),
        _ => {
            return Err(setup(format!(
                "--invoke cannot pass a {ty} parameter from the command line"
            )));
        }
    })
}

fn run(args: RunArgs) -> Result<u8, Fail> {
    let bytes = std::fs::read(&args.module)
        .map_err(|e| setup(format!("{}: {e}", args.module.display())))?;
    let mut store = Store::default();
    let module = Module::new(&store, &bytes).map_err(|e| {
        setup(format!(
            "{}: not a valid wasm module: {e}",
            args.module.display()
        ))
    })?;
    let (vfs, preopens) = build_fs(&args.dirs)?;
    let program = args
        .module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "main.wasm".into());
    let mut builder = WasiEnv::builder(program).fs(vfs);
    if args.invoke.is_none() {
        builder = builder.args(args.args.iter().cloned());
    }
    for kv in &args.envs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| setup(format!("--env {kv:?}: expected KEY=VALUE")))?;
        builder = builder.env(k, v);
    }
    for (path, name) in preopens {
        builder = builder.preopen(path, name);
    }
    let env = builder.finalize(&mut store)?;
    let imports = env.import_object(&mut store, &module)?;
    WasiFunctionEnv::check_imports(&imports, &module)?;
    let instance = Instance::new(&mut store, &module, &imports)
        .map_err(|e| Error::Instantiate(e.to_string()))?;
    env.initialize(&mut store, &instance)?;
    let code = match &args.invoke {
        None => run_instance(&mut store, &instance, None, &[])?.0,
        Some(func) => {
            let f = instance.exports.get_function(func).map_err(|_| {
                setup(format!(
                    "--invoke {func}: the module exports no function {func}"
                ))
            })?;
            let ty = f.ty(&store);
            if ty.params().len() != args.args.len() {
                return Err(setup(format!(
                    "--invoke {func}: expects {} argument(s), got {}",
                    ty.params().len(),
                    args.args.len()
                )));
            }
            let values = ty
                .params()
                .iter()
                .zip(&args.args)
                .map(|(t, s)| parse_value(t, s))
                .collect::<Result<Vec<_>, _>>()?;
            let (code, results) = run_instance(&mut store, &instance, Some(func), &values)?;
            for r in results.iter() {
                match r {
                    Value::I32(v) => println!("{v}"),
                    Value::I64(v) => println!("{v}"),
                    Value::F32(v) => println!("{v}"),
                    Value::F64(v) => println!("{v}"),
                    other => println!("{other:?}"),
                }
            }
            code
        }
    };
    // Exit statuses are 8 bits; a guest code above 255 is reported modulo 256, as on Unix.
    Ok((code & 0xff) as u8)
}
