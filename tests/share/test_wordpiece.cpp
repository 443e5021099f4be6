// WordPiece (src/share/embedder/wordpiece.h): the pipeline steps on a tiny hand-made vocabulary, loading from
// GGUF metadata, and — when the real embedder is present (scripts/fetch_embedder.sh) — hand cases on the
// all-MiniLM-L6-v2 vocabulary whose expected ids come from the reference tokenizer.
#include "share/embedder/wordpiece.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf_writer.h"

namespace kvs::share {
namespace {

using Ids = std::vector<int32_t>;

// id:                 0        1        2        3        4         5     6        7         8      9
const std::vector<std::string> kTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff", "able",
                                          // 10   11   12   13      14     15     16    17   18     19
                                          "the", ",", "!", "cafe", "中", "文", "##s", "a", "##a", "hello",
                                          // 20        21   22
                                          "istanbul", "i", "##i"};

WordPieceSpecials specials() {
  WordPieceSpecials s;
  s.pad = 0;
  s.unk = 1;
  s.cls = 2;
  s.sep = 3;
  s.mask = 4;
  return s;
}

WordPiece make(WordPieceOptions opt = {}) {
  auto wp = WordPiece::create(kTokens, specials(), std::move(opt));
  EXPECT_TRUE(wp.is_ok()) << wp.status().to_string();
  return std::move(wp).value();
}

Ids tok(const WordPiece& wp, std::string_view text) {
  auto r = wp.tokenize(text);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? r.value() : Ids{};
}

TEST(WordPiece, GreedyLongestMatchFirstWithContinuations) {
  const WordPiece wp = make();
  EXPECT_EQ(tok(wp, "unaffable"), (Ids{5, 6, 7}));
  EXPECT_EQ(tok(wp, "affable"), (Ids{8, 7}));    // "aff" + "##able", not "a" + ...
  EXPECT_EQ(tok(wp, "ables"), (Ids{9, 16}));
  EXPECT_EQ(tok(wp, "the the"), (Ids{10, 10}));
}

TEST(WordPiece, UnmatchableRestMakesTheWholeWordUnknown) {
  const WordPiece wp = make();
  EXPECT_EQ(tok(wp, "unaffablex"), (Ids{1}));
  EXPECT_EQ(tok(wp, "xthe the"), (Ids{1, 10}));
}

TEST(WordPiece, LongWordsAreUnknown) {
  const WordPiece wp = make();
  Ids hundred = tok(wp, std::string(100, 'a'));
  ASSERT_EQ(hundred.size(), 100u);
  EXPECT_EQ(hundred[0], 17);
  EXPECT_EQ(hundred[99], 18);
  EXPECT_EQ(tok(wp, std::string(101, 'a')), (Ids{1}));
  WordPieceOptions opt;
  opt.max_input_chars_per_word = 3;
  EXPECT_EQ(tok(make(opt), "aaa aaaa"), (Ids{17, 18, 18, 1}));
}

TEST(WordPiece, LowerCasesAndStripsAccents) {
  const WordPiece wp = make();
  EXPECT_EQ(tok(wp, "UnAffable!"), (Ids{5, 6, 7, 12}));
  EXPECT_EQ(tok(wp, "Café CAFÉ cafe\xCC\x81"), (Ids{13, 13, 13}));  // precomposed and combining acute
  EXPECT_EQ(tok(wp, "\xC4\xB0stanbul"), (Ids{20}));                   // U+0130: NFD I + U+0307, then lower
  WordPieceOptions cased;
  cased.do_lower_case = false;
  cased.strip_accents = false;
  EXPECT_EQ(tok(make(cased), "The the café"), (Ids{1, 10, 1}));
}

TEST(WordPiece, SplitsPunctuationAndCjk) {
  const WordPiece wp = make();
  EXPECT_EQ(tok(wp, "the,the!"), (Ids{10, 11, 10, 12}));
  EXPECT_EQ(tok(wp, "中文"), (Ids{14, 15}));  // each ideograph is a word ("##文" is not in the vocabulary)
  WordPieceOptions no_cjk;
  no_cjk.tokenize_chinese_chars = false;
  EXPECT_EQ(tok(make(no_cjk), "中文"), (Ids{1}));
  auto words = wp.split_words("Hello, WORLD!  $5\t中x");
  ASSERT_TRUE(words.is_ok());
  EXPECT_EQ(words.value(), (std::vector<std::string>{"hello", ",", "world", "!", "$", "5", "中", "x"}));
}

TEST(WordPiece, CleansControlCharactersAndWhitespace) {
  const WordPiece wp = make();
  EXPECT_EQ(tok(wp, "un\x01" "aff\x7F" "able"), (Ids{5, 6, 7}));         // Cc removed, word stays joined
  EXPECT_EQ(tok(wp, "un\xC2\xAD" "aff\xE2\x80\x8B" "able"), (Ids{5, 6, 7}));  // soft hyphen, zero width space (Cf)
  EXPECT_EQ(tok(wp, "the\xC2\xA0the\xE3\x80\x80the\r\nthe\tthe"), (Ids{10, 10, 10, 10, 10}));
  EXPECT_EQ(tok(wp, ""), Ids{});
  EXPECT_EQ(tok(wp, " \t\n "), Ids{});
}

TEST(WordPiece, MatchesLiteralSpecialTokensOnRawText) {
  const WordPiece wp = make();
  EXPECT_EQ(tok(wp, "[CLS]the[SEP] [MASK]"), (Ids{2, 10, 3, 4}));
  EXPECT_EQ(tok(wp, "[cls]"), (Ids{1, 1, 1}));  // "[", "cls", "]": not special once lower-cased
  WordPieceOptions off;
  off.match_special_tokens = false;
  EXPECT_EQ(tok(make(off), "[SEP]"), (Ids{1, 1, 1}));
}

TEST(WordPiece, EncodeAddsClsSepAndTruncates) {
  const WordPiece wp = make();
  auto ids = wp.encode("the the the", 4);
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ(ids.value(), (Ids{2, 10, 10, 3}));
  ids = wp.encode("", 4);
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ(ids.value(), (Ids{2, 3}));
  ids = wp.encode("the", 2);
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ(ids.value(), (Ids{2, 3}));
}

TEST(WordPiece, RejectsInvalidUtf8) {
  const WordPiece wp = make();
  auto r = wp.tokenize("the \xFF");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(wp.encode("\xC0\x80", 8).is_ok());  // overlong
}

TEST(WordPiece, CreateValidatesSpecials) {
  WordPieceSpecials s = specials();
  s.sep = 99;
  EXPECT_FALSE(WordPiece::create(kTokens, s, {}).is_ok());
  s = specials();
  s.unk = -1;
  EXPECT_FALSE(WordPiece::create(kTokens, s, {}).is_ok());
  EXPECT_FALSE(WordPiece::create({}, specials(), {}).is_ok());
}

TEST(WordPiece, CjkRanges) {
  EXPECT_TRUE(is_cjk_ideograph(0x4E2D));
  EXPECT_TRUE(is_cjk_ideograph(0x2B81F));
  EXPECT_FALSE(is_cjk_ideograph(0x2B820));  // tokenizers' range skips 2B820..2B91F
  EXPECT_TRUE(is_cjk_ideograph(0x2B920));
  EXPECT_FALSE(is_cjk_ideograph(0x3042));   // hiragana
  EXPECT_FALSE(is_cjk_ideograph(0xAC00));   // hangul
}

testing::GgufWriter vocab_gguf() {
  testing::GgufWriter w;
  w.add_string("general.architecture", "bert")
      .add_string("tokenizer.ggml.model", "wordpiece")
      .add_string_array("tokenizer.ggml.tokens", kTokens)
      .add_u32("tokenizer.ggml.bos_token_id", 2)
      .add_u32("tokenizer.ggml.seperator_token_id", 3)
      .add_u32("tokenizer.ggml.unknown_token_id", 1)
      .add_u32("tokenizer.ggml.padding_token_id", 0)
      .add_bool("tokenizer.wordpiece.do_lower_case", true)
      .add_bool("tokenizer.wordpiece.strip_accents", false)
      .add_u32("tokenizer.wordpiece.max_input_chars_per_word", 50);
  return w;
}

TEST(WordPiece, FromGguf) {
  auto f = gguf::GgufFile::from_bytes(vocab_gguf().build());
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  auto wp = WordPiece::from_gguf(*f.value());
  ASSERT_TRUE(wp.is_ok()) << wp.status().to_string();
  EXPECT_EQ(wp->n_tokens(), static_cast<int32_t>(kTokens.size()));
  EXPECT_EQ(wp->specials().cls, 2);
  EXPECT_EQ(wp->specials().sep, 3);
  EXPECT_EQ(wp->specials().mask, -1);
  EXPECT_FALSE(wp->options().strip_accents);
  EXPECT_TRUE(wp->options().tokenize_chinese_chars);
  EXPECT_EQ(wp->options().max_input_chars_per_word, 50);
  EXPECT_EQ(wp->find("##able"), 7);
  EXPECT_EQ(wp->find("absent"), -1);
  EXPECT_EQ(tok(wp.value(), "UNAFFABLE café"), (Ids{5, 6, 7, 1}));  // accents kept: "café" is unknown
}

TEST(WordPiece, FromGgufRejectsOtherTokenizersAndMissingIds) {
  testing::GgufWriter bpe;
  bpe.add_string("tokenizer.ggml.model", "gpt2").add_string_array("tokenizer.ggml.tokens", kTokens);
  auto g = gguf::GgufFile::from_bytes(bpe.build());
  ASSERT_TRUE(g.is_ok());
  auto r = WordPiece::from_gguf(*g.value());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);

  testing::GgufWriter no_sep;
  no_sep.add_string("tokenizer.ggml.model", "wordpiece")
      .add_string_array("tokenizer.ggml.tokens", kTokens)
      .add_u32("tokenizer.ggml.bos_token_id", 2)
      .add_u32("tokenizer.ggml.unknown_token_id", 1);
  auto h = gguf::GgufFile::from_bytes(no_sep.build());
  ASSERT_TRUE(h.is_ok());
  r = WordPiece::from_gguf(*h.value());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

// ---- the real all-MiniLM-L6-v2 vocabulary ----------------------------------------------------------------------

std::string real_embedder_path() {
  if (const char* env = std::getenv("KVS_EMBEDDER"); env && *env) return env;
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "models" /
          "all-MiniLM-L6-v2.gguf").string();
}

class RealVocab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = real_embedder_path();
    if (!std::filesystem::is_regular_file(path)) return;
    auto f = gguf::GgufFile::open(path);
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    auto wp = WordPiece::from_gguf(*f.value());
    ASSERT_TRUE(wp.is_ok()) << wp.status().to_string();
    wp_ = new WordPiece(std::move(wp).value());
  }
  static void TearDownTestSuite() {
    delete wp_;
    wp_ = nullptr;
  }
  void SetUp() override {
    if (wp_ == nullptr) GTEST_SKIP() << "no embedder at " << real_embedder_path() << " (scripts/fetch_embedder.sh)";
  }
  static Ids encode(std::string_view text, int max_tokens = 256) {
    auto r = wp_->encode(text, max_tokens);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r.value() : Ids{};
  }
  static WordPiece* wp_;
};
WordPiece* RealVocab::wp_ = nullptr;

// Expected ids produced with the reference (transformers 5.24 + tokenizers 0.23.3, the verified snapshot of
// scripts/embedders.txt):
//   AutoTokenizer.from_pretrained("~/.cache/kvshare/models/all-MiniLM-L6-v2-hf")(text)["input_ids"]
TEST_F(RealVocab, MatchesReferenceTokenizer) {
  EXPECT_EQ(encode("What are the symptoms of diabetes?"), (Ids{101, 2054, 2024, 1996, 8030, 1997, 14671, 1029, 102}));
  EXPECT_EQ(encode("Hypertension and HbA1c: what's normal?"),
            (Ids{101, 23760, 29048, 1998, 1044, 3676, 2487, 2278, 1024, 2054, 1005, 1055, 3671, 1029, 102}));
  EXPECT_EQ(encode("naïve café Ünïcödé"), (Ids{101, 15743, 7668, 27260, 102}));
  EXPECT_EQ(encode("糖尿病の症状"), (Ids{101, 100, 100, 100, 1671, 100, 100, 102}));
  EXPECT_EQ(encode("x\xC2\x85y\x0Bz\xC2\xAD\xE2\x80\x8Bw"), (Ids{101, 1060, 2100, 2480, 2860, 102}));  // "x\x85y\x0bz\xad\u200bw"
  EXPECT_EQ(encode("[CLS] hi [SEP]"), (Ids{101, 101, 7632, 102, 102}));
  EXPECT_EQ(encode("İstanbul"), (Ids{101, 9960, 102}));
  EXPECT_EQ(encode("pneumonoultramicroscopicsilicovolcanoconiosis"),
            (Ids{101, 1052, 2638, 2819, 17175, 11314, 6444, 2594, 7352, 26461, 27572, 11261, 6767, 15472, 6761, 8663,
                 10735, 2483, 102}));
  EXPECT_EQ(encode("I am 🥺 sad"), (Ids{101, 1045, 2572, 100, 6517, 102}));
  EXPECT_EQ(encode(""), (Ids{101, 102}));
  EXPECT_EQ(encode("  \t\n "), (Ids{101, 102}));
  EXPECT_EQ(encode("COVID-19 (SARS-CoV-2)"),
            (Ids{101, 2522, 17258, 1011, 2539, 1006, 18906, 2015, 1011, 2522, 2615, 1011, 1016, 1007, 102}));
  // tok("a " * 300, truncation=True, max_length=8)
  std::string many;
  for (int i = 0; i < 300; ++i) many += "a ";
  EXPECT_EQ(encode(many, 8), (Ids{101, 1037, 1037, 1037, 1037, 1037, 1037, 102}));
}

}  // namespace
}  // namespace kvs::share
