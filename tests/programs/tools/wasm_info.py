#!/usr/bin/env python3
"""Print the imports and exports of a .wasm module (one per line), e.g.
    import wasi_snapshot_preview1.fd_write func
    export _start func
Used by build.sh to check the modules' interfaces. Uses only the Python standard library."""
import sys

KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def name(b, i):
    n, i = leb(b, i)
    return b[i:i + n].decode("utf-8", "replace"), i + n


def skip_limits(b, i):
    flags = b[i]
    i += 1
    _, i = leb(b, i)
    if flags & 1:
        _, i = leb(b, i)
    return i


def info(data):
    assert data[:4] == b"\0asm", "not a wasm module"
    i, out = 8, []
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        end = i + size
        if sid == 2:
            n, j = leb(data, i)
            for _ in range(n):
                mod, j = name(data, j)
                fld, j = name(data, j)
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                elif kind == 1:
                    j = skip_limits(data, j + 1)
                elif kind == 2:
                    j = skip_limits(data, j)
                elif kind == 3:
                    j += 2
                elif kind == 4:
                    _, j = leb(data, j + 1)
                out.append(f"import {mod}.{fld} {KINDS.get(kind, kind)}")
        elif sid == 7:
            n, j = leb(data, i)
            for _ in range(n):
                fld, j = name(data, j)
                kind = data[j]
                _, j = leb(data, j + 1)
                out.append(f"export {fld} {KINDS.get(kind, kind)}")
        i = end
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            for line in info(f.read()):
                print(line)
