#include "share/run_retrieval.h"

#include <algorithm>
#include <unordered_map>

namespace kvs::share {

std::vector<RunCandidate> donors_by_runs(const DonorStore& donors, uint64_t domain, std::span<const int32_t> tokens,
                                         int32_t from, int32_t block_size, int32_t max_candidates) {
  KVS_CHECK(from >= 0 && max_candidates >= 1);
  const FragmentIndex* fi = donors.fragments();
  if (!fi) return {};
  const int32_t w = fi->window(), n = static_cast<int32_t>(tokens.size());
  std::unordered_map<uint64_t, int32_t> votes;  // donor -> verified seed positions
  std::vector<uint64_t> seen;                   // donors voted for at the current p (one vote per position)
  for (int32_t p = from; p + w <= n; ++p) {
    const auto window = tokens.subspan(static_cast<size_t>(p), static_cast<size_t>(w));
    seen.clear();
    for (const FragmentHit& h : fi->lookup(domain, window)) {
      const Donor* d = donors.get(h.donor_id);
      if (!d || d->domain != domain || h.offset + w > d->usable_tokens(block_size)) continue;
      if (!std::equal(window.begin(), window.end(), d->tokens.begin() + h.offset)) continue;  // a collision
      if (std::find(seen.begin(), seen.end(), h.donor_id) != seen.end()) continue;
      seen.push_back(h.donor_id);
      ++votes[h.donor_id];
    }
  }
  std::vector<RunCandidate> out;
  out.reserve(votes.size());
  for (const auto& [id, v] : votes) out.push_back({id, v});
  std::sort(out.begin(), out.end(), [](const RunCandidate& a, const RunCandidate& b) {
    return a.votes != b.votes ? a.votes > b.votes : a.donor_id < b.donor_id;
  });
  if (out.size() > static_cast<size_t>(max_candidates)) out.resize(static_cast<size_t>(max_candidates));
  return out;
}

}  // namespace kvs::share
