//! `strata cache`: where the module cache is, what it holds, and pruning it.

use super::args::parse_size;
use super::{Fail, setup};
use std::path::Path;
use std::time::SystemTime;
use strata::image::quoted_path;
use strata::sandbox::CachePolicy;
use strata::sandbox::module_cache::{self, Pruned};

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Show the cache directory, its bound (STRATA_CACHE_MAX), the compression of new entries
    /// (STRATA_CACHE_COMPRESS, STRATA_CACHE_COMPRESS_MIN) and every entry: size on disk,
    /// last use, whether it is compressed and whether this strata can load it.
    Info,
    /// Remove entries, least recently used first, until the cache holds at most SIZE
    /// (default: its bound); with --other-versions, first every entry another strata
    /// version or engine wrote.
    Prune {
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max: Option<u64>,
        #[arg(long)]
        other_versions: bool,
    },
    /// Remove every entry.
    Clean,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

fn report(p: Pruned) {
    println!("removed {} entries, {}", p.entries, mib(p.bytes));
}

pub fn run(cmd: CacheCommand) -> Result<u8, Fail> {
    let Some(dir) = CachePolicy::Default.disk_dir() else {
        return Err(setup(
            "no cache directory: set STRATA_CACHE_DIR, XDG_CACHE_HOME or HOME",
        ));
    };
    let fail = |e: std::io::Error| setup(format!("{}: {e}", quoted_path(&dir)));
    let exists = dir.is_dir();
    match cmd {
        CacheCommand::Info => {
            println!("directory: {}", dir.display());
            println!(
                "bound: {} (STRATA_CACHE_MAX)",
                mib(module_cache::max_bytes())
            );
            match module_cache::compression_level() {
                Some(level) => println!(
                    "compression: zstd level {level} (STRATA_CACHE_COMPRESS), artifacts from {} \
                     (STRATA_CACHE_COMPRESS_MIN)",
                    mib(module_cache::compress_from())
                ),
                None => println!("compression: none (STRATA_CACHE_COMPRESS)"),
            }
            let list = if exists {
                module_cache::entries(&dir).map_err(fail)?
            } else {
                Vec::new()
            };
            let total: u64 = list.iter().map(|e| e.bytes).sum();
            println!("entries: {}, {}", list.len(), mib(total));
            for e in list.iter().rev() {
                let age = SystemTime::now()
                    .duration_since(e.last_used)
                    .map(|d| format!("{}s ago", d.as_secs()))
                    .unwrap_or_else(|_| "in the future".into());
                let name = e.path.file_name().map(Path::new).unwrap_or(&e.path);
                println!(
                    "{:>12}  {:>4}  {:>14}  {}{}",
                    mib(e.bytes),
                    if e.compressed { "zstd" } else { "" },
                    age,
                    name.display(),
                    if e.current { "" } else { "  (other version)" }
                );
            }
        }
        CacheCommand::Prune {
            max,
            other_versions,
        } if exists => {
            if other_versions {
                report(module_cache::prune_other_generations(&dir).map_err(fail)?);
            }
            let max = max.unwrap_or_else(module_cache::max_bytes);
            report(module_cache::prune(&dir, max, None).map_err(fail)?);
        }
        CacheCommand::Clean if exists => {
            report(module_cache::prune(&dir, 0, None).map_err(fail)?);
        }
        CacheCommand::Prune { .. } | CacheCommand::Clean => report(Pruned::default()),
    }
    Ok(0)
}
