// Fuzz target: the tokenizer (src/tokenizer), built once from the real SmolLM2 GGUF. Input: one flag byte,
// then text bytes. Flag bit 0: parse special tokens; bit 1: also decode the text bytes read as int32 ids.
// The model path: $KVS_FUZZ_MODEL, else $KVS_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf under the
// current directory or the source tree.
//
// Oracle (tokenizer.h): encode accepts exactly the valid UTF-8 inputs (checked here with an independent
// RFC 3629 validator); every id is in [0, n_vocab); decode(encode(s)) == s minus the bytes that have no
// single-byte token in the vocab (computed here from GPT-2's byte alphabet); decoding is the concatenation of
// token_to_piece (what a streaming client sees); decoding any id sequence (invalid ids too) never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace {

std::unique_ptr<kvs::gguf::GgufFile> g_file;
std::unique_ptr<kvs::tok::Tokenizer> g_tok;
bool g_dropped[256];  // bytes without a single-byte token: encode drops them

std::string model_path() {
  for (const char* env : {"KVS_FUZZ_MODEL", "KVS_MODEL"})
    if (const char* p = std::getenv(env); p && *p) return p;
  const std::string rel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (std::filesystem::exists(rel)) return rel;
  return std::string(KVS_SOURCE_DIR) + "/" + rel;
}

// GPT-2's byte-level alphabet (bytes_to_unicode), written out independently of src/tokenizer/bpe.cpp.
char32_t gpt2_byte_char(int b) {
  auto printable = [](int x) { return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF); };
  if (printable(b)) return static_cast<char32_t>(b);
  int n = 0;
  for (int x = 0; x < b; ++x) n += !printable(x);
  return static_cast<char32_t>(256 + n);
}

std::string utf8_of(char32_t c) {
  std::string s;
  if (c < 0x80) s += static_cast<char>(c);
  else if (c < 0x800) s += {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
  else s += {static_cast<char>(0xE0 | (c >> 12)), static_cast<char>(0x80 | ((c >> 6) & 0x3F)), static_cast<char>(0x80 | (c & 0x3F))};
  return s;
}

// RFC 3629: shortest form, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

void check_decode(std::span<const int32_t> ids) {
  std::string pieces;
  for (int32_t id : ids) pieces += g_tok->token_to_piece(id);
  FUZZ_CHECK(g_tok->decode(ids) == pieces, "decode differs from the concatenated token_to_piece");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string path = model_path();
  auto f = kvs::gguf::GgufFile::open(path);
  if (!f.is_ok()) {
    std::fprintf(stderr, "fuzz_tokenizer: cannot open %s: %s\n", path.c_str(), f.status().to_string().c_str());
    std::exit(2);
  }
  g_file = std::move(f.value());
  auto t = kvs::tok::Tokenizer::from_gguf(*g_file);
  if (!t.is_ok()) {
    std::fprintf(stderr, "fuzz_tokenizer: %s\n", t.status().to_string().c_str());
    std::exit(2);
  }
  g_tok = std::move(t.value());
  for (int b = 0; b < 256; ++b) g_dropped[b] = g_tok->token_id(utf8_of(gpt2_byte_char(b))) == kvs::tok::kNoToken;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto r = g_tok->encode(text, /*parse_special=*/(flags & 1) != 0);
  FUZZ_CHECK(r.is_ok() == valid_utf8(text), r.is_ok() ? "invalid UTF-8 accepted" : r.status().to_string());
  if (r.is_ok()) {
    const std::vector<int32_t>& ids = r.value();
    for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < g_tok->n_vocab(), "id out of range: " + std::to_string(id));
    std::string kept;
    for (char c : text) if (!g_dropped[static_cast<uint8_t>(c)]) kept += c;
    FUZZ_CHECK(g_tok->decode(ids) == kept, "decode(encode(text)) != text (minus bytes without a token)");
    check_decode(ids);
  }
  if (flags & 2) {
    std::vector<int32_t> raw((size - 1) / 4);
    if (!raw.empty()) std::memcpy(raw.data(), data + 1, raw.size() * 4);
    check_decode(raw);
  }
  return 0;
}
