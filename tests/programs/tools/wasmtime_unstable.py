#!/usr/bin/env python3
"""Runs a `wasi_unstable` (preview0) command module on wasmtime's preview1 implementation.

The wasmtime Python package provides only `wasi_snapshot_preview1`. This runner links every
`wasi_unstable` import whose ABI equals preview1 directly to wasmtime's preview1 function, and
routes the four calls whose ABI differs through a small adapter module (ADAPTER below) that
shares the guest's memory and translates:
  - fd_seek: whence CUR=0, END=1, SET=2 (preview0) -> SET=0, CUR=1, END=2 (preview1);
  - fd_filestat_get / path_filestat_get: the 64-byte preview1 filestat -> the 56-byte preview0
    filestat (nlink u32 at 20, size/atim/mtim/ctim at 24/32/40/48); the 8 bytes after the 56
    are restored;
  - poll_oneoff: 56-byte preview0 subscriptions (clock record: identifier u64, id, timeout,
    precision, flags) -> 48-byte preview1 subscriptions, in place, restored afterwards.
Command line like wasmtime_run.py: [run] [--dir HOST[::GUEST]]... [--env K=V]... MODULE [ARGS].
"""
import sys

import wasmtime

ADAPTER = r"""
(module
  (import "env" "memory" (memory 1))
  (import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $pstat (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (export "memory" (memory 0))

  (func (export "fd_seek") (param $fd i32) (param $off i64) (param $w i32) (param $res i32) (result i32)
    (call $seek (local.get $fd) (local.get $off)
      (if (result i32) (i32.eq (local.get $w) (i32.const 0)) (then (i32.const 1))
        (else (if (result i32) (i32.eq (local.get $w) (i32.const 1)) (then (i32.const 2))
          (else (if (result i32) (i32.eq (local.get $w) (i32.const 2)) (then (i32.const 0))
            (else (local.get $w)))))))
      (local.get $res)))

  ;; preview1 filestat at $b -> preview0 layout; restores the 8 bytes at $b+56
  (func $convert (param $b i32) (param $saved i64)
    (local $nlink i64)
    (local.set $nlink (i64.load offset=24 (local.get $b)))
    (i32.store offset=20 (local.get $b)
      (if (result i32) (i64.gt_u (local.get $nlink) (i64.const 0xffffffff))
        (then (i32.const -1)) (else (i32.wrap_i64 (local.get $nlink)))))
    (i64.store offset=24 (local.get $b) (i64.load offset=32 (local.get $b)))
    (i64.store offset=32 (local.get $b) (i64.load offset=40 (local.get $b)))
    (i64.store offset=40 (local.get $b) (i64.load offset=48 (local.get $b)))
    (i64.store offset=48 (local.get $b) (i64.load offset=56 (local.get $b)))
    (i64.store offset=56 (local.get $b) (local.get $saved)))

  (func (export "fd_filestat_get") (param $fd i32) (param $b i32) (result i32)
    (local $saved i64) (local $r i32)
    (local.set $saved (i64.load offset=56 (local.get $b)))
    (local.set $r (call $fstat (local.get $fd) (local.get $b)))
    (if (i32.eqz (local.get $r))
      (then (call $convert (local.get $b) (local.get $saved))))
    (local.get $r))

  (func (export "path_filestat_get") (param $fd i32) (param $fl i32) (param $p i32) (param $l i32) (param $b i32) (result i32)
    (local $saved i64) (local $r i32)
    (local.set $saved (i64.load offset=56 (local.get $b)))
    (local.set $r (call $pstat (local.get $fd) (local.get $fl) (local.get $p) (local.get $l) (local.get $b)))
    (if (i32.eqz (local.get $r))
      (then (call $convert (local.get $b) (local.get $saved))))
    (local.get $r))

  (func (export "poll_oneoff") (param $in i32) (param $out i32) (param $n i32) (param $nev i32) (result i32)
    (local $i i32) (local $s i32) (local $d i32) (local $r i32)
    (memory.copy 1 0 (i32.const 0) (local.get $in) (i32.mul (local.get $n) (i32.const 56)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.mul (local.get $i) (i32.const 56)))
        (local.set $d (i32.add (local.get $in) (i32.mul (local.get $i) (i32.const 48))))
        (i64.store offset=0 (local.get $d) (i64.load 1 offset=0 (local.get $s)))
        (i64.store offset=8 (local.get $d) (i64.load 1 offset=8 (local.get $s)))
        (if (i32.eqz (i32.load8_u 1 offset=8 (local.get $s)))
          (then
            (i64.store offset=16 (local.get $d) (i64.load 1 offset=24 (local.get $s)))
            (i64.store offset=24 (local.get $d) (i64.load 1 offset=32 (local.get $s)))
            (i64.store offset=32 (local.get $d) (i64.load 1 offset=40 (local.get $s)))
            (i64.store offset=40 (local.get $d) (i64.load 1 offset=48 (local.get $s))))
          (else
            (i64.store offset=16 (local.get $d) (i64.load 1 offset=16 (local.get $s)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.set $r (call $poll (local.get $in) (local.get $out) (local.get $n) (local.get $nev)))
    (memory.copy 0 1 (local.get $in) (i32.const 0) (i32.mul (local.get $n) (i32.const 56)))
    (local.get $r))
)
"""
TRANSLATED = ("fd_seek", "fd_filestat_get", "path_filestat_get", "poll_oneoff")


def main(argv):
    if argv and argv[0] == "run":
        argv = argv[1:]
    dirs, envs = [], []
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        val = argv.pop(0)
        if opt == "--dir":
            host, _, guest = val.partition("::")
            dirs.append((host, guest or host))
        elif opt == "--env":
            k, _, v = val.partition("=")
            envs.append((k, v))
        else:
            sys.exit(f"unsupported option {opt}")
    module_path, args = argv[0], argv[1:]

    engine = wasmtime.Engine(wasmtime.Config())
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, module_path)
    adapter_module = wasmtime.Module(engine, wasmtime.wat2wasm(ADAPTER))

    wasi = wasmtime.WasiConfig()
    wasi.argv = [module_path.rsplit("/", 1)[-1]] + args
    wasi.env = envs
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for host, guest in dirs:
        wasi.preopen_dir(host, guest)
    store.set_wasi(wasi)

    adapter = {}
    for imp in module.imports:
        if imp.module != "wasi_unstable":
            continue
        if imp.name in TRANSLATED:
            def forward(*params, _name=imp.name):
                return adapter["instance"].exports(store)[_name](store, *params)
            linker.define_func("wasi_unstable", imp.name, imp.type, forward)
        else:
            linker.define(store, "wasi_unstable", imp.name, linker.get(store, "wasi_snapshot_preview1", imp.name))

    instance = linker.instantiate(store, module)
    memory = instance.exports(store)["memory"]
    adapter["instance"] = wasmtime.Instance(
        store,
        adapter_module,
        [memory] + [linker.get(store, "wasi_snapshot_preview1", n) for n in TRANSLATED],
    )
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        sys.stdout.flush()
        sys.exit(e.code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
