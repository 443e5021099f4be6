// Tests of the GGUF reader: round trips through tests/gguf_writer.h, typed getters, every corruption the reader
// must reject (each with a message naming what is wrong), fuzzed inputs (never a crash), and the real model.
#include <gtest/gtest.h>

#include "test_model_path.h"
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf_writer.h"

namespace kvs::gguf {
namespace {

using kvs::testing::GgufWriter;
using kvs::testing::values_equal;
namespace gv = kvs::testing::gv;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Little-endian patch of a built image.
template <typename T>
void patch(std::string& bytes, size_t at, T x) {
  ASSERT_LE(at + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + at, &x, sizeof(T));
}

// Expects `bytes` to be rejected with `code` and a message containing every one of `needles`.
void expect_error(const std::string& bytes, Code code, const std::vector<std::string>& needles) {
  auto r = GgufFile::from_bytes(bytes);
  ASSERT_FALSE(r.is_ok()) << "expected an error containing '" << (needles.empty() ? "" : needles[0]) << "'";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  for (const auto& n : needles) {
    EXPECT_NE(r.status().message().find(n), std::string::npos)
        << "message '" << r.status().message() << "' lacks '" << n << "'";
  }
}

// A temp directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("kvs_gguf_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One value of every scalar type, plus arrays of each, plus nested arrays.
std::vector<std::pair<std::string, Value>> all_values() {
  std::vector<std::pair<std::string, Value>> kv = {
      {"t.u8", gv::u8(250)},
      {"t.i8", gv::i8(-100)},
      {"t.u16", gv::u16(65000)},
      {"t.i16", gv::i16(-32000)},
      {"t.u32", gv::u32(4000000000u)},
      {"t.i32", gv::i32(-2000000000)},
      {"t.f32", gv::f32(1.5f)},
      {"t.bool_true", gv::boolean(true)},
      {"t.bool_false", gv::boolean(false)},
      {"t.string", gv::str("héllo, wörld")},
      {"t.empty_string", gv::str("")},
      {"t.string_with_nul", gv::str(std::string("a\0b", 3))},
      {"t.u64", gv::u64(0xfedcba9876543210ull)},
      {"t.i64", gv::i64(-0x123456789abcdefll)},
      {"t.f64", gv::f64(-2.718281828459045)},
      {"t.arr_u8", gv::array(ValueType::kUint8, {gv::u8(0), gv::u8(255)})},
      {"t.arr_i8", gv::array(ValueType::kInt8, {gv::i8(-128), gv::i8(127)})},
      {"t.arr_u16", gv::array(ValueType::kUint16, {gv::u16(1), gv::u16(65535)})},
      {"t.arr_i16", gv::array(ValueType::kInt16, {gv::i16(-32768)})},
      {"t.arr_u32", gv::array(ValueType::kUint32, {gv::u32(7), gv::u32(8), gv::u32(9)})},
      {"t.arr_i32", gv::array(ValueType::kInt32, {gv::i32(-1), gv::i32(2)})},
      {"t.arr_f32", gv::array(ValueType::kFloat32, {gv::f32(0.25f), gv::f32(-1e30f)})},
      {"t.arr_bool", gv::array(ValueType::kBool, {gv::boolean(true), gv::boolean(false)})},
      {"t.arr_string", gv::array(ValueType::kString, {gv::str("a"), gv::str(""), gv::str("ccc")})},
      {"t.arr_u64", gv::array(ValueType::kUint64, {gv::u64(~0ull)})},
      {"t.arr_i64", gv::array(ValueType::kInt64, {gv::i64(-1), gv::i64(1ll << 62)})},
      {"t.arr_f64", gv::array(ValueType::kFloat64, {gv::f64(1e300), gv::f64(-0.5)})},
      {"t.arr_empty", gv::array(ValueType::kUint32, {})},
      {"t.arr_nested",
       gv::array(ValueType::kArray,
                 {gv::array(ValueType::kInt32, {gv::i32(1), gv::i32(2)}),
                  gv::array(ValueType::kString, {gv::str("x")}),
                  gv::array(ValueType::kArray, {gv::array(ValueType::kFloat64, {gv::f64(3.0)})}),
                  gv::array(ValueType::kBool, {})})},
  };
  return kv;
}

// ---- round trips ----------------------------------------------------------------------------------------

class GgufRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufRoundTrip, EveryValueTypeIncludingNestedArrays) {
  GgufWriter w;
  w.set_version(GetParam());
  const auto kv = all_values();
  for (const auto& [k, v] : kv) w.add(k, v);
  auto r = GgufFile::from_bytes(w.build());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.version(), GetParam());
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.tensors().empty());
  ASSERT_EQ(f.metadata().size(), kv.size());
  for (size_t k = 0; k < kv.size(); ++k) {
    EXPECT_EQ(f.metadata()[k].first, kv[k].first);  // file order kept
    EXPECT_TRUE(values_equal(f.metadata()[k].second, kv[k].second)) << kv[k].first;
    const Value* found = f.find(kv[k].first);
    ASSERT_NE(found, nullptr) << kv[k].first;
    EXPECT_TRUE(values_equal(*found, kv[k].second)) << kv[k].first;
  }
  EXPECT_EQ(f.find("t.absent"), nullptr);
  EXPECT_EQ(f.get_string("t.string_with_nul").value(), std::string("a\0b", 3));
  const Value* nested = f.find("t.arr_nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->arr.size(), 4u);
  EXPECT_EQ(nested->arr[2].arr[0].arr[0].f, 3.0);
  EXPECT_EQ(nested->arr[2].arr[0].elem_type, ValueType::kFloat64);
}

TEST_P(GgufRoundTrip, TensorsAndTheirData) {
  GgufWriter w;
  w.set_version(GetParam()).add_string("general.architecture", "test");
  const std::vector<float> f32 = {1, 2, 3, 4, 5, 6, -7.5f, 8};
  const std::string q41 = random_bytes(2 * 20 * 3, 1);   // Q4_1 {64, 3}: 2 blocks per row
  const std::string q80 = random_bytes(34 * 1, 2);        // Q8_0 {32}
  const std::string f16 = random_bytes(2 * 2 * 3 * 4, 3); // F16 {2, 3, 4}
  const std::string i8 = random_bytes(1 * 2 * 1 * 3, 4);  // I8 {1, 2, 1, 3}
  w.add_tensor("a.f32", {4, 2}, DType::kF32, kvs::testing::f32_bytes(f32));
  w.add_tensor("b.q4_1", {64, 3}, DType::kQ4_1, q41);
  w.add_tensor("c.q8_0", {32}, DType::kQ8_0, q80);
  w.add_tensor("d.f16", {2, 3, 4}, DType::kF16, f16);
  w.add_tensor("e.i8", {1, 2, 1, 3}, DType::kI8, i8);
  w.add_tensor("f.empty", {0, 5}, DType::kF32, "");
  auto r = GgufFile::from_bytes(w.build());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GgufFile& f = *r.value();
  ASSERT_EQ(f.tensors().size(), 6u);

  struct Want { const char* name; std::vector<int64_t> ne; DType type; std::string bytes; };
  const std::vector<Want> want = {
      {"a.f32", {4, 2}, DType::kF32, kvs::testing::f32_bytes(f32)},
      {"b.q4_1", {64, 3}, DType::kQ4_1, q41},
      {"c.q8_0", {32}, DType::kQ8_0, q80},
      {"d.f16", {2, 3, 4}, DType::kF16, f16},
      {"e.i8", {1, 2, 1, 3}, DType::kI8, i8},
      {"f.empty", {0, 5}, DType::kF32, ""},
  };
  for (size_t k = 0; k < want.size(); ++k) {
    const TensorInfo& t = f.tensors()[k];
    SCOPED_TRACE(want[k].name);
    EXPECT_EQ(t.name, want[k].name);
    EXPECT_EQ(t.ne, want[k].ne);
    EXPECT_EQ(t.type, want[k].type);
    EXPECT_EQ(t.n_bytes, want[k].bytes.size());
    EXPECT_EQ(t.offset % 32, 0u);
    ASSERT_NE(t.data, nullptr);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data), t.n_bytes), want[k].bytes);
    EXPECT_EQ(f.find_tensor(want[k].name), &t);
  }
  EXPECT_EQ(f.tensors()[1].n_elements(), 64 * 3);
  EXPECT_EQ(f.tensors()[4].n_elements(), 6);
  EXPECT_EQ(f.tensors()[5].n_elements(), 0);
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
  const float* a = reinterpret_cast<const float*>(f.tensors()[0].data);
  EXPECT_EQ(a[6], -7.5f);
  // Data pointers are spaced by their offsets.
  EXPECT_EQ(f.tensors()[1].data - f.tensors()[0].data,
            static_cast<ptrdiff_t>(f.tensors()[1].offset - f.tensors()[0].offset));
}

INSTANTIATE_TEST_SUITE_P(GgufVersions, GgufRoundTrip, ::testing::Values(2u, 3u),
                         [](const auto& info) { return "v" + std::to_string(info.param); });

TEST(GgufFile, CustomAlignment) {
  for (uint32_t align : {1u, 8u, 64u, 256u, 4096u}) {
    SCOPED_TRACE(align);
    GgufWriter w;
    w.set_alignment(align);
    const std::string x = random_bytes(12, 5), y = random_bytes(36, 6);
    w.add_tensor("x", {3}, DType::kF32, x);
    w.add_tensor("y", {9}, DType::kF32, y);
    const std::string bytes = w.build();
    auto r = GgufFile::from_bytes(bytes);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& f = *r.value();
    EXPECT_EQ(f.alignment(), align);
    EXPECT_EQ(f.get_int("general.alignment").value(), align);
    for (const TensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % align, 0u);
    EXPECT_EQ(f.tensors()[1].offset, (12 + align - 1) / align * align);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.find_tensor("x")->data), 12), x);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.find_tensor("y")->data), 36), y);
    // The data section starts at the directory end rounded up to the alignment.
    EXPECT_EQ(bytes.find(x) % align, 0u);
  }
}

TEST(GgufFile, NestedArraysUpToTheDepthLimit) {
  auto nest = [](int levels) {
    Value v = gv::array(ValueType::kInt32, {gv::i32(42)});
    for (int k = 1; k < levels; ++k) v = gv::array(ValueType::kArray, {v});
    return v;
  };
  {
    GgufWriter w;
    w.add("deep", nest(8));
    auto r = GgufFile::from_bytes(w.build());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const Value* v = r.value()->find("deep");
    for (int k = 1; k < 8; ++k) v = &v->arr.at(0);
    EXPECT_EQ(v->arr.at(0).i, 42);
  }
  GgufWriter w;
  w.add("deep", nest(9));
  expect_error(w.build(), Code::kCorrupt, {"'deep'", "nested deeper than 8"});
}

// ---- typed getters --------------------------------------------------------------------------------------

std::unique_ptr<GgufFile> getter_file() {
  GgufWriter w;
  for (const auto& [k, v] : all_values()) w.add(k, v);
  w.add_int_array("t.ints_u8", {1, 2, 255}, ValueType::kUint8);
  w.add_int_array("t.ints_i64", {-5, 1ll << 40}, ValueType::kInt64);
  w.add_float_array("t.floats_f64", {0.5, -1.25}, ValueType::kFloat64);
  w.add_string_array("t.strings", {"<s>", "</s>", "hello"});
  w.add_u64("t.huge_u64", 1ull << 63);
  w.add("t.arr_huge_u64", gv::array(ValueType::kUint64, {gv::u64(1), gv::u64(~0ull)}));
  auto r = GgufFile::from_bytes(w.build());
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(r).value();
}

TEST(GgufGetters, Conversions) {
  auto f = getter_file();
  EXPECT_EQ(f->get_int("t.u8").value(), 250);
  EXPECT_EQ(f->get_int("t.i8").value(), -100);
  EXPECT_EQ(f->get_int("t.u16").value(), 65000);
  EXPECT_EQ(f->get_int("t.i16").value(), -32000);
  EXPECT_EQ(f->get_int("t.u32").value(), 4000000000ll);
  EXPECT_EQ(f->get_int("t.i32").value(), -2000000000);
  EXPECT_EQ(f->get_int("t.i64").value(), -0x123456789abcdefll);
  EXPECT_EQ(f->get_float("t.f32").value(), 1.5);
  EXPECT_EQ(f->get_float("t.f64").value(), -2.718281828459045);
  EXPECT_EQ(f->get_float("t.i32").value(), -2000000000.0);
  EXPECT_EQ(f->get_float("t.u64").value(), static_cast<double>(0xfedcba9876543210ull));
  EXPECT_TRUE(f->get_bool("t.bool_true").value());
  EXPECT_FALSE(f->get_bool("t.bool_false").value());
  EXPECT_EQ(f->get_string("t.string").value(), "héllo, wörld");
  EXPECT_EQ(f->get_string_array("t.strings").value(), (std::vector<std::string>{"<s>", "</s>", "hello"}));
  EXPECT_EQ(f->get_string_array("t.arr_string").value(), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f->get_int_array("t.ints_u8").value(), (std::vector<int64_t>{1, 2, 255}));
  EXPECT_EQ(f->get_int_array("t.ints_i64").value(), (std::vector<int64_t>{-5, 1ll << 40}));
  EXPECT_EQ(f->get_int_array("t.arr_i16").value(), (std::vector<int64_t>{-32768}));
  EXPECT_EQ(f->get_int_array("t.arr_u16").value(), (std::vector<int64_t>{1, 65535}));
  EXPECT_TRUE(f->get_int_array("t.arr_empty").value().empty());
  EXPECT_EQ(f->get_float_array("t.floats_f64").value(), (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ(f->get_float_array("t.arr_f32").value(), (std::vector<double>{0.25, static_cast<double>(-1e30f)}));
  EXPECT_EQ(f->get_float_array("t.arr_i32").value(), (std::vector<double>{-1, 2}));
}

TEST(GgufGetters, Errors) {
  auto f = getter_file();
  auto expect = [](const Status& s, Code code, const std::vector<std::string>& needles) {
    EXPECT_EQ(s.code(), code) << s.to_string();
    for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << s.message() << " lacks " << n;
  };
  expect(f->get_int("t.missing").status(), Code::kNotFound, {"'t.missing'"});
  expect(f->get_string("t.missing").status(), Code::kNotFound, {"'t.missing'"});
  expect(f->get_int_array("t.missing").status(), Code::kNotFound, {"'t.missing'"});
  expect(f->get_int("t.f32").status(), Code::kInvalidArgument, {"'t.f32'", "float32"});
  expect(f->get_int("t.string").status(), Code::kInvalidArgument, {"'t.string'", "string"});
  expect(f->get_int("t.bool_true").status(), Code::kInvalidArgument, {"'t.bool_true'", "bool"});
  expect(f->get_int("t.huge_u64").status(), Code::kOutOfRange, {"'t.huge_u64'", "9223372036854775808"});
  expect(f->get_float("t.string").status(), Code::kInvalidArgument, {"'t.string'", "string"});
  expect(f->get_float("t.bool_true").status(), Code::kInvalidArgument, {"bool"});
  expect(f->get_bool("t.u8").status(), Code::kInvalidArgument, {"'t.u8'", "uint8"});
  expect(f->get_string("t.u32").status(), Code::kInvalidArgument, {"'t.u32'", "uint32"});
  expect(f->get_string("t.strings").status(), Code::kInvalidArgument, {"'t.strings'", "array of string"});
  expect(f->get_string_array("t.string").status(), Code::kInvalidArgument, {"'t.string'", "string"});
  expect(f->get_string_array("t.ints_u8").status(), Code::kInvalidArgument, {"'t.ints_u8'", "array of uint8"});
  expect(f->get_int_array("t.arr_f32").status(), Code::kInvalidArgument, {"'t.arr_f32'", "array of float32"});
  expect(f->get_int_array("t.strings").status(), Code::kInvalidArgument, {"array of string"});
  expect(f->get_int_array("t.arr_nested").status(), Code::kInvalidArgument, {"array of array"});
  expect(f->get_int_array("t.u32").status(), Code::kInvalidArgument, {"'t.u32'", "uint32"});
  expect(f->get_int_array("t.arr_huge_u64").status(), Code::kOutOfRange, {"'t.arr_huge_u64'"});
  expect(f->get_float_array("t.arr_bool").status(), Code::kInvalidArgument, {"array of bool"});
  expect(f->get_float_array("t.strings").status(), Code::kInvalidArgument, {"array of string"});
}

TEST(GgufGetters, ValueTypeNames) {
  EXPECT_STREQ(value_type_name(ValueType::kUint8), "uint8");
  EXPECT_STREQ(value_type_name(ValueType::kFloat64), "float64");
  EXPECT_STREQ(value_type_name(ValueType::kArray), "array");
  EXPECT_STREQ(value_type_name(static_cast<ValueType>(99)), "unknown");
  EXPECT_TRUE(gv::u64(1).is_integer());
  EXPECT_FALSE(gv::boolean(true).is_integer());
  EXPECT_TRUE(gv::f32(1).is_float());
  EXPECT_FALSE(gv::i8(1).is_float());
}

// ---- corruption -----------------------------------------------------------------------------------------

// A small valid file: several metadata types and two tensors; the last tensor ends exactly at the file end,
// so every strict prefix is invalid.
std::string small_valid_file(uint32_t version = 3) {
  GgufWriter w;
  w.set_version(version);
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_f32("llama.rope.freq_base", 10000.f);
  w.add_bool("b", true);
  w.add_string_array("tokenizer.ggml.tokens", {"a", "bc", ""});
  w.add("nested", gv::array(ValueType::kArray, {gv::array(ValueType::kUint16, {gv::u16(3)})}));
  w.add_tensor("w0", {32, 2}, DType::kQ8_0, random_bytes(68, 7));
  w.add_tensor("w1", {8}, DType::kF32, random_bytes(32, 8));
  return w.build();
}

TEST(GgufCorrupt, SmallValidFileIsValid) {
  const std::string bytes = small_valid_file();
  auto r = GgufFile::from_bytes(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const TensorInfo* w1 = r.value()->find_tensor("w1");
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(w1->data), 32), bytes.substr(bytes.size() - 32));
}

TEST(GgufCorrupt, WrongMagic) {
  std::string bytes = small_valid_file();
  std::memcpy(bytes.data(), "GGML", 4);
  expect_error(bytes, Code::kCorrupt, {"magic", "47 47 4d 4c", "GGML"});
  expect_error("GG", Code::kCorrupt, {"too small"});
  expect_error(std::string("\x00\x01\x02\x03\x04\x05", 6), Code::kCorrupt, {"00 01 02 03"});
}

TEST(GgufCorrupt, UnsupportedVersions) {
  expect_error(small_valid_file(1), Code::kUnsupported, {"version 1", "2 and 3"});
  expect_error(small_valid_file(4), Code::kUnsupported, {"version 4", "2 and 3"});
  expect_error(small_valid_file(0), Code::kUnsupported, {"version 0"});
  expect_error(small_valid_file(0x03000000), Code::kUnsupported, {"big-endian"});
  // Only the header: version is checked before anything else is needed.
  std::string header = small_valid_file().substr(0, 8);
  patch(header, 4, uint32_t{7});
  expect_error(header, Code::kUnsupported, {"version 7"});
}

TEST(GgufCorrupt, TruncationAtEveryPrefixLength) {
  const std::string bytes = small_valid_file();
  ASSERT_TRUE(GgufFile::from_bytes(bytes).is_ok());
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = GgufFile::from_bytes(bytes.substr(0, len));
    EXPECT_FALSE(r.is_ok()) << "prefix of " << len << " of " << bytes.size() << " bytes was accepted";
    EXPECT_NE(r.status().code(), Code::kOk);
    EXPECT_FALSE(r.status().message().empty()) << len;
  }
}

TEST(GgufCorrupt, TruncatedFilesOnDisk) {
  // Same through open()/mmap, for a spread of prefix lengths.
  TempDir dir;
  const std::string bytes = small_valid_file();
  const std::string path = dir.file("t.gguf");
  for (size_t len = 1; len < bytes.size(); len += 7) {
    write_file(path, bytes.substr(0, len));
    auto r = GgufFile::open(path);
    ASSERT_FALSE(r.is_ok()) << len;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  }
}

// Touches every byte the reader exposes, so ASan catches a TensorInfo or Value that points outside the input.
uint64_t touch_everything(const GgufFile& f) {
  uint64_t h = 0;
  std::vector<const Value*> stack;
  for (const auto& [k, v] : f.metadata()) {
    h += k.size();
    stack.push_back(&v);
  }
  while (!stack.empty()) {
    const Value* v = stack.back();
    stack.pop_back();
    for (char c : v->s) h += static_cast<uint8_t>(c);
    for (const Value& e : v->arr) stack.push_back(&e);
  }
  for (const TensorInfo& t : f.tensors()) {
    EXPECT_GE(t.n_elements(), 0);
    for (uint64_t b = 0; b < t.n_bytes; ++b) h += t.data[b];
  }
  return h;
}

TEST(GgufCorrupt, RandomByteFlipsNeverCrash) {
  const std::string valid = small_valid_file();
  std::mt19937 rng(12345);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string bytes = valid;
    const int n_mut = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < n_mut; ++m) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0: bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8))); break;  // bit flip
        case 1: bytes[at] = static_cast<char>(rng() & 0xff); break;                    // random byte
        case 2: bytes[at] = static_cast<char>(0xff); break;                            // big counts
        default: bytes.resize(at); break;                                               // truncate
      }
      if (bytes.empty()) break;
    }
    auto r = GgufFile::from_bytes(bytes);
    if (r.is_ok()) {
      ++accepted;
      touch_everything(*r.value());
    } else {
      ++rejected;
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(accepted, 0);  // flips inside string or tensor bytes keep the file valid
}

// Offsets of fields in a file whose first key is `key` (v3 header is 24 bytes).
constexpr size_t kHeaderBytes = 24;

TEST(GgufCorrupt, AbsurdCounts) {
  const std::string valid = small_valid_file();
  for (uint64_t absurd : {1ull << 60, ~0ull, 1ull << 32, 100000ull}) {
    SCOPED_TRACE(absurd);
    std::string b = valid;
    patch(b, 8, absurd);  // n_tensors
    expect_error(b, Code::kCorrupt, {"n_tensors " + std::to_string(absurd)});
    b = valid;
    patch(b, 16, absurd);  // n_kv
    expect_error(b, Code::kCorrupt, {"n_kv " + std::to_string(absurd)});
    b = valid;
    patch(b, kHeaderBytes, absurd);  // length of the first key
    expect_error(b, Code::kCorrupt, {"string length " + std::to_string(absurd)});
  }
  // Array count and a string inside an array.
  GgufWriter w;
  w.add_string_array("arr", {"abc", "de"});
  const std::string base = w.build();
  const size_t count_at = kHeaderBytes + 8 + 3 + 4 + 4;
  for (uint64_t absurd : {1ull << 60, ~0ull, 1ull << 62}) {
    std::string b = base;
    patch(b, count_at, absurd);
    expect_error(b, Code::kCorrupt, {"'arr'", "array count " + std::to_string(absurd)});
    b = base;
    patch(b, count_at + 8, absurd);  // length of the first string element
    expect_error(b, Code::kCorrupt, {"'arr'", "string length " + std::to_string(absurd)});
  }
  // A count just one too many for the bytes left is still caught (by the bound or by the reads).
  std::string b = base;
  patch(b, count_at, uint64_t{3});
  expect_error(b, Code::kCorrupt, {"'arr'"});
  // Nested arrays of empty arrays: 12 bytes each, so the count bound uses 12.
  GgufWriter w2;
  w2.add("nest", gv::array(ValueType::kArray, {gv::array(ValueType::kUint8, {})}));
  b = w2.build();
  patch(b, kHeaderBytes + 8 + 4 + 4 + 4, uint64_t{1} << 40);
  expect_error(b, Code::kCorrupt, {"'nest'", "array count"});
}

TEST(GgufCorrupt, UnknownValueTypesAndBadBool) {
  GgufWriter w;
  w.add_u32("k", 5);
  std::string b = w.build();
  patch(b, kHeaderBytes + 8 + 1, uint32_t{13});
  expect_error(b, Code::kCorrupt, {"'k'", "unknown value type 13"});

  GgufWriter w2;
  w2.add("a", gv::array(ValueType::kUint8, {gv::u8(1)}));
  b = w2.build();
  patch(b, kHeaderBytes + 8 + 1 + 4, uint32_t{1000});
  expect_error(b, Code::kCorrupt, {"'a'", "unknown array element type 1000"});

  GgufWriter w3;
  w3.add_bool("flag", true);
  b = w3.build();
  patch(b, kHeaderBytes + 8 + 4 + 4, uint8_t{2});
  expect_error(b, Code::kCorrupt, {"'flag'", "bool value 2"});
}

GgufWriter::Tensor raw_tensor(std::string name, std::vector<uint64_t> ne, uint32_t type, size_t n_bytes) {
  GgufWriter::Tensor t;
  t.name = std::move(name);
  t.ne = std::move(ne);
  t.type_id = type;
  t.bytes = std::string(n_bytes, '\x5a');
  return t;
}

TEST(GgufCorrupt, TensorDims) {
  {
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("scalar", {}, 0, 4));
    expect_error(w.build(), Code::kCorrupt, {"'scalar'", "n_dims 0"});
  }
  {
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("five", {1, 1, 1, 1, 1}, 0, 4));
    expect_error(w.build(), Code::kCorrupt, {"'five'", "n_dims 5"});
  }
  {
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("neg", {4, ~0ull}, 0, 16));
    expect_error(w.build(), Code::kCorrupt, {"'neg'", "ne[1] = -1", "negative"});
  }
  {
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("big", {1ull << 32, 1ull << 32, 1ull << 32}, 0, 4));
    expect_error(w.build(), Code::kCorrupt, {"'big'", "overflows"});
  }
  {
    // Element count fits in int64 but the byte size does not.
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("bytes", {1ull << 31, 1ull << 31}, static_cast<uint32_t>(DType::kI64), 4));
    expect_error(w.build(), Code::kCorrupt, {"'bytes'", "overflows"});
  }
  {
    // Plausible sizes that simply are not in the file.
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("huge", {4096, 4096}, 0, 16));
    expect_error(w.build(), Code::kCorrupt, {"'huge'", "exceeds file size"});
  }
}

TEST(GgufCorrupt, TensorTypes) {
  for (uint32_t id : {4u, 5u, 16u, 31u, 1000u, ~0u}) {
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("t", {32}, id, 128));
    expect_error(w.build(), Code::kCorrupt, {"'t'", "unknown type id " + std::to_string(id)});
  }
  GgufWriter w;
  w.add_tensor_raw(raw_tensor("blk.0.attn_q.weight", {48, 2}, static_cast<uint32_t>(DType::kQ4_1), 64));
  expect_error(w.build(), Code::kCorrupt, {"'blk.0.attn_q.weight'", "ne[0] = 48", "block size 32", "Q4_1"});
}

TEST(GgufCorrupt, TensorOffsets) {
  {
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("first", {8}, 0, 32));
    w.add_tensor_raw(raw_tensor("blk.0.attn_q.weight", {8}, 0, 32));
    std::string b = w.build();
    const size_t second_offset_at = kHeaderBytes + (8 + 5 + 4 + 8 + 4 + 8) + (8 + 19 + 4 + 8 + 4);
    patch(b, second_offset_at, uint64_t{1} << 20);
    expect_error(b, Code::kCorrupt,
                 {"'blk.0.attn_q.weight'", "data [" + std::to_string(128 + (1 << 20)) + ", ",
                  "exceeds file size " + std::to_string(b.size())});
    // One block past the end.
    b = w.build();
    patch(b, second_offset_at, uint64_t{64});
    expect_error(b, Code::kCorrupt, {"'blk.0.attn_q.weight'", "data [192, 224) exceeds file size 192"});
  }
  {
    // Offset near 2^64: the end must not wrap around.
    GgufWriter w;
    w.add_tensor_raw(raw_tensor("wrap", {8}, 0, 32));
    std::string b = w.build();
    const size_t offset_at = kHeaderBytes + 8 + 4 + 4 + 8 + 4;
    patch(b, offset_at, ~uint64_t{31});
    expect_error(b, Code::kCorrupt, {"'wrap'", "overflows"});
  }
  {
    GgufWriter w;
    auto t = raw_tensor("mis", {8}, 0, 32);
    t.offset = 16;
    w.add_tensor_raw(t);
    expect_error(w.build(), Code::kCorrupt, {"'mis'", "offset 16", "alignment 32"});
  }
  {
    GgufWriter w;
    w.set_alignment(64);
    auto t = raw_tensor("mis64", {8}, 0, 32);
    t.offset = 32;
    w.add_tensor_raw(t);
    expect_error(w.build(), Code::kCorrupt, {"'mis64'", "offset 32", "alignment 64"});
  }
}

TEST(GgufCorrupt, DuplicateNames) {
  {
    GgufWriter w;
    w.add_tensor("same", {8}, DType::kF32, random_bytes(32, 9));
    w.add_tensor("other", {8}, DType::kF32, random_bytes(32, 10));
    w.add_tensor("same", {8}, DType::kF32, random_bytes(32, 11));
    expect_error(w.build(), Code::kCorrupt, {"duplicate tensor name 'same'", "#0", "#2"});
  }
  {
    GgufWriter w;
    w.add_u32("k", 1).add_string("x", "y").add_string("k", "again");
    expect_error(w.build(), Code::kCorrupt, {"duplicate key 'k'", "#0", "#2"});
  }
}

TEST(GgufCorrupt, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u, 100u, 0x80000001u}) {
    GgufWriter w;
    w.set_alignment(a);
    w.add_tensor("t", {8}, DType::kF32, random_bytes(32, 12));
    expect_error(w.build(), Code::kCorrupt, {"general.alignment " + std::to_string(a), "power of two"});
  }
  GgufWriter w;
  w.add_u64("general.alignment", 32);
  expect_error(w.build(), Code::kCorrupt, {"general.alignment", "uint64", "want uint32"});
}

// ---- open() -----------------------------------------------------------------------------------------------

TEST(GgufOpen, ValidFileThroughMmap) {
  TempDir dir;
  const std::string path = dir.file("ok.gguf");
  const std::string bytes = small_valid_file(2);
  write_file(path, bytes);
  auto r = GgufFile::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").value(), (std::vector<std::string>{"a", "bc", ""}));
  const TensorInfo* w0 = f.find_tensor("w0");
  ASSERT_NE(w0, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(w0->data), 68), random_bytes(68, 7));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w0->data) % 32, 0u);  // mmap is page aligned
}

TEST(GgufOpen, WriterWritesFiles) {
  TempDir dir;
  GgufWriter w;
  w.add_i32("x", -3);
  ASSERT_TRUE(w.write(dir.file("w.gguf")).is_ok());
  auto r = GgufFile::open(dir.file("w.gguf"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r.value()->get_int("x").value(), -3);
  EXPECT_FALSE(w.write(dir.file("no/such/dir/w.gguf")).is_ok());
}

TEST(GgufOpen, MissingPath) {
  TempDir dir;
  const std::string path = dir.file("does_not_exist.gguf");
  auto r = GgufFile::open(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
}

TEST(GgufOpen, DirectoryAsPath) {
  TempDir dir;
  auto r = GgufFile::open(dir.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(dir.path()), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("directory"), std::string::npos) << r.status().message();
}

TEST(GgufOpen, EmptyFile) {
  TempDir dir;
  const std::string path = dir.file("empty.gguf");
  write_file(path, "");
  auto r = GgufFile::open(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("empty"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  EXPECT_FALSE(GgufFile::from_bytes("").is_ok());
}

TEST(GgufOpen, ParseErrorsNameThePath) {
  TempDir dir;
  const std::string path = dir.file("v1.gguf");
  write_file(path, small_valid_file(1));
  auto r = GgufFile::open(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
}

// ---- the real model ---------------------------------------------------------------------------------------

std::string find_model() { return kvs::testing::default_model_path(); }

TEST(GgufRealModel, SmolLM2Q4_1) {
  const std::string path = find_model();
  ASSERT_FALSE(path.empty()) << "SmolLM2-135M-Instruct.Q4_1.gguf not found (set KVS_MODEL or run "
                                "scripts/fetch_model.sh from the repo root)";
  auto r = GgufFile::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.tensors().size(), 272u);
  EXPECT_EQ(f.get_int("llama.block_count").value(), 30);
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.is_ok()) << tokens.status().to_string();
  EXPECT_EQ(tokens.value().size(), 49152u);

  const TensorInfo* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::kQ8_0);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(emb->n_bytes, 576u / 32 * 34 * 49152);

  const TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, DType::kQ4_1);
  EXPECT_EQ(q->ne, (std::vector<int64_t>{576, 576}));
  EXPECT_EQ(q->n_bytes, 576u / 32 * 20 * 576);

  for (const TensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.offset % f.alignment(), 0u) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % f.alignment(), 0u) << t.name;
  }
}

}  // namespace
}  // namespace kvs::gguf
