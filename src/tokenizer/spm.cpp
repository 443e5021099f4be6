#include "tokenizer/spm.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/utf8.h"

namespace kvs::tok {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

struct Symbol {
  uint32_t begin, len;  // bytes of the escaped text; len 0 once merged into its left neighbour
  int32_t prev, next;   // live neighbours, -1 at the ends
};
struct Candidate {
  float score;
  int32_t left, right;
  uint32_t len;  // bytes of the merged text: a mismatch later means the entry is stale
};
struct CandidateBefore {  // max-heap: higher score first, then further left
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

std::string escape_spaces(std::string_view text, bool prefix) {
  std::string out;
  out.reserve(text.size() + 8);
  if (prefix) out.append(kSpace);
  for (char c : text) {
    if (c == ' ') out.append(kSpace);
    else out.push_back(c);
  }
  return out;
}

std::string unescape_spaces(const std::string& piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

// The byte a "<0xAB>" token text stands for, or -1.
int byte_of(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  unsigned v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = t[static_cast<size_t>(k)];
    const int h = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (h < 0) return -1;
    v = v * 16 + static_cast<unsigned>(h);
  }
  return static_cast<int>(v);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace

int32_t SpmModel::find_normal(std::string_view text) const {
  const uint64_t h = fnv1a(text);
  for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.id == kNoToken) return kNoToken;
    if (s.hash == h && vocab_.text(s.id) == text) return s.id;
  }
}

Result<std::unique_ptr<SpmModel>> SpmModel::create(const Vocab& vocab) {
  std::unique_ptr<SpmModel> m(new SpmModel(vocab));
  m->add_space_prefix_ = vocab.add_space_prefix();
  m->byte_token_.fill(kNoToken);
  m->pieces_.resize(static_cast<size_t>(vocab.n_tokens()));
  bool any_byte = false;
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const std::string& t = vocab.text(id);
    std::string& p = m->pieces_[static_cast<size_t>(id)];
    switch (vocab.type(id)) {
      case TokenType::kNormal: p = unescape_spaces(t); break;
      case TokenType::kByte: {
        const int b = byte_of(t);
        if (b < 0) return corrupt("byte token " + std::to_string(id) + " '" + t + "' is not <0xXX>");
        if (m->byte_token_[static_cast<size_t>(b)] == kNoToken) m->byte_token_[static_cast<size_t>(b)] = id;
        p.assign(1, static_cast<char>(b));
        any_byte = true;
        break;
      }
      default: p = t;
    }
  }
  size_t cap = 16;
  while (cap < 2 * static_cast<size_t>(vocab.n_tokens()) + 2) cap *= 2;
  m->slots_.assign(cap, Slot{});
  m->mask_ = cap - 1;
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    if (vocab.type(id) != TokenType::kNormal || vocab.find(vocab.text(id)) != id) continue;  // lowest id wins
    const uint64_t h = fnv1a(vocab.text(id));
    uint64_t i = h & m->mask_;
    while (m->slots_[i].id != kNoToken) i = (i + 1) & m->mask_;
    m->slots_[i] = Slot{h, id};
  }
  if (!any_byte && vocab.unk() == kNoToken) {
    return invalid_argument("SentencePiece vocab has neither byte tokens (<0xXX>) nor an unknown token");
  }
  return m;
}

void SpmModel::encode(std::string_view text, bool at_text_start, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  merge(escape_spaces(text, add_space_prefix_ && at_text_start), out);
}

void SpmModel::merge(std::string_view s, std::vector<int32_t>& out) const {
  std::vector<Symbol> sym;
  sym.reserve(s.size());
  for (uint32_t off = 0; off < s.size();) {
    const int n = utf8_sequence_length(s.substr(off));
    const uint32_t len = n > 0 ? static_cast<uint32_t>(n) : 1u;  // input is valid UTF-8; be safe anyway
    const auto i = static_cast<int32_t>(sym.size());
    sym.push_back(Symbol{off, len, i - 1, i + 1});
    off += len;
  }
  sym.back().next = -1;
  std::vector<Candidate> heap;
  auto try_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const uint32_t len = sym[static_cast<size_t>(l)].len + sym[static_cast<size_t>(r)].len;
    const int32_t id = find_normal(s.substr(sym[static_cast<size_t>(l)].begin, len));
    if (id == kNoToken) return;
    heap.push_back(Candidate{vocab_.score(id), l, r, len});
    std::push_heap(heap.begin(), heap.end(), CandidateBefore{});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateBefore{});
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = sym[static_cast<size_t>(c.left)];
    Symbol& right = sym[static_cast<size_t>(c.right)];
    if (left.len == 0 || right.len == 0 || left.len + right.len != c.len) continue;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = c.left;
    try_pair(left.prev, c.left);
    try_pair(c.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& x = sym[static_cast<size_t>(i)];
    const std::string_view piece = s.substr(x.begin, x.len);
    const int32_t id = find_normal(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char ch : piece) {  // byte fallback
      const int32_t b = byte_token_[static_cast<uint8_t>(ch)];
      if (b != kNoToken) out.push_back(b);
      else if (vocab_.unk() != kNoToken) {
        out.push_back(vocab_.unk());
        break;  // one unknown token per character
      }
    }
  }
}

}  // namespace kvs::tok
