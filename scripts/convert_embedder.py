#!/usr/bin/env python3
"""Converts a Hugging Face BERT-family sentence-transformers snapshot to the GGUF that src/share/embedder reads.

    convert_embedder.py HF_DIR OUT.gguf [--name NAME] [--outtype f32|f16]

HF_DIR holds config.json, model.safetensors, vocab.txt, tokenizer_config.json and (optionally)
sentence_bert_config.json, modules.json and 1_Pooling/config.json. Needs only numpy, gguf and safetensors.

What the GGUF holds (the C++ loader in src/share/embedder/bert_model.h documents the same contract):
  general.architecture = "bert", general.name
  bert.context_length, bert.embedding_length, bert.block_count, bert.feed_forward_length,
  bert.attention.head_count, bert.attention.layer_norm_epsilon, bert.attention.causal = false,
  bert.pooling_type (1 = mean, 2 = cls; llama.cpp's numbering)
  kvshare.embedder.normalize      bool   L2-normalise the pooled vector (sentence-transformers Normalize module)
  kvshare.embedder.max_seq_length u32    truncation length in tokens, [CLS] and [SEP] included
  tokenizer.ggml.model = "wordpiece"  (not llama.cpp's "bert": tokens are stored exactly as vocab.txt spells
                                       them, "##" continuations included, so llama.cpp refuses the file
                                       rather than mis-tokenising)
  tokenizer.ggml.tokens, tokenizer.ggml.token_type_count,
  tokenizer.ggml.{bos (= [CLS]), seperator (= [SEP]), unknown, padding, mask}_token_id
  tokenizer.wordpiece.{do_lower_case, strip_accents, tokenize_chinese_chars} bool,
  tokenizer.wordpiece.max_input_chars_per_word u32, tokenizer.wordpiece.continuation_prefix string
Tensors (F32; with --outtype f16 the attention and FFN matrices are F16; names as llama.cpp's BERT; a torch Linear weight [out, in] is stored with ne = {in, out}):
  token_embd.weight (vocab, hidden)   position_embd.weight (ctx, hidden)   token_types.weight (types, hidden)
  token_embd_norm.{weight,bias}
  blk.N.attn_{q,k,v,output}.{weight,bias}   blk.N.attn_output_norm.{weight,bias}
  blk.N.ffn_up.{weight,bias} (ffn, hidden)  blk.N.ffn_down.{weight,bias} (hidden, ffn)
  blk.N.layer_output_norm.{weight,bias}
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import gguf
from safetensors.numpy import load_file

CONVERTER_VERSION = 1

LAYER_TENSORS = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
TOP_TENSORS = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
}
UNUSED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def read_json(path, default=None):
    if not path.exists():
        if default is None:
            sys.exit(f"convert_embedder: missing {path}")
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def gguf_name(hf_name):
    if hf_name in TOP_TENSORS:
        return TOP_TENSORS[hf_name]
    parts = hf_name.split(".")
    if parts[:2] != ["encoder", "layer"]:
        return None
    block, rest = parts[2], ".".join(parts[3:])
    stem, _, kind = rest.rpartition(".")
    if stem not in LAYER_TENSORS or kind not in ("weight", "bias"):
        return None
    return f"blk.{int(block)}.{LAYER_TENSORS[stem]}.{kind}"


def pooling(hf_dir):
    cfg = read_json(hf_dir / "1_Pooling" / "config.json", default={"pooling_mode_mean_tokens": True})
    modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
    if modes == ["pooling_mode_mean_tokens"]:
        return gguf.PoolingType.MEAN
    if modes == ["pooling_mode_cls_token"]:
        return gguf.PoolingType.CLS
    sys.exit(f"convert_embedder: unsupported pooling {modes}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hf_dir", type=pathlib.Path)
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--name", default=None)
    ap.add_argument("--outtype", choices=("f32", "f16"), default="f32",
                    help="f16: store the attention and FFN matrices in F16 (half the bytes a forward reads)")
    args = ap.parse_args()
    d = args.hf_dir

    cfg = read_json(d / "config.json")
    if cfg.get("model_type") != "bert":
        sys.exit(f"convert_embedder: model_type {cfg.get('model_type')!r} is not 'bert'")
    if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        sys.exit("convert_embedder: only gelu (erf) activations and absolute positions are supported")
    tok_cfg = read_json(d / "tokenizer_config.json", default={})
    st_cfg = read_json(d / "sentence_bert_config.json", default={})
    modules = read_json(d / "modules.json", default=[])
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    if st_cfg.get("do_lower_case", False):
        sys.exit("convert_embedder: sentence-transformers do_lower_case=true is not supported")

    tokens = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if len(tokens) != cfg["vocab_size"]:
        sys.exit(f"convert_embedder: vocab.txt has {len(tokens)} tokens, config says {cfg['vocab_size']}")
    index = {t: i for i, t in reversed(list(enumerate(tokens)))}

    def special(key, default):
        text = tok_cfg.get(key, default)
        if isinstance(text, dict):
            text = text["content"]
        if text not in index:
            sys.exit(f"convert_embedder: special token {text!r} not in vocab.txt")
        return index[text]

    do_lower = bool(tok_cfg.get("do_lower_case", True))
    strip_accents = tok_cfg.get("strip_accents")
    strip_accents = do_lower if strip_accents is None else bool(strip_accents)
    max_len = int(st_cfg.get("max_seq_length", cfg["max_position_embeddings"]))
    max_len = min(max_len, int(cfg["max_position_embeddings"]))

    w = gguf.GGUFWriter(str(args.out), "bert")
    w.add_name(args.name or d.name)
    w.add_uint32("kvshare.converter.version", CONVERTER_VERSION)
    w.add_context_length(int(cfg["max_position_embeddings"]))
    w.add_embedding_length(int(cfg["hidden_size"]))
    w.add_block_count(int(cfg["num_hidden_layers"]))
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_head_count(int(cfg["num_attention_heads"]))
    w.add_layer_norm_eps(float(cfg.get("layer_norm_eps", 1e-12)))
    w.add_causal_attention(False)
    w.add_pooling_type(pooling(d))
    w.add_bool("kvshare.embedder.normalize", normalize)
    w.add_uint32("kvshare.embedder.max_seq_length", max_len)

    w.add_tokenizer_model("wordpiece")
    w.add_token_list(tokens)
    w.add_token_type_count(int(cfg.get("type_vocab_size", 2)))
    w.add_bos_token_id(special("cls_token", "[CLS]"))
    w.add_sep_token_id(special("sep_token", "[SEP]"))
    w.add_unk_token_id(special("unk_token", "[UNK]"))
    w.add_pad_token_id(special("pad_token", "[PAD]"))
    w.add_mask_token_id(special("mask_token", "[MASK]"))
    w.add_bool("tokenizer.wordpiece.do_lower_case", do_lower)
    w.add_bool("tokenizer.wordpiece.strip_accents", strip_accents)
    w.add_bool("tokenizer.wordpiece.tokenize_chinese_chars", bool(tok_cfg.get("tokenize_chinese_chars", True)))
    w.add_uint32("tokenizer.wordpiece.max_input_chars_per_word", 100)
    w.add_string("tokenizer.wordpiece.continuation_prefix", "##")

    weights = load_file(str(d / "model.safetensors"))
    names = {}
    for hf_name, arr in weights.items():
        name = gguf_name(hf_name.removeprefix("bert."))
        if name is None:
            if hf_name.removeprefix("bert.") in UNUSED:
                continue
            sys.exit(f"convert_embedder: unexpected tensor {hf_name} {arr.shape}")
        dtype = np.float16 if args.outtype == "f16" and name.startswith("blk.") and arr.ndim == 2 else np.float32
        names[name] = np.ascontiguousarray(arr, dtype=dtype)
    n_expected = len(TOP_TENSORS) + 16 * int(cfg["num_hidden_layers"])
    if len(names) != n_expected:
        sys.exit(f"convert_embedder: found {len(names)} tensors, expected {n_expected}")
    for name in sorted(names, key=lambda n: (n.startswith("blk."), [int(p) if p.isdigit() else p for p in n.split(".")])):
        w.add_tensor(name, names[name])  # numpy shape (out, in) -> GGUF ne = {in, out}

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"convert_embedder: wrote {args.out} ({len(names)} tensors, {len(tokens)} tokens)", file=sys.stderr)


if __name__ == "__main__":
    main()
