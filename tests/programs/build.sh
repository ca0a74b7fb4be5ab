#!/usr/bin/env bash
# Rebuilds every test program and copies the modules to wasm/NAME.wasm (committed: CI never
# rebuilds). Needs: rustup target wasm32-wasip1; optional: clang + lld + wasi-libc
# (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32) for the C program;
# python3 for the interface check. CARGO_TARGET_DIR defaults to tests/programs/target.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
TARGET=wasm32-wasip1
OUT="$CARGO_TARGET_DIR/$TARGET/release"

BINS="cat fd_ops path_ops readdir"

cargo build --release --target "$TARGET" --workspace --locked
mkdir -p wasm
for b in $BINS; do
    cp "$OUT/$b.wasm" "wasm/$b.wasm"
done

ls -l wasm
