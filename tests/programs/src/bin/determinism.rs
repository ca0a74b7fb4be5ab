//! `determinism`: prints everything a run could observe that is not fixed by its inputs —
//! clock readings, random bytes, inode numbers, timestamps and readdir order of files it
//! creates in preopen fd 3 — so that two deterministic runs can be compared byte for byte.

use std::io::Write;
use strata_test_programs::*;

fn main() {
    let mut out = std::io::stdout().lock();
    for id in 0..4u32 {
        let _ = writeln!(out, "clock {id}: {:?}", clock_time_get(id, 1));
    }
    let mut rnd = [0u8; 16];
    // SAFETY: the buffer is valid for its length.
    let r = unsafe { raw::random_get(rnd.as_mut_ptr() as i32, rnd.len() as i32) };
    let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(out, "random: {hex} {r:?}");
    for i in 0..5 {
        let name = format!("file{i}");
        let _ = std::fs::write(format!("/{name}"), format!("contents {i}\n"));
    }
    let _ = std::fs::create_dir("/dir");
    let _ = std::fs::remove_file("/file2");
    for entry in std::fs::read_dir("/").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        match path_filestat_get(3, 0, name.as_bytes()) {
            Ok(st) => {
                let _ = writeln!(
                    out,
                    "{name}: dev {} ino {} size {} nlink {} atim {} mtim {} ctim {}",
                    st.dev, st.ino, st.size, st.nlink, st.atim, st.mtim, st.ctim
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{name}: {e:?}");
            }
        }
    }
    let _ = writeln!(out, "all ok");
}
