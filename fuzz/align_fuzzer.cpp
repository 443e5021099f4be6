// Fuzz target: the edit-script aligner (src/align), through its main public function align() only.
// Input: byte 0 options (bits 0-5: max_edit_distance 0..63, bit 6: anchor_fallback), byte 1 where the
// rest splits into donor | target (donor share = byte / 255), byte 2 the alphabet size (tokens are
// byte % size; 0: the raw byte), then one token per byte.
//
// Oracle (edit_script.h), checked here without the library's own verify()/apply(): runs walk both cursors
// from 0 to the lengths, every run has n > 0, no two adjacent runs share an op, between KEEPs at most one
// DELETE then one INSERT, KEEP runs match; and against an independent LCS (dynamic programming): an uncapped
// script keeps exactly LCS tokens, a capped one is only allowed when the edit distance N + M - 2 LCS
// exceeds the cap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "align/edit_script.h"
#include "fuzz_check.h"

namespace {

using kvs::align::EditOp;

int64_t lcs(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int32_t> row(b.size() + 1, 0), prev(b.size() + 1, 0);  // (|b| + 1): LCS of a[0, i) and b[0, j)
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      row[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], row[j - 1]);
    std::swap(row, prev);
  }
  return prev[b.size()];
}

std::string op_name(EditOp op) { return op == EditOp::kKeep ? "K" : op == EditOp::kInsert ? "I" : "D"; }

// Walks the runs; returns the tokens kept.
int64_t check_script(const kvs::align::EditScript& s, const std::vector<int32_t>& donor,
                     const std::vector<int32_t>& target) {
  FUZZ_CHECK(s.donor_len == static_cast<int32_t>(donor.size()) && s.target_len == static_cast<int32_t>(target.size()),
             "lengths differ from the inputs");
  int64_t src = 0, dst = 0, kept = 0;
  std::string between;  // ops since the last KEEP
  for (size_t k = 0; k < s.runs.size(); ++k) {
    const auto& r = s.runs[k];
    const std::string at = "run " + std::to_string(k) + " (" + op_name(r.op) + ")";
    FUZZ_CHECK(r.n > 0, at + ": n <= 0");
    FUZZ_CHECK(k == 0 || s.runs[k - 1].op != r.op, at + ": same op as the run before");
    FUZZ_CHECK(r.src == src && r.dst == dst, at + ": does not start at the cursors");
    if (r.op == EditOp::kKeep) {
      FUZZ_CHECK(src + r.n <= static_cast<int64_t>(donor.size()) && dst + r.n <= static_cast<int64_t>(target.size()),
                 at + ": past the end");
      for (int32_t i = 0; i < r.n; ++i) FUZZ_CHECK(donor[src + i] == target[dst + i], at + ": tokens differ");
      src += r.n, dst += r.n, kept += r.n;
      between.clear();
    } else {
      between += op_name(r.op);
      FUZZ_CHECK(between == "D" || between == "I" || between == "DI", at + ": not canonical between KEEPs: " + between);
      (r.op == EditOp::kInsert ? dst : src) += r.n;
      FUZZ_CHECK(src <= static_cast<int64_t>(donor.size()) && dst <= static_cast<int64_t>(target.size()),
                 at + ": past the end");
    }
  }
  FUZZ_CHECK(src == static_cast<int64_t>(donor.size()) && dst == static_cast<int64_t>(target.size()),
             "the runs do not cover both sequences");
  return kept;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  kvs::align::AlignOptions opt;
  opt.max_edit_distance = data[0] & 0x3F;
  opt.anchor_fallback = (data[0] & 0x40) != 0;
  const size_t n = size - 3;
  const size_t n_donor = n * data[1] / 255;
  const int alphabet = data[2];
  std::vector<int32_t> donor, target;
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = alphabet ? data[3 + i] % alphabet : data[3 + i];
    (i < n_donor ? donor : target).push_back(t);
  }
  const auto script = kvs::align::align(donor, target, opt);
  const int64_t kept = check_script(script, donor, target);
  const int64_t best = lcs(donor, target);
  FUZZ_CHECK(kept <= best, "kept more than the LCS");
  if (!script.capped) {
    FUZZ_CHECK(kept == best, "uncapped script is not minimal: kept " + std::to_string(kept) + ", LCS " +
                                 std::to_string(best));
  } else {
    const int64_t d = static_cast<int64_t>(donor.size() + target.size()) - 2 * best;
    FUZZ_CHECK(d > opt.max_edit_distance, "capped although the edit distance " + std::to_string(d) +
                                              " is within the cap " + std::to_string(opt.max_edit_distance));
  }
  return 0;
}
