//! WASI types as they sit in guest memory, for both `wasi_snapshot_preview1` (`Abi::P1`)
//! and `wasi_unstable` (`Abi::P0`): constants, and encoders/decoders with every offset taken
//! from the witx texts in `shared/spec`. Where the two differ (whence order, filestat's
//! `nlink` width, the clock subscription's extra field) the `Abi` argument chooses.

#![forbid(unsafe_code)]

use super::memory::GuestMemory;
use crate::vfs::{Errno, Result};

/// Which WASI namespace a call came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// `wasi_snapshot_preview1`.
    P1,
    /// `wasi_unstable` (preview0).
    P0,
}

/// `filetype`: the type of a file descriptor or file.
pub mod filetype {
    /// Of unknown type, or of a type WASI does not name.
    pub const UNKNOWN: u8 = 0;
    /// A block device.
    pub const BLOCK_DEVICE: u8 = 1;
    /// A character device (strata's stdio).
    pub const CHARACTER_DEVICE: u8 = 2;
    /// A directory.
    pub const DIRECTORY: u8 = 3;
    /// A regular file.
    pub const REGULAR_FILE: u8 = 4;
    /// A datagram socket.
    pub const SOCKET_DGRAM: u8 = 5;
    /// A byte-stream socket.
    pub const SOCKET_STREAM: u8 = 6;
    /// A symbolic link.
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `rights` bits, in witx order, and the sets strata hands out.
pub mod rights {
    /// `fd_datasync`.
    pub const FD_DATASYNC: u64 = 1 << 0;
    /// `fd_read` and `sock_recv`; with `FD_SEEK`, `fd_pread`.
    pub const FD_READ: u64 = 1 << 1;
    /// `fd_seek` (which implies `FD_TELL`).
    pub const FD_SEEK: u64 = 1 << 2;
    /// `fd_fdstat_set_flags`.
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    /// `fd_sync`.
    pub const FD_SYNC: u64 = 1 << 4;
    /// `fd_tell`, and `fd_seek` by 0 from the current position.
    pub const FD_TELL: u64 = 1 << 5;
    /// `fd_write` and `sock_send`; with `FD_SEEK`, `fd_pwrite`.
    pub const FD_WRITE: u64 = 1 << 6;
    /// `fd_advise`.
    pub const FD_ADVISE: u64 = 1 << 7;
    /// `fd_allocate`.
    pub const FD_ALLOCATE: u64 = 1 << 8;
    /// `path_create_directory`.
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    /// `path_open` with `oflags::CREAT`.
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    /// `path_link` from this directory.
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    /// `path_link` into this directory.
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    /// `path_open`.
    pub const PATH_OPEN: u64 = 1 << 13;
    /// `fd_readdir`.
    pub const FD_READDIR: u64 = 1 << 14;
    /// `path_readlink`.
    pub const PATH_READLINK: u64 = 1 << 15;
    /// `path_rename` from this directory.
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    /// `path_rename` into this directory.
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    /// `path_filestat_get`.
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    /// Changing a file's size through a path: `path_open` with `oflags::TRUNC`.
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    /// `path_filestat_set_times`.
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    /// `fd_filestat_get`.
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    /// `fd_filestat_set_size`.
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    /// `fd_filestat_set_times`.
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    /// `path_symlink`.
    pub const PATH_SYMLINK: u64 = 1 << 24;
    /// `path_remove_directory`.
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    /// `path_unlink_file`.
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    /// Subscribing to the fd's readiness in `poll_oneoff`.
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    /// `sock_shutdown`.
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    /// `sock_accept`.
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// Every right that means something on a regular file.
    pub const FILE_BASE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;

    /// Every right that means something on a directory.
    pub const DIR_BASE: u64 = FD_DATASYNC
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | POLL_FD_READWRITE;

    /// What a preopened directory may hand down to what is opened through it.
    pub const DIR_INHERITING: u64 = DIR_BASE | FILE_BASE;
}

/// `fdflags`: how an fd's writes and reads behave.
pub mod fdflags {
    /// Every write goes to the end of the file.
    pub const APPEND: u16 = 1 << 0;
    /// Writes are durable (data) when they return: memory always is.
    pub const DSYNC: u16 = 1 << 1;
    /// Non-blocking mode (memory never blocks; kept for `fd_fdstat_get`).
    pub const NONBLOCK: u16 = 1 << 2;
    /// Reads are synchronised like writes.
    pub const RSYNC: u16 = 1 << 3;
    /// Writes are durable (data and metadata) when they return.
    pub const SYNC: u16 = 1 << 4;
    /// Every flag above; others are `EINVAL`.
    pub const ALL: u16 = APPEND | DSYNC | NONBLOCK | RSYNC | SYNC;
}

/// `oflags`: what `path_open` does besides opening.
pub mod oflags {
    /// Create the file if it does not exist.
    pub const CREAT: u16 = 1 << 0;
    /// Fail unless the path is a directory.
    pub const DIRECTORY: u16 = 1 << 1;
    /// With `CREAT`, fail if the file exists.
    pub const EXCL: u16 = 1 << 2;
    /// Truncate the file to size 0.
    pub const TRUNC: u16 = 1 << 3;
    /// Every flag above; others are `EINVAL`.
    pub const ALL: u16 = CREAT | DIRECTORY | EXCL | TRUNC;
}

/// `lookupflags`: how a path's last component is resolved.
pub mod lookupflags {
    /// Follow a symbolic link in the last component.
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
}

/// `fstflags`: which timestamps the `*_set_times` calls change, and how.
pub mod fstflags {
    /// Set the access time to the given value.
    pub const ATIM: u16 = 1 << 0;
    /// Set the access time to now.
    pub const ATIM_NOW: u16 = 1 << 1;
    /// Set the modification time to the given value.
    pub const MTIM: u16 = 1 << 2;
    /// Set the modification time to now.
    pub const MTIM_NOW: u16 = 1 << 3;
}

/// `advice`: `fd_advise`'s hint about the coming access pattern (memory ignores it).
pub mod advice {
    /// No particular pattern.
    pub const NORMAL: u8 = 0;
    /// Sequential access.
    pub const SEQUENTIAL: u8 = 1;
    /// Random access.
    pub const RANDOM: u8 = 2;
    /// The data will be needed soon.
    pub const WILLNEED: u8 = 3;
    /// The data will not be needed soon.
    pub const DONTNEED: u8 = 4;
    /// The data will be accessed once.
    pub const NOREUSE: u8 = 5;
}

/// `clockid`: the clocks of `clock_time_get`, `clock_res_get` and clock subscriptions.
pub mod clockid {
    /// Wall-clock time since the Unix epoch.
    pub const REALTIME: u32 = 0;
    /// Time since an arbitrary start, never going back.
    pub const MONOTONIC: u32 = 1;
    /// CPU time of the process.
    pub const PROCESS_CPUTIME_ID: u32 = 2;
    /// CPU time of the thread.
    pub const THREAD_CPUTIME_ID: u32 = 3;
}

/// `eventtype`: what a `poll_oneoff` subscription waits for.
pub mod eventtype {
    /// A clock's time.
    pub const CLOCK: u8 = 0;
    /// An fd having data to read.
    pub const FD_READ: u8 = 1;
    /// An fd accepting writes.
    pub const FD_WRITE: u8 = 2;
}

/// `subclockflags`: how a clock subscription's timeout reads.
pub mod subclockflags {
    /// The timeout is an absolute time of the clock, not a duration.
    pub const ABSTIME: u16 = 1 << 0;
}

/// `fd_seek`'s origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    /// From the start of the file.
    Set,
    /// From the current position.
    Cur,
    /// From the end of the file.
    End,
}

impl Whence {
    /// preview1 numbers SET=0, CUR=1, END=2; preview0 CUR=0, END=1, SET=2.
    pub fn decode(abi: Abi, v: u8) -> Result<Whence> {
        match (abi, v) {
            (Abi::P1, 0) | (Abi::P0, 2) => Ok(Whence::Set),
            (Abi::P1, 1) | (Abi::P0, 0) => Ok(Whence::Cur),
            (Abi::P1, 2) | (Abi::P0, 1) => Ok(Whence::End),
            _ => Err(Errno::Inval),
        }
    }
}

/// `filestat`: a file's attributes as `fd_filestat_get` and `path_filestat_get` give them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filestat {
    /// Device (filesystem) id.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// A `filetype` constant.
    pub filetype: u8,
    /// Number of hard links.
    pub nlink: u64,
    /// Size in bytes (a directory: its entries; a symlink: its target's length).
    pub size: u64,
    /// Last access, ns since the Unix epoch.
    pub atim: u64,
    /// Last data modification, ns since the Unix epoch.
    pub mtim: u64,
    /// Last status change, ns since the Unix epoch.
    pub ctim: u64,
}

/// preview1 `filestat`: 64 bytes, nlink is u64 at 24.
pub fn encode_filestat_p1(s: &Filestat) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&s.dev.to_le_bytes());
    b[8..16].copy_from_slice(&s.ino.to_le_bytes());
    b[16] = s.filetype;
    b[24..32].copy_from_slice(&s.nlink.to_le_bytes());
    b[32..40].copy_from_slice(&s.size.to_le_bytes());
    b[40..48].copy_from_slice(&s.atim.to_le_bytes());
    b[48..56].copy_from_slice(&s.mtim.to_le_bytes());
    b[56..64].copy_from_slice(&s.ctim.to_le_bytes());
    b
}

/// preview0 `filestat`: 56 bytes, nlink is u32 at 20 (saturated).
pub fn encode_filestat_p0(s: &Filestat) -> [u8; 56] {
    let mut b = [0u8; 56];
    b[0..8].copy_from_slice(&s.dev.to_le_bytes());
    b[8..16].copy_from_slice(&s.ino.to_le_bytes());
    b[16] = s.filetype;
    let nlink = u32::try_from(s.nlink).unwrap_or(u32::MAX);
    b[20..24].copy_from_slice(&nlink.to_le_bytes());
    b[24..32].copy_from_slice(&s.size.to_le_bytes());
    b[32..40].copy_from_slice(&s.atim.to_le_bytes());
    b[40..48].copy_from_slice(&s.mtim.to_le_bytes());
    b[48..56].copy_from_slice(&s.ctim.to_le_bytes());
    b
}

/// Bytes of a `filestat` in guest memory: 64 (preview1) or 56 (preview0).
pub fn filestat_size(abi: Abi) -> u32 {
    match abi {
        Abi::P1 => 64,
        Abi::P0 => 56,
    }
}

/// Decodes a `filestat` (`raw` holds `filestat_size(abi)` bytes): the inverse of the encoders.
pub fn decode_filestat(abi: Abi, raw: &[u8]) -> Result<Filestat> {
    if raw.len() < filestat_size(abi) as usize {
        return Err(Errno::Fault);
    }
    // preview0 has a u32 nlink at 20, shifting what follows back by 8.
    let (nlink, rest) = match abi {
        Abi::P1 => (u64_at(raw, 24), 32),
        Abi::P0 => (u64::from(u32_at(raw, 20)), 24),
    };
    Ok(Filestat {
        dev: u64_at(raw, 0),
        ino: u64_at(raw, 8),
        filetype: raw[16],
        nlink,
        size: u64_at(raw, rest),
        atim: u64_at(raw, rest + 8),
        mtim: u64_at(raw, rest + 16),
        ctim: u64_at(raw, rest + 24),
    })
}

/// Writes `s` at `at` in the layout of `abi`.
pub fn write_filestat<M: GuestMemory + ?Sized>(
    mem: &mut M,
    abi: Abi,
    at: u32,
    s: &Filestat,
) -> Result<()> {
    match abi {
        Abi::P1 => mem.write(at, &encode_filestat_p1(s)),
        Abi::P0 => mem.write(at, &encode_filestat_p0(s)),
    }
}

/// `fdstat`: an fd's type, flags and rights, as `fd_fdstat_get` gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fdstat {
    /// A `filetype` constant.
    pub filetype: u8,
    /// `fdflags`.
    pub flags: u16,
    /// Rights of the fd itself.
    pub rights_base: u64,
    /// Rights fds opened through it may have.
    pub rights_inheriting: u64,
}

/// `fdstat`: 24 bytes (same in both namespaces).
pub fn encode_fdstat(s: &Fdstat) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0] = s.filetype;
    b[2..4].copy_from_slice(&s.flags.to_le_bytes());
    b[8..16].copy_from_slice(&s.rights_base.to_le_bytes());
    b[16..24].copy_from_slice(&s.rights_inheriting.to_le_bytes());
    b
}

/// Decodes an `fdstat` (24 bytes).
pub fn decode_fdstat(raw: &[u8; 24]) -> Fdstat {
    Fdstat {
        filetype: raw[0],
        flags: u16_at(raw, 2),
        rights_base: u64_at(raw, 8),
        rights_inheriting: u64_at(raw, 16),
    }
}

/// `prestat` of a directory: tag 0, then the name length at 4.
pub fn encode_prestat_dir(name_len: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[4..8].copy_from_slice(&name_len.to_le_bytes());
    b
}

/// `dirent` header: 24 bytes, followed by the name (same in both namespaces).
pub fn encode_dirent(next: u64, ino: u64, namlen: u32, filetype: u8) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&next.to_le_bytes());
    b[8..16].copy_from_slice(&ino.to_le_bytes());
    b[16..20].copy_from_slice(&namlen.to_le_bytes());
    b[20] = filetype;
    b
}

/// Largest subscription record (preview0's; preview1's is 48).
pub const SUBSCRIPTION_MAX: usize = 56;
/// `event`: 32 bytes in both namespaces.
pub const EVENT_SIZE: usize = 32;

/// Bytes of a `subscription` in guest memory: 48 (preview1) or 56 (preview0).
pub fn subscription_size(abi: Abi) -> usize {
    match abi {
        Abi::P1 => 48,
        Abi::P0 => 56,
    }
}

/// What one `poll_oneoff` subscription waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// A clock reaching a time.
    Clock {
        /// A `clockid` constant.
        id: u32,
        /// A duration, or with `subclockflags::ABSTIME` an absolute time, in ns.
        timeout: u64,
        /// How late the wake-up may be, in ns (ignored).
        precision: u64,
        /// `subclockflags`.
        flags: u16,
    },
    /// This fd having data to read.
    FdRead(u32),
    /// This fd accepting writes.
    FdWrite(u32),
}

/// One `poll_oneoff` subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The guest's tag, copied into the event.
    pub userdata: u64,
    /// What it waits for.
    pub kind: SubscriptionKind,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes one subscription (`raw` holds `subscription_size(abi)` bytes). The union starts
/// at 16; preview0's clock has a `userdata` identifier first, shifting the rest by 8.
pub fn decode_subscription(abi: Abi, raw: &[u8]) -> Result<Subscription> {
    if raw.len() < subscription_size(abi) {
        return Err(Errno::Fault);
    }
    let userdata = u64_at(raw, 0);
    let kind = match raw[8] {
        eventtype::CLOCK => {
            let c = if abi == Abi::P0 { 24 } else { 16 };
            SubscriptionKind::Clock {
                id: u32_at(raw, c),
                timeout: u64_at(raw, c + 8),
                precision: u64_at(raw, c + 16),
                flags: u16_at(raw, c + 24),
            }
        }
        eventtype::FD_READ => SubscriptionKind::FdRead(u32_at(raw, 16)),
        eventtype::FD_WRITE => SubscriptionKind::FdWrite(u32_at(raw, 16)),
        _ => return Err(Errno::Inval),
    };
    Ok(Subscription { userdata, kind })
}

/// One `poll_oneoff` event: a subscription that fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The subscription's tag.
    pub userdata: u64,
    /// An errno number, 0 if it fired normally.
    pub error: u16,
    /// An `eventtype` constant.
    pub kind: u8,
    /// For fd events: bytes available to read (0 when unknown).
    pub nbytes: u64,
    /// For fd events: `eventrwflags` (never set: memory never hangs up).
    pub flags: u16,
}

impl Event {
    /// A clock subscription fired.
    pub fn clock(userdata: u64) -> Event {
        Event {
            userdata,
            error: 0,
            kind: eventtype::CLOCK,
            nbytes: 0,
            flags: 0,
        }
    }

    /// An fd subscription is ready, with `nbytes` to read.
    pub fn fd(userdata: u64, kind: u8, nbytes: u64) -> Event {
        Event {
            userdata,
            error: 0,
            kind,
            nbytes,
            flags: 0,
        }
    }

    /// A subscription that failed with `e` (e.g. `EBADF` for a closed fd).
    pub fn error(userdata: u64, e: Errno, kind: u8) -> Event {
        Event {
            userdata,
            error: e.code(),
            kind,
            nbytes: 0,
            flags: 0,
        }
    }
}

/// `event`: userdata@0, error u16@8, type u8@10, fd_readwrite {nbytes u64@16, flags u16@24}.
pub fn encode_event(e: &Event) -> [u8; EVENT_SIZE] {
    let mut b = [0u8; EVENT_SIZE];
    b[0..8].copy_from_slice(&e.userdata.to_le_bytes());
    b[8..10].copy_from_slice(&e.error.to_le_bytes());
    b[10] = e.kind;
    b[16..24].copy_from_slice(&e.nbytes.to_le_bytes());
    b[24..26].copy_from_slice(&e.flags.to_le_bytes());
    b
}

/// Decodes an `event`: the inverse of `encode_event`.
pub fn decode_event(raw: &[u8; EVENT_SIZE]) -> Event {
    Event {
        userdata: u64_at(raw, 0),
        error: u16_at(raw, 8),
        kind: raw[10],
        nbytes: u64_at(raw, 16),
        flags: u16_at(raw, 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whence_orders_differ() {
        assert_eq!(Whence::decode(Abi::P1, 0), Ok(Whence::Set));
        assert_eq!(Whence::decode(Abi::P0, 0), Ok(Whence::Cur));
        assert_eq!(Whence::decode(Abi::P0, 1), Ok(Whence::End));
        assert_eq!(Whence::decode(Abi::P0, 2), Ok(Whence::Set));
        assert_eq!(Whence::decode(Abi::P1, 3), Err(Errno::Inval));
    }

    #[test]
    fn filestat_layouts() {
        let s = Filestat {
            dev: 1,
            ino: 2,
            filetype: 4,
            nlink: 5,
            size: 6,
            atim: 7,
            mtim: 8,
            ctim: 9,
        };
        let p1 = encode_filestat_p1(&s);
        assert_eq!((p1[16], p1[24], p1[32], p1[56]), (4, 5, 6, 9));
        let p0 = encode_filestat_p0(&s);
        assert_eq!((p0[16], p0[20], p0[24], p0[48]), (4, 5, 6, 9));
        let big = Filestat {
            nlink: u64::MAX,
            ..s
        };
        assert_eq!(&encode_filestat_p0(&big)[20..24], &[0xff; 4]);
        assert_eq!(decode_filestat(Abi::P1, &p1), Ok(s));
        assert_eq!(decode_filestat(Abi::P0, &p0), Ok(s));
        assert_eq!(decode_filestat(Abi::P1, &p0), Err(Errno::Fault));
    }

    #[test]
    fn clock_subscription_offsets() {
        let mut raw = [0u8; 56];
        raw[0] = 7;
        raw[8] = eventtype::CLOCK;
        raw[16] = 1; // p1: id; p0: identifier
        raw[24] = 2; // p1: timeout; p0: id
        raw[32] = 3; // p1: precision; p0: timeout
        raw[40] = 1; // p1: flags; p0: precision
        raw[48] = 0; // p0: flags
        let p1 = decode_subscription(Abi::P1, &raw[..48]).unwrap();
        assert_eq!(
            p1.kind,
            SubscriptionKind::Clock {
                id: 1,
                timeout: 2,
                precision: 3,
                flags: 1
            }
        );
        let p0 = decode_subscription(Abi::P0, &raw).unwrap();
        assert_eq!(
            p0.kind,
            SubscriptionKind::Clock {
                id: 2,
                timeout: 3,
                precision: 1,
                flags: 0
            }
        );
        raw[8] = 9;
        assert_eq!(decode_subscription(Abi::P1, &raw), Err(Errno::Inval));
    }

    #[test]
    fn event_and_dirent_layouts() {
        let ev = Event::error(3, Errno::Badf, eventtype::FD_READ);
        let e = encode_event(&ev);
        assert_eq!((e[0], e[8], e[10]), (3, 8, 1));
        assert_eq!(decode_event(&e), ev);
        let st = Fdstat {
            filetype: 4,
            flags: 1,
            rights_base: 6,
            rights_inheriting: 7,
        };
        assert_eq!(decode_fdstat(&encode_fdstat(&st)), st);
        let d = encode_dirent(5, 6, 7, filetype::DIRECTORY);
        assert_eq!((d[0], d[8], d[16], d[20]), (5, 6, 7, 3));
    }
}
