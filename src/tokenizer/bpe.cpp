#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "tokenizer/utf8.h"

namespace kvs::tok {

namespace {

struct ByteMaps {
  std::array<char32_t, 256> to_unicode{};
  std::unordered_map<char32_t, uint8_t> to_byte;
};

const ByteMaps& byte_maps() {
  static const ByteMaps maps = [] {
    ByteMaps m;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      m.to_unicode[b] = printable ? char32_t(b) : next++;
      m.to_byte.emplace(m.to_unicode[b], static_cast<uint8_t>(b));
    }
    return m;
  }();
  return maps;
}

// Raw bytes of a byte-level token text; code points outside the alphabet are kept as their UTF-8.
std::string byte_level_decode(const std::string& text) {
  if (!validate_utf8(text).is_ok()) return text;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offs;
  decode_utf8(text, cps, offs);
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) {
    const int b = unicode_to_byte(cp);
    if (b >= 0) out.push_back(static_cast<char>(b));
    else append_utf8(out, cp);
  }
  return out;
}

// Scratch space for merging one word; reused across the words of one encode() call.
struct Symbol {
  int32_t id;    // token id; -1 once merged into its left neighbour
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};
struct Candidate {
  int32_t rank;
  int32_t pos;       // left symbol
  int32_t left_id;   // ids the pair had when queued: a mismatch later means the entry is stale
  int32_t right_id;
  int32_t merged_id;
};
struct CandidateAfter {  // std heap is a max-heap: "after" = worse = higher rank, then further right
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};
struct Scratch {
  std::vector<Symbol> sym;
  std::vector<Candidate> heap;
  std::vector<std::string_view> words;
};

}  // namespace

char32_t byte_to_unicode(uint8_t b) { return byte_maps().to_unicode[b]; }

int unicode_to_byte(char32_t cp) {
  const auto& m = byte_maps().to_byte;
  auto it = m.find(cp);
  return it == m.end() ? -1 : it->second;
}

Result<std::unique_ptr<BpeModel>> BpeModel::create(const Vocab& vocab, PreTokenizerKind pre) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->pre_ = pre;
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(s, byte_to_unicode(static_cast<uint8_t>(b)));
    m->byte_token_[b] = vocab.find(s);  // kNoToken when absent: such bytes are dropped (see header)
  }
  const auto& merges = vocab.merges();
  size_t cap = 16;
  while (cap < 2 * merges.size() + 2) cap *= 2;
  m->slots_.assign(cap, Slot{});
  m->mask_ = cap - 1;
  m->shift_ = 64 - std::countr_zero(cap);
  std::string joined;
  for (size_t r = 0; r < merges.size(); ++r) {
    const std::string& line = merges[r];
    const size_t sp = line.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= line.size()) {
      return corrupt("BPE merge #" + std::to_string(r) + " '" + line + "' is not 'left right'");
    }
    const std::string_view left(line.data(), sp), right(line.data() + sp + 1, line.size() - sp - 1);
    joined.assign(left).append(right);
    const int32_t l = vocab.find(left), rt = vocab.find(right), id = vocab.find(joined);
    if (l == kNoToken || rt == kNoToken || id == kNoToken) continue;
    m->insert_merge(key(l, rt), Merge{static_cast<int32_t>(r), id});  // first (best) rank wins
  }
  m->pieces_.resize(static_cast<size_t>(vocab.n_tokens()));
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const TokenType t = vocab.type(id);
    m->pieces_[static_cast<size_t>(id)] = (t == TokenType::kControl || t == TokenType::kUserDefined)
                                              ? vocab.text(id)
                                              : byte_level_decode(vocab.text(id));
  }
  return m;
}

void BpeModel::insert_merge(uint64_t k, Merge merge) {
  for (size_t i = slot_of(k);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == k) return;
    if (s.key == kEmpty) {
      s = Slot{k, merge};
      ++n_merges_;
      return;
    }
  }
}

namespace {

template <typename FindMerge>
void merge_word(std::string_view word, const std::array<int32_t, 256>& byte_token, const FindMerge& find_merge,
                Scratch& s, std::vector<int32_t>& out) {
  s.sym.clear();
  for (char ch : word) {
    const int32_t id = byte_token[static_cast<uint8_t>(ch)];
    if (id == kNoToken) continue;  // no token for this byte: dropped, its neighbours become adjacent
    const auto i = static_cast<int32_t>(s.sym.size());
    s.sym.push_back(Symbol{id, i - 1, i + 1});
  }
  const auto n = static_cast<int32_t>(s.sym.size());
  if (n == 0) return;
  s.sym.back().next = -1;
  if (n == 1) {
    out.push_back(s.sym[0].id);
    return;
  }
  s.heap.clear();
  auto queue_pair = [&](int32_t l) {
    const int32_t r = s.sym[l].next;
    if (r < 0) return;
    if (const auto* m = find_merge(s.sym[l].id, s.sym[r].id)) {
      s.heap.push_back(Candidate{m->rank, l, s.sym[l].id, s.sym[r].id, m->id});
      std::push_heap(s.heap.begin(), s.heap.end(), CandidateAfter{});
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) queue_pair(i);
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), CandidateAfter{});
    const Candidate c = s.heap.back();
    s.heap.pop_back();
    Symbol& left = s.sym[c.pos];
    if (left.id != c.left_id) continue;  // left symbol changed or died since queued
    const int32_t r = left.next;
    if (r < 0 || s.sym[r].id != c.right_id) continue;
    left.id = c.merged_id;
    left.next = s.sym[r].next;
    if (left.next >= 0) s.sym[left.next].prev = c.pos;
    s.sym[r].id = -1;
    if (left.prev >= 0) queue_pair(left.prev);
    queue_pair(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = s.sym[i].next) out.push_back(s.sym[i].id);
}

}  // namespace

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  Scratch s;
  merge_word(word, byte_token_, [this](int32_t l, int32_t r) { return find_merge(l, r); }, s, out);
}

void BpeModel::encode(std::string_view text, bool /*at_text_start*/, std::vector<int32_t>& out) const {
  Scratch s;
  pretokenize(pre_, text, s.words);
  const auto fm = [this](int32_t l, int32_t r) { return find_merge(l, r); };
  for (std::string_view w : s.words) merge_word(w, byte_token_, fm, s, out);
}

}  // namespace kvs::tok
