// GGUF reader: memory-maps a .gguf file and exposes its metadata and tensor directory.
// Knows bytes, not models.
//
// Byte layout (little endian), versions 2 and 3 (version 1 used 32-bit counts and is rejected):
//   magic "GGUF" u32 | version u32 | n_tensors u64 | n_kv u64
//   n_kv x { key: string | value_type u32 | value }
//       string = len u64 + bytes (not NUL-terminated)
//       array  = elem_type u32 + count u64 + count x value (arrays may nest)
//   n_tensors x { name: string | n_dims u32 | n_dims x ne u64 | type u32 | offset u64 }
//   padding to `general.alignment` (default 32)
//   tensor data; each tensor at data_start + offset, offset % alignment == 0
//
// Invariants kept by open(): every string, array, dimension, type id, offset and size was bounds-checked
// against the file; every TensorInfo's [data, data + n_bytes) lies inside the mapping, starts at a multiple of the
// alignment and shares no byte with another tensor's data; names are unique.
// A file that breaks any of these is rejected with a Status naming what is wrong; nothing here aborts
// on input.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"

namespace kvs::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6, kBool = 7,
  kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* value_type_name(ValueType t);

// One metadata value. Scalars live in the matching field; arrays hold their elements (which may be arrays).
struct Value {
  ValueType type = ValueType::kUint8;
  uint64_t u = 0;        // kUint8/16/32/64, kBool (0/1)
  int64_t i = 0;         // kInt8/16/32/64
  double f = 0;          // kFloat32/64
  std::string s;         // kString
  ValueType elem_type = ValueType::kUint8;  // kArray: element type
  std::vector<Value> arr;                    // kArray: elements

  bool is_integer() const;  // any of the integer types
  bool is_float() const;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous (row) length; up to 4 dims
  DType type = DType::kF32;
  uint64_t offset = 0;      // relative to the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping; valid while the GgufFile lives
  int64_t n_elements() const;
};

class GgufFile {
 public:
  // Opens and validates `path` (mmap, read-only).
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parses an in-memory image (tests, fuzzing). The bytes are copied.
  static Result<std::unique_ptr<GgufFile>> from_bytes(std::string_view bytes);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;

  // Typed getters: NotFound when absent, InvalidArgument when the stored type does not convert.
  Result<std::string> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;      // any integer type
  Result<double> get_float(std::string_view key) const;     // float or integer types
  Result<bool> get_bool(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;
  Result<std::vector<double>> get_float_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  Status parse();
  Status check_no_overlap(uint64_t data_start) const;

  std::string path_;
  const uint8_t* base_ = nullptr;  // mapping or owned copy
  uint64_t size_ = 0;
  void* map_ = nullptr;            // non-null when mmapped
  std::string owned_;              // from_bytes copy
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace kvs::gguf
