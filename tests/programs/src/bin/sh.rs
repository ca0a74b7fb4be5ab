//! `sh CMD [ARG] [; CMD [ARG]]...`: a tiny scriptable guest for tests that run the same
//! program through the CLI and the library. Each command prints one line (or the file's
//! bytes for `cat`/`stdin`); a failing command prints `CMD ARG: ERROR` on stderr and the
//! program exits 1 at the end. Commands:
//! `cat PATH`, `write PATH TEXT`, `append PATH TEXT`, `ls DIR` (sorted names), `rm PATH`,
//! `mkdir PATH`, `fill PATH N` (N bytes of `x`, 64 KiB at a time), `stdin` (copies stdin to
//! stdout), `env KEY`, `args`, `preopens` (`fd NAME` per preopen), `exit N`.

use std::io::{Read, Write};

fn preopens() -> Vec<String> {
    let mut out = Vec::new();
    for fd in 3u32.. {
        // SAFETY: plain WASI calls writing into locals.
        let stat = unsafe { wasi::fd_prestat_get(fd) };
        let Ok(stat) = stat else { break };
        let len = unsafe { stat.u.dir.pr_name_len };
        let mut name = vec![0u8; len];
        if unsafe { wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), len) }.is_err() {
            break;
        }
        out.push(format!("{fd} {}", String::from_utf8_lossy(&name)));
    }
    out
}

fn run(cmd: &str, arg: Option<&str>, text: Option<&str>, out: &mut impl Write) -> std::io::Result<()> {
    let path = || arg.unwrap_or("");
    match cmd {
        "cat" => out.write_all(&std::fs::read(path())?),
        "write" => std::fs::write(path(), text.unwrap_or("")),
        "append" => std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path())?
            .write_all(text.unwrap_or("").as_bytes()),
        "ls" => {
            let mut names: Vec<String> = std::fs::read_dir(path())?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()?;
            names.sort();
            writeln!(out, "{}", names.join(" "))
        }
        "rm" => std::fs::remove_file(path()),
        "fill" => {
            let mut f = std::fs::File::create(path())?;
            let mut left: usize = text.and_then(|t| t.parse().ok()).unwrap_or(0);
            let chunk = [b'x'; 65536];
            while left > 0 {
                let n = left.min(chunk.len());
                f.write_all(&chunk[..n])?;
                left -= n;
            }
            Ok(())
        }
        "mkdir" => std::fs::create_dir(path()),
        "stdin" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            out.write_all(&buf)
        }
        "env" => writeln!(out, "{}", std::env::var(path()).unwrap_or_else(|_| "<unset>".into())),
        "args" => writeln!(out, "{}", std::env::args().collect::<Vec<_>>().join(" ")),
        "preopens" => writeln!(out, "{}", preopens().join(", ")),
        "exit" => {
            out.flush()?;
            std::process::exit(path().parse().unwrap_or(2))
        }
        other => Err(std::io::Error::other(format!("unknown command {other}"))),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut status = 0;
    let mut out = std::io::stdout().lock();
    for script in args.split(|a| a == ";") {
        let Some((cmd, rest)) = script.split_first() else { continue };
        let arg = rest.first().map(String::as_str);
        let text = rest.get(1).map(String::as_str);
        if let Err(e) = run(cmd, arg, text, &mut out) {
            let _ = out.flush();
            eprintln!("{cmd} {}: {e}", arg.unwrap_or(""));
            status = 1;
        }
    }
    let _ = out.flush();
    std::process::exit(status);
}
