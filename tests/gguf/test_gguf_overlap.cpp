// Tensor data ranges that overlap are corrupt: two tensors aliasing the same bytes are rejected at open, with
// both names; adjacent and empty tensors are fine.
#include <gtest/gtest.h>

#include <string>

#include "gguf/gguf_file.h"
#include "gguf_writer.h"

namespace kvs::gguf {
namespace {

using kvs::testing::GgufWriter;

GgufWriter::Tensor tensor(std::string name, uint64_t n_f32, std::optional<uint64_t> offset) {
  GgufWriter::Tensor t;
  t.name = std::move(name);
  t.ne = {n_f32};
  t.type_id = static_cast<uint32_t>(DType::kF32);
  t.bytes = std::string(n_f32 * 4, '\x11');
  t.offset = offset;
  return t;
}

TEST(GgufOverlap, OverlappingTensorsAreRejected) {
  GgufWriter w;
  w.add_tensor_raw(tensor("a", 16, 0));   // [0, 64)
  w.add_tensor_raw(tensor("b", 16, 32));  // [32, 96): shares [32, 64) with a
  auto r = GgufFile::from_bytes(w.build());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("'b'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("overlaps tensor 'a'"), std::string::npos) << r.status().message();
}

TEST(GgufOverlap, SameOffsetAndContainedRangesAreRejected) {
  {
    GgufWriter w;
    w.add_tensor_raw(tensor("x", 8, 0));
    w.add_tensor_raw(tensor("y", 8, 0));
    EXPECT_FALSE(GgufFile::from_bytes(w.build()).is_ok());
  }
  {
    GgufWriter w;  // order in the directory does not matter: z lies inside big
    w.add_tensor_raw(tensor("z", 8, 64));
    w.add_tensor_raw(tensor("big", 64, 0));
    auto r = GgufFile::from_bytes(w.build());
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("overlaps"), std::string::npos) << r.status().message();
  }
}

TEST(GgufOverlap, AdjacentAndEmptyTensorsAreFine) {
  GgufWriter w;
  w.add_tensor_raw(tensor("a", 8, 0));   // [0, 32)
  w.add_tensor_raw(tensor("b", 8, 32));  // [32, 64)
  GgufWriter::Tensor empty = tensor("e", 0, 32);
  w.add_tensor_raw(empty);
  auto r = GgufFile::from_bytes(w.build());
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
}

}  // namespace
}  // namespace kvs::gguf
