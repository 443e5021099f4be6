#include "share/fragment_cover.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace kvs::share {
namespace {

// Positions [exact_prefix, n) not held by an own-donor run of >= short_keep tokens, minus the guarded final gap
// [max(n - tail_guard, end of the last such run), n).
std::vector<uint8_t> open_positions(const ReusePlan& plan, int32_t short_keep, int32_t tail_guard) {
  std::vector<uint8_t> open(static_cast<size_t>(plan.n_prompt), 0);
  for (int32_t p = plan.exact_prefix; p < plan.n_prompt; ++p) open[p] = 1;
  int32_t last_end = plan.exact_prefix;
  for (const ReusedRun& r : plan.reused)
    if (r.n >= short_keep || (r.src == 0 && r.dst == 0)) {
      for (int32_t j = 0; j < r.n; ++j) open[r.dst + j] = 0;
      last_end = std::max(last_end, r.dst + r.n);
    }
  for (int32_t p = std::max(plan.n_prompt - tail_guard, last_end); p < plan.n_prompt; ++p) open[p] = 0;
  return open;
}

// The seed {donor, o} at prompt p extended both ways while the tokens agree and the positions stay open.
ReusedRun extend(const Donor& d, int64_t usable, std::span<const int32_t> tokens, const std::vector<uint8_t>& open,
                 int32_t p, int32_t o, int32_t window) {
  int32_t src = o, dst = p, n = window;
  while (src > 0 && dst > 0 && open[dst - 1] && d.tokens[src - 1] == tokens[dst - 1]) --src, --dst, ++n;
  while (src + n < usable && dst + n < static_cast<int32_t>(tokens.size()) && open[dst + n] &&
         d.tokens[src + n] == tokens[dst + n])
    ++n;
  return ReusedRun{src, dst, n, static_cast<int64_t>(d.id)};
}

std::vector<ReusedRun> candidates(const DonorStore& donors, uint64_t domain, std::span<const int32_t> tokens,
                                  const std::vector<uint8_t>& open, int32_t block_size) {
  const FragmentIndex& fi = *donors.fragments();
  const int32_t w = fi.window(), n = static_cast<int32_t>(tokens.size());
  std::vector<int32_t> closed_before(static_cast<size_t>(n) + 1, 0);  // (n + 1) prefix counts of closed positions
  for (int32_t p = 0; p < n; ++p) closed_before[p + 1] = closed_before[p] + (open[p] ? 0 : 1);
  std::map<std::pair<uint64_t, int32_t>, int32_t> reach;  // (donor, shift) -> end of the last candidate found
  std::vector<ReusedRun> out;
  for (int32_t p = 0; p + w <= n; ++p) {
    if (closed_before[p + w] != closed_before[p]) continue;
    const auto window = tokens.subspan(static_cast<size_t>(p), static_cast<size_t>(w));
    for (const FragmentHit& h : fi.lookup(domain, window)) {
      const Donor* d = donors.get(h.donor_id);
      if (!d || d->domain != domain) continue;
      const int64_t usable = d->usable_tokens(block_size);
      if (h.offset + w > usable) continue;
      if (!std::equal(window.begin(), window.end(), d->tokens.begin() + h.offset)) continue;  // a collision
      const auto key = std::make_pair(h.donor_id, p - h.offset);
      if (auto it = reach.find(key); it != reach.end() && it->second >= p + w) continue;  // inside one found
      const ReusedRun r = extend(*d, usable, tokens, open, p, h.offset, w);
      reach[key] = r.dst + r.n;
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace

std::vector<ReusedRun> cover_with_fragments(const DonorStore& donors, uint64_t domain, std::span<const int32_t> tokens,
                                            const ReusePlan& plan, int32_t block_size, const FragmentCoverOptions& opt) {
  KVS_CHECK(plan.mode == ReuseMode::kSemantic && plan.n_prompt == static_cast<int32_t>(tokens.size()));
  KVS_CHECK(opt.min_run >= 1 && opt.tail_guard >= 0);
  if (!donors.fragments()) return {};
  const std::vector<uint8_t> open = open_positions(plan, opt.short_keep, opt.tail_guard);
  std::vector<ReusedRun> cand = candidates(donors, domain, tokens, open, block_size);
  std::sort(cand.begin(), cand.end(), [](const ReusedRun& a, const ReusedRun& b) {
    return std::tuple(-a.n, a.dst, a.donor) < std::tuple(-b.n, b.dst, b.donor);
  });
  std::vector<uint8_t> taken(open.size(), 0);
  std::vector<ReusedRun> out;
  for (const ReusedRun& c : cand) {
    // Each maximal free piece of the candidate of >= min_run tokens becomes a run.
    for (int32_t j = 0; j < c.n;) {
      if (taken[c.dst + j]) {
        ++j;
        continue;
      }
      int32_t e = j;
      while (e < c.n && !taken[c.dst + e]) ++e;
      if (e - j >= opt.min_run) {
        out.push_back({c.src + j, c.dst + j, e - j, c.donor});
        for (int32_t k = j; k < e; ++k) taken[c.dst + k] = 1;
      }
      j = e;
    }
  }
  std::sort(out.begin(), out.end(), [](const ReusedRun& a, const ReusedRun& b) { return a.dst < b.dst; });
  return out;
}

}  // namespace kvs::share
