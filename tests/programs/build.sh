#!/usr/bin/env bash
# Rebuilds every test program and copies the modules to wasm/NAME.wasm (committed: CI never
# rebuilds). Needs: rustup targets wasm32-wasip1 and wasm32-wasip1-threads; python3 (interface checks); for the C program
# clang + lld + wasi-libc (Debian 12: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32;
# without them wasm/c_fsdemo.wasm is kept as committed). CARGO_TARGET_DIR defaults to
# tests/programs/target. Then run tools/validate_wasmtime.py (needs `pip install wasmtime`).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
TARGET=wasm32-wasip1
OUT="$CARGO_TARGET_DIR/$TARGET/release"

# commands (src/bin/*.rs) and the two cdylib packages (p0: no_std wasi_unstable command,
# reactor: exports _initialize + functions)
BINS="cat sh stdio determinism fd_ops path_ops readdir proc poll sock escape efault missing_import missing_wasi hostile fsdiff"
LIBS="p0 reactor"

cargo build --release --target "$TARGET" --workspace --locked
mkdir -p wasm
for m in $BINS $LIBS; do
    cp "$OUT/$m.wasm" "wasm/$m.wasm"
done

# the wasi-threads program (std::thread): needs rustup target wasm32-wasip1-threads
cargo build --release --target wasm32-wasip1-threads --bin threads --locked
cp "$CARGO_TARGET_DIR/wasm32-wasip1-threads/release/threads.wasm" wasm/threads.wasm

# C program on wasi-libc (Debian's clang 14 calls the target wasm32-wasi)
if command -v clang >/dev/null && [ -e /usr/lib/wasm32-wasi/libc.a ] || [ -n "${WASI_SYSROOT:-}" ]; then
    sysroot=()
    [ -n "${WASI_SYSROOT:-}" ] && sysroot=(--sysroot="$WASI_SYSROOT")
    clang --target=wasm32-wasi "${sysroot[@]}" -Os -Wall -Wextra -Werror -Wl,--strip-all \
        -o wasm/c_fsdemo.wasm c/fsdemo.c
else
    echo "build.sh: clang/wasi-libc not found, keeping the committed wasm/c_fsdemo.wasm" >&2
fi

# interface checks
info() { python3 tools/wasm_info.py "wasm/$1.wasm"; }
p0=$(info p0)
reactor=$(info reactor)
if grep '^import ' <<<"$p0" | grep -v '^import wasi_unstable\.'; then
    echo "build.sh: p0.wasm must import only wasi_unstable" >&2
    exit 1
fi
for e in _initialize add write_file initialized fail; do
    grep -qx "export $e func" <<<"$reactor" || { echo "build.sh: reactor.wasm lacks export $e" >&2; exit 1; }
done
if grep -qx 'export _start func' <<<"$reactor"; then
    echo "build.sh: reactor.wasm must not export _start" >&2
    exit 1
fi
grep -qx 'import env.host_fn func' <<<"$(info missing_import)"
grep -qx 'import wasi_snapshot_preview1.not_a_function func' <<<"$(info missing_wasi)"

ls -l wasm
