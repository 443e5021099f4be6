// RedisTier against a real redis-server on loopback (started here, redis_server.h): a donation written by one
// instance is learned and read back bit for bit by a second; another share domain and another model never get
// it; corrupted and bit-flipped values are refused and counted; expired keys are misses; the byte budget
// deletes this instance's oldest keys; a Redis that is down or hung costs bounded time, never an error beyond
// the failed call, and the tier comes back when Redis does.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "store/redis_tier.h"
#include "redis_server.h"
#include "store_testing.h"

namespace kvs::store {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Donation;
using testing::make_donation;

// Polls pred every 20 ms for at most `seconds`.
bool eventually(const std::function<bool()>& pred, double seconds = 10) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

RedisTierConfig config(const testing::RedisServer& r) {
  RedisTierConfig c;
  c.url = r.url();
  c.poll_ms = 50;
  c.connect_timeout_ms = 100;
  c.command_timeout_ms = 200;
  return c;
}

std::unique_ptr<RedisTier> open_tier(const RedisTierConfig& c, const SegmentIdentity& id) {
  auto t = RedisTier::open(c, id);
  KVS_CHECK(t.is_ok());
  return std::move(t).value();
}

class RedisTierTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.running()) << redis_.error(); }

  // The raw value stored under a key (nil: empty optional).
  std::optional<std::string> raw_get(const std::string& key) {
    RedisClient c(redis_.url(), 200, 1000);
    auto r = c.command({"GET", key});
    KVS_CHECK(r.is_ok());
    if (r.value().kind != RedisReply::Kind::kString) return std::nullopt;
    return r.value().str;
  }
  void raw_set(const std::string& key, const std::string& value) {
    RedisClient c(redis_.url(), 200, 1000);
    KVS_CHECK(c.command({"SET", key, value}).is_ok());
  }

  testing::RedisServer redis_;
  std::mt19937 rng_{7};
  SegmentIdentity id_ = testing::test_identity();
};

void expect_block(RedisTier& t, const BlockRecord& b) {
  std::vector<std::byte> out(b.kv.size());
  Status st = t.read_block(b.key, b.domain, b.tokens, out);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(out, b.kv);
}

TEST_F(RedisTierTest, DonationOnOneInstanceIsLearnedAndReadOnAnother) {
  auto a = open_tier(config(redis_), id_);
  EXPECT_TRUE(a->up());
  EXPECT_GT(a->fetch_bytes_per_s(), 0);  // the probe measured a round trip
  Donation d = make_donation(id_, 1, 1000, 3, {1, 0, 0, 0}, rng_);
  ASSERT_TRUE(a->put(d.blocks, d.donor));
  EXPECT_FALSE(a->put(d.blocks, d.donor));  // queued or stored already
  a->flush();
  EXPECT_TRUE(a->has_block(1000) && a->has_block(1002) && a->has_donor(d.donor.content_key));
  expect_block(*a, d.blocks[1]);
  // The bytes in Redis are the framed record under a key that names the domain.
  auto v = raw_get(a->block_key(1, 1001));
  ASSERT_TRUE(v.has_value());
  EXPECT_GT(v->size(), d.blocks[1].kv.size());

  auto b = open_tier(config(redis_), id_);  // started after the donation: reads the stream from its start
  ASSERT_TRUE(eventually([&] { return b->stats().donors_learned == 1; })) << b->stats().donors_learned;
  auto hits = b->search(1, testing::unit({0.95f, 0.05f, 0, 0}), 4, 0.5f);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].donor_id, d.donor.content_key);
  ASSERT_TRUE(b->donor(d.donor.content_key).has_value());
  EXPECT_EQ(*b->donor(d.donor.content_key), d.donor);
  for (const auto& blk : d.blocks) expect_block(*b, blk);
  EXPECT_EQ(b->stats().blocks_read, 3u);
  EXPECT_GT(b->stats().bytes_read, 3 * d.blocks[0].kv.size());

  // A donation made on B while A runs reaches A through the stream.
  Donation e = make_donation(id_, 1, 2000, 2, {0, 1, 0, 0}, rng_);
  ASSERT_TRUE(b->put(e.blocks, e.donor));
  ASSERT_TRUE(eventually([&] { return a->has_donor(e.donor.content_key); }));
  expect_block(*a, e.blocks[0]);
}

TEST_F(RedisTierTest, AnotherShareDomainOrModelNeverGetsTheDonation) {
  auto a = open_tier(config(redis_), id_);
  Donation d = make_donation(id_, 1, 1000, 2, {1, 0, 0, 0}, rng_);
  ASSERT_TRUE(a->put(d.blocks, d.donor));
  a->flush();
  // Domain 2 searches the same embedding: nothing; reading domain 1's block as domain 2: refused.
  EXPECT_TRUE(a->search(2, d.donor.embedding, 4, 0.0f).empty());
  std::vector<std::byte> out(d.blocks[0].kv.size());
  EXPECT_EQ(a->read_block(1000, 2, d.blocks[0].tokens, out).code(), Code::kNotFound);
  // Other tokens under the right key and domain (a hash collision, or a forged announcement): refused.
  std::vector<int32_t> other = d.blocks[0].tokens;
  other[0] ^= 1;
  EXPECT_FALSE(a->read_block(1000, 1, other, out).is_ok());

  // Another model's instance on the same Redis: its keys have another prefix, it learns nothing.
  auto c = open_tier(config(redis_), testing::test_identity(0x9999));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // several poll periods
  EXPECT_EQ(c->stats().donors_learned, 0u);
  EXPECT_FALSE(c->has_block(1000));
  EXPECT_TRUE(c->search(1, d.donor.embedding, 4, 0.0f).empty());
  EXPECT_NE(c->block_key(1, 1000), a->block_key(1, 1000));
}

TEST_F(RedisTierTest, CorruptOrBitFlippedValuesAreRefusedAndCounted) {
  auto a = open_tier(config(redis_), id_);
  Donation d = make_donation(id_, 1, 1000, 2, {1, 0, 0, 0}, rng_);
  ASSERT_TRUE(a->put(d.blocks, d.donor));
  a->flush();
  const std::string k0 = a->block_key(1, 1000), k1 = a->block_key(1, 1001);
  raw_set(k0, "not a record");
  auto v = raw_get(k1);
  ASSERT_TRUE(v.has_value());
  (*v)[v->size() / 2] ^= 0x10;  // one bit inside the KV payload
  raw_set(k1, *v);
  std::vector<std::byte> out(d.blocks[0].kv.size(), std::byte{0});
  EXPECT_EQ(a->read_block(1000, 1, d.blocks[0].tokens, out).code(), Code::kCorrupt);
  EXPECT_EQ(a->read_block(1001, 1, d.blocks[1].tokens, out).code(), Code::kCorrupt);
  EXPECT_EQ(out, std::vector<std::byte>(out.size(), std::byte{0}));  // nothing copied
  EXPECT_EQ(a->stats().corrupt_records, 2u);
  EXPECT_FALSE(a->has_block(1000));  // forgotten: not tried again
  EXPECT_FALSE(a->has_block(1001));

  // A corrupt donor record announced on the stream is not learned.
  raw_set(a->donor_key(1, d.donor.content_key), "garbage");
  auto b = open_tier(config(redis_), id_);
  ASSERT_TRUE(eventually([&] { return b->stats().corrupt_records == 1; }));
  EXPECT_EQ(b->stats().donors_learned, 0u);
  EXPECT_TRUE(b->search(1, d.donor.embedding, 4, 0.0f).empty());
}

TEST_F(RedisTierTest, ExpiredKeysAreMissesAndTheBudgetDeletesTheOldest) {
  RedisTierConfig c = config(redis_);
  c.ttl_s = 1;
  auto a = open_tier(c, id_);
  Donation d = make_donation(id_, 1, 1000, 1, {1, 0, 0, 0}, rng_);
  ASSERT_TRUE(a->put(d.blocks, d.donor));
  a->flush();
  ASSERT_TRUE(eventually([&] { return !raw_get(a->block_key(1, 1000)).has_value(); }, 5));  // Redis expired it
  std::vector<std::byte> out(d.blocks[0].kv.size());
  EXPECT_EQ(a->read_block(1000, 1, d.blocks[0].tokens, out).code(), Code::kNotFound);
  EXPECT_EQ(a->stats().misses, 1u);
  EXPECT_FALSE(a->has_block(1000));

  RedisTierConfig small = config(redis_);
  small.budget_bytes = 3 * (id_.block_payload_bytes + 256);  // about one donation of two blocks
  auto s = open_tier(small, testing::test_identity(0x4242));
  std::vector<Donation> ds;
  for (int i = 0; i < 4; ++i) {
    ds.push_back(make_donation(id_, 1, 100 * (i + 1), 2, {1, float(i), 0, 1}, rng_));
    for (auto& b : ds.back().blocks) b.model_fingerprint = 0x4242;
    ASSERT_TRUE(s->put(ds.back().blocks, ds.back().donor));
    s->flush();
  }
  EXPECT_GT(s->stats().keys_evicted, 0u);
  EXPECT_LE(s->stats().usage_bytes, small.budget_bytes);
  EXPECT_FALSE(raw_get(s->block_key(1, 100)).has_value());  // the oldest deleted from Redis
  EXPECT_FALSE(s->has_block(100));
  EXPECT_FALSE(s->has_donor(ds[0].donor.content_key));
  EXPECT_TRUE(raw_get(s->block_key(1, 400)).has_value());  // the newest kept
  expect_block(*s, ds[3].blocks[1]);
}

TEST_F(RedisTierTest, RedisDownOrHungCostsBoundedTimeAndTheTierComesBack) {
  auto a = open_tier(config(redis_), id_);
  Donation d = make_donation(id_, 1, 1000, 2, {1, 0, 0, 0}, rng_);
  ASSERT_TRUE(a->put(d.blocks, d.donor));
  a->flush();
  std::vector<std::byte> out(d.blocks[0].kv.size());

  // Hung: the process is stopped, the socket accepts and nothing answers. One read waits for its timeout.
  redis_.pause();
  auto t0 = Clock::now();
  EXPECT_EQ(a->read_block(1000, 1, d.blocks[0].tokens, out).code(), Code::kIo);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.5);
  EXPECT_FALSE(a->up());
  EXPECT_FALSE(a->has_block(1000));  // nothing is tried on the request path while down
  EXPECT_TRUE(a->search(1, d.donor.embedding, 4, 0.0f).empty());
  redis_.resume();

  // Down: a donation made meanwhile is dropped (counted), never blocks the caller.
  redis_.stop();
  Donation e = make_donation(id_, 1, 2000, 1, {0, 1, 0, 0}, rng_);
  t0 = Clock::now();
  a->put(e.blocks, e.donor);
  a->flush();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 3.0);
  EXPECT_FALSE(a->up());
  EXPECT_GE(a->stats().errors, 1u);
  EXPECT_EQ(a->stats().dropped_donations, 1u);
  EXPECT_FALSE(a->has_donor(e.donor.content_key));

  // Back (a fresh, empty Redis on the same port): the subscriber reconnects; new donations work again.
  redis_.start();
  ASSERT_TRUE(redis_.running()) << redis_.error();
  ASSERT_TRUE(eventually([&] { return a->up(); }, 10));
  Donation f = make_donation(id_, 1, 3000, 1, {0, 0, 1, 0}, rng_);
  ASSERT_TRUE(a->put(f.blocks, f.donor));
  a->flush();
  expect_block(*a, f.blocks[0]);
  // The old donation's keys are gone with the old server: a known block that is missing is a miss, not an error.
  EXPECT_EQ(a->read_block(1000, 1, d.blocks[0].tokens, out).code(), Code::kNotFound);
}

}  // namespace
}  // namespace kvs::store
