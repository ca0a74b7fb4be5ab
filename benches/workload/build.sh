#!/usr/bin/env bash
# Rebuilds benches/workload/workload.wasm, the wasm32-wasip1 build of this crate that
# benches/peers.rs runs (it is committed; nothing rebuilds it automatically).
# Needs the target: `rustup target add wasm32-wasip1`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$here/../../target}/bench-workload"
cargo build --release --target wasm32-wasip1 \
    --manifest-path "$here/Cargo.toml" --target-dir "$target_dir"
cp "$target_dir/wasm32-wasip1/release/workload.wasm" "$here/workload.wasm"
ls -l "$here/workload.wasm"
