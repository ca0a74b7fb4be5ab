#!/usr/bin/env bash
# Rebuilds every preset image NAME.tar from its source tree fs-images/NAME/ with
# `strata image build` (reproducible: the same tree always gives the same bytes; the test
# tests/fs_images.rs checks that the committed images match their sources).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin strata
for dir in fs-images/*/; do
    name=$(basename "$dir")
    ./target/debug/strata image build "$dir" -o "fs-images/$name.tar"
done
