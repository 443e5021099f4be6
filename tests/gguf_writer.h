// A tiny GGUF writer for tests: builds GGUF v2/v3 images (metadata + tensors) in memory.
// Header-only. Layout as in src/gguf/gguf_file.h.
//
//   GgufWriter w;
//   w.add_string("general.architecture", "llama").add_u32("llama.block_count", 2);
//   w.add_tensor("tok_embd.weight", {8, 4}, DType::kF32, f32_bytes(values));
//   std::string bytes = w.build();          // or w.write(path)
//
// add_tensor() checks that the bytes match the shape and type (a test bug otherwise); add_tensor_raw() writes
// whatever it is given (any n_dims, any type id, an explicit offset) so tests can build corrupt files.
// Tensor data is placed in insertion order, each at the next multiple of the alignment unless an offset is given.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "gguf/gguf_file.h"

namespace kvs::testing {

// ---- Value constructors ----
namespace gv {
using gguf::Value;
using gguf::ValueType;
inline Value make_u(ValueType t, uint64_t x) { Value v; v.type = t; v.u = x; return v; }
inline Value make_i(ValueType t, int64_t x) { Value v; v.type = t; v.i = x; return v; }
inline Value make_f(ValueType t, double x) { Value v; v.type = t; v.f = x; return v; }
inline Value u8(uint8_t x) { return make_u(ValueType::kUint8, x); }
inline Value u16(uint16_t x) { return make_u(ValueType::kUint16, x); }
inline Value u32(uint32_t x) { return make_u(ValueType::kUint32, x); }
inline Value u64(uint64_t x) { return make_u(ValueType::kUint64, x); }
inline Value i8(int8_t x) { return make_i(ValueType::kInt8, x); }
inline Value i16(int16_t x) { return make_i(ValueType::kInt16, x); }
inline Value i32(int32_t x) { return make_i(ValueType::kInt32, x); }
inline Value i64(int64_t x) { return make_i(ValueType::kInt64, x); }
inline Value f32(float x) { return make_f(ValueType::kFloat32, x); }
inline Value f64(double x) { return make_f(ValueType::kFloat64, x); }
inline Value boolean(bool x) { return make_u(ValueType::kBool, x ? 1 : 0); }
inline Value str(std::string x) { Value v; v.type = ValueType::kString; v.s = std::move(x); return v; }
// Array of `elem`-typed values (elements may themselves be arrays when elem == kArray).
inline Value array(ValueType elem, std::vector<Value> elems) {
  Value v;
  v.type = ValueType::kArray;
  v.elem_type = elem;
  v.arr = std::move(elems);
  return v;
}
}  // namespace gv

// Deep equality of two values (type, payload, element type, elements).
inline bool values_equal(const gguf::Value& a, const gguf::Value& b) {
  using gguf::ValueType;
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32: case ValueType::kUint64:
    case ValueType::kBool:
      return a.u == b.u;
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64:
      return a.i == b.i;
    case ValueType::kFloat32:
      return static_cast<float>(a.f) == static_cast<float>(b.f);
    case ValueType::kFloat64:
      return a.f == b.f;
    case ValueType::kString:
      return a.s == b.s;
    case ValueType::kArray:
      if (a.elem_type != b.elem_type || a.arr.size() != b.arr.size()) return false;
      for (size_t k = 0; k < a.arr.size(); ++k) {
        if (!values_equal(a.arr[k], b.arr[k])) return false;
      }
      return true;
  }
  return false;
}

// Raw bytes of a float array (for F32 tensors).
inline std::string f32_bytes(const std::vector<float>& x) {
  return std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
}

class GgufWriter {
 public:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;         // written as is (n_dims = ne.size())
    uint32_t type_id = 0;
    std::string bytes;                // tensor data
    std::optional<uint64_t> offset;   // explicit offset; otherwise the next aligned position
  };

  GgufWriter& set_version(uint32_t v) { version_ = v; return *this; }
  // Adds the general.alignment key (u32) and pads with `a` when it is a nonzero power of two
  // (any other value is written as the key only, for corruption tests; padding then uses 32).
  GgufWriter& set_alignment(uint32_t a) { add("general.alignment", gv::u32(a)); alignment_ = a; return *this; }

  // Any value, including nested arrays built with gv::array.
  GgufWriter& add(std::string key, gguf::Value v) { kv_.emplace_back(std::move(key), std::move(v)); return *this; }
  GgufWriter& add_u8(std::string k, uint8_t x) { return add(std::move(k), gv::u8(x)); }
  GgufWriter& add_u32(std::string k, uint32_t x) { return add(std::move(k), gv::u32(x)); }
  GgufWriter& add_i32(std::string k, int32_t x) { return add(std::move(k), gv::i32(x)); }
  GgufWriter& add_u64(std::string k, uint64_t x) { return add(std::move(k), gv::u64(x)); }
  GgufWriter& add_i64(std::string k, int64_t x) { return add(std::move(k), gv::i64(x)); }
  GgufWriter& add_f32(std::string k, float x) { return add(std::move(k), gv::f32(x)); }
  GgufWriter& add_f64(std::string k, double x) { return add(std::move(k), gv::f64(x)); }
  GgufWriter& add_bool(std::string k, bool x) { return add(std::move(k), gv::boolean(x)); }
  GgufWriter& add_string(std::string k, std::string x) { return add(std::move(k), gv::str(std::move(x))); }
  GgufWriter& add_string_array(std::string k, const std::vector<std::string>& xs) {
    std::vector<gguf::Value> e;
    for (const auto& x : xs) e.push_back(gv::str(x));
    return add(std::move(k), gv::array(gguf::ValueType::kString, std::move(e)));
  }
  // Integer array stored as `elem` (an integer type; default int32).
  GgufWriter& add_int_array(std::string k, const std::vector<int64_t>& xs,
                            gguf::ValueType elem = gguf::ValueType::kInt32) {
    std::vector<gguf::Value> e;
    for (int64_t x : xs) {
      gguf::Value v;
      v.type = elem;
      v.i = x;
      v.u = static_cast<uint64_t>(x);
      e.push_back(v);
    }
    return add(std::move(k), gv::array(elem, std::move(e)));
  }
  // Float array stored as `elem` (kFloat32 or kFloat64).
  GgufWriter& add_float_array(std::string k, const std::vector<double>& xs,
                              gguf::ValueType elem = gguf::ValueType::kFloat32) {
    std::vector<gguf::Value> e;
    for (double x : xs) e.push_back(gv::make_f(elem, x));
    return add(std::move(k), gv::array(elem, std::move(e)));
  }

  // A well-formed tensor: ne in ggml order (ne[0] contiguous), bytes of exactly the size the type implies.
  GgufWriter& add_tensor(std::string name, const std::vector<int64_t>& ne, DType type, std::string bytes) {
    auto tr = dtype_traits(static_cast<uint32_t>(type));
    KVS_CHECK_MSG(tr.has_value() && !ne.empty() && ne[0] % tr->block_size == 0, "GgufWriter::add_tensor: bad shape");
    int64_t n = dtype_row_bytes(type, ne[0]);
    for (size_t d = 1; d < ne.size(); ++d) n *= ne[d];
    KVS_CHECK_MSG(static_cast<int64_t>(bytes.size()) == n, "GgufWriter::add_tensor: byte size does not match shape");
    Tensor t;
    t.name = std::move(name);
    for (int64_t x : ne) t.ne.push_back(static_cast<uint64_t>(x));
    t.type_id = static_cast<uint32_t>(type);
    t.bytes = std::move(bytes);
    return add_tensor_raw(std::move(t));
  }
  GgufWriter& add_tensor_raw(Tensor t) { tensors_.push_back(std::move(t)); return *this; }

  std::string build() const {
    const uint64_t align = (alignment_ != 0 && (alignment_ & (alignment_ - 1)) == 0) ? alignment_ : 32;
    std::string out;
    put(out, uint32_t{0x46554747});  // "GGUF"
    put(out, version_);
    put(out, static_cast<uint64_t>(tensors_.size()));
    put(out, static_cast<uint64_t>(kv_.size()));
    for (const auto& [key, v] : kv_) {
      put_string(out, key);
      put(out, static_cast<uint32_t>(v.type));
      put_value(out, v.type, v);
    }
    // Offsets: explicit, or the next aligned position after the previous tensor's data.
    std::vector<uint64_t> offsets;
    uint64_t next = 0;
    for (const Tensor& t : tensors_) {
      const uint64_t off = t.offset ? *t.offset : round_up(next, align);
      offsets.push_back(off);
      next = std::max(next, off + t.bytes.size());
    }
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const Tensor& t = tensors_[k];
      put_string(out, t.name);
      put(out, static_cast<uint32_t>(t.ne.size()));
      for (uint64_t x : t.ne) put(out, x);
      put(out, t.type_id);
      put(out, offsets[k]);
    }
    if (tensors_.empty()) return out;
    const uint64_t data_start = round_up(out.size(), align);
    out.resize(data_start, '\0');
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const uint64_t at = data_start + offsets[k];
      if (out.size() < at + tensors_[k].bytes.size()) out.resize(at + tensors_[k].bytes.size(), '\0');
      std::memcpy(out.data() + at, tensors_[k].bytes.data(), tensors_[k].bytes.size());
    }
    out.resize(round_up(out.size(), align), '\0');
    return out;
  }

  Status write(const std::string& path) const {
    const std::string bytes = build();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return io_error("cannot create '" + path + "'");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) return io_error("cannot write '" + path + "'");
    return Status::ok();
  }

 private:
  static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
  template <typename T>
  static void put(std::string& out, T x) {
    char b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    out.append(b, sizeof(T));
  }
  static void put_string(std::string& out, const std::string& s) {
    put(out, static_cast<uint64_t>(s.size()));
    out += s;
  }
  // Payload of a value written as type t (no type tag; an array writes elem type + count + payloads).
  static void put_value(std::string& out, gguf::ValueType t, const gguf::Value& v) {
    using gguf::ValueType;
    switch (t) {
      case ValueType::kUint8: put(out, static_cast<uint8_t>(v.u)); break;
      case ValueType::kInt8: put(out, static_cast<int8_t>(v.i)); break;
      case ValueType::kUint16: put(out, static_cast<uint16_t>(v.u)); break;
      case ValueType::kInt16: put(out, static_cast<int16_t>(v.i)); break;
      case ValueType::kUint32: put(out, static_cast<uint32_t>(v.u)); break;
      case ValueType::kInt32: put(out, static_cast<int32_t>(v.i)); break;
      case ValueType::kUint64: put(out, static_cast<uint64_t>(v.u)); break;
      case ValueType::kInt64: put(out, static_cast<int64_t>(v.i)); break;
      case ValueType::kFloat32: put(out, static_cast<float>(v.f)); break;
      case ValueType::kFloat64: put(out, static_cast<double>(v.f)); break;
      case ValueType::kBool: put(out, static_cast<uint8_t>(v.u)); break;
      case ValueType::kString: put_string(out, v.s); break;
      case ValueType::kArray:
        put(out, static_cast<uint32_t>(v.elem_type));
        put(out, static_cast<uint64_t>(v.arr.size()));
        for (const auto& e : v.arr) put_value(out, v.elem_type, e);
        break;
    }
  }

  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  std::vector<std::pair<std::string, gguf::Value>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace kvs::testing
