// OpenAI wire format: request validation and the response, chunk and error builders.
#include "server/openai_api.h"

#include <gtest/gtest.h>


namespace kvs::server {
namespace {

using nlohmann::json;

ApiResult<CompletionRequest> chat(const json& body) { return parse_completion_request(body, ApiKind::kChat); }
ApiResult<CompletionRequest> completion(const json& body) { return parse_completion_request(body, ApiKind::kCompletion); }

json user_msgs() { return json::array({{{"role", "user"}, {"content", "hi"}}}); }

// The 400 a body gets, with its param.
void expect_400(const ApiResult<CompletionRequest>& r, const std::string& param) {
  ASSERT_FALSE(r.is_ok()) << "accepted, expected a 400 on " << param;
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().type, "invalid_request_error");
  EXPECT_EQ(r.error().param, param) << r.error().message;
}

TEST(OpenAiParse, ChatDefaultsFollowOpenAi) {
  auto r = chat({{"model", "m"}, {"messages", user_msgs()}});
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  const auto& q = r.value();
  EXPECT_EQ(q.model, "m");
  ASSERT_EQ(q.messages.size(), 1u);
  EXPECT_EQ(q.messages[0].role, "user");
  EXPECT_EQ(q.messages[0].content, "hi");
  EXPECT_FLOAT_EQ(q.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(q.sampling.top_p, 1.0f);
  EXPECT_FALSE(q.max_tokens.has_value());
  EXPECT_FALSE(q.seed.has_value());
  EXPECT_FALSE(q.stream);
  EXPECT_FALSE(q.include_usage);
  EXPECT_TRUE(q.stop.empty());
}

TEST(OpenAiParse, ChatFields) {
  auto r = chat({{"messages", json::array({{{"role", "developer"}, {"content", "be brief"}},
                                           {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "a"}},
                                                                                       {{"type", "text"}, {"text", "b"}}})}},
                                           {{"role", "assistant"}, {"content", nullptr}}})},
                 {"max_tokens", 10},
                 {"max_completion_tokens", 12},
                 {"temperature", 0},
                 {"top_p", 0.5},
                 {"seed", -1},
                 {"stop", "\n"},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}},
                 {"n", 1},
                 {"user", "u1"},
                 {"frequency_penalty", 0},
                 {"presence_penalty", 0.0},
                 {"logprobs", false},
                 {"logit_bias", json::object()},
                 {"response_format", {{"type", "text"}}},
                 {"tools", json::array()},
                 {"top_k", 40},
                 {"min_p", 0.05},
                 {"repetition_penalty", 1.1},
                 {"ignore_eos", true}});
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  const auto& q = r.value();
  ASSERT_EQ(q.messages.size(), 3u);
  EXPECT_EQ(q.messages[0].role, "system");  // developer -> system
  EXPECT_EQ(q.messages[1].content, "a\nb");
  EXPECT_EQ(q.messages[2].content, "");
  EXPECT_EQ(q.max_tokens, 12);  // max_completion_tokens wins
  EXPECT_FLOAT_EQ(q.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(q.sampling.top_p, 0.5f);
  EXPECT_EQ(q.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(q.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(q.stream);
  EXPECT_TRUE(q.include_usage);
  EXPECT_EQ(q.user, "u1");
  EXPECT_EQ(q.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(q.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(q.sampling.repetition_penalty, 1.1f);
  EXPECT_TRUE(q.ignore_eos);
}

TEST(OpenAiParse, NullMeansAbsent) {
  auto r = chat({{"messages", user_msgs()}, {"max_tokens", nullptr}, {"stop", nullptr}, {"temperature", nullptr},
                 {"stream", nullptr}, {"stream_options", nullptr}, {"seed", nullptr}});
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  EXPECT_FALSE(r.value().max_tokens.has_value());
  EXPECT_FLOAT_EQ(r.value().sampling.temperature, 1.0f);
}

TEST(OpenAiParse, TopPZeroIsGreedy) {
  auto r = chat({{"messages", user_msgs()}, {"top_p", 0}});
  ASSERT_TRUE(r.is_ok());
  EXPECT_FLOAT_EQ(r.value().sampling.temperature, 0.0f);
  EXPECT_TRUE(r.value().sampling.validate().is_ok());
}

TEST(OpenAiParse, WrongTypesAre400WithParam) {
  expect_400(chat({{"messages", "hi"}}), "messages");
  expect_400(chat({{"messages", json::array()}}), "messages");
  expect_400(chat({{"messages", json::array({"hi"})}}), "messages[0]");
  expect_400(chat({{"messages", json::array({{{"role", 1}, {"content", "x"}}})}}), "messages[0].role");
  expect_400(chat({{"messages", json::array({{{"role", "tool"}, {"content", "x"}}})}}), "messages[0].role");
  expect_400(chat({{"messages", json::array({{{"role", "user"}}})}}), "messages[0].content");
  expect_400(chat({{"messages", json::array({{{"role", "user"}, {"content", 5}}})}}), "messages[0].content");
  expect_400(chat({{"messages", json::array({{{"role", "user"}, {"content", json::array({{{"type", "image_url"}}})}}})}}),
             "messages[0].content[0].type");
  expect_400(chat({{"messages", json::array({{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array({1})}}})}}),
             "messages[0].tool_calls");
  expect_400(chat({{"messages", user_msgs()}, {"model", 3}}), "model");
  expect_400(chat({{"messages", user_msgs()}, {"max_tokens", "16"}}), "max_tokens");
  expect_400(chat({{"messages", user_msgs()}, {"max_tokens", 16.5}}), "max_tokens");
  expect_400(chat({{"messages", user_msgs()}, {"max_tokens", 0}}), "max_tokens");
  expect_400(chat({{"messages", user_msgs()}, {"max_tokens", -3}}), "max_tokens");
  expect_400(chat({{"messages", user_msgs()}, {"temperature", "hot"}}), "temperature");
  expect_400(chat({{"messages", user_msgs()}, {"temperature", 2.5}}), "temperature");
  expect_400(chat({{"messages", user_msgs()}, {"top_p", 1.5}}), "top_p");
  expect_400(chat({{"messages", user_msgs()}, {"seed", 1.5}}), "seed");
  expect_400(chat({{"messages", user_msgs()}, {"stream", "yes"}}), "stream");
  expect_400(chat({{"messages", user_msgs()}, {"stream", true}, {"stream_options", {{"include_usage", "y"}}}}),
             "stream_options.include_usage");
  expect_400(chat({{"messages", user_msgs()}, {"stream_options", {{"include_usage", true}}}}), "stream_options");
  expect_400(chat({{"messages", user_msgs()}, {"stop", 5}}), "stop");
  expect_400(chat({{"messages", user_msgs()}, {"stop", json::array({"a", 1})}}), "stop[1]");
  expect_400(chat({{"messages", user_msgs()}, {"stop", ""}}), "stop");
  expect_400(chat({{"messages", user_msgs()}, {"stop", json::array({"a", "b", "c", "d", "e"})}}), "stop");
  expect_400(chat({{"messages", user_msgs()}, {"user", 7}}), "user");
  expect_400(chat({{"messages", user_msgs()}, {"ignore_eos", 1}}), "ignore_eos");
}

TEST(OpenAiParse, AnswerChangingValuesAre400) {
  expect_400(chat({{"messages", user_msgs()}, {"n", 17}}), "n");
  expect_400(chat({{"messages", user_msgs()}, {"frequency_penalty", 0.5}}), "frequency_penalty");
  expect_400(chat({{"messages", user_msgs()}, {"presence_penalty", 3}}), "presence_penalty");
  expect_400(chat({{"messages", user_msgs()}, {"logprobs", 1}}), "logprobs");  // chat: a boolean
  expect_400(chat({{"messages", user_msgs()}, {"top_logprobs", 3}}), "top_logprobs");  // needs logprobs: true
  expect_400(chat({{"messages", user_msgs()}, {"logprobs", true}, {"top_logprobs", 21}}), "top_logprobs");
  expect_400(chat({{"messages", user_msgs()}, {"logit_bias", {{"1", 5}}}}), "logit_bias");
  expect_400(chat({{"messages", user_msgs()}, {"response_format", {{"type", "json_object"}}}}), "response_format");
  expect_400(chat({{"messages", user_msgs()}, {"tools", json::array({{{"type", "function"}}})}}), "tools");
  expect_400(completion({{"prompt", "x"}, {"tools", json::array({{{"type", "function"}}})}}), "tools");
  expect_400(chat({{"messages", user_msgs()}, {"guided_json", {{"type", "object"}}}}), "guided_json");
  expect_400(completion({{"prompt", "x"}, {"min_tokens", 4}}), "min_tokens");
  expect_400(completion({{"prompt", "x"}, {"stop_token_ids", {1}}}), "stop_token_ids");
  expect_400(completion({{"prompt", "x"}, {"best_of", 2}}), "best_of");
  expect_400(completion({{"prompt", "x"}, {"logprobs", 21}}), "logprobs");
  expect_400(completion({{"prompt", "x"}, {"max_tokens", 0}}), "max_tokens");  // 0 only with echo
  expect_400(chat({{"messages", user_msgs()}, {"max_tokens", 0}}), "max_tokens");
  expect_400(completion({{"prompt", "x"}, {"max_completion_tokens", 3}}), "max_completion_tokens");  // chat only
  expect_400(chat({{"messages", user_msgs()}, {"cache_salt", ""}}), "cache_salt");
  expect_400(chat({{"messages", user_msgs()}, {"kvshare", {{"bogus", 1}}}}), "kvshare.bogus");  // nested: strict
}

TEST(OpenAiParse, UnknownTopLevelFieldsAreIgnoredAndNamed) {
  auto r = chat({{"messages", user_msgs()}, {"bogus", 1}, {"vendor_hint", {{"x", 1}}}, {"min_tokens", 0},
                 {"stop_token_ids", json::array()}, {"skip_special_tokens", true}});
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  EXPECT_EQ(r.value().ignored_fields, (std::vector<std::string>{"bogus", "vendor_hint"}));
  EXPECT_TRUE(chat({{"messages", user_msgs()}, {"stream", true},
                   {"stream_options", {{"include_usage", true}, {"include_obfuscation", false}}}})
                  .is_ok());
  auto known = chat({{"messages", user_msgs()}, {"seed", 3}});
  ASSERT_TRUE(known.is_ok());
  EXPECT_TRUE(known.value().ignored_fields.empty());
}

TEST(OpenAiParse, LogprobsEchoNAndCacheSalt) {
  auto c = chat({{"messages", user_msgs()}, {"logprobs", true}, {"top_logprobs", 5}, {"n", 3}, {"cache_salt", "s1"}});
  ASSERT_TRUE(c.is_ok()) << c.error().message;
  EXPECT_TRUE(c.value().logprobs);
  EXPECT_EQ(c.value().top_logprobs, 5);
  EXPECT_EQ(c.value().n, 3);
  EXPECT_EQ(c.value().cache_salt, std::optional<std::string>("s1"));
  auto t = completion({{"prompt", "x"}, {"logprobs", 2}, {"echo", true}, {"max_tokens", 0}});
  ASSERT_TRUE(t.is_ok()) << t.error().message;
  EXPECT_TRUE(t.value().logprobs && t.value().echo);
  EXPECT_EQ(t.value().top_logprobs, 2);
  EXPECT_EQ(t.value().max_tokens, std::optional<int32_t>(0));
  auto none = completion({{"prompt", "x"}, {"logprobs", nullptr}});
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none.value().logprobs);
}

TEST(OpenAiBuild, LogprobObjects) {
  std::vector<LogprobToken> toks(2);
  toks[0].token = "He";  // an echoed prompt's first token: no logprob
  toks[1].token = "llo";
  toks[1].logprob = -0.5f;
  toks[1].top = {{"llo", -0.5f}, {"y", -1.5f}, {"y", -2.0f}};
  json c = completion_logprobs_json(toks, 3);
  EXPECT_EQ(c["tokens"], json({"He", "llo"}));
  EXPECT_TRUE(c["token_logprobs"][0].is_null());
  EXPECT_FLOAT_EQ(c["token_logprobs"][1].get<float>(), -0.5f);
  EXPECT_TRUE(c["top_logprobs"][0].is_null());
  EXPECT_EQ(c["top_logprobs"][1].size(), 2u);  // same text twice: the likelier kept
  EXPECT_FLOAT_EQ(c["top_logprobs"][1]["y"].get<float>(), -1.5f);
  EXPECT_EQ(c["text_offset"], json({3, 5}));
  json ch = chat_logprobs_json(std::span(toks).subspan(1));
  ASSERT_EQ(ch["content"].size(), 1u);
  EXPECT_EQ(ch["content"][0]["token"], "llo");
  EXPECT_EQ(ch["content"][0]["bytes"], json({108, 108, 111}));
  EXPECT_EQ(ch["content"][0]["top_logprobs"].size(), 3u);
  EXPECT_TRUE(ch["refusal"].is_null());
}

TEST(OpenAiParse, CompletionPrompts) {
  auto a = completion({{"prompt", "Once upon"}, {"max_tokens", 5}});
  ASSERT_TRUE(a.is_ok()) << a.error().message;
  EXPECT_EQ(a.value().prompt, "Once upon");
  EXPECT_EQ(a.value().max_tokens, 5);
  auto b = completion({{"prompt", json::array({"one"})}});
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b.value().prompt, "one");
  auto c = completion({{"prompt", json::array({1, 2, 3})}});
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c.value().prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  expect_400(completion(json::object()), "prompt");
  expect_400(completion({{"prompt", json::array({"a", "b"})}}), "prompt");
  expect_400(completion({{"prompt", json::array({1, -2})}}), "prompt");
  expect_400(completion({{"prompt", 7}}), "prompt");
  expect_400(completion({{"prompt", "x"}, {"messages", user_msgs()}}), "messages");
}

TEST(OpenAiParse, JsonBody) {
  EXPECT_TRUE(parse_json_body(R"({"a": "é"})").is_ok());
  auto bad_json = parse_json_body("{\"a\": ");
  ASSERT_FALSE(bad_json.is_ok());
  EXPECT_EQ(bad_json.error().http_status, 400);
  EXPECT_EQ(bad_json.error().code, "invalid_json");
  auto not_object = parse_json_body("[1]");
  ASSERT_FALSE(not_object.is_ok());
  auto bad_utf8 = parse_json_body(std::string("{\"a\": \"\xff\"}"));
  ASSERT_FALSE(bad_utf8.is_ok());
  EXPECT_EQ(bad_utf8.error().code, "invalid_encoding");
  EXPECT_NE(bad_utf8.error().message.find("offset 7"), std::string::npos) << bad_utf8.error().message;
  // A lone surrogate escape decodes to invalid UTF-8; the JSON parser refuses it.
  EXPECT_FALSE(parse_json_body(R"({"a": "\udc00"})").is_ok());
}

TEST(OpenAiBuild, ChatResponseShape) {
  engine::Usage u;
  u.prompt_tokens = 10;
  u.completion_tokens = 3;
  u.cached_tokens = 8;
  json j = chat_completion_json({"chatcmpl-1", 1700000000, "m"}, "hello", "stop", u);
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "m");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 13);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
}

TEST(OpenAiBuild, CompletionResponseShape) {
  json j = text_completion_json({"cmpl-1", 1, "m"}, "abc", "length", engine::Usage{});
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "abc");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST(OpenAiBuild, StreamChunks) {
  ResponseMeta meta{"chatcmpl-1", 5, "m"};
  json first = stream_chunk_json(ApiKind::kChat, meta, ChunkDelta{true, std::string(), std::nullopt}, false);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));
  json mid = stream_chunk_json(ApiKind::kChat, meta, ChunkDelta{false, "hi", std::nullopt}, true);
  EXPECT_EQ(mid["choices"][0]["delta"], json({{"content", "hi"}}));
  EXPECT_TRUE(mid.contains("usage") && mid["usage"].is_null());
  json last = stream_chunk_json(ApiKind::kChat, meta, ChunkDelta{false, std::nullopt, "stop"}, false);
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  engine::Usage u;
  u.prompt_tokens = 4;
  json usage = usage_chunk_json(ApiKind::kChat, meta, u);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 4);
  json text = stream_chunk_json(ApiKind::kCompletion, {"cmpl-1", 5, "m"}, ChunkDelta{false, "x", std::nullopt}, false);
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "x");
}

TEST(OpenAiBuild, ErrorsAndSse) {
  json e = error_json(invalid_request("bad", "max_tokens"));
  EXPECT_EQ(e["error"]["message"], "bad");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "max_tokens");
  EXPECT_TRUE(e["error"]["code"].is_null());
  EXPECT_EQ(model_not_found("x").http_status, 404);
  EXPECT_EQ(model_not_found("x").code, "model_not_found");
  EXPECT_EQ(invalid_api_key(false).http_status, 401);
  EXPECT_EQ(invalid_api_key(true).code, "invalid_api_key");
  EXPECT_EQ(queue_full("q").http_status, 429);
  EXPECT_EQ(body_too_large(10).http_status, 413);
  EXPECT_EQ(context_length_exceeded(9000, 8192, "messages").code, "context_length_exceeded");
  EXPECT_EQ(sse_data(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  // Invalid UTF-8 never makes serialisation throw.
  EXPECT_NO_THROW(dump_json(json(std::string("a\xff"))));
  EXPECT_EQ(openai_finish_reason("length"), "length");
  EXPECT_EQ(openai_finish_reason("stop"), "stop");
  json models = models_list_json("m", 3);
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "m");
  EXPECT_EQ(models["data"][0]["object"], "model");
}

}  // namespace
}  // namespace kvs::server
