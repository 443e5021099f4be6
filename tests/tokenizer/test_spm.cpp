// SentencePiece BPE (src/tokenizer/spm.*) on a hand-made vocab, and the Llama 3 / Qwen2 pre-tokenizer splits on
// hand-checked cases. Expected ids follow from spm.h's rules by hand (highest score first, leftmost on ties,
// byte fallback); tests/python/test_tokenizer_gemma_ref.py checks the real Gemma vocab against sentencepiece and
// tests/python/test_pretokenizer_ref.py the splits against Python's `regex`.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kvs::tok {
namespace {

using Ids = std::vector<int32_t>;

// 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then normal pieces with scores, then a user-defined "  ".
struct SpmVocab {
  std::unique_ptr<Tokenizer> tok;
  int32_t byte(uint8_t b) const { return 3 + b; }
  static constexpr int32_t a = 259, b = 260, sp = 261, ab = 262, sp_a = 263, sp_ab = 264, bb = 265, two = 266;
};

SpmVocab make_vocab(bool add_space_prefix) {
  VocabData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  d.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    d.tokens.push_back(buf);
    d.types.push_back(TokenType::kByte);
    d.scores.push_back(0);
  }
  const std::pair<const char*, float> normal[] = {{"a", -1}, {"b", -2}, {"\xE2\x96\x81", -3}, {"ab", -4},
                                                  {"\xE2\x96\x81" "a", -5}, {"\xE2\x96\x81" "ab", -6}, {"bb", -0.5f}};
  for (const auto& [t, s] : normal) {
    d.tokens.push_back(t);
    d.types.push_back(TokenType::kNormal);
    d.scores.push_back(s);
  }
  d.tokens.push_back("  ");  // user-defined (llama.cpp stores Gemma's "▁▁" with spaces)
  d.types.push_back(TokenType::kUserDefined);
  d.scores.push_back(0);
  d.unk = 0;
  d.bos = 1;
  d.eos = 2;
  d.add_space_prefix = add_space_prefix;
  auto v = Vocab::create(std::move(d));
  EXPECT_TRUE(v.is_ok()) << v.status().to_string();
  auto t = Tokenizer::from_vocab(std::move(v).value());
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return SpmVocab{std::move(t).value()};
}

Ids enc(const Tokenizer& t, std::string_view s, bool special = true) { return t.encode(s, special).value(); }

TEST(Spm, HighestScoreMergesFirst) {
  const SpmVocab v = make_vocab(false);
  const Tokenizer& t = *v.tok;
  EXPECT_EQ(enc(t, "ab"), (Ids{v.ab}));
  EXPECT_EQ(enc(t, "abb"), (Ids{v.a, v.bb}));       // bb (-0.5) beats ab (-4); "abb" is no piece
  EXPECT_EQ(enc(t, "bbb"), (Ids{v.bb, v.b}));       // equal scores: the leftmost pair first
  EXPECT_EQ(enc(t, " ab"), (Ids{v.sp_ab}));         // ab (-4) first, then ▁+ab
  EXPECT_EQ(enc(t, "a b"), (Ids{v.a, v.sp, v.b}));  // "▁b" is no piece
  EXPECT_EQ(enc(t, ""), Ids{});
}

TEST(Spm, ByteFallbackControlAndUserDefined) {
  const SpmVocab v = make_vocab(false);
  const Tokenizer& t = *v.tok;
  EXPECT_EQ(enc(t, "\xC3\xA9"), (Ids{v.byte(0xC3), v.byte(0xA9)}));  // é: no piece, its two bytes
  EXPECT_EQ(enc(t, "a<s>b", true), (Ids{v.a, 1, v.b}));
  EXPECT_EQ(enc(t, "<s>", false), (Ids{v.byte('<'), v.byte('s'), v.byte('>')}));  // control: never merged
  EXPECT_EQ(enc(t, "<0x61>", false).size(), 6u);                                   // byte tokens: never merged
  EXPECT_EQ(enc(t, "a  b"), (Ids{v.a, v.two, v.b}));                              // user-defined, always
  EXPECT_EQ(t.decode(enc(t, " ab \xC3\xA9  b<s>")), " ab \xC3\xA9  b<s>");
  EXPECT_EQ(t.token_to_piece(v.sp_ab), " ab");
  EXPECT_EQ(t.token_to_piece(v.byte(0xFF)), "\xFF");
}

TEST(Spm, SpacePrefixOnlyAtTextStart) {
  const SpmVocab v = make_vocab(true);
  const Tokenizer& t = *v.tok;
  EXPECT_EQ(enc(t, "ab"), (Ids{v.sp_ab}));
  EXPECT_EQ(enc(t, "ab<s>ab"), (Ids{v.sp_ab, 1, v.ab}));
}

std::vector<std::string> split(std::string_view text, PreTokenizerKind kind) {
  std::vector<std::string_view> w;
  pretokenize(kind, text, w);
  return {w.begin(), w.end()};
}

TEST(PreTokenizer, Llama3AndQwen2) {
  using W = std::vector<std::string>;
  const auto l3 = PreTokenizerKind::kLlama3, q2 = PreTokenizerKind::kQwen2;
  EXPECT_EQ(split("Hello world", l3), (W{"Hello", " world"}));
  EXPECT_EQ(split("1234567 x", l3), (W{"123", "456", "7", " x"}));
  EXPECT_EQ(split("1234567 x", q2), (W{"1", "2", "3", "4", "5", "6", "7", " x"}));
  EXPECT_EQ(split("DON'T we'LL", l3), (W{"DON", "'T", " we", "'LL"}));
  EXPECT_EQ(split("(x)\tif", l3), (W{"(x", ")", "\tif"}));
  EXPECT_EQ(split("a  \n\n  b", l3), (W{"a", "  \n\n", " ", " b"}));
  EXPECT_EQ(split("ok!!\n\nnext", l3), (W{"ok", "!!\n\n", "next"}));
  EXPECT_EQ(split("x   ", l3), (W{"x", "   "}));
  EXPECT_EQ(pretokenizer_for("llama-bpe", PreTokenizerCompat::kTransformers).value(), l3);
  EXPECT_EQ(pretokenizer_for("qwen2", PreTokenizerCompat::kLlamaCpp).value(), q2);
}

}  // namespace
}  // namespace kvs::tok
