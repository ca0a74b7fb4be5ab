//! Getting trees into and out of the virtual filesystem: host directories (and, later, tar
//! images and export). The wasi layer never sees this module.

pub mod host;
