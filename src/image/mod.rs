//! Getting trees into and out of the virtual filesystem: host directories, tar / tar.gz
//! images (loaded read-only and zero-copy) and tar export. The wasi layer never sees this
//! module; the vfs knows nothing of tar.

pub mod build;
pub mod cache;
pub mod error;
pub mod export;
pub mod host;
pub mod inspect;
pub mod layers;
pub mod load;
pub mod load_limits;
mod tarparse;

pub use build::build_from_dir;
pub use cache::ImageCache;
pub use error::{EntryProblem, ExportError, ImageError, Quoted, quoted, quoted_path};
pub use export::{ExportOptions, export_memfs, export_vfs};
pub use inspect::{Entry, EntryKind, entries};
pub use layers::{Deletions, apply_layer, diff_into, stack, stack_with_clock, write_diff};
pub use load::{Image, LoadOptions, LoadStats, load_bytes, load_path, load_reader};
pub use load_limits::Limits;
