// aux_api: base64 (RFC 4648 test vectors), embeddings / tokenize / detokenize validation.
#include "server/aux_api.h"

#include <gtest/gtest.h>

namespace kvs::server {
namespace {

using nlohmann::json;

std::string b64(const std::string& s) {
  return base64_encode(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(AuxApi, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(b64(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(AuxApi, EmbeddingsWithoutAnEmbedderIs503) {
  const std::string ids[] = {"m"};
  auto r = embeddings_response(json{{"input", "x"}}, nullptr, ids);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.error().http_status, 503);
}

}  // namespace
}  // namespace kvs::server
