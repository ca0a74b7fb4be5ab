//! Why a run could not be set up or did not finish: one enum for the embedding API and the
//! sandbox alike. Setup errors name what was wrong (the file, the image, the guest path), so
//! the command line can say which flag it came from.

#![forbid(unsafe_code)]

use crate::vfs::Errno;
use std::path::PathBuf;

/// Something a run is given from outside, named in errors about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The module file.
    Module(PathBuf),
    /// A tar / tar.gz image (its path, or `<bytes>` for an image given in memory).
    Image(String),
    /// A host directory imported into the sandbox.
    HostDir(PathBuf),
    /// The file the guest's stdin is read from.
    StdinFile(PathBuf),
    /// A file the guest's stdout or stderr is written to.
    OutputFile(PathBuf),
    /// A file the final filesystem (`export_fs`) or the diff layer (`export_diff`) is written to.
    ExportFile(PathBuf),
    /// The file the WASI call trace is written to (`Trace::File`).
    TraceFile(PathBuf),
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths come from users and hosts: quoted and escaped, never printed raw.
        use crate::image::{quoted, quoted_path};
        match self {
            Input::Module(p) => write!(f, "{}", quoted_path(p)),
            Input::Image(s) => write!(f, "image {}", quoted(s)),
            Input::HostDir(p) => write!(f, "host directory {}", quoted_path(p)),
            Input::StdinFile(p) => write!(f, "stdin file {}", quoted_path(p)),
            Input::OutputFile(p) => write!(f, "output file {}", quoted_path(p)),
            Input::ExportFile(p) => write!(f, "export file {}", quoted_path(p)),
            Input::TraceFile(p) => write!(f, "trace file {}", quoted_path(p)),
        }
    }
}

/// Errors of setting up or running a sandboxed module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input could not be read or used; `message` says why.
    #[error("{input}: {message}")]
    Input {
        /// The input.
        input: Input,
        /// Why it could not be used.
        message: String,
    },
    /// A guest path given to the environment (a mount point, a preopen) could not be made or
    /// found in the namespace.
    #[error("guest path {path}: {errno}")]
    GuestPath {
        /// The guest path.
        path: String,
        /// The filesystem's error.
        errno: Errno,
    },
    /// The arguments and environment given to the run do not fit its memory budget: they
    /// are held by the host for the whole run (`E2BIG`, as `execve` says of an argument list
    /// past `ARG_MAX`). Nothing was run.
    #[error(
        "arguments and environment too large (E2BIG): {bytes} bytes, more than the run's \
         memory budget of {max_memory} bytes (max_memory)"
    )]
    ArgsTooLarge {
        /// What they cost: their bytes with a NUL each, plus `ARG_OVERHEAD` per string.
        bytes: u64,
        /// The run's budget.
        max_memory: u64,
    },
    /// The module is not valid WebAssembly (or wasmer cannot compile it).
    #[error("cannot compile module: {0}")]
    Compile(String),
    /// wasmer could not instantiate the module (e.g. its start function trapped).
    #[error("cannot instantiate module: {0}")]
    Instantiate(String),
    /// The module imports a function strata does not provide (WASI or otherwise).
    #[error("module imports {module}::{name}, which strata does not provide")]
    MissingImport {
        /// The import's module, e.g. `wasi_snapshot_preview1`.
        module: String,
        /// The import's name.
        name: String,
    },
    /// A shared memory the module defines itself: wasi-threads programs import theirs (so
    /// that every thread's instance gets the same one), and strata runs only those.
    #[error(
        "module defines its own shared memory: wasi-threads programs import it \
         (build for wasm32-wasip1-threads), or build for wasm32-wasip1 without threads"
    )]
    SharedMemory,
    /// WASI needs the module's linear memory exported as `memory`.
    #[error("module has no exported memory named \"memory\"")]
    NoMemory,
    /// The entry point (`_start`) or the export to invoke does not exist.
    #[error("module has no export {0}")]
    NoExport(String),
    /// `invoke` was given arguments that do not fit the export's parameters.
    #[error("{0}")]
    Invoke(String),
    /// The guest trapped (unreachable, out-of-bounds access, stack overflow, ...); wasmer's
    /// message.
    #[error("guest trapped: {0}")]
    Trap(String),
    /// The run's wall-clock time ran out (`ResourceLimits::timeout`) and it was stopped; also
    /// any other interrupt through the store's `interrupter`.
    #[error("the guest ran out of time and was stopped")]
    Timeout,
    /// The guest burnt all its fuel (`ResourceLimits::fuel`) and was stopped.
    #[error("the guest ran out of fuel and was stopped")]
    OutOfFuel,
    /// The host could not do what the run needed (e.g. timeouts on a host without signals).
    #[error("{0}")]
    Host(String),
}

impl Error {
    /// A problem with `input`.
    #[cold]
    pub fn input(input: Input, message: impl std::fmt::Display) -> Error {
        Error::Input {
            input,
            message: message.to_string(),
        }
    }

    #[cold]
    pub(crate) fn guest_path(path: impl Into<String>, errno: Errno) -> Error {
        Error::GuestPath {
            path: path.into(),
            errno,
        }
    }
}
