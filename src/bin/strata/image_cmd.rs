//! `strata image`: build, list, read and compare images without extracting them.

use super::{Fail, setup};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use strata::image::{
    Entry, EntryKind, LoadOptions, build_from_dir, entries, load_path, quoted, quoted_path,
};

#[derive(clap::Subcommand)]
pub enum ImageCommand {
    /// Build a reproducible image from a host directory: sorted entries, owners 0, modes
    /// normalised to 0755 (directories, executables) or 0644, every mtime set to
    /// SOURCE_DATE_EPOCH (default 0). A `.gz` output name gives a gzip tar.
    Build {
        dir: PathBuf,
        #[arg(short = 'o', long = "output", value_name = "OUT.tar[.gz]")]
        output: PathBuf,
    },
    /// List an image's entries (type, mode, size, path), below PATH if given.
    Ls {
        image: PathBuf,
        path: Option<String>,
    },
    /// Write the contents of the file PATH of an image to stdout.
    Cat { image: PathBuf, path: String },
    /// Compare two images: `+ path` only in B, `- path` only in A, `M path` different
    /// (type, contents, link target or mode). Exit 0 if identical, 1 if not.
    Diff { a: PathBuf, b: PathBuf },
}

pub fn run(cmd: ImageCommand) -> Result<u8, Fail> {
    match cmd {
        ImageCommand::Build { dir, output } => {
            let epoch: u64 = match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(v) => v.parse().map_err(|_| {
                    setup(format!(
                        "SOURCE_DATE_EPOCH={v:?} is not a number of seconds"
                    ))
                })?,
                Err(_) => 0,
            };
            build_from_dir(&dir, &output, epoch).map_err(setup)?;
            Ok(0)
        }
        ImageCommand::Ls { image, path } => {
            let entries = load(&image)?;
            let prefix = path.as_deref().unwrap_or("").trim_matches('/');
            let mut out = std::io::stdout().lock();
            for (p, e) in &entries {
                if prefix.is_empty() || p == prefix || p.starts_with(&format!("{prefix}/")) {
                    let kind = match e.kind {
                        EntryKind::Dir => 'd',
                        EntryKind::Symlink => 'l',
                        EntryKind::File => '-',
                    };
                    let link = e
                        .target
                        .as_deref()
                        .map(|t| format!(" -> {t}"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "{kind} {:04o} {:>10} {p}{link}", e.mode, e.size);
                }
            }
            Ok(0)
        }
        ImageCommand::Cat { image, path } => {
            let entries = load(&image)?;
            let e = entries.get(path.trim_matches('/')).ok_or_else(|| {
                setup(format!(
                    "{}: no entry {}",
                    quoted_path(&image),
                    quoted(&path)
                ))
            })?;
            let data = e.data.as_ref().ok_or_else(|| {
                setup(format!(
                    "{}: {} is not a regular file",
                    quoted_path(&image),
                    quoted(&path)
                ))
            })?;
            std::io::stdout()
                .lock()
                .write_all(data)
                .map_err(|e| setup(format!("stdout: {e}")))?;
            Ok(0)
        }
        ImageCommand::Diff { a, b } => {
            let (ea, eb) = (load(&a)?, load(&b)?);
            let mut out = std::io::stdout().lock();
            let mut differ = false;
            let mut line = |c: char, p: &str| {
                differ = true;
                let _ = writeln!(out, "{c} {p}");
            };
            let paths: std::collections::BTreeSet<&String> = ea.keys().chain(eb.keys()).collect();
            for p in paths {
                match (ea.get(p), eb.get(p)) {
                    (Some(_), None) => line('-', p),
                    (None, Some(_)) => line('+', p),
                    (Some(x), Some(y)) if x != y => line('M', p),
                    _ => {}
                }
            }
            Ok(u8::from(differ))
        }
    }
}

/// Every entry of the image at `path`, by path.
fn load(path: &Path) -> Result<BTreeMap<String, Entry>, Fail> {
    let image = load_path(path, &LoadOptions::default())
        .map_err(|e| setup(format!("{}: {e}", quoted_path(path))))?;
    entries(&image.fs)
        .map_err(|(entry, e)| setup(format!("{}: entry {entry:?}: {e}", quoted_path(path))))
}
