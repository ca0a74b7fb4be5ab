//! wasi-threads throughput through the library: `threads.wasm writers N MIB` (N guest threads
//! each writing a file of its own, 64 KiB per `fd_write`, 256 MiB in all) and `readers N MIB`
//! (N threads each reading one 8 MiB image file over and over, 512 MiB in all), against the
//! same volume moved by one thread. A write holds the program's one WASI context for one copy
//! of its data; a read of a file still one shared buffer copies after letting it go. Prints
//! medians of 5 (guest-measured time) and the ratio to one thread.
//! `cargo bench --bench threads`.

use std::path::PathBuf;
use strata::sandbox::{CachePolicy, Program, ProgramOptions, Sandbox, Status};

const ROUNDS: usize = 5;

fn main() {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/threads.wasm");
    let options = ProgramOptions {
        cache: CachePolicy::MemoryOnly,
        ..ProgramOptions::default()
    };
    let program = Program::from_file_with(&wasm, &options).expect("threads.wasm");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{cores} cores, median of {ROUNDS}, 64 KiB calls");
    let blob: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for (what, total) in [("writers", 256), ("readers", 512)] {
        println!("\n{what}: {total} MiB in all");
        println!("| threads | ms | MiB/s | vs 1 thread |");
        println!("|---:|---:|---:|---:|");
        let mut base = None;
        for n in [1, 2, 4, 8] {
            let mut args = vec![what.to_string(), n.to_string(), (total / n).to_string()];
            if what == "readers" {
                args.push("/data/blob".into());
            }
            let sb = Sandbox::builder()
                .file("/data/blob", blob.clone())
                .args(args)
                .build()
                .expect("sandbox");
            let mut ms: Vec<f64> = (0..ROUNDS)
                .map(|_| {
                    let o = sb.run(&program).expect("run");
                    assert_eq!(o.status, Status::Exited(0));
                    let out = String::from_utf8_lossy(&o.stdout).into_owned();
                    // "WHAT N x M MiB: T ms, R MiB/s..."
                    out.split(": ")
                        .nth(1)
                        .and_then(|t| t.split(" ms").next())
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_else(|| panic!("unexpected output {out:?}"))
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            let median = ms[ROUNDS / 2];
            let rate = total as f64 / median * 1000.0;
            let base = *base.get_or_insert(rate);
            println!("| {n} | {median:.1} | {rate:.0} | {:.2}× |", rate / base);
        }
    }
}
