"""Our dequantisation of every quantised type the Gemma 3 270M Q4_K_M file holds (Q4_K, Q6_K, Q5_0, Q8_0: read
from the file, not assumed) against the gguf package's own dequantisation (gguf.quants), for every ISA the CPU
runs (KVS_ISA=scalar / avx2 / avx512: the scalar reference and each SIMD kernel)."""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from conftest import KVS_BIN, ROOT

GEMMA = pathlib.Path(os.environ.get("KVS_GEMMA_MODEL", ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))
ROWS = 8


def cpu_isas():
    flags = set()
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    isas = ["scalar"]
    if {"avx2", "fma", "f16c"} <= flags:
        isas.append("avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"} <= flags:
        isas.append("avx512")
    return isas


@pytest.fixture(scope="module")
def reader():
    if not GEMMA.exists():
        pytest.fail(f"Gemma model not found at {GEMMA}: run scripts/fetch_model.sh --model gemma3-270m")
    if not KVS_BIN.exists():
        pytest.fail(f"kvshare binary not found at {KVS_BIN}: build first")
    import gguf

    return gguf.GGUFReader(str(GEMMA))


def one_tensor_per_type(reader):
    import gguf

    seen = {}
    for t in reader.tensors:
        if t.tensor_type in (gguf.GGMLQuantizationType.F32,):
            continue
        seen.setdefault(t.tensor_type.name, t)
    return seen


def test_file_types_are_covered(reader):
    types = set(one_tensor_per_type(reader))
    print(f"\nquantised types in {GEMMA.name}: {sorted(types)}")
    assert {"Q4_K", "Q6_K"} <= types, types


@pytest.mark.parametrize("isa", cpu_isas())
def test_dequantisation_matches_gguf_package(reader, isa, tmp_path):
    import gguf

    for name, t in sorted(one_tensor_per_type(reader).items()):
        k = int(t.shape[0])
        ref = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(-1, k)[:ROWS].astype(np.float32)
        out = tmp_path / f"{name}.f32"
        env = dict(os.environ, KVS_ISA=isa)
        res = subprocess.run([str(KVS_BIN), "dequant", "--model", str(GEMMA), "--tensor", t.name, "--rows", str(ROWS),
                              "--out", str(out)], capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 0, res.stderr
        info = json.loads(res.stdout)
        assert info["isa"] == isa and info["type"] == name, info
        ours = np.fromfile(out, dtype=np.float32).reshape(-1, k)
        assert ours.shape == ref.shape
        # gguf computes in float32 in its own operation order: equal up to a rounding or two of the products
        # (relative to the row's scale, so a value that cancels to ~0 is judged by its row).
        scale = np.abs(ref) + np.max(np.abs(ref), axis=1, keepdims=True) * 1e-3 + 1e-30
        rel = float(np.max(np.abs(ours - ref) / scale))
        exact = float(np.mean(ours == ref))
        print(f"\n{isa} {name} ({t.name}, {ROWS} x {k}): max relative diff {rel:.2e}, bit-identical {exact:.4f}")
        assert rel < 1e-6, f"{isa} {name}: max relative difference {rel}"
