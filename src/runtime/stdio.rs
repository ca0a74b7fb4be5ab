//! What each stdio stream of a run is (`StdioKind`), decided once at setup. This is the one
//! place strata looks at the host's stdio: `isatty` and `fstat` on fds 0–2 for inherited
//! streams, `fstat` on a file it was given; the syscall layer only reports the answer.

use crate::wasi::ctx::{Input, Output, StdioKind};

/// The kind of the guest's stdin. `host` says whether an inherited stdin may be looked at
/// (not in deterministic runs: then it is `Unknown`, whatever strata's own stdin is).
pub(super) fn of_input(input: &Input, host: bool) -> StdioKind {
    match input {
        Input::Inherit if host => of_host_fd(0),
        Input::File(f) => of_file(f),
        Input::Inherit | Input::Bytes { .. } | Input::Null => StdioKind::Unknown,
    }
}

/// The kind of the guest's stdout (`fd` 1) or stderr (`fd` 2); `host` as for `of_input`.
pub(super) fn of_output(output: &Output, fd: i32, host: bool) -> StdioKind {
    match output {
        Output::Inherit if host => of_host_fd(fd),
        Output::File(f) => of_file(f),
        Output::Inherit | Output::Capture(_) | Output::Null => StdioKind::Unknown,
    }
}

/// A file strata was given by name: a regular file says so; anything else (a FIFO, a
/// device, even a terminal such as `/dev/tty`) is `Unknown`. Never a terminal: the guest
/// was given a file, and the kind of a named file is part of the run's input, like its bytes.
fn of_file(f: &std::fs::File) -> StdioKind {
    match f.metadata() {
        Ok(m) if m.is_file() => StdioKind::RegularFile,
        _ => StdioKind::Unknown,
    }
}

/// The host's own stream `fd` (0, 1 or 2): a terminal, a regular file, or anything else
/// (a pipe, a socket, `/dev/null`, a closed fd).
#[cfg(unix)]
fn of_host_fd(fd: i32) -> StdioKind {
    // SAFETY: isatty only looks at the fd number; a closed fd is simply not a terminal.
    if unsafe { libc::isatty(fd) } == 1 {
        return StdioKind::Terminal;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `stat` through a valid pointer, read only if it succeeded.
    let regular = unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0
        && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFREG;
    match regular {
        true => StdioKind::RegularFile,
        false => StdioKind::Unknown,
    }
}

#[cfg(not(unix))]
fn of_host_fd(fd: i32) -> StdioKind {
    use std::io::IsTerminal;
    let tty = match fd {
        0 => std::io::stdin().is_terminal(),
        1 => std::io::stdout().is_terminal(),
        _ => std::io::stderr().is_terminal(),
    };
    match tty {
        true => StdioKind::Terminal,
        false => StdioKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::ctx::Capture;
    use std::sync::Arc;

    #[test]
    fn what_strata_was_given_is_never_a_terminal() {
        let bytes = Input::Bytes {
            data: b"x".to_vec(),
            pos: 0,
        };
        for host in [true, false] {
            assert_eq!(of_input(&bytes, host), StdioKind::Unknown);
            assert_eq!(of_input(&Input::Null, host), StdioKind::Unknown);
            for fd in [1, 2] {
                let capture = Output::Capture(Capture::default());
                assert_eq!(of_output(&capture, fd, host), StdioKind::Unknown);
                assert_eq!(of_output(&Output::Null, fd, host), StdioKind::Unknown);
            }
        }
    }

    #[test]
    fn named_files_report_their_own_kind() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let file = || std::fs::File::open(f.path()).unwrap();
        let null = || std::fs::File::open("/dev/null").unwrap();
        for host in [true, false] {
            assert_eq!(of_input(&Input::File(file()), host), StdioKind::RegularFile);
            assert_eq!(of_input(&Input::File(null()), host), StdioKind::Unknown);
            let out = Output::File(Arc::new(file()));
            assert_eq!(of_output(&out, 1, host), StdioKind::RegularFile);
            let out = Output::File(Arc::new(null()));
            assert_eq!(of_output(&out, 2, host), StdioKind::Unknown);
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn inherited_streams_are_what_the_host_has_unless_hidden() {
        for fd in 0..3 {
            // SAFETY: as in `of_host_fd`.
            let tty = unsafe { libc::isatty(fd) } == 1;
            let meta = std::fs::metadata(format!("/proc/self/fd/{fd}"));
            let want = match (tty, meta) {
                (true, _) => StdioKind::Terminal,
                (false, Ok(m)) if m.is_file() => StdioKind::RegularFile,
                _ => StdioKind::Unknown,
            };
            let got = match fd {
                0 => of_input(&Input::Inherit, true),
                fd => of_output(&Output::Inherit, fd, true),
            };
            assert_eq!(got, want, "fd {fd}");
            let hidden = match fd {
                0 => of_input(&Input::Inherit, false),
                fd => of_output(&Output::Inherit, fd, false),
            };
            assert_eq!(hidden, StdioKind::Unknown, "fd {fd}, deterministic");
        }
    }
}
