//! The virtual filesystem: in-memory inodes, the confined path resolver, and the namespace
//! of mounted filesystems. It knows nothing of WebAssembly; errors are WASI errnos.

pub mod budget;
pub mod clock;
pub mod data;
pub mod dir;
pub mod error;
pub mod lazy;
pub mod memfs;
pub mod namespace;
pub mod node;
pub mod resolve;
pub mod table;

pub use clock::{Clock, SteppingClock, SystemClock};
pub use data::FileData;
pub use error::{Errno, Result};
pub use memfs::MemFs;
pub use namespace::{OpenOptions, Vfs};
pub use node::{FileType, NodeId, SetTime, Stat};
pub use resolve::{AbsoluteSymlinks, Follow};
