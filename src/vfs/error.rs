//! The one error type of the filesystem: each variant is a WASI `errno`, with the same number.
//!
//! The syscall layer returns `Errno as u16` unchanged, so there is no second mapping to get wrong.
//! `success` (0) is not a variant: success is `Ok`.

#![forbid(unsafe_code)]

/// Result of every filesystem operation.
pub type Result<T> = std::result::Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident = $num:literal => $text:literal,)*) => {
        /// A WASI error number (`wasi_snapshot_preview1` and `wasi_unstable` share the numbering).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Errno {
            $($name = $num,)*
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
        }
    };
}

errnos! {
    TooBig = 1 => "E2BIG",
    Acces = 2 => "EACCES",
    Addrinuse = 3 => "EADDRINUSE",
    Addrnotavail = 4 => "EADDRNOTAVAIL",
    Afnosupport = 5 => "EAFNOSUPPORT",
    Again = 6 => "EAGAIN",
    Already = 7 => "EALREADY",
    Badf = 8 => "EBADF",
    Badmsg = 9 => "EBADMSG",
    Busy = 10 => "EBUSY",
    Canceled = 11 => "ECANCELED",
    Child = 12 => "ECHILD",
    Connaborted = 13 => "ECONNABORTED",
    Connrefused = 14 => "ECONNREFUSED",
    Connreset = 15 => "ECONNRESET",
    Deadlk = 16 => "EDEADLK",
    Destaddrreq = 17 => "EDESTADDRREQ",
    Dom = 18 => "EDOM",
    Dquot = 19 => "EDQUOT",
    Exist = 20 => "EEXIST",
    Fault = 21 => "EFAULT",
    Fbig = 22 => "EFBIG",
    Hostunreach = 23 => "EHOSTUNREACH",
    Idrm = 24 => "EIDRM",
    Ilseq = 25 => "EILSEQ",
    Inprogress = 26 => "EINPROGRESS",
    Intr = 27 => "EINTR",
    Inval = 28 => "EINVAL",
    Io = 29 => "EIO",
    Isconn = 30 => "EISCONN",
    Isdir = 31 => "EISDIR",
    Loop = 32 => "ELOOP",
    Mfile = 33 => "EMFILE",
    Mlink = 34 => "EMLINK",
    Msgsize = 35 => "EMSGSIZE",
    Multihop = 36 => "EMULTIHOP",
    Nametoolong = 37 => "ENAMETOOLONG",
    Netdown = 38 => "ENETDOWN",
    Netreset = 39 => "ENETRESET",
    Netunreach = 40 => "ENETUNREACH",
    Nfile = 41 => "ENFILE",
    Nobufs = 42 => "ENOBUFS",
    Nodev = 43 => "ENODEV",
    Noent = 44 => "ENOENT",
    Noexec = 45 => "ENOEXEC",
    Nolck = 46 => "ENOLCK",
    Nolink = 47 => "ENOLINK",
    Nomem = 48 => "ENOMEM",
    Nomsg = 49 => "ENOMSG",
    Noprotoopt = 50 => "ENOPROTOOPT",
    Nospc = 51 => "ENOSPC",
    Nosys = 52 => "ENOSYS",
    Notconn = 53 => "ENOTCONN",
    Notdir = 54 => "ENOTDIR",
    Notempty = 55 => "ENOTEMPTY",
    Notrecoverable = 56 => "ENOTRECOVERABLE",
    Notsock = 57 => "ENOTSOCK",
    Notsup = 58 => "ENOTSUP",
    Notty = 59 => "ENOTTY",
    Nxio = 60 => "ENXIO",
    Overflow = 61 => "EOVERFLOW",
    Ownerdead = 62 => "EOWNERDEAD",
    Perm = 63 => "EPERM",
    Pipe = 64 => "EPIPE",
    Proto = 65 => "EPROTO",
    Protonosupport = 66 => "EPROTONOSUPPORT",
    Prototype = 67 => "EPROTOTYPE",
    Range = 68 => "ERANGE",
    Rofs = 69 => "EROFS",
    Spipe = 70 => "ESPIPE",
    Srch = 71 => "ESRCH",
    Stale = 72 => "ESTALE",
    Timedout = 73 => "ETIMEDOUT",
    Txtbsy = 74 => "ETXTBSY",
    Xdev = 75 => "EXDEV",
    Notcapable = 76 => "ENOTCAPABLE",
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
    }
}
