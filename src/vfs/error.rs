//! The one error type of the filesystem: each variant is a WASI `errno`, with the same number.
//!
//! The syscall layer returns `Errno as u16` unchanged, so there is no second mapping to get wrong.
//! `success` (0) is not a variant: success is `Ok`.

#![forbid(unsafe_code)]

/// Result of every filesystem operation.
pub type Result<T> = std::result::Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident = $num:literal => $text:literal, $desc:literal,)*) => {
        /// A WASI error number (`wasi_snapshot_preview1` and `wasi_unstable` share the numbering).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Errno {
            $(#[doc = concat!("`", $text, "` (", $num, "): ", $desc, ".")] $name = $num,)*
        }

        impl Errno {
            /// Every variant, in numeric order.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];

            /// The WASI errno number.
            pub const fn code(self) -> u16 {
                self as u16
            }

            /// The variant for a WASI errno number, `None` for 0 (success) or an unknown number.
            pub fn from_code(code: u16) -> Option<Errno> {
                match code {
                    $($num => Some(Errno::$name),)*
                    _ => None,
                }
            }

            /// The variant for a POSIX spelling (`ENOENT`; exact case), `None` if unknown.
            pub fn from_name(name: &str) -> Option<Errno> {
                match name {
                    $($text => Some(Errno::$name),)*
                    _ => None,
                }
            }

            /// The POSIX spelling, e.g. `ENOENT`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => $text,)*
                }
            }

            /// What it means, as wasi-libc's `strerror` says it (musl's wording), e.g.
            /// `No such file or directory`.
            pub const fn description(self) -> &'static str {
                match self {
                    $(Errno::$name => $desc,)*
                }
            }
        }
    };
}

errnos! {
    TooBig = 1 => "E2BIG", "Argument list too long",
    Acces = 2 => "EACCES", "Permission denied",
    Addrinuse = 3 => "EADDRINUSE", "Address in use",
    Addrnotavail = 4 => "EADDRNOTAVAIL", "Address not available",
    Afnosupport = 5 => "EAFNOSUPPORT", "Address family not supported by protocol",
    Again = 6 => "EAGAIN", "Resource temporarily unavailable",
    Already = 7 => "EALREADY", "Operation already in progress",
    Badf = 8 => "EBADF", "Bad file descriptor",
    Badmsg = 9 => "EBADMSG", "Bad message",
    Busy = 10 => "EBUSY", "Resource busy",
    Canceled = 11 => "ECANCELED", "Operation canceled",
    Child = 12 => "ECHILD", "No child process",
    Connaborted = 13 => "ECONNABORTED", "Connection aborted",
    Connrefused = 14 => "ECONNREFUSED", "Connection refused",
    Connreset = 15 => "ECONNRESET", "Connection reset by peer",
    Deadlk = 16 => "EDEADLK", "Resource deadlock would occur",
    Destaddrreq = 17 => "EDESTADDRREQ", "Destination address required",
    Dom = 18 => "EDOM", "Domain error",
    Dquot = 19 => "EDQUOT", "Quota exceeded",
    Exist = 20 => "EEXIST", "File exists",
    Fault = 21 => "EFAULT", "Bad address",
    Fbig = 22 => "EFBIG", "File too large",
    Hostunreach = 23 => "EHOSTUNREACH", "Host is unreachable",
    Idrm = 24 => "EIDRM", "Identifier removed",
    Ilseq = 25 => "EILSEQ", "Illegal byte sequence",
    Inprogress = 26 => "EINPROGRESS", "Operation in progress",
    Intr = 27 => "EINTR", "Interrupted system call",
    Inval = 28 => "EINVAL", "Invalid argument",
    Io = 29 => "EIO", "I/O error",
    Isconn = 30 => "EISCONN", "Socket is connected",
    Isdir = 31 => "EISDIR", "Is a directory",
    Loop = 32 => "ELOOP", "Symbolic link loop",
    Mfile = 33 => "EMFILE", "No file descriptors available",
    Mlink = 34 => "EMLINK", "Too many links",
    Msgsize = 35 => "EMSGSIZE", "Message too large",
    Multihop = 36 => "EMULTIHOP", "Multihop attempted",
    Nametoolong = 37 => "ENAMETOOLONG", "Filename too long",
    Netdown = 38 => "ENETDOWN", "Network is down",
    Netreset = 39 => "ENETRESET", "Connection reset by network",
    Netunreach = 40 => "ENETUNREACH", "Network unreachable",
    Nfile = 41 => "ENFILE", "Too many open files in system",
    Nobufs = 42 => "ENOBUFS", "No buffer space available",
    Nodev = 43 => "ENODEV", "No such device",
    Noent = 44 => "ENOENT", "No such file or directory",
    Noexec = 45 => "ENOEXEC", "Exec format error",
    Nolck = 46 => "ENOLCK", "No locks available",
    Nolink = 47 => "ENOLINK", "Link has been severed",
    Nomem = 48 => "ENOMEM", "Out of memory",
    Nomsg = 49 => "ENOMSG", "No message of desired type",
    Noprotoopt = 50 => "ENOPROTOOPT", "Protocol not available",
    Nospc = 51 => "ENOSPC", "No space left on device",
    Nosys = 52 => "ENOSYS", "Function not implemented",
    Notconn = 53 => "ENOTCONN", "Socket not connected",
    Notdir = 54 => "ENOTDIR", "Not a directory",
    Notempty = 55 => "ENOTEMPTY", "Directory not empty",
    Notrecoverable = 56 => "ENOTRECOVERABLE", "State not recoverable",
    Notsock = 57 => "ENOTSOCK", "Not a socket",
    Notsup = 58 => "ENOTSUP", "Not supported",
    Notty = 59 => "ENOTTY", "Not a tty",
    Nxio = 60 => "ENXIO", "No such device or address",
    Overflow = 61 => "EOVERFLOW", "Value too large for data type",
    Ownerdead = 62 => "EOWNERDEAD", "Previous owner died",
    Perm = 63 => "EPERM", "Operation not permitted",
    Pipe = 64 => "EPIPE", "Broken pipe",
    Proto = 65 => "EPROTO", "Protocol error",
    Protonosupport = 66 => "EPROTONOSUPPORT", "Protocol not supported",
    Prototype = 67 => "EPROTOTYPE", "Protocol wrong type for socket",
    Range = 68 => "ERANGE", "Result not representable",
    Rofs = 69 => "EROFS", "Read-only file system",
    Spipe = 70 => "ESPIPE", "Invalid seek",
    Srch = 71 => "ESRCH", "No such process",
    Stale = 72 => "ESTALE", "Stale file handle",
    Timedout = 73 => "ETIMEDOUT", "Operation timed out",
    Txtbsy = 74 => "ETXTBSY", "Text file busy",
    Xdev = 75 => "EXDEV", "Cross-device link",
    Notcapable = 76 => "ENOTCAPABLE", "Capabilities insufficient",
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_spec() {
        // Spot checks against wasi_snapshot_preview1.md, plus a full round trip.
        assert_eq!(Errno::TooBig.code(), 1);
        assert_eq!(Errno::Badf.code(), 8);
        assert_eq!(Errno::Exist.code(), 20);
        assert_eq!(Errno::Noent.code(), 44);
        assert_eq!(Errno::Perm.code(), 63);
        assert_eq!(Errno::Notcapable.code(), 76);
        assert_eq!(Errno::ALL.len(), 76);
        for (i, e) in Errno::ALL.iter().enumerate() {
            assert_eq!(e.code() as usize, i + 1);
            assert_eq!(Errno::from_code(e.code()), Some(*e));
            assert_eq!(Errno::from_name(e.name()), Some(*e));
        }
        assert_eq!(Errno::from_code(0), None);
        assert_eq!(Errno::from_code(77), None);
        assert_eq!(Errno::from_name("ENOSPC"), Some(Errno::Nospc));
        assert_eq!(Errno::from_name("enospc"), None);
        assert_eq!(Errno::Noent.to_string(), "ENOENT");
        assert_eq!(Errno::Noent.description(), "No such file or directory");
        assert_eq!(Errno::Notcapable.description(), "Capabilities insufficient");
    }
}
