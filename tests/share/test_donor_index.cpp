#include "share/donor_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kvs::share {
namespace {

std::vector<float> unit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> n;
  std::vector<float> v(dim);
  double s = 0;
  for (auto& x : v) { x = n(rng); s += x * x; }
  for (auto& x : v) x /= static_cast<float>(std::sqrt(s));
  return v;
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return static_cast<float>(s);
}

TEST(DonorIndex, FindsNearestInItsDomainOnly) {
  std::mt19937 rng(3);
  DonorIndex idx(32);
  std::vector<std::vector<float>> v;
  for (int i = 0; i < 600; ++i) {  // grows past the initial capacity
    v.push_back(unit(rng, 32));
    idx.add(i % 2 == 0 ? 1 : 2, i, v.back());
  }
  EXPECT_EQ(idx.size(1), 300u);
  // Query equal to donor 10 (domain 1): it is found first with similarity ~1.
  auto r = idx.search(1, v[10], 5, -1.0f);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r[0].donor_id, 10u);
  EXPECT_NEAR(r[0].similarity, 1.0f, 1e-4);
  // The same vector searched in domain 2 never returns donor 10 (or any domain-1 donor).
  for (const auto& c : idx.search(2, v[10], 50, -1.0f)) EXPECT_EQ(c.donor_id % 2, 1u);
  // Brute-force check of the best match for random queries (recall on a small index).
  int agree = 0;
  for (int q = 0; q < 50; ++q) {
    auto query = unit(rng, 32);
    int best = -1;
    float bs = -2;
    for (int i = 0; i < 600; i += 2)
      if (cosine(query, v[i]) > bs) { bs = cosine(query, v[i]); best = i; }
    auto got = idx.search(1, query, 1, -1.0f);
    agree += !got.empty() && static_cast<int>(got[0].donor_id) == best;
  }
  EXPECT_GE(agree, 45);
}

TEST(DonorIndex, RemovedDonorsAndThresholds) {
  std::mt19937 rng(5);
  DonorIndex idx(16);
  auto a = unit(rng, 16), b = unit(rng, 16);
  idx.add(7, 1, a);
  idx.add(7, 2, b);
  idx.remove(1);
  auto r = idx.search(7, a, 2, -1.0f);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].donor_id, 2u);
  EXPECT_TRUE(idx.search(7, a, 2, 0.999f).empty());
  EXPECT_TRUE(idx.search(8, a, 2, -1.0f).empty());
  idx.add(7, 1, a);  // re-adding after removal works
  EXPECT_EQ(idx.search(7, a, 1, 0.99f).at(0).donor_id, 1u);
}

// Removed donors' slots are reused: 20,000 adds with at most 12 live donors never grow the graph past its
// initial capacity, and the live ones are still found.
TEST(DonorIndex, ReusesDeletedSlotsInsteadOfGrowing) {
  std::mt19937 rng(9);
  DonorIndex idx(16);
  std::vector<std::pair<uint64_t, std::vector<float>>> live;
  for (uint64_t id = 1; id <= 20000; ++id) {
    live.push_back({id, unit(rng, 16)});
    idx.add(3, id, live.back().second);
    if (live.size() > 12) {
      const size_t victim = rng() % live.size();
      idx.remove(live[victim].first);
      live.erase(live.begin() + victim);
    }
    const DonorIndexStats s = idx.stats();
    ASSERT_EQ(s.live, live.size());
    ASSERT_LE(s.capacity, DonorIndex::kInitialCapacity);
    ASSERT_EQ(s.elements, s.live + s.deleted);
  }
  EXPECT_TRUE(idx.check_invariants().is_ok()) << idx.check_invariants().to_string();
  for (const auto& [id, v] : live) {
    auto r = idx.search(3, v, 1, 0.99f);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].donor_id, id);
  }
  for (const auto& [id, v] : live) idx.remove(id);
  EXPECT_EQ(idx.stats().namespaces, 0u);  // the last donor takes the graph with it
  EXPECT_EQ(idx.size(3), 0u);
}

}  // namespace
}  // namespace kvs::share
