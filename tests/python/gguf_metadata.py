"""Reads a GGUF file's metadata key/values (not its tensors) in plain Python, from the format's specification
(https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic "GGUF", version, tensor count, key/value
count, then per key a string name, a u32 type and the value (strings are u64 length + bytes, arrays a u32 element
type + u64 count + elements).

The tests use it instead of the `gguf` package's GGUFReader only for speed: GGUFReader takes over a minute to
index Gemma's 262,144-token vocabulary on this machine, this takes seconds. It shares no code with kvshare.
"""
import struct

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def _read(f, fmt):
    size = struct.calcsize("<" + fmt)
    return struct.unpack("<" + fmt, f.read(size))[0]


def _string(f):
    return f.read(_read(f, "Q")).decode("utf-8")


def _value(f, vtype):
    if vtype == 8:
        return _string(f)
    if vtype == 9:
        etype, n = _read(f, "I"), _read(f, "Q")
        if etype in _SCALARS:
            fmt = _SCALARS[etype]
            return list(struct.unpack(f"<{n}{fmt}", f.read(n * struct.calcsize(fmt))))
        return [_value(f, etype) for _ in range(n)]
    return _read(f, _SCALARS[vtype])


def read_metadata(path):
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        version = _read(f, "I")
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version}")
        _read(f, "Q")  # tensor count
        n_kv = _read(f, "Q")
        out = {}
        for _ in range(n_kv):
            key = _string(f)
            out[key] = _value(f, _read(f, "I"))
        return out
