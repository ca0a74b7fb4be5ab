#!/usr/bin/env python3
"""Runs fsdiff.wasm under wasmtime (PyPI package `wasmtime`) for many seeds in one process, for
tests/fs_differential.rs (the module is compiled once).

    fsdiff_wasmtime.py MODULE.wasm JOBS

JOBS is a text file with one run per line, tab-separated: HOST_DIR, OUT_FILE, SEED, OPS. Each
run gets HOST_DIR preopened as /work (and nothing else), the arguments `SEED OPS /work`, and
its stdout written to OUT_FILE. After each run one line `SEED EXIT_CODE` is printed. Exit
status 3 when the wasmtime package is missing, so the caller can skip.
"""
import sys

try:
    import wasmtime
except ImportError:
    print("the wasmtime Python package is not installed", file=sys.stderr)
    sys.exit(3)


def main():
    module_path, jobs = sys.argv[1], sys.argv[2]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, module_path)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    with open(jobs) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for host, out, seed, ops in lines:
        config = wasmtime.WasiConfig()
        config.argv = ["fsdiff.wasm", seed, ops, "/work"]
        config.stdout_file = out
        config.inherit_stderr()
        config.preopen_dir(host, "/work")
        store = wasmtime.Store(engine)
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        code = 0
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as e:
            code = e.code
        except wasmtime.Trap as e:
            print(f"trap: {e}", file=sys.stderr)
            code = 134
        print(f"{seed} {code}", flush=True)


if __name__ == "__main__":
    main()
