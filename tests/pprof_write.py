# SPDX-License-Identifier: MIT
"""Writes small pprof profiles with exactly the samples a test wants (known-answer input for
`ldprof report` and `ldprof diff`), independently of ldprof's own writer: profile.proto encoded
by hand, gzip-compressed.

    write_profile(path, {("main", "a"): 60, ("main", "b"): 30})   # stacks root first

Every function gets its own location in one mapping (the program, "/usr/bin/prog" unless
`mapping` says), so names are what the reader shows; `names` bytes may be anything (hostile
input tests)."""
import gzip


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):
    """A length-delimited field (wire type 2)."""
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int(num, v):
    return _varint(num << 3) + _varint(v)


def _packed(num, values):
    return _field(num, b"".join(_varint(v) for v in values))


def encode(stacks, mapping="/usr/bin/prog", libs=None, bare=None, build_ids=None, labels=None):
    """profile.proto bytes for stacks: {(root, ..., leaf): count}; names str or bytes. libs maps a
    function name to the file of a mapping of its own (e.g. libc's). bare maps a name to a file
    offset in its mapping: that location gets no function (the profile leaves it unnamed), as
    for a stripped library. build_ids maps a mapping's file to its GNU build ID (hex). labels
    {key: value} (strings) go on every sample."""
    strings = [b""]
    index = {b"": 0}

    def s(x):
        x = x.encode() if isinstance(x, str) else x
        if x not in index:
            index[x] = len(strings)
            strings.append(x)
        return index[x]

    libs, bare, build_ids = libs or {}, bare or {}, build_ids or {}
    files = [mapping] + sorted({f for f in libs.values()})
    funcs = {}
    for stack in stacks:
        for name in stack:
            funcs.setdefault(name, len(funcs) + 1)
    out = bytearray()
    out += _field(1, _int(1, s("samples")) + _int(2, s("count")))
    out += _field(1, _int(1, s("cpu")) + _int(2, s("nanoseconds")))
    for stack, count in stacks.items():
        locs = [funcs[n] for n in reversed(stack)]  # leaf first
        out += _field(2, _packed(1, locs) + _packed(2, [count, count * 10_000_000]) +
                      b"".join(_field(3, _int(1, s(k)) + _int(2, s(v))) for k, v in (labels or {}).items()))
    for i, f in enumerate(files):
        out += _field(3, _int(1, i + 1) + _int(2, 0x400000 + i * 0x1000000) +
                      _int(3, 0x400000 + i * 0x1000000 + 0x1000000) + _int(5, s(f)) +
                      (_int(6, s(build_ids[f])) if f in build_ids else b""))
    for name, fid in funcs.items():
        mid = files.index(libs[name]) + 1 if name in libs else 1
        addr = 0x400000 + (mid - 1) * 0x1000000 + bare.get(name, fid * 16)
        if name in bare:
            out += _field(4, _int(1, fid) + _int(2, mid) + _int(3, addr))
            continue
        out += _field(4, _int(1, fid) + _int(2, mid) + _int(3, addr) + _field(4, _int(1, fid)))
        out += _field(5, _int(1, fid) + _int(2, s(name)) + _int(3, s(name)))
    for x in strings:
        out += _field(6, x)
    out += _field(11, _int(1, s("cpu")) + _int(2, s("nanoseconds")))
    out += _int(12, 10_000_000)
    return bytes(out)


def write_profile(path, stacks, **kw):
    with open(path, "wb") as f:
        f.write(gzip.compress(encode(stacks, **kw)))
    return path
