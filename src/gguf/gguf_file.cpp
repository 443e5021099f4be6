// GGUF reader. See gguf_file.h for the byte layout and the invariants open() establishes.
//
// Every read goes through Cursor, which checks the bytes are there before touching them; every count read
// from the file (string length, array count, n_kv, n_tensors) is checked against the bytes left BEFORE
// anything is allocated for it, so a corrupt count gives a Status, never bad_alloc or a long loop.
#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

namespace kvs::gguf {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

constexpr uint32_t kMaxValueType = static_cast<uint32_t>(ValueType::kFloat64);
constexpr int kMaxArrayDepth = 8;         // arrays nested deeper than this are rejected
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, 1-byte value
constexpr uint64_t kMinTensorBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, 1 x ne, type, offset

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

Status with_prefix(const Status& s, const std::string& prefix) {
  return s.is_ok() ? s : Status(s.code(), prefix + s.message());
}

// Smallest encoding of one element of type t (for bounding array counts by the bytes left).
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: return 8;       // length only
    case ValueType::kArray: return 4 + 8;    // elem type + count
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= kMaxValueType; }

// Bounds-checked little-endian reader over [p, p + size).
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t size) : p_(p), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      return corrupt("truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes at offset " +
                     std::to_string(pos_) + ", only " + std::to_string(remaining()) + " left");
    }
    return Status::ok();
  }

  template <typename T>
  Status read(T* out, const char* what) {
    KVS_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string* out, const char* what) {
    uint64_t len = 0;
    KVS_RETURN_IF_ERROR(read(&len, what));
    if (len > remaining()) {
      return corrupt(std::string(what) + ": string length " + std::to_string(len) + " at offset " +
                     std::to_string(pos_ - 8) + " exceeds the " + std::to_string(remaining()) + " bytes left");
    }
    out->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return Status::ok();
  }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Reads the payload of a value of type `t` (already known valid) into *out.
// `depth` counts the arrays enclosing this value.
Status read_value(Cursor& c, ValueType t, int depth, Value* out) {
  out->type = t;
  switch (t) {
    case ValueType::kUint8: { uint8_t v; KVS_RETURN_IF_ERROR(c.read(&v, "uint8 value")); out->u = v; break; }
    case ValueType::kInt8: { int8_t v; KVS_RETURN_IF_ERROR(c.read(&v, "int8 value")); out->i = v; break; }
    case ValueType::kUint16: { uint16_t v; KVS_RETURN_IF_ERROR(c.read(&v, "uint16 value")); out->u = v; break; }
    case ValueType::kInt16: { int16_t v; KVS_RETURN_IF_ERROR(c.read(&v, "int16 value")); out->i = v; break; }
    case ValueType::kUint32: { uint32_t v; KVS_RETURN_IF_ERROR(c.read(&v, "uint32 value")); out->u = v; break; }
    case ValueType::kInt32: { int32_t v; KVS_RETURN_IF_ERROR(c.read(&v, "int32 value")); out->i = v; break; }
    case ValueType::kUint64: { uint64_t v; KVS_RETURN_IF_ERROR(c.read(&v, "uint64 value")); out->u = v; break; }
    case ValueType::kInt64: { int64_t v; KVS_RETURN_IF_ERROR(c.read(&v, "int64 value")); out->i = v; break; }
    case ValueType::kFloat32: { float v; KVS_RETURN_IF_ERROR(c.read(&v, "float32 value")); out->f = v; break; }
    case ValueType::kFloat64: { double v; KVS_RETURN_IF_ERROR(c.read(&v, "float64 value")); out->f = v; break; }
    case ValueType::kBool: {
      uint8_t v;
      KVS_RETURN_IF_ERROR(c.read(&v, "bool value"));
      if (v > 1) return corrupt("bool value " + std::to_string(v) + " at offset " + std::to_string(c.pos() - 1) + " is not 0 or 1");
      out->u = v;
      break;
    }
    case ValueType::kString: KVS_RETURN_IF_ERROR(c.read_string(&out->s, "string value")); break;
    case ValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return corrupt("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
      }
      uint32_t et = 0;
      KVS_RETURN_IF_ERROR(c.read(&et, "array element type"));
      if (!valid_value_type(et)) {
        return corrupt("unknown array element type " + std::to_string(et) + " at offset " + std::to_string(c.pos() - 4));
      }
      const auto elem = static_cast<ValueType>(et);
      uint64_t count = 0;
      KVS_RETURN_IF_ERROR(c.read(&count, "array count"));
      const uint64_t max_count = c.remaining() / min_encoded_size(elem);
      if (count > max_count) {
        return corrupt("array count " + std::to_string(count) + " of " + value_type_name(elem) + " at offset " +
                       std::to_string(c.pos() - 8) + " exceeds the " + std::to_string(c.remaining()) +
                       " bytes left (at most " + std::to_string(max_count) + " elements)");
      }
      out->elem_type = elem;
      out->arr.clear();
      out->arr.resize(count);
      for (uint64_t k = 0; k < count; ++k) {
        Status s = read_value(c, elem, depth + 1, &out->arr[k]);
        if (!s.is_ok()) return with_prefix(s, "array element " + std::to_string(k) + ": ");
      }
      break;
    }
  }
  return Status::ok();
}

// Type of a value in words, e.g. "uint32" or "array of string".
std::string describe(const Value& v) {
  if (v.type == ValueType::kArray) return std::string("array of ") + value_type_name(v.elem_type);
  return value_type_name(v.type);
}

Status wrong_type(std::string_view key, const Value& v, const char* want) {
  return invalid_argument("key " + quoted(key) + " has type " + describe(v) + ", want " + want);
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

std::string ne_string(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t d = 0; d < ne.size(); ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "}";
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t k = 0; k < n; ++k) {
    if (k) s += ' ';
    s += kHex[p[k] >> 4];
    s += kHex[p[k] & 15];
  }
  return s;
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kUint16: case ValueType::kInt16:
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kUint64: case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool Value::is_float() const { return type == ValueType::kFloat32 || type == ValueType::kFloat64; }

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // open() checked this does not overflow
  return n;
}

// ---- open / from_bytes -------------------------------------------------------------------------------

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  const std::string where = quoted(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = "cannot open " + where + ": " + std::strerror(err);
    return err == ENOENT ? not_found(msg) : io_error(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot stat " + where + ": " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return invalid_argument(where + " is a directory, not a GGUF file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(where + " is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return corrupt(where + ": file is empty");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (m == MAP_FAILED) return io_error("cannot mmap " + where + ": " + std::strerror(map_err));

  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->map_ = m;
  f->base_ = static_cast<const uint8_t*>(m);
  f->size_ = size;
  Status s = f->parse();
  if (!s.is_ok()) return with_prefix(s, where + ": ");
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::from_bytes(std::string_view bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  // A heap copy is aligned to __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16), enough for any element type.
  f->owned_.assign(bytes.data(), bytes.size());
  f->base_ = reinterpret_cast<const uint8_t*>(f->owned_.data());
  f->size_ = f->owned_.size();
  Status s = f->parse();
  if (!s.is_ok()) return s;
  return f;
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

// ---- parse --------------------------------------------------------------------------------------------

Status GgufFile::parse() {
  if (size_ == 0) return corrupt("file is empty");
  Cursor c(base_, size_);

  // Header.
  if (size_ < 4) return corrupt("file too small (" + std::to_string(size_) + " bytes) to hold the GGUF magic");
  if (std::memcmp(base_, "GGUF", 4) != 0) {
    std::string shown;
    for (int k = 0; k < 4; ++k) shown += (base_[k] >= 0x20 && base_[k] < 0x7f) ? char(base_[k]) : '.';
    return corrupt("bad magic: expected \"GGUF\" (47 47 55 46), found " + hex_bytes(base_, 4) + " (\"" + shown + "\")");
  }
  uint32_t magic = 0;
  KVS_RETURN_IF_ERROR(c.read(&magic, "magic"));
  KVS_RETURN_IF_ERROR(c.read(&version_, "version"));
  if (version_ != 2 && version_ != 3) {
    std::string msg = "GGUF version " + std::to_string(version_) + " is not supported (only versions 2 and 3";
    msg += version_ == 1 ? "; version 1 used 32-bit counts)" : ")";
    const uint32_t swapped = __builtin_bswap32(version_);
    if (swapped == 2 || swapped == 3) msg += "; this looks like a big-endian file, which is not supported";
    return unsupported(msg);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  KVS_RETURN_IF_ERROR(c.read(&n_tensors, "n_tensors"));
  KVS_RETURN_IF_ERROR(c.read(&n_kv, "n_kv"));
  if (n_kv > c.remaining() / kMinKvBytes) {
    return corrupt("n_kv " + std::to_string(n_kv) + " is impossible: the " + std::to_string(c.remaining()) +
                   " bytes left hold at most " + std::to_string(c.remaining() / kMinKvBytes) + " key-value pairs");
  }
  if (n_tensors > (c.remaining() - n_kv * kMinKvBytes) / kMinTensorBytes) {
    return corrupt("n_tensors " + std::to_string(n_tensors) + " is impossible: the " + std::to_string(c.remaining()) +
                   " bytes left (with " + std::to_string(n_kv) + " key-value pairs) hold at most " +
                   std::to_string((c.remaining() - n_kv * kMinKvBytes) / kMinTensorBytes) + " tensor entries");
  }

  // Metadata.
  kv_.clear();
  kv_index_.clear();
  kv_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    Status s = c.read_string(&key, "key");
    if (!s.is_ok()) return with_prefix(s, "key-value pair #" + std::to_string(k) + ": ");
    if (auto it = kv_index_.find(key); it != kv_index_.end()) {
      return corrupt("duplicate key " + quoted(key) + " (key-value pairs #" + std::to_string(it->second) + " and #" +
                     std::to_string(k) + ")");
    }
    uint32_t type = 0;
    s = c.read(&type, "value type");
    if (!s.is_ok()) return with_prefix(s, "key " + quoted(key) + ": ");
    if (!valid_value_type(type)) {
      return corrupt("key " + quoted(key) + ": unknown value type " + std::to_string(type));
    }
    Value v;
    s = read_value(c, static_cast<ValueType>(type), 0, &v);
    if (!s.is_ok()) return with_prefix(s, "key " + quoted(key) + ": ");
    kv_index_.emplace(key, kv_.size());
    kv_.emplace_back(std::move(key), std::move(v));
  }

  alignment_ = kDefaultAlignment;
  if (const Value* a = find("general.alignment")) {
    if (a->type != ValueType::kUint32) {
      return corrupt("general.alignment has type " + describe(*a) + ", want uint32");
    }
    if (a->u == 0 || (a->u & (a->u - 1)) != 0) {
      return corrupt("general.alignment " + std::to_string(a->u) + " is not a nonzero power of two");
    }
    alignment_ = a->u;
  }

  // Tensor directory.
  if (n_tensors > c.remaining() / kMinTensorBytes) {
    return corrupt("n_tensors " + std::to_string(n_tensors) + " is impossible: the " + std::to_string(c.remaining()) +
                   " bytes left after the metadata hold at most " + std::to_string(c.remaining() / kMinTensorBytes) +
                   " tensor entries");
  }
  tensors_.clear();
  tensor_index_.clear();
  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo t;
    Status s = c.read_string(&t.name, "tensor name");
    if (!s.is_ok()) return with_prefix(s, "tensor #" + std::to_string(k) + ": ");
    const std::string tq = "tensor " + quoted(t.name) + ": ";
    if (auto it = tensor_index_.find(t.name); it != tensor_index_.end()) {
      return corrupt("duplicate tensor name " + quoted(t.name) + " (tensors #" + std::to_string(it->second) + " and #" +
                     std::to_string(k) + ")");
    }
    uint32_t n_dims = 0;
    s = c.read(&n_dims, "n_dims");
    if (!s.is_ok()) return with_prefix(s, tq);
    if (n_dims < 1 || n_dims > kMaxDims) {
      return corrupt(tq + "n_dims " + std::to_string(n_dims) + " is not in 1.." + std::to_string(kMaxDims));
    }
    t.ne.resize(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      s = c.read(&ne, "ne");
      if (!s.is_ok()) return with_prefix(s, tq);
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return corrupt(tq + "ne[" + std::to_string(d) + "] = " + std::to_string(static_cast<int64_t>(ne)) +
                       " is negative");
      }
      t.ne[d] = static_cast<int64_t>(ne);
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!checked_mul(n_elements, static_cast<uint64_t>(t.ne[d]), &n_elements) ||
          n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return corrupt(tq + "element count of ne " + ne_string(t.ne) + " overflows int64");
      }
    }
    uint32_t type_id = 0;
    s = c.read(&type_id, "type");
    if (!s.is_ok()) return with_prefix(s, tq);
    const std::optional<DTypeTraits> tr = dtype_traits(type_id);
    if (!tr) return corrupt(tq + "unknown type id " + std::to_string(type_id));
    t.type = static_cast<DType>(type_id);
    if (t.ne[0] % tr->block_size != 0) {
      return corrupt(tq + "ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the block size " +
                     std::to_string(tr->block_size) + " of " + tr->name);
    }
    uint64_t n_bytes = 0;
    bool ok = checked_mul(static_cast<uint64_t>(t.ne[0] / tr->block_size), static_cast<uint64_t>(tr->type_size), &n_bytes);
    for (uint32_t d = 1; ok && d < n_dims; ++d) ok = checked_mul(n_bytes, static_cast<uint64_t>(t.ne[d]), &n_bytes);
    if (!ok) return corrupt(tq + "byte size of " + tr->name + " " + ne_string(t.ne) + " overflows uint64");
    t.n_bytes = n_bytes;
    s = c.read(&t.offset, "offset");
    if (!s.is_ok()) return with_prefix(s, tq);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // Data section: starts at the directory's end rounded up to the alignment. A file without tensors
  // may end right after the directory.
  const uint64_t dir_end = c.pos();  // <= size_ < 2^63, and alignment_ < 2^32: no overflow below
  const uint64_t data_start = (dir_end + alignment_ - 1) / alignment_ * alignment_;
  for (TensorInfo& t : tensors_) {
    const std::string tq = "tensor " + quoted(t.name) + ": ";
    if (t.offset % alignment_ != 0) {
      return corrupt(tq + "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                     std::to_string(alignment_));
    }
    uint64_t begin = 0, end = 0;
    if (!checked_add(data_start, t.offset, &begin) || !checked_add(begin, t.n_bytes, &end)) {
      return corrupt(tq + "data start " + std::to_string(data_start) + " + offset " + std::to_string(t.offset) +
                     " + size " + std::to_string(t.n_bytes) + " overflows");
    }
    if (end > size_) {
      return corrupt(tq + "data [" + std::to_string(begin) + ", " + std::to_string(end) + ") exceeds file size " +
                     std::to_string(size_));
    }
    t.data = base_ + begin;
  }
  return check_no_overlap(data_start);
}

// Two tensors' data ranges must not share a byte (empty tensors own none): a file whose tensors alias each other
// is corrupt, whatever a reader would make of it. O(n log n) over the directory.
Status GgufFile::check_no_overlap(uint64_t data_start) const {
  std::vector<size_t> order;  // tensors with data, by start
  order.reserve(tensors_.size());
  for (size_t k = 0; k < tensors_.size(); ++k)
    if (tensors_[k].n_bytes > 0) order.push_back(k);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors_[a].offset != tensors_[b].offset ? tensors_[a].offset < tensors_[b].offset : a < b;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors_[order[k - 1]];
    const TensorInfo& cur = tensors_[order[k]];
    if (cur.offset < prev.offset + prev.n_bytes) {  // parse() checked neither sum overflows
      return corrupt("tensor " + quoted(cur.name) + " (data [" + std::to_string(data_start + cur.offset) + ", " +
                     std::to_string(data_start + cur.offset + cur.n_bytes) + ")) overlaps tensor " + quoted(prev.name) +
                     " (data [" + std::to_string(data_start + prev.offset) + ", " +
                     std::to_string(data_start + prev.offset + prev.n_bytes) + "))");
    }
  }
  return Status::ok();
}

// ---- lookups and typed getters ------------------------------------------------------------------------

const Value* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Status missing(std::string_view key) { return not_found("key " + quoted(key) + " not found"); }

bool is_unsigned(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 || t == ValueType::kUint64;
}

// REQUIRES: v.is_integer().
Result<int64_t> as_int(std::string_view key, const Value& v) {
  if (is_unsigned(v.type)) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return out_of_range("key " + quoted(key) + ": uint64 value " + std::to_string(v.u) + " does not fit in int64");
    }
    return static_cast<int64_t>(v.u);
  }
  return v.i;
}

// REQUIRES: v.is_integer() || v.is_float().
double as_double(const Value& v) {
  if (v.is_float()) return v.f;
  return is_unsigned(v.type) ? static_cast<double>(v.u) : static_cast<double>(v.i);
}

Value element_probe(ValueType t) {
  Value v;
  v.type = t;
  return v;
}

}  // namespace

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::kString) return wrong_type(key, *v, "string");
  return v->s;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (!v->is_integer()) return wrong_type(key, *v, "an integer");
  return as_int(key, *v);
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (!v->is_float() && !v->is_integer()) return wrong_type(key, *v, "a float or integer");
  return as_double(*v);
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::kBool) return wrong_type(key, *v, "bool");
  return v->u != 0;
}

Result<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::kArray || v->elem_type != ValueType::kString) return wrong_type(key, *v, "array of string");
  std::vector<std::string> out;
  out.reserve(v->arr.size());
  for (const Value& e : v->arr) out.push_back(e.s);
  return out;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::kArray || !element_probe(v->elem_type).is_integer()) {
    return wrong_type(key, *v, "array of an integer type");
  }
  std::vector<int64_t> out;
  out.reserve(v->arr.size());
  for (const Value& e : v->arr) {
    Result<int64_t> x = as_int(key, e);
    if (!x.is_ok()) return x.status();
    out.push_back(x.value());
  }
  return out;
}

Result<std::vector<double>> GgufFile::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  const Value probe = element_probe(v->elem_type);
  if (v->type != ValueType::kArray || (!probe.is_float() && !probe.is_integer())) {
    return wrong_type(key, *v, "array of a float or integer type");
  }
  std::vector<double> out;
  out.reserve(v->arr.size());
  for (const Value& e : v->arr) out.push_back(as_double(e));
  return out;
}

}  // namespace kvs::gguf
