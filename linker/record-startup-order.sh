#!/usr/bin/env bash
# Rewrites linker/startup-order.txt (read by build.rs): the functions of the strata binary
# that short runs execute, in the order callgrind first names them, so that the linker puts
# them side by side. Recorded for the release build (`cargo build --release`, `cargo install`)
# and for the bench build (`cargo bench`): their dependencies' features differ, and with them
# the hashes in symbol names. Rerun after a toolchain or dependency update: stale names are
# ignored by the linker and only lose the gain. Needs valgrind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A fresh module cache: each command runs twice and only the second run (a cache hit, as
# most runs are) is recorded. valgrind's CPU differs from the host's, so it has entries of
# its own anyway.
export STRATA_CACHE_DIR="$work/cache"

record() { # binary, label
    local bin="$1" n=0
    local -a commands=(
        "run --quiet benches/workload/workload.wasm startup"
        "run --quiet --image fs-images/demo.tar tests/programs/wasm/cat.wasm /home/user/hello.txt"
    )
    for cmd in "${commands[@]}"; do
        n=$((n + 1))
        for pass in warm recorded; do
            # shellcheck disable=SC2086
            valgrind --tool=callgrind --demangle=no \
                --callgrind-out-file="$work/$2.$n.$pass" "$bin" $cmd >/dev/null 2>&1
        done
    done
    nm --defined-only "$bin" | awk '{print $3}' | sort -u >"$work/$2.defined"
    grep -hE '^c?fn=\([0-9]+\) ' "$work/$2".*.recorded | sed -E 's/^c?fn=\([0-9]+\) //' |
        awk -v defined="$work/$2.defined" \
            'BEGIN { while ((getline s < defined) > 0) ok[s] = 1 } ok[$0] && !seen[$0]++'
}

cargo build --release --bin strata
cp target/release/strata "$work/strata-release"
cargo bench --bench peers --no-run
cp target/release/strata "$work/strata-bench"
{
    record "$work/strata-release" release
    record "$work/strata-bench" bench
} | awk '!seen[$0]++' >linker/startup-order.txt
wc -l linker/startup-order.txt
