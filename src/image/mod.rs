//! Getting trees into and out of the virtual filesystem: host directories, tar / tar.gz
//! images (loaded read-only and zero-copy) and tar export. The wasi layer never sees this
//! module; the vfs knows nothing of tar.

pub mod cache;
pub mod error;
pub mod export;
pub mod host;
pub mod layers;
pub mod limits;
pub mod load;
mod tarparse;

pub use cache::ImageCache;
pub use error::{EntryProblem, ExportError, ImageError, Quoted, quoted, quoted_path};
pub use export::{ExportOptions, export_memfs, export_vfs};
pub use layers::{Deletions, apply_layer, diff_into, stack, write_diff};
pub use limits::Limits;
pub use load::{Image, LoadOptions, LoadStats, load_bytes, load_path, load_reader};
