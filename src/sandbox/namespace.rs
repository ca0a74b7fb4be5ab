//! Assembling a sandbox's namespace from what it was given, in one fixed order: images (layers
//! at one guest path stack as OCI layers, lowest first; the group at `/` becomes the root),
//! then host directories, then single files, then read-only marks. Every time strata stamps
//! here (nodes it creates, mount points, change times from stacking layers) comes from the
//! run's clock, so a deterministic sandbox is reproducible; imported host entries keep their
//! host modification and access times.

use super::{DirLayer, ImageLayer, ImageSource, Mode};
use crate::image::{Image, ImageCache, LoadOptions, stack_with_clock};
use crate::runtime::{Error, ErrorInput};
use crate::vfs::{AbsoluteSymlinks, Clock, FileData, MemFs, NodeId, Vfs};
use bytes::Bytes;
use std::sync::Arc;

/// A namespace ready to be forked by runs.
#[derive(Clone)]
pub(super) struct Prepared {
    pub vfs: Vfs,
    /// Guest path and root of every filesystem of `vfs`, the root first.
    pub mounts: Vec<(String, NodeId)>,
    /// (guest path, preopen name) of every host directory, in the order given.
    pub preopens: Vec<(String, String)>,
}

/// The guest path `guest` as components; `..` is refused (a mount point is named, not resolved).
fn components(guest: &str, input: impl Fn() -> ErrorInput) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for c in guest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::input(
                    input(),
                    format!("guest path {guest:?} must not contain '..'"),
                ));
            }
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

fn source_name(src: &ImageSource) -> String {
    match src {
        ImageSource::Shared(_) => "<shared image>".into(),
        ImageSource::File(p) => p.display().to_string(),
        ImageSource::Bytes(_) => "<bytes>".into(),
    }
}

/// The loaded image of one layer: shared through the process-wide `ImageCache`.
fn load(src: &ImageSource) -> Result<Arc<Image>, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::input(ErrorInput::Image(source_name(src)), e);
    match src {
        ImageSource::Shared(img) => Ok(img.clone()),
        ImageSource::File(p) => ImageCache::global()
            .load_path(p, &LoadOptions::oci())
            .map_err(|e| fail(&e)),
        ImageSource::Bytes(b) => ImageCache::global()
            .load_bytes(b.clone(), &LoadOptions::oci())
            .map_err(|e| fail(&e)),
    }
}

pub(super) fn assemble(
    images: &[ImageLayer],
    dirs: &[DirLayer],
    files: &[(String, Bytes)],
    clock: Arc<dyn Clock>,
) -> Result<Prepared, Error> {
    // Layers by guest path, in order of first appearance; within a group, in the order given.
    let mut groups: Vec<(Vec<String>, Vec<&ImageLayer>)> = Vec::new();
    for layer in images {
        let comps = components(&layer.guest, || {
            ErrorInput::Image(source_name(&layer.source))
        })?;
        match groups.iter_mut().find(|(c, _)| *c == comps) {
            Some((_, g)) => g.push(layer),
            None => groups.push((comps, vec![layer])),
        }
    }
    let mut readonly: Vec<NodeId> = Vec::new();
    let stacked = |group: &[&ImageLayer]| -> Result<MemFs, Error> {
        let loaded = group
            .iter()
            .map(|l| load(&l.source))
            .collect::<Result<Vec<_>, _>>()?;
        // The run's clock from the start: stacking stamps change times too.
        stack_with_clock(&loaded, clock.clone()).map_err(|e| {
            let names: Vec<String> = group.iter().map(|l| source_name(&l.source)).collect();
            Error::input(
                ErrorInput::Image(names.join(" ")),
                format!("cannot stack layers: {e}"),
            )
        })
    };
    let ro = |group: &[&ImageLayer]| group.iter().any(|l| l.mode == Mode::ReadOnly);

    let mut vfs = match groups.iter().position(|(c, _)| c.is_empty()) {
        Some(i) => {
            let (_, group) = groups.remove(i);
            let vfs = Vfs::with_root(stacked(&group)?, clock.clone());
            if ro(&group) {
                readonly.push(vfs.root());
            }
            vfs
        }
        // Host trees merged into it (`dir` at `/`) bring absolute symlinks; guests cannot
        // make any, so the policy only ever applies to imported ones.
        None => Vfs::with_root(
            MemFs::new(1, clock.clone()).with_absolute_symlinks(AbsoluteSymlinks::InRoot),
            clock.clone(),
        ),
    };
    let mut mounts = vec![("/".to_string(), vfs.root())];
    for (comps, group) in &groups {
        let path = comps.join("/");
        let fs = stacked(group)?;
        let root = vfs.root();
        let id = vfs
            .mkdir_all(root, &path)
            .and_then(|at| vfs.mount(at, fs))
            .map_err(|errno| Error::guest_path(format!("/{path}"), errno))?;
        if ro(group) {
            readonly.push(id);
        }
        mounts.push((format!("/{path}"), id));
    }

    let mut preopens = Vec::new();
    for dir in dirs {
        let input = || ErrorInput::HostDir(dir.host.clone());
        let comps = components(&dir.guest, input)?;
        let path = comps.join("/");
        let root = vfs.root();
        // `/` merges the host tree into the root (over any image there); anywhere else the
        // tree gets a filesystem of its own, mounted over what the image had at that path.
        let target = if comps.is_empty() {
            root
        } else {
            // Host symlinks are read as text and resolved inside the namespace only.
            let fs = MemFs::new(0, clock.clone()).with_absolute_symlinks(AbsoluteSymlinks::InRoot);
            let id = vfs
                .mkdir_all(root, &path)
                .and_then(|at| vfs.mount(at, fs))
                .map_err(|errno| Error::guest_path(format!("/{path}"), errno))?;
            mounts.push((format!("/{path}"), id));
            id
        };
        crate::image::host::import_dir(&mut vfs, target, &dir.host)
            .map_err(|e| Error::input(input(), e))?;
        if dir.mode == Mode::ReadOnly {
            readonly.push(target);
        }
        preopens.push((format!("/{path}"), dir.guest.clone()));
    }

    for (path, data) in files {
        let rel = path.trim_start_matches('/');
        let root = vfs.root();
        vfs.write_file(root, rel, FileData::from_bytes(data.clone()))
            .map_err(|errno| Error::guest_path(path.clone(), errno))?;
    }
    for id in readonly {
        if let Ok(fs) = vfs.fs_mut(id) {
            fs.set_readonly(true);
        }
    }
    Ok(Prepared {
        vfs,
        mounts,
        preopens,
    })
}
