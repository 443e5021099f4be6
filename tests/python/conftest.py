"""Shared fixtures for the reference tests: paths to the kvshare binary and the model, and the reference
(transformers + torch on CPU, loading the same GGUF, dequantised to float32)."""
import functools
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
KVS_BIN = pathlib.Path(os.environ.get("KVS_BIN", ROOT / "build" / "kvshare"))
KVS_MODEL = pathlib.Path(os.environ.get("KVS_MODEL", ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
# Gemma 3 270M (SentencePiece tokenizer; no chat template in its GGUF): tokenizer and chat-template tests.
KVS_GEMMA_MODEL = pathlib.Path(os.environ.get("KVS_GEMMA_MODEL", ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))


def _require_files():
    if not KVS_BIN.exists():
        pytest.fail(f"kvshare binary not found at {KVS_BIN}: build first (scripts/build.sh)")
    if not KVS_MODEL.exists():
        pytest.fail(f"model not found at {KVS_MODEL}: run scripts/fetch_model.sh")


@pytest.fixture(scope="session")
def kvs_bin():
    _require_files()
    return KVS_BIN


@pytest.fixture(scope="session")
def kvs_model():
    _require_files()
    return KVS_MODEL


@pytest.fixture(scope="session")
def gemma_model():
    if not KVS_GEMMA_MODEL.exists():
        pytest.fail(f"Gemma model not found at {KVS_GEMMA_MODEL}: set KVS_GEMMA_MODEL or fetch gemma-3-270m-q4_k_m.gguf "
                    "into models/")
    return KVS_GEMMA_MODEL


@functools.lru_cache(maxsize=1)
def reference_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(KVS_MODEL.parent), gguf_file=KVS_MODEL.name)


@functools.lru_cache(maxsize=1)
def reference_model():
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    m = AutoModelForCausalLM.from_pretrained(str(KVS_MODEL.parent), gguf_file=KVS_MODEL.name, dtype=torch.float32)
    m.eval()
    return m
