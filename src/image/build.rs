//! Building a reproducible image from a host directory: sorted entries, owners 0, modes
//! normalised to 0755 (directories, executables) or 0644, every time set to one epoch, and
//! for `.gz` a gzip header without name or time, so the bytes depend on the tree alone.

#![forbid(unsafe_code)]

use super::export::{ExportOptions, export_vfs};
use super::host::import_tree;
use crate::vfs::{SetTime, SystemClock, Vfs};
use std::path::Path;
use std::sync::Arc;

/// Writes the tree under `dir` to `output` as a tar (`.gz`: gzip tar) whose times are all
/// `epoch` (seconds). Errors name the directory or the output file.
pub fn build_from_dir(dir: &Path, output: &Path, epoch: u64) -> Result<(), String> {
    let in_dir = |e: &dyn std::fmt::Display| format!("{}: {e}", super::quoted_path(dir));
    let mut vfs = Vfs::new(Arc::new(SystemClock));
    let root = vfs.root();
    import_tree(&mut vfs, root, dir).map_err(|e| in_dir(&e))?;
    // Normalise what a checkout does not preserve: times and permission bits beyond +x.
    let fs = vfs.fs_mut(root).map_err(|e| in_dir(&e))?;
    let nodes: Vec<(u64, u32, bool)> = fs
        .nodes()
        .map(|(ino, n)| (ino, n.mode, n.is_dir()))
        .collect();
    let t = SetTime::At(epoch.saturating_mul(1_000_000_000));
    for (ino, mode, is_dir) in nodes {
        let mode = if is_dir || mode & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        fs.set_mode(ino, mode)
            .and_then(|()| fs.set_times(ino, t, t))
            .map_err(|e| in_dir(&e))?;
    }
    let out = |e: &dyn std::fmt::Display| format!("{}: {e}", super::quoted_path(output));
    let file = std::fs::File::create(output).map_err(|e| out(&e))?;
    let file = std::io::BufWriter::new(file);
    let opts = ExportOptions {
        nanoseconds: false,
        ..ExportOptions::default()
    };
    if output.extension().is_some_and(|e| e == "gz") {
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(file, flate2::Compression::best());
        let gz = export_vfs(&vfs, root, gz, &opts).map_err(|e| out(&e))?;
        gz.finish().map_err(|e| out(&e))?;
    } else {
        let mut w = export_vfs(&vfs, root, file, &opts).map_err(|e| out(&e))?;
        std::io::Write::flush(&mut w).map_err(|e| out(&e))?;
    }
    Ok(())
}
