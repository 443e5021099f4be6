// Tokenizer tests: UTF-8 validation, the GPT-2 pre-tokenizer, byte-level BPE on a hand-made vocab, special
// tokens, ChatML, and the real SmolLM2 tokenizer against ids from an independent reference.
//
// Expected ids and pieces below were produced with HF transformers 5.24 / tokenizers 0.23.3 on the same GGUF:
//   tok = AutoTokenizer.from_pretrained("models", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
//   tok.encode(s, add_special_tokens=False)                       # ids
//   tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=...)   # ChatML strings
//   tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True).pre_tokenize_str(s)  # words
// tests/python/test_tokenizer_ref.py compares 2,200 strings against the same reference.
#include <gtest/gtest.h>

#include "test_model_path.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf_writer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja/template.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace kvs::tok {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;

// ---------------------------------------------------------------- UTF-8

TEST(Utf8, AcceptsValidText) {
  for (std::string s : {"", "ascii", "h\xC3\xA9llo", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF",
                        "\xEF\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80"}) {
    EXPECT_TRUE(validate_utf8(s).is_ok()) << s;
  }
  EXPECT_TRUE(validate_utf8(std::string("a\0b", 3)).is_ok());
}

TEST(Utf8, RejectsInvalidTextNamingTheOffset) {
  struct Case {
    std::string text;
    size_t offset;
    const char* why;
  };
  const Case cases[] = {
      {"ab\xFF" "c", 2, "never valid"},                // 0xFF
      {"\xFE", 0, "never valid"},
      {"caf\xC3", 3, "truncated"},                     // truncated 2-byte sequence at the end
      {"\xE2\x82", 0, "truncated"},                    // truncated 3-byte sequence
      {"ok \xF0\x9F\x98", 3, "truncated"},             // truncated emoji
      {"\xE2\x28\xA1", 0, "truncated"},                // continuation byte missing mid-sequence
      {"\xC0\xAF", 0, "overlong"},                     // overlong '/'
      {"\xC1\xBF", 0, "overlong"},
      {"\xE0\x80\xAF", 0, "overlong"},
      {"\xF0\x80\x80\xAF", 0, "overlong"},
      {"x\xED\xA0\x80", 1, "surrogate"},               // U+D800
      {"\xED\xBF\xBF", 0, "surrogate"},                // U+DFFF
      {"\xF4\x90\x80\x80", 0, "above U+10FFFF"},
      {"\xF5\x80\x80\x80", 0, "never valid"},
      {"\x80" "abc", 0, "continuation"},               // stray continuation byte
      {"h\xC3\xA9\xA9", 3, "continuation"},
  };
  for (const Case& c : cases) {
    Status s = validate_utf8(c.text);
    ASSERT_FALSE(s.is_ok()) << "accepted invalid text at case offset " << c.offset;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find("byte offset " + std::to_string(c.offset) + ":"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.why), std::string::npos) << s.message();
  }
}

TEST(Utf8, DecodeAndEncodeRoundTripAtBoundaries) {
  const std::vector<char32_t> cps = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
  std::string s;
  for (char32_t c : cps) append_utf8(s, c);
  ASSERT_TRUE(validate_utf8(s).is_ok());
  std::vector<char32_t> out;
  std::vector<uint32_t> off;
  decode_utf8(s, out, off);
  EXPECT_EQ(out, cps);
  EXPECT_EQ(off, (std::vector<uint32_t>{0, 1, 2, 4, 6, 9, 12, 15, 18, 22, 26}));
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80"), 4);
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98"), 0);
}

// ---------------------------------------------------------------- pre-tokenizer

Words split(std::string_view text, PreTokenizerKind kind = PreTokenizerKind::kGpt2) {
  std::vector<std::string_view> views;
  pretokenize(kind, text, views);
  return Words(views.begin(), views.end());
}

TEST(PreTokenizer, CharClasses) {
  EXPECT_EQ(char_class(U'a'), CharClass::kLetter);
  EXPECT_EQ(char_class(U'\u00E9'), CharClass::kLetter);   // é
  EXPECT_EQ(char_class(U'\u4E2D'), CharClass::kLetter);   // 中
  EXPECT_EQ(char_class(U'\u02B0'), CharClass::kLetter);   // modifier letter (Lm)
  EXPECT_EQ(char_class(U'7'), CharClass::kNumber);
  EXPECT_EQ(char_class(U'\u0663'), CharClass::kNumber);   // Arabic-Indic 3 (Nd)
  EXPECT_EQ(char_class(U'\u00BD'), CharClass::kNumber);   // ½ (No)
  EXPECT_EQ(char_class(U'\u216B'), CharClass::kNumber);   // Ⅻ (Nl)
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', U'\u0085', U'\u00A0', U'\u2003', U'\u2028', U'\u3000'}) {
    EXPECT_EQ(char_class(c), CharClass::kSpace) << int(c);
  }
  EXPECT_EQ(char_class(U'\u200B'), CharClass::kOther);    // zero width space is not White_Space
  EXPECT_EQ(char_class(U'\u0301'), CharClass::kOther);    // combining mark
  EXPECT_EQ(char_class(U'\u094D'), CharClass::kOther);    // Devanagari virama
  EXPECT_EQ(char_class(U'!'), CharClass::kOther);
  EXPECT_EQ(char_class(U'\U0001F600'), CharClass::kOther);  // 😀
  EXPECT_EQ(char_class(U'\u001C'), CharClass::kOther);    // isspace() in Python, not White_Space
}

TEST(PreTokenizer, Contractions) {
  EXPECT_EQ(split("don't"), (Words{"don", "'t"}));
  EXPECT_EQ(split("I've you'LL"), (Words{"I", "'ve", " you", "'", "LL"}));  // upper-case is not a contraction
  EXPECT_EQ(split("'s'll"), (Words{"'s", "'ll"}));
  EXPECT_EQ(split("''s"), (Words{"''", "s"}));
  EXPECT_EQ(split("..'s"), (Words{"..'", "s"}));
  EXPECT_EQ(split("x 's"), (Words{"x", " '", "s"}));
  EXPECT_EQ(split("rock 'n' roll"), (Words{"rock", " '", "n", "'", " roll"}));
  EXPECT_EQ(split("it'd we're I'm"), (Words{"it", "'d", " we", "'re", " I", "'m"}));
}

TEST(PreTokenizer, WhitespaceRuns) {
  // \s+(?!\S): a run followed by a non-space leaves its last character to the next word.
  EXPECT_EQ(split("a   b"), (Words{"a", "  ", " b"}));
  EXPECT_EQ(split("x  \n\n  y"), (Words{"x", "  \n\n ", " y"}));
  EXPECT_EQ(split("hi  "), (Words{"hi", "  "}));       // a run at the end stays whole
  EXPECT_EQ(split("  "), (Words{"  "}));
  EXPECT_EQ(split(" "), (Words{" "}));
  EXPECT_EQ(split("\n\n"), (Words{"\n\n"}));
  EXPECT_EQ(split("  x"), (Words{" ", " x"}));
  EXPECT_EQ(split("\t x"), (Words{"\t", " x"}));
  EXPECT_EQ(split("x\t"), (Words{"x", "\t"}));
  EXPECT_EQ(split("a\nb"), (Words{"a", "\n", "b"}));  // a lone non-U+0020 space before a letter: its own word
  EXPECT_EQ(split("a \nb"), (Words{"a", " ", "\n", "b"}));
  EXPECT_EQ(split("a \n b"), (Words{"a", " \n", " b"}));
  EXPECT_EQ(split("a\u00A0b"), (Words{"a", "\u00A0", "b"}));
  EXPECT_EQ(split("a \u00A0b"), (Words{"a", " ", "\u00A0", "b"}));
  EXPECT_EQ(split("a\u3000b"), (Words{"a", "\u3000", "b"}));
  EXPECT_TRUE(split("").empty());
}

TEST(PreTokenizer, DigitsAndPunctuation) {
  EXPECT_EQ(split("a 123 b"), (Words{"a", " 123", " b"}));
  EXPECT_EQ(split("12345"), (Words{"12345"}));
  EXPECT_EQ(split("x1y"), (Words{"x", "1", "y"}));
  EXPECT_EQ(split("$19.99"), (Words{"$", "19", ".", "99"}));
  EXPECT_EQ(split("a  1"), (Words{"a", " ", " 1"}));
  EXPECT_EQ(split("hello, world!"), (Words{"hello", ",", " world", "!"}));
  EXPECT_EQ(split("!!! ???"), (Words{"!!!", " ???"}));
}

TEST(PreTokenizer, NonLatinLettersMarksAndEmoji) {
  EXPECT_EQ(split("Привет, мир!"), (Words{"Привет", ",", " мир", "!"}));
  EXPECT_EQ(split("नमस्ते"), (Words{"नमस", "्", "त", "े"}));  // vowel signs and virama are marks
  EXPECT_EQ(split("e\u0301t\u00E9"), (Words{"e", "\u0301", "t\u00E9"}));
  EXPECT_EQ(split("日本語のテキスト"), (Words{"日本語のテキスト"}));
  EXPECT_EQ(split("😀 😀"), (Words{"😀", " 😀"}));
  EXPECT_EQ(split("👨‍👩‍👧"), (Words{"👨‍👩‍👧"}));  // ZWJ (Cf) and emoji are all "other"
}

TEST(PreTokenizer, SplitDigitsVariant) {
  const auto d = PreTokenizerKind::kGpt2SplitDigits;
  EXPECT_EQ(split("12345", d), (Words{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(split("a 123 b", d), (Words{"a", " ", "1", "2", "3", " b"}));
  EXPECT_EQ(split("a  1", d), (Words{"a", "  ", "1"}));  // differs from kGpt2: the lookahead stops at the digit
  EXPECT_EQ(split("x\u00BDy", d), (Words{"x", "\u00BD", "y"}));
}

TEST(PreTokenizer, PiecesCoverTheText) {
  const std::string text = "Hello,   wörld!! 123\t\t\n  it's 😀👍🏽 <tag> \u3000end  ";
  std::string joined;
  for (const auto& w : split(text)) {
    EXPECT_FALSE(w.empty());
    joined += w;
  }
  EXPECT_EQ(joined, text);
}

TEST(PreTokenizer, KindFromMetadata) {
  EXPECT_EQ(pretokenizer_for("smollm", PreTokenizerCompat::kTransformers).value(), PreTokenizerKind::kGpt2);
  EXPECT_EQ(pretokenizer_for("smollm", PreTokenizerCompat::kLlamaCpp).value(), PreTokenizerKind::kGpt2SplitDigits);
  EXPECT_EQ(pretokenizer_for("gpt-2", PreTokenizerCompat::kLlamaCpp).value(), PreTokenizerKind::kGpt2);
  EXPECT_EQ(pretokenizer_for("default", PreTokenizerCompat::kTransformers).value(), PreTokenizerKind::kGpt2);
  EXPECT_EQ(pretokenizer_for("llama-bpe", PreTokenizerCompat::kTransformers).value(), PreTokenizerKind::kLlama3);
  auto r = pretokenizer_for("deepseek-llm", PreTokenizerCompat::kTransformers);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find("deepseek-llm"), std::string::npos);
}

// ---------------------------------------------------------------- byte-level BPE on a hand-made vocab

// Ids 0..255: the 256 one-byte tokens in byte order (except bytes in `missing`), then `extra` tokens.
struct TinyVocab {
  VocabData data;
  int32_t id(std::string_view text) const {
    for (size_t i = 0; i < data.tokens.size(); ++i) {
      if (data.tokens[i] == text) return static_cast<int32_t>(i);
    }
    ADD_FAILURE() << "no token " << text;
    return -1;
  }
};

std::string bl(std::string_view raw) {  // raw bytes -> byte-level token text
  std::string s;
  for (unsigned char c : raw) append_utf8(s, byte_to_unicode(c));
  return s;
}

TinyVocab tiny_vocab(const std::vector<std::string>& merges, std::vector<uint8_t> missing = {}) {
  TinyVocab v;
  v.data.model = "gpt2";
  v.data.pre = "gpt2";
  for (int b = 0; b < 256; ++b) {
    const bool gone = std::find(missing.begin(), missing.end(), b) != missing.end();
    v.data.tokens.push_back(gone ? "<unused" + std::to_string(b) + ">" : bl(std::string(1, char(b))));
    v.data.types.push_back(gone ? TokenType::kUnused : TokenType::kNormal);
  }
  for (const auto& m : merges) {  // merged tokens, in merge order
    const size_t sp = m.find(' ');
    const std::string joined = m.substr(0, sp) + m.substr(sp + 1);
    if (std::find(v.data.tokens.begin(), v.data.tokens.end(), joined) == v.data.tokens.end()) {
      v.data.tokens.push_back(joined);
      v.data.types.push_back(TokenType::kNormal);
    }
  }
  v.data.merges = merges;
  return v;
}

std::unique_ptr<Tokenizer> make(const TinyVocab& v) {
  auto vocab = Vocab::create(v.data);
  EXPECT_TRUE(vocab.is_ok()) << vocab.status().to_string();
  auto t = Tokenizer::from_vocab(std::move(vocab).value());
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return std::move(t).value();
}

Ids enc(const Tokenizer& t, std::string_view s, bool parse_special = true) {
  auto r = t.encode(s, parse_special);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? r.value() : Ids{};
}

TEST(Bpe, ByteLevelAlphabet) {
  EXPECT_EQ(byte_to_unicode('A'), U'A');
  EXPECT_EQ(byte_to_unicode(' '), U'\u0120');   // Ġ
  EXPECT_EQ(byte_to_unicode('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(byte_to_unicode(0), U'\u0100');
  EXPECT_EQ(byte_to_unicode(0xAD), U'\u0143');  // soft hyphen is not printable
  EXPECT_EQ(byte_to_unicode(0xFF), U'\u00FF');
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode_to_byte(byte_to_unicode(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(unicode_to_byte(U' '), -1);
}

TEST(Bpe, LowestRankFirst) {
  // "b c" outranks "a b": abc -> a + bc -> abc.
  auto v = tiny_vocab({"b c", "a b", "a bc"});
  auto t = make(v);
  EXPECT_EQ(enc(*t, "abc"), (Ids{v.id("abc")}));
  // Without the final merge: a + bc (never ab + c).
  auto v2 = tiny_vocab({"b c", "a b"});
  EXPECT_EQ(enc(*make(v2), "abc"), (Ids{v2.id("a"), v2.id("bc")}));
  // Rank order across the word: cd first blocks "b c"; then "a b".
  auto v3 = tiny_vocab({"c d", "b c", "a b"});
  EXPECT_EQ(enc(*make(v3), "abcd"), (Ids{v3.id("ab"), v3.id("cd")}));
}

TEST(Bpe, LeftmostOnTies) {
  auto v = tiny_vocab({"a a", "aa aa"});
  auto t = make(v);
  EXPECT_EQ(enc(*t, "aaa"), (Ids{v.id("aa"), v.id("a")}));
  EXPECT_EQ(enc(*t, "aaaa"), (Ids{v.id("aaaa")}));
  EXPECT_EQ(enc(*t, "aaaaa"), (Ids{v.id("aaaa"), v.id("a")}));
}

TEST(Bpe, SpacesAndWordsAreMergedSeparately) {
  auto v = tiny_vocab({bl(" ") + " t", bl(" t") + " o", "t o", "o t"});
  auto t = make(v);
  // " to" is one word: Ġt + o -> Ġto. "to" at the start: t o -> to. Never across words ("o t").
  EXPECT_EQ(enc(*t, "to to"), (Ids{v.id("to"), v.id(bl(" to"))}));
  EXPECT_EQ(enc(*t, ""), Ids{});
}

TEST(Bpe, MergesOutsideTheVocabAreIgnored) {
  auto v = tiny_vocab({"a b"});
  v.data.merges.insert(v.data.merges.begin(), "x zzz");  // "zzz" is not a token
  auto t = make(v);
  EXPECT_EQ(enc(*t, "ab"), (Ids{v.id("ab")}));
  v.data.merges.push_back("nospace");
  auto vocab = Vocab::create(v.data);
  ASSERT_TRUE(vocab.is_ok());
  auto bad = Tokenizer::from_vocab(std::move(vocab).value());
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kCorrupt);
  EXPECT_NE(bad.status().message().find("nospace"), std::string::npos);
}

TEST(Bpe, BytesWithoutATokenAreDroppedAndNeighboursMerge) {
  auto v = tiny_vocab({"! !"}, {0x04});
  auto t = make(v);
  EXPECT_EQ(enc(*t, "!\x04!"), (Ids{v.id("!!")}));  // as HF: "!\x04!" -> "!!"
  EXPECT_EQ(enc(*t, "\x04"), Ids{});
}

TEST(Bpe, LongWordsAreFast) {
  auto v = tiny_vocab({"a a", "aa aa", "aaaa aaaa"});
  auto t = make(v);
  const Ids ids = enc(*t, std::string(100000, 'a'));
  EXPECT_EQ(ids.size(), 100000u / 8);
  EXPECT_EQ(t->decode(ids), std::string(100000, 'a'));
}

// ---------------------------------------------------------------- special tokens

TinyVocab vocab_with_specials() {
  auto v = tiny_vocab({"a b"});
  for (const char* s : {"<|s|>", "<|s|>>", "<|e|>"}) {
    v.data.tokens.push_back(s);
    v.data.types.push_back(TokenType::kControl);
  }
  v.data.tokens.push_back("<u>");
  v.data.types.push_back(TokenType::kUserDefined);
  v.data.eos = v.id("<|e|>");
  return v;
}

TEST(SpecialTokens, ControlTokensOnlyWithParseSpecial) {
  auto v = vocab_with_specials();
  auto t = make(v);
  EXPECT_EQ(enc(*t, "<|e|>ab"), (Ids{v.id("<|e|>"), v.id("ab")}));
  const Ids plain = enc(*t, "<|e|>ab", /*parse_special=*/false);
  EXPECT_EQ(plain.size(), 6u);  // < | e | > ab
  EXPECT_EQ(t->decode(plain), "<|e|>ab");
}

TEST(SpecialTokens, UserDefinedTokensAlwaysMatch) {
  auto v = vocab_with_specials();
  auto t = make(v);
  EXPECT_EQ(enc(*t, "a<u>b", false), (Ids{v.id("a"), v.id("<u>"), v.id("b")}));
}

TEST(SpecialTokens, LeftmostLongestAndFragmentsTokenizedSeparately) {
  auto v = vocab_with_specials();
  auto t = make(v);
  EXPECT_EQ(enc(*t, "<|s|>>"), (Ids{v.id("<|s|>>")}));
  EXPECT_EQ(enc(*t, "<|s|><|s|>"), (Ids{v.id("<|s|>"), v.id("<|s|>")}));
  // "a" and "b" are in different fragments: no "a b" merge across the special token.
  EXPECT_EQ(enc(*t, "a<|e|>b"), (Ids{v.id("a"), v.id("<|e|>"), v.id("b")}));
  EXPECT_EQ(enc(*t, "<|s|"), (Ids{v.id("<"), v.id("|"), v.id("s"), v.id("|")}));
  EXPECT_EQ(t->token_to_piece(v.id("<|s|>")), "<|s|>");
  EXPECT_TRUE(t->is_eog(v.id("<|e|>")));
  EXPECT_FALSE(t->is_eog(v.id("<|s|>")));
}

// ---------------------------------------------------------------- errors

TEST(Tokenizer, InvalidUtf8IsAnErrorNotACrash) {
  auto t = make(tiny_vocab({"a b"}));
  for (std::string bad : {"ab\xFF", "caf\xC3", "\xE2\x82", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                          "\xED\xBF\xBF", "\xF4\x90\x80\x80", "\x80", "\xFF\xFE", "<|e|>\xFF"}) {
    auto r = t->encode(bad);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("byte offset"), std::string::npos) << r.status().message();
  }
  auto r = t->encode("ok then \xC3(");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("byte offset 8"), std::string::npos) << r.status().message();
}

TEST(Tokenizer, RandomBytesNeverCrash) {
  auto t = make(tiny_vocab({"a b", "b c"}));
  std::mt19937 rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 24, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 256);
    auto r = t->encode(s);
    EXPECT_EQ(r.is_ok(), validate_utf8(s).is_ok());
    if (r.is_ok()) {
      EXPECT_EQ(t->decode(r.value()), s);
    }
  }
}

TEST(Tokenizer, UnsupportedModels) {
  auto v = tiny_vocab({"a b"});
  v.data.model = "llama";  // SentencePiece, but no byte tokens and no unknown token: some text would have no ids
  auto r = Tokenizer::from_vocab(Vocab::create(v.data).value());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("SentencePiece"), std::string::npos);
  v.data.model = "bert";
  r = Tokenizer::from_vocab(Vocab::create(v.data).value());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find("bert"), std::string::npos);
  v.data.model = "gpt2";
  v.data.pre = "chameleon";
  r = Tokenizer::from_vocab(Vocab::create(v.data).value());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find("chameleon"), std::string::npos);
  v.data.pre = "qwen2";
  EXPECT_TRUE(Tokenizer::from_vocab(Vocab::create(v.data).value()).is_ok());
}

TEST(Vocab, RejectsInconsistentData) {
  auto v = tiny_vocab({});
  auto d = v.data;
  d.types.pop_back();
  EXPECT_EQ(Vocab::create(d).status().code(), Code::kInvalidArgument);
  d = v.data;
  d.eos = static_cast<int32_t>(d.tokens.size());
  EXPECT_NE(Vocab::create(d).status().message().find("eos_token_id"), std::string::npos);
  d = v.data;
  d.types[3] = static_cast<TokenType>(9);
  EXPECT_EQ(Vocab::create(d).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Vocab::create(VocabData{}).status().code(), Code::kInvalidArgument);
}

TEST(Vocab, FromGgufReportsMissingKeys) {
  testing::GgufWriter w;
  w.add_string("general.architecture", "llama");
  auto f = gguf::GgufFile::from_bytes(w.build());
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  auto t = Tokenizer::from_gguf(*f.value());
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("tokenizer.ggml.model"), std::string::npos) << t.status().message();

  // A minimal valid byte-level tokenizer in GGUF form.
  auto v = tiny_vocab({"a b"});
  testing::GgufWriter w2;
  w2.add_string("tokenizer.ggml.model", "gpt2").add_string("tokenizer.ggml.pre", "smollm");
  w2.add_string_array("tokenizer.ggml.tokens", v.data.tokens);
  std::vector<int64_t> types(v.data.tokens.size(), 1);
  w2.add_int_array("tokenizer.ggml.token_type", types);
  w2.add_string_array("tokenizer.ggml.merges", v.data.merges);
  w2.add_u32("tokenizer.ggml.eos_token_id", 5);
  auto f2 = gguf::GgufFile::from_bytes(w2.build());
  ASSERT_TRUE(f2.is_ok()) << f2.status().to_string();
  auto t2 = Tokenizer::from_gguf(*f2.value());
  ASSERT_TRUE(t2.is_ok()) << t2.status().to_string();
  EXPECT_EQ(enc(*t2.value(), "ab"), (Ids{v.id("ab")}));
  EXPECT_EQ(t2.value()->eos(), 5);
}

// ---------------------------------------------------------------- chat templates (Jinja)
// Expected strings: transformers (SmolLM2) or jinja2 3.1.6 with transformers' environment
// (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True), loopcontrols). The full comparison with
// jinja2 over the feature templates is tests/python/test_chat_template_ref.py.

// The SmolLM2 template exactly as stored in the GGUF (tokenizer.chat_template).
const std::string kSmolTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}";

TEST(ChatTemplate, SmolLmDefaultSystemPrompt) {
  // transformers: apply_chat_template([{"role": "user", "content": "What are the symptoms of diabetes?"}],
  //                                   tokenize=False, add_generation_prompt=True)
  const ChatMessage msgs[] = {{"user", "What are the symptoms of diabetes?"}};
  EXPECT_EQ(apply_chat_template(kSmolTemplate, msgs, true).value(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat are the symptoms of diabetes?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, MultiTurnWithSystemMessage) {
  // transformers, add_generation_prompt=False.
  const ChatMessage msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
  EXPECT_EQ(apply_chat_template(kSmolTemplate, msgs, false).value(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n");
  // transformers: the default is added when the *first* message is not a system message.
  const ChatMessage late[] = {{"user", "a"}, {"system", "later"}};
  EXPECT_EQ(apply_chat_template(kSmolTemplate, late, false).value(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\na<|im_end|>\n<|im_start|>system\nlater<|im_end|>\n");
}

TEST(ChatTemplate, PlainChatMLAndQwenStyle) {
  const std::string plain =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
      "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const ChatMessage msgs[] = {{"user", "hi"}};
  EXPECT_EQ(apply_chat_template(plain, msgs, true).value(), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  const std::string qwen =
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
      "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen. You\\'re helpful.<|im_end|>\\n' }}"
      "{%- endif %}{%- for m in messages %}{%- if m.role != 'system' %}{{- '<|im_start|>' + m.role + '\\n' + "
      "m.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}"
      "{{- '<|im_start|>assistant\\n' }}{%- endif %}";
  EXPECT_EQ(apply_chat_template(qwen, msgs, true).value(),
            "<|im_start|>system\nYou are Qwen. You're helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(Jinja, WhitespaceControlLikeTransformers) {
  auto t = jinja::Template::parse("A\n  {% if true %}\n    B\n  {% endif %}\n  {{- ' C' }}\n{# note #}\nD {{ 1 }}\n");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t.value().render({}).value(), "A\n    B\n C\nD 1");  // jinja2
}

TEST(Jinja, ExpressionsFiltersLoopsMacros) {
  auto t = jinja::Template::parse(
      "{% set ns = namespace(n=0) %}{% for x in [3, 1, 2] | sort %}{% set ns.n = ns.n + x %}{{ loop.index0 }}{{ x }}"
      "{{ ',' if not loop.last }}{% endfor %}={{ ns.n }} {{ 'abc'[::-1] }} {{ '\xC3\x9Cn\xC3\xAF'[1:] | upper }} "
      "{{ 7 // 2 }}{{ -7 % 3 }} {{ {'a': [1, none, true]} | tojson }} {{ (1, 'x') }} {{ x is defined }} "
      "{{ '\xC3\xA9' | length }}");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t.value().render({}).value(), "01,12,23=6 cba N\xC3\x8F 32 {\"a\": [1, null, true]} (1, 'x') False 1");
  auto m = jinja::Template::parse(
      "{% macro t(r, c='none') %}<{{ r }}:{{ c }}>{% endmacro %}{{ t('a') }}{{ t('b', c='x') }}{% for i in range(5) %}"
      "{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}");
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m.value().render({}).value(), "<a:none><b:x>02");
}

TEST(Jinja, ErrorsAreStatuses) {
  auto unknown = jinja::Template::parse("ok\n{% include 'x.html' %}");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().code(), Code::kUnsupported);
  EXPECT_NE(unknown.status().message().find("line 2"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("include"), std::string::npos);
  EXPECT_EQ(jinja::Template::parse("{{ x | no_such_filter }}").status().code(), Code::kUnsupported);
  EXPECT_EQ(jinja::Template::parse("{{ 'unterminated }}").status().code(), Code::kUnsupported);
  EXPECT_EQ(jinja::Template::parse("{% if x %}never closed").status().code(), Code::kUnsupported);
  auto raise = jinja::Template::parse("{{ raise_exception('roles must alternate') }}");
  ASSERT_TRUE(raise.is_ok());
  auto r = raise.value().render({});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("roles must alternate"), std::string::npos);
  auto undef = jinja::Template::parse("{{ missing + 1 }}");
  EXPECT_EQ(undef.value().render({}).status().code(), Code::kInvalidArgument);  // jinja2: UndefinedError
  auto big = jinja::Template::parse("{% for i in range(99999) %}{{ 'x' * 1000 }}{% endfor %}");
  EXPECT_FALSE(big.value().render({}).is_ok());  // output bound, not a hang or an out-of-memory
}

TEST(ChatTemplate, Errors) {
  const ChatMessage bad_role[] = {{"user", "hi"}, {"tool", "x"}};
  auto r = apply_chat_template(kSmolTemplate, bad_role, true);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("message 1"), std::string::npos);
  EXPECT_NE(r.status().message().find("tool"), std::string::npos);
  EXPECT_EQ(apply_chat_template(kSmolTemplate, std::span<const ChatMessage>(), true).status().code(),
            Code::kInvalidArgument);
  const ChatMessage msgs[] = {{"user", "hi"}};
  // `message` outside a loop is undefined: every sample conversation fails, so the template is refused at load.
  auto outside = ChatTemplate::create("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}");
  ASSERT_FALSE(outside.is_ok());
  EXPECT_EQ(outside.status().code(), Code::kUnsupported);
  EXPECT_EQ(apply_chat_template("", msgs, true).status().code(), Code::kUnsupported);
  EXPECT_EQ(ChatTemplate::create("{{ raise_exception('no') }}").status().code(), Code::kUnsupported);
  // A template that rejects some conversations loads; those conversations are InvalidArgument.
  auto alt = ChatTemplate::create("{% if messages[0].role == 'system' %}{{ raise_exception('no system') }}{% endif %}x");
  ASSERT_TRUE(alt.is_ok()) << alt.status().to_string();
  const ChatMessage sys[] = {{"system", "s"}, {"user", "u"}};
  EXPECT_EQ(alt.value().apply(sys, true).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(alt.value().apply(msgs, true).value(), "x");
}

// ---------------------------------------------------------------- the real SmolLM2 tokenizer

std::string find_model() { return kvs::testing::default_model_path(); }

class SmolLm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = find_model();
    if (path.empty()) {
      load_error_ = "SmolLM2-135M-Instruct.Q4_1.gguf not found: set KVS_MODEL, or run scripts/fetch_model.sh "
                    "and run the tests from the repository root or a build directory beside models/";
      return;
    }
    auto f = gguf::GgufFile::open(path);
    if (!f.is_ok()) {
      load_error_ = path + ": " + f.status().to_string();
      return;
    }
    file_ = std::move(f).value().release();
    auto t = Tokenizer::from_gguf(*file_);
    if (!t.is_ok()) {
      load_error_ = path + ": " + t.status().to_string();
      return;
    }
    tok_ = std::move(t).value().release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete file_;
    tok_ = nullptr;
    file_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(tok_, nullptr) << load_error_; }  // fail, not skip

  static Ids ids(std::string_view s, bool parse_special = true) { return enc(*tok_, s, parse_special); }

  static inline gguf::GgufFile* file_ = nullptr;
  static inline Tokenizer* tok_ = nullptr;
  static inline std::string load_error_;
};

TEST_F(SmolLm, MatchesReferenceIds) {
  // transformers: tok.encode(s, add_special_tokens=False)
  EXPECT_EQ(ids("What are the symptoms of diabetes?"), (Ids{1780, 359, 260, 2336, 282, 4348, 47}));
  EXPECT_EQ(ids("a 123 b"), (Ids{81, 216, 33, 34, 35, 278}));
  EXPECT_EQ(ids("x  \n\n  y"), (Ids{104, 256, 8866, 329}));
  EXPECT_EQ(ids("héllo 😀 wörld"), (Ids{88, 2756, 31394, 40303, 218, 267, 29989, 400}));
  EXPECT_EQ(ids("<|im_start|>user"), (Ids{1, 4093}));
  EXPECT_EQ(ids("don't I'M"), (Ids{12420, 982, 339, 23, 61}));
  EXPECT_EQ(ids("a  1"), (Ids{81, 216, 216, 33}));
  EXPECT_EQ(ids("👨‍👩‍👧‍👦"), (Ids{10813, 235, 118, 321, 231, 10813, 235, 119, 321, 231, 10813, 235, 117, 321, 231,
                                 10813, 235, 116}));
  EXPECT_EQ(ids("Привет, мир!"), (Ids{155, 249, 46879, 16464, 32547, 28, 41337, 7872, 9175, 17}));
  EXPECT_EQ(ids("नमस्ते"), (Ids{30658, 35090, 38770, 16525, 26293, 30581}));
  EXPECT_EQ(ids("日本語"), (Ids{23274, 115, 40993, 179, 120, 248}));
  EXPECT_EQ(ids("def f(x):\n    return x\n"), (Ids{1604, 275, 24, 104, 727, 472, 1003, 1792, 198}));
  EXPECT_EQ(ids("   "), (Ids{333}));
  EXPECT_EQ(ids(""), Ids{});
  EXPECT_EQ(ids("!\x04!"), (Ids{10095}));  // 0x04 has no token: dropped, as the reference does
  // transformers: tok.encode(s, add_special_tokens=False, split_special_tokens=True)
  EXPECT_EQ(ids("<|im_start|>user", false), (Ids{44, 108, 306, 79, 3738, 108, 46, 4093}));
}

TEST_F(SmolLm, ChatPromptIds) {
  auto tmpl = file_->get_string("tokenizer.chat_template");
  ASSERT_TRUE(tmpl.is_ok());
  EXPECT_EQ(tmpl.value(), kSmolTemplate);
  const ChatMessage msgs[] = {{"user", "What are the symptoms of diabetes?"}};
  auto prompt = apply_chat_template(tmpl.value(), msgs, true);
  ASSERT_TRUE(prompt.is_ok());
  // transformers: tok.encode(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
  //                          add_special_tokens=False)
  EXPECT_EQ(ids(prompt.value()), (Ids{1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28,
                                      7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198, 1780, 359, 260, 2336, 282,
                                      4348, 47, 2, 198, 1, 520, 9531, 198}));
}

TEST_F(SmolLm, SpecialIdsAndPieces) {
  EXPECT_EQ(tok_->n_vocab(), 49152);
  EXPECT_EQ(tok_->bos(), 1);
  EXPECT_EQ(tok_->eos(), 2);
  EXPECT_FALSE(tok_->add_bos());
  EXPECT_TRUE(tok_->is_eog(2));   // <|im_end|> (= eos)
  EXPECT_TRUE(tok_->is_eog(0));   // <|endoftext|>
  EXPECT_FALSE(tok_->is_eog(1));  // <|im_start|>
  EXPECT_FALSE(tok_->is_eog(260));
  EXPECT_FALSE(tok_->is_eog(-1));
  EXPECT_EQ(tok_->token_id("<|im_end|>"), 2);
  EXPECT_EQ(tok_->token_id("Ġthe"), 260);
  EXPECT_EQ(tok_->token_id("no such token"), kNoToken);
  EXPECT_EQ(tok_->token_to_piece(260), " the");
  EXPECT_EQ(tok_->token_to_piece(1), "<|im_start|>");
  EXPECT_EQ(tok_->token_to_piece(40303), " \xF0\x9F\x98");  // partial UTF-8: the first 3 bytes of 😀
  EXPECT_EQ(tok_->token_to_piece(218), "\x80");
  EXPECT_EQ(tok_->token_to_piece(-5), "");
  EXPECT_EQ(tok_->token_to_piece(49152), "");
  EXPECT_TRUE(tok_->is_control(1));
}

TEST_F(SmolLm, DecodeInvertsEncode) {
  for (std::string s : {"What are the symptoms of diabetes?", "héllo 😀 wörld", "x  \n\n  y", "  \t\r\n ",
                        "<|im_start|>user\nhi<|im_end|>\n", "日本語 العربية हिन्दी 👍🏽 🏳️‍🌈", "don't DON'T 'S 'LL",
                        "12345678901234567890", "int main() { return 0; }\n", ""}) {
    const Ids a = ids(s);
    EXPECT_EQ(tok_->decode(a), s);
    std::string streamed;  // token by token, as a streaming client concatenates pieces
    for (int32_t id : a) streamed += tok_->token_to_piece(id);
    EXPECT_EQ(streamed, s);
    EXPECT_EQ(tok_->decode(ids(s, false)), s);
  }
}

TEST_F(SmolLm, RandomTextRoundTrips) {
  // Code points from mixed ranges, avoiding those whose UTF-8 uses a byte without a token
  // (U+0004, U+0006, U+0013, U+0014, U+0016, U+001D and planes 4-11, lead bytes 0xF1/0xF2).
  std::mt19937 rng(1234);
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x24F}, {0x370, 0x52F}, {0x900, 0x97F}, {0x3040, 0x30FF},
      {0x4E00, 0x4FFF}, {0xAC00, 0xAD00}, {0x1F300, 0x1F6FF}, {0x2000, 0x206F}, {0x10000, 0x3FFFF}};
  for (int iter = 0; iter < 300; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) {
      const auto& [lo, hi] = ranges[rng() % ranges.size()];
      char32_t c = lo + rng() % (hi - lo + 1);
      if (c >= 0xD800 && c <= 0xDFFF) c = U'x';
      append_utf8(s, c);
    }
    auto r = tok_->encode(s);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(tok_->decode(r.value()), s);
  }
}

TEST_F(SmolLm, InvalidUtf8) {
  auto r = tok_->encode("What are \xED\xA0\x80 symptoms?");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("byte offset 9"), std::string::npos) << r.status().message();
}

TEST_F(SmolLm, LlamaCppCompatSplitsDigits) {
  TokenizerOptions opts;
  opts.compat = PreTokenizerCompat::kLlamaCpp;
  auto t = Tokenizer::from_gguf(*file_, opts);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  // llama.cpp's "smollm" pre-tokenizer cuts digits out first: "a", "  ", "1" -> a, ĠĠ, 1.
  EXPECT_EQ(enc(*t.value(), "a  1"), (Ids{81, 256, 33}));
  EXPECT_EQ(enc(*t.value(), "a 123 b"), (Ids{81, 216, 33, 34, 35, 278}));
}

}  // namespace
}  // namespace kvs::tok
