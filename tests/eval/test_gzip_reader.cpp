#include <gtest/gtest.h>

#include <filesystem>

#include "eval/eval_data.h"
#include "eval/gzip_reader.h"

namespace kvs::eval {
namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// python3: gzip.GzipFile(mtime=0, compresslevel=L).write(b"hello hello hello\n")
const std::string kStored = "1f8b08000000000000ff011200edff68656c6c6f2068656c6c6f2068656c6c6f0a3b7c8adf12000000";
const std::string kFixed = "1f8b08000000000002ffcb48cdc9c957c840905c003b7c8adf12000000";
const std::string kEmpty = "1f8b08000000000002ff03000000000000000000";

TEST(Gunzip, StoredFixedAndEmpty) {
  EXPECT_EQ(gunzip(from_hex(kStored)).value(), "hello hello hello\n");
  EXPECT_EQ(gunzip(from_hex(kFixed)).value(), "hello hello hello\n");
  EXPECT_EQ(gunzip(from_hex(kEmpty)).value(), "");
  EXPECT_EQ(gunzip(from_hex(kFixed) + from_hex(kStored)).value(), std::string("hello hello hello\n") + "hello hello hello\n");
  EXPECT_EQ(crc32("hello hello hello\n"), 0xdf8a7c3bu);
}

TEST(Gunzip, CorruptInputIsAnErrorNotACrash) {
  const std::string good = from_hex(kFixed);
  EXPECT_EQ(gunzip("not gzip at all, long enough").status().code(), Code::kCorrupt);
  for (size_t cut = 0; cut < good.size(); ++cut) EXPECT_FALSE(gunzip(good.substr(0, cut)).is_ok()) << cut;
  for (size_t i = 10; i < good.size(); ++i) {  // every single-byte flip after the header is caught
    std::string bad = good;
    bad[i] ^= 0x5A;
    EXPECT_FALSE(gunzip(bad).is_ok()) << i;
  }
}

std::string data_path() {
  for (const char* p : {"data/medquad_eval.jsonl.gz", "../data/medquad_eval.jsonl.gz", "../../data/medquad_eval.jsonl.gz"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

TEST(EvalData, CommittedFileDecodesAndParses) {  // dynamic-Huffman blocks, 700 rows
  const std::string path = data_path();
  ASSERT_FALSE(path.empty()) << "data/medquad_eval.jsonl.gz not found from the working directory";
  auto d = load_eval_data(path);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_GE(d->groups.size(), 300u);
  EXPECT_GE(d->rag.size(), 250u);
  for (const auto& g : d->groups) EXPECT_GE(g.questions.size(), 2u);
  for (const auto& r : d->rag) EXPECT_GE(r.passage.size(), 1300u);
}

}  // namespace
}  // namespace kvs::eval
