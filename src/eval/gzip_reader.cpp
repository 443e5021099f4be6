#include "eval/gzip_reader.h"

#include <array>
#include <fstream>
#include <sstream>
#include <vector>

namespace kvs::eval {

namespace {

struct BitReader {
  std::string_view in;
  size_t pos = 0;     // next byte
  uint32_t bits = 0;  // buffered bits, LSB first
  int n_bits = 0;
  bool overrun = false;

  // REQUIRES: n <= 24.
  uint32_t get(int n) {
    while (n_bits < n) {
      if (pos >= in.size()) {
        overrun = true;
        return 0;
      }
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(in[pos++])) << n_bits;
      n_bits += 8;
    }
    const uint32_t v = bits & ((1u << n) - 1);
    bits >>= n;
    n_bits -= n;
    return v;
  }
  void align_byte() {
    bits = 0;
    n_bits = 0;
  }
};

// Canonical Huffman code (puff.c style): count of codes per length, symbols ordered by code.
struct Huffman {
  std::array<uint16_t, 16> count{};
  std::vector<uint16_t> symbol;

  // Returns false for an over-subscribed set of lengths (incomplete sets are allowed, as zlib does for the
  // single-code distance tree).
  bool build(const uint8_t* lengths, int n) {
    count.fill(0);
    for (int s = 0; s < n; ++s) ++count[lengths[s]];
    int left = 1;
    for (int len = 1; len < 16; ++len) {
      left <<= 1;
      left -= count[len];
      if (left < 0) return false;
    }
    std::array<uint16_t, 16> offs{};
    for (int len = 1; len < 15; ++len) offs[len + 1] = offs[len] + count[len];
    symbol.assign(n, 0);
    for (int s = 0; s < n; ++s)
      if (lengths[s] != 0) symbol[offs[lengths[s]]++] = static_cast<uint16_t>(s);
    return true;
  }

  // -1 on an invalid code or overrun.
  int decode(BitReader& br) const {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len < 16; ++len) {
      code |= static_cast<int>(br.get(1));
      if (br.overrun) return -1;
      const int c = count[len];
      if (code - c < first) return symbol[index + (code - first)];
      index += c;
      first += c;
      first <<= 1;
      code <<= 1;
    }
    return -1;
  }
};

constexpr std::array<uint16_t, 29> kLenBase = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                               31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<uint8_t, 29> kLenExtra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                               2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<uint16_t, 30> kDistBase = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                                33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                                1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::array<uint8_t, 30> kDistExtra = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

Status inflate_codes(BitReader& br, const Huffman& lit, const Huffman& dist, std::string& out) {
  for (;;) {
    const int sym = lit.decode(br);
    if (sym < 0) return corrupt("gzip: invalid literal/length code");
    if (sym < 256) {
      out.push_back(static_cast<char>(sym));
      continue;
    }
    if (sym == 256) return Status::ok();
    const int li = sym - 257;
    if (li >= 29) return corrupt("gzip: invalid length symbol");
    const size_t len = kLenBase[li] + br.get(kLenExtra[li]);
    const int ds = dist.decode(br);
    if (ds < 0 || ds >= 30) return corrupt("gzip: invalid distance code");
    const size_t d = kDistBase[ds] + br.get(kDistExtra[ds]);
    if (br.overrun) return corrupt("gzip: truncated stream");
    if (d > out.size()) return corrupt("gzip: distance beyond the output");
    const size_t from = out.size() - d;
    for (size_t k = 0; k < len; ++k) out.push_back(out[from + k]);
  }
}

Status inflate_dynamic(BitReader& br, std::string& out) {
  const int nlen = static_cast<int>(br.get(5)) + 257;
  const int ndist = static_cast<int>(br.get(5)) + 1;
  const int ncode = static_cast<int>(br.get(4)) + 4;
  if (br.overrun || nlen > 286 || ndist > 30) return corrupt("gzip: bad dynamic block header");
  static constexpr std::array<uint8_t, 19> kOrder = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  std::array<uint8_t, 320> lengths{};
  for (int i = 0; i < ncode; ++i) lengths[kOrder[i]] = static_cast<uint8_t>(br.get(3));
  Huffman cl;
  if (!cl.build(lengths.data(), 19)) return corrupt("gzip: bad code-length code");
  int idx = 0;
  while (idx < nlen + ndist) {
    const int sym = cl.decode(br);
    if (sym < 0) return corrupt("gzip: invalid code-length symbol");
    if (sym < 16) {
      lengths[idx++] = static_cast<uint8_t>(sym);
      continue;
    }
    uint8_t value = 0;
    int rep = 0;
    if (sym == 16) {
      if (idx == 0) return corrupt("gzip: repeat with no previous length");
      value = lengths[idx - 1];
      rep = 3 + static_cast<int>(br.get(2));
    } else if (sym == 17) {
      rep = 3 + static_cast<int>(br.get(3));
    } else {
      rep = 11 + static_cast<int>(br.get(7));
    }
    if (br.overrun || idx + rep > nlen + ndist) return corrupt("gzip: code lengths overflow");
    while (rep-- > 0) lengths[idx++] = value;
  }
  if (lengths[256] == 0) return corrupt("gzip: no end-of-block code");
  Huffman lit, dist;
  if (!lit.build(lengths.data(), nlen) || !dist.build(lengths.data() + nlen, ndist))
    return corrupt("gzip: over-subscribed Huffman code");
  return inflate_codes(br, lit, dist, out);
}

Status inflate_fixed(BitReader& br, std::string& out) {
  std::array<uint8_t, 288 + 30> lengths{};
  for (int s = 0; s < 144; ++s) lengths[s] = 8;
  for (int s = 144; s < 256; ++s) lengths[s] = 9;
  for (int s = 256; s < 280; ++s) lengths[s] = 7;
  for (int s = 280; s < 288; ++s) lengths[s] = 8;
  for (int s = 0; s < 30; ++s) lengths[288 + s] = 5;
  Huffman lit, dist;
  lit.build(lengths.data(), 288);
  dist.build(lengths.data() + 288, 30);
  return inflate_codes(br, lit, dist, out);
}

Status inflate(BitReader& br, std::string& out) {
  for (;;) {
    const uint32_t last = br.get(1);
    const uint32_t type = br.get(2);
    if (br.overrun) return corrupt("gzip: truncated stream");
    Status st;
    if (type == 0) {
      br.align_byte();
      if (br.pos + 4 > br.in.size()) return corrupt("gzip: truncated stored block");
      const auto* p = reinterpret_cast<const unsigned char*>(br.in.data() + br.pos);
      const uint32_t len = p[0] | (p[1] << 8), nlen = p[2] | (p[3] << 8);
      if ((len ^ 0xFFFFu) != nlen) return corrupt("gzip: stored block length mismatch");
      br.pos += 4;
      if (br.pos + len > br.in.size()) return corrupt("gzip: truncated stored block");
      out.append(br.in.substr(br.pos, len));
      br.pos += len;
    } else if (type == 1) {
      st = inflate_fixed(br, out);
    } else if (type == 2) {
      st = inflate_dynamic(br, out);
    } else {
      return corrupt("gzip: reserved block type");
    }
    if (!st.is_ok()) return st;
    if (br.overrun) return corrupt("gzip: truncated stream");
    if (last) return Status::ok();
  }
}

uint32_t le32(std::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

Result<std::string> gunzip(std::string_view data) {
  std::string out;
  size_t at = 0;
  do {
    std::string_view s = data.substr(at);
    if (s.size() < 18 || static_cast<unsigned char>(s[0]) != 0x1F || static_cast<unsigned char>(s[1]) != 0x8B)
      return corrupt("gzip: bad header");
    if (s[2] != 8) return corrupt("gzip: unknown compression method");
    const auto flags = static_cast<unsigned char>(s[3]);
    size_t pos = 10;
    if (flags & 0x04) {  // FEXTRA
      if (pos + 2 > s.size()) return corrupt("gzip: truncated header");
      pos += 2 + (static_cast<unsigned char>(s[pos]) | (static_cast<unsigned char>(s[pos + 1]) << 8));
    }
    for (unsigned char bit : {0x08, 0x10}) {  // FNAME, FCOMMENT: zero-terminated
      if (flags & bit) {
        while (pos < s.size() && s[pos] != '\0') ++pos;
        ++pos;
      }
    }
    if (flags & 0x02) pos += 2;  // FHCRC
    if (pos >= s.size()) return corrupt("gzip: truncated header");
    BitReader br{s, pos};
    const size_t start = out.size();
    KVS_RETURN_IF_ERROR(inflate(br, out));
    if (br.pos + 8 > s.size()) return corrupt("gzip: truncated trailer");
    const std::string_view member(out.data() + start, out.size() - start);
    if (le32(s, br.pos) != crc32(member)) return corrupt("gzip: CRC-32 mismatch");
    if (le32(s, br.pos + 4) != static_cast<uint32_t>(member.size())) return corrupt("gzip: length mismatch");
    at += br.pos + 8;
  } while (at < data.size());
  return out;
}

Result<std::string> read_maybe_gzip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string raw = ss.str();
  if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1F && static_cast<unsigned char>(raw[1]) == 0x8B) {
    auto r = gunzip(raw);
    if (!r.is_ok()) return Status(r.status().code(), path + ": " + r.status().message());
    return r;
  }
  return raw;
}

}  // namespace kvs::eval
