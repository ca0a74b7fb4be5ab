//! Imports `env.host_fn() -> i32`, which no WASI runtime provides: instantiation must fail with
//! an error naming `env` / `host_fn`. An embedder that does provide the function gets
//! `host_fn returned N` on stdout and exit code 0.

#[link(wasm_import_module = "env")]
extern "C" {
    fn host_fn() -> i32;
}

fn main() {
    let n = unsafe { host_fn() };
    println!("host_fn returned {n}");
}
