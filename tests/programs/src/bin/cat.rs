//! `cat FILE...`: writes each file's contents to stdout; on error prints `cat: PATH: ERROR` to
//! stderr and exits 1 (after trying the remaining files).

use std::io::Write;

fn main() {
    let mut status = 0;
    let mut stdout = std::io::stdout().lock();
    for path in std::env::args_os().skip(1) {
        match std::fs::read(&path) {
            Ok(data) => {
                if let Err(e) = stdout.write_all(&data) {
                    eprintln!("cat: {}: {e}", path.to_string_lossy());
                    status = 1;
                }
            }
            Err(e) => {
                eprintln!("cat: {}: {e}", path.to_string_lossy());
                status = 1;
            }
        }
    }
    let _ = stdout.flush();
    std::process::exit(status);
}
