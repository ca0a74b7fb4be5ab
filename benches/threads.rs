//! wasi-threads throughput: `threads.wasm writers N MIB` (N guest threads each writing a file
//! of its own, 64 KiB per `fd_write`, 256 MiB in all) through the library, against the same
//! volume written by one thread. Every call holds the program's one WASI context for its
//! length, so this shows what that lock costs and whether writers on different files still
//! gain from more threads. Prints medians of 5 (guest-measured time) and the ratio to one
//! thread. `cargo bench --bench threads`.

use std::path::PathBuf;
use strata::sandbox::{CachePolicy, Program, ProgramOptions, Sandbox, Status};

const TOTAL_MIB: usize = 256;
const ROUNDS: usize = 5;

fn main() {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasm/threads.wasm");
    let options = ProgramOptions {
        cache: CachePolicy::MemoryOnly,
        ..ProgramOptions::default()
    };
    let program = Program::from_file_with(&wasm, &options).expect("threads.wasm");
    let sandbox = |n: usize| {
        Sandbox::builder()
            .args([
                "writers".to_string(),
                n.to_string(),
                (TOTAL_MIB / n).to_string(),
            ])
            .build()
            .expect("sandbox")
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "threads: {TOTAL_MIB} MiB written in 64 KiB fd_writes, {cores} cores, median of {ROUNDS}"
    );
    println!("| writer threads | ms | MiB/s | vs 1 thread |");
    println!("|---:|---:|---:|---:|");
    let mut base = None;
    for n in [1, 2, 4, 8] {
        let sb = sandbox(n);
        let mut ms: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let o = sb.run(&program).expect("run");
                assert_eq!(o.status, Status::Exited(0));
                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                // "writers N x M MiB: T ms, R MiB/s"
                out.split(": ")
                    .nth(1)
                    .and_then(|t| t.split(" ms").next())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected output {out:?}"))
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        let median = ms[ROUNDS / 2];
        let rate = TOTAL_MIB as f64 / median * 1000.0;
        let base = *base.get_or_insert(rate);
        println!("| {n} | {median:.1} | {rate:.0} | {:.2}× |", rate / base);
    }
}
