#!/usr/bin/env python3
"""The wasmtime peer of benches/peers.rs: runs a wasm32-wasip1 command module with the
wasmtime package from PyPI (`pip install wasmtime`).

    wasmtime_run.py run [--cache] [--dir HOST::GUEST]... [--env KEY=VALUE]... MODULE.wasm [ARGS...]

The same spelling as `strata run`. The module is compiled at every start, unless `--cache`
turns on wasmtime's own module cache. The process exits with the guest's exit status.
"""
import os
import sys

import wasmtime


def parse(argv):
    if not argv or argv[0] != "run":
        sys.exit(__doc__)
    argv = argv[1:]
    dirs, env, cache = [], [], False
    if argv and argv[0] == "--cache":
        cache, argv = True, argv[1:]
    while argv and argv[0] in ("--dir", "--env"):
        if len(argv) < 2:
            sys.exit(f"wasmtime_run: {argv[0]} needs a value")
        flag, value = argv[0], argv[1]
        argv = argv[2:]
        if flag == "--dir":
            host, sep, guest = value.partition("::")
            dirs.append((host, guest if sep else host))
        else:
            key, _, val = value.partition("=")
            env.append((key, val))
    if not argv:
        sys.exit(__doc__)
    return cache, dirs, env, argv[0], argv[1:]


def main():
    cache, dirs, env, module_path, args = parse(sys.argv[1:])
    config = wasmtime.Config()
    if cache:
        config.cache = True
    engine = wasmtime.Engine(config)
    module = wasmtime.Module.from_file(engine, module_path)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()

    config = wasmtime.WasiConfig()
    config.argv = [os.path.basename(module_path)] + args
    config.env = env
    config.inherit_stdin()
    config.inherit_stdout()
    config.inherit_stderr()
    for host, guest in dirs:
        config.preopen_dir(host, guest)
    store = wasmtime.Store(engine)
    store.set_wasi(config)

    instance = linker.instantiate(store, module)
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
