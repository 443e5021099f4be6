"""An independent SentencePiece reference for a GGUF's "llama" (SentencePiece) vocabulary.

Builds a sentencepiece ModelProto from the GGUF's own vocabulary (read with gguf_metadata.py): every token
with its score and type, model_type BPE, byte_fallback, and the identity normaliser that only escapes spaces
("▁"; dummy prefix as tokenizer.ggml.add_space_prefix says), then loads it into Google's `sentencepiece`
library. So the merges, the byte fallback and the user-defined pieces are sentencepiece's own code, not ours.

Two conversions undo what llama.cpp's converter did when it wrote the GGUF: user-defined tokens were stored
with "▁" turned into spaces (sentencepiece matches them on escaped text, so they get "▁" back), and the unknown
token is stored as a control token (sentencepiece needs exactly one UNKNOWN piece).

Control tokens written in the text ("<start_of_turn>", and "<unk>", which the GGUF stores as a control token) are
not parsed by sentencepiece; encode() cuts them out first (leftmost, longest first), the way transformers and
llama.cpp treat special tokens.
"""
import struct

import sentencepiece as spm

from gguf_metadata import read_metadata

SPACE = "\u2581"


def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, wire, payload):
    key = _varint((num << 3) | wire)
    if wire == 0:
        return key + _varint(payload)
    if wire == 5:
        return key + struct.pack("<f", payload)
    return key + _varint(len(payload)) + payload  # wire 2


def read_vocab(path):
    m = read_metadata(path)
    return {
        "model": m["tokenizer.ggml.model"],
        "tokens": m["tokenizer.ggml.tokens"], "scores": m["tokenizer.ggml.scores"],
        "types": m["tokenizer.ggml.token_type"],
        "unk": int(m.get("tokenizer.ggml.unknown_token_id", -1)),
        "bos": int(m.get("tokenizer.ggml.bos_token_id", -1)),
        "eos": int(m.get("tokenizer.ggml.eos_token_id", -1)),
        "pad": int(m.get("tokenizer.ggml.padding_token_id", -1)),
        "add_space_prefix": bool(m.get("tokenizer.ggml.add_space_prefix", True)),
        "chat_template": m.get("tokenizer.chat_template"),
    }


def build_model_proto(v):
    NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
    out = bytearray()
    for i, (t, s, ty) in enumerate(zip(v["tokens"], v["scores"], v["types"])):
        if i == v["unk"]:
            ty = UNKNOWN
        elif ty == USER_DEFINED:
            t = t.replace(" ", SPACE)
        elif ty not in (NORMAL, CONTROL, UNUSED, BYTE):
            ty = CONTROL
        piece = _field(1, 2, t.encode("utf-8")) + _field(2, 5, s) + _field(3, 0, ty)
        out += _field(1, 2, piece)
    trainer = (_field(3, 0, 2) + _field(4, 0, len(v["tokens"])) + _field(35, 0, 1) + _field(40, 0, v["unk"])
               + _field(41, 0, v["bos"]) + _field(42, 0, v["eos"]) + _field(43, 0, v["pad"]))
    out += _field(2, 2, trainer)
    normalizer = (_field(1, 2, b"identity") + _field(3, 0, int(v["add_space_prefix"])) + _field(4, 0, 0)
                  + _field(5, 0, 1))
    out += _field(3, 2, normalizer)
    return bytes(out)


class SpmReference:
    def __init__(self, gguf_path):
        self.vocab = read_vocab(gguf_path)
        assert self.vocab["model"] == "llama", f"{gguf_path}: tokenizer.ggml.model is {self.vocab['model']!r}"
        self.sp = spm.SentencePieceProcessor(model_proto=build_model_proto(self.vocab))
        CONTROL = 3
        self.controls = sorted(((t, i) for i, (t, ty) in enumerate(zip(self.vocab["tokens"], self.vocab["types"]))
                                if ty == CONTROL and t), key=lambda x: -len(x[0]))

    def encode(self, text, parse_special=True):
        if not parse_special:
            return self.sp.encode(text) if text else []
        ids, plain, i, first = [], "", 0, True
        while i < len(text):
            hit = next(((t, tid) for t, tid in self.controls if text.startswith(t, i)), None) if text[i] == "<" else None
            if hit is None:
                plain += text[i]
                i += 1
                continue
            if plain:
                ids += self._plain(plain, first)
            first = False
            plain = ""
            ids.append(hit[1])
            i += len(hit[0])
        if plain:
            ids += self._plain(plain, first)
        return ids

    def _plain(self, text, at_start):
        # sentencepiece adds its dummy prefix to every piece of text it is given; kvshare only at the start of the
        # caller's text. The models tested here (Gemma) have add_space_prefix = false, where the two agree.
        assert at_start or not self.vocab["add_space_prefix"], "add_space_prefix after a control token"
        return self.sp.encode(text)

    def id_to_piece(self, ids):
        return [self.vocab["tokens"][i] for i in ids]
