//! Imports `wasi_snapshot_preview1.not_a_function() -> i32`, a function that is not part of
//! WASI: instantiation must fail with an error naming `not_a_function`.

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn not_a_function() -> i32;
}

fn main() {
    let n = unsafe { not_a_function() };
    println!("not_a_function returned {n}");
}
