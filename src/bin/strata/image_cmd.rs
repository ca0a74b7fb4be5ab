//! `strata image`: build, list, read and compare images without extracting them.

use super::{Fail, setup};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata::image::{ExportOptions, LoadOptions, export_vfs, load_path};
use strata::vfs::node::NodeKind;
use strata::vfs::{FileType, MemFs, SetTime, SystemClock, Vfs};

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
        ImageCommand::Build { dir, output } => build(&dir, &output).map(|()| 0),
        ImageCommand::Ls { image, path } => {
            let entries = walk(&load(&image)?);
            let prefix = path.as_deref().unwrap_or("").trim_matches('/');
            let mut out = std::io::stdout().lock();
            for (p, e) in &entries {
                if prefix.is_empty() || p == prefix || p.starts_with(&format!("{prefix}/")) {
                    let kind = match e.kind {
                        FileType::Directory => 'd',
                        FileType::SymbolicLink => 'l',
                        _ => '-',
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
            let entries = walk(&load(&image)?);
            let e = entries
                .get(path.trim_matches('/'))
                .ok_or_else(|| setup(format!("{}: no entry {path}", image.display())))?;
            let data = e.data.as_ref().ok_or_else(|| {
                setup(format!("{}: {path} is not a regular file", image.display()))
            })?;
            std::io::stdout()
                .lock()
                .write_all(data)
                .map_err(|e| setup(format!("stdout: {e}")))?;
            Ok(0)
        }
        ImageCommand::Diff { a, b } => {
            let (ea, eb) = (walk(&load(&a)?), walk(&load(&b)?));
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

fn load(path: &Path) -> Result<MemFs, Fail> {
    load_path(path, &LoadOptions::default())
        .map(|i| i.fs)
        .map_err(|e| setup(format!("{}: {e}", path.display())))
}

/// What `ls`, `cat` and `diff` look at in an entry.
#[derive(PartialEq)]
struct Entry {
    kind: FileType,
    mode: u32,
    size: u64,
    target: Option<String>,
    data: Option<Vec<u8>>,
}

/// Every entry of `fs` by path (no leading slash), sorted.
fn walk(fs: &MemFs) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(fs.root(), String::new())];
    while let Some((dir, prefix)) = todo.pop() {
        for (_, name, ino, _) in fs.readdir(dir, 2).unwrap_or_default() {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let Ok(node) = fs.node(ino) else { continue };
            let (target, data) = match &node.kind {
                NodeKind::Symlink(t) => (Some(t.to_string()), None),
                NodeKind::File(d) => {
                    let mut v = vec![0u8; d.len() as usize];
                    let n = d.read_at(0, &mut v);
                    v.truncate(n);
                    (None, Some(v))
                }
                NodeKind::Dir(_) => {
                    todo.push((ino, path.clone()));
                    (None, None)
                }
            };
            out.insert(
                path,
                Entry {
                    kind: node.file_type(),
                    mode: node.mode,
                    size: node.size(),
                    target,
                    data,
                },
            );
        }
    }
    out
}

fn build(dir: &Path, output: &Path) -> Result<(), Fail> {
    let epoch: u64 = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.parse().map_err(|_| {
            setup(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds"
            ))
        })?,
        Err(_) => 0,
    };
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    strata::image::host::import_dir(&mut vfs, root, dir)
        .map_err(|e| setup(format!("{}: {e}", dir.display())))?;
    // Normalise what a checkout does not preserve: times and permission bits beyond +x.
    let fs = vfs.fs_mut(root).map_err(|e| setup(e.to_string()))?;
    let nodes: Vec<(u64, u32, bool)> = fs
        .nodes()
        .map(|(ino, n)| (ino, n.mode, n.is_dir()))
        .collect();
    for (ino, mode, is_dir) in nodes {
        let mode = if is_dir || mode & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        let t = SetTime::At(epoch * 1_000_000_000);
        let r = fs
            .set_mode(ino, mode)
            .and_then(|()| fs.set_times(ino, t, t));
        r.map_err(|e| setup(format!("{}: {e}", dir.display())))?;
    }
    let file =
        std::fs::File::create(output).map_err(|e| setup(format!("{}: {e}", output.display())))?;
    let opts = ExportOptions {
        nanoseconds: false,
        ..ExportOptions::default()
    };
    let fail = |e: &dyn std::fmt::Display| setup(format!("{}: {e}", output.display()));
    if output.extension().is_some_and(|e| e == "gz") {
        // No name and mtime 0 in the gzip header, so the bytes depend on the tree only.
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(file, flate2::Compression::best());
        let gz = export_vfs(&vfs, root, gz, &opts).map_err(|e| fail(&e))?;
        gz.finish().map_err(|e| fail(&e))?;
    } else {
        export_vfs(&vfs, root, file, &opts).map_err(|e| fail(&e))?;
    }
    Ok(())
}
