// Streaming text assembly for generated tokens.
// Utf8Assembler: token pieces are raw bytes and may split a UTF-8 character; push() returns only complete
// characters, keeping an incomplete tail for the next piece (flush() returns it at the end).
// StopMatcher: holds back text that could still become a stop string, so a client never sees part of one;
// push() returns the text safe to emit and whether a stop string was hit (text after it is dropped).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace kvs::engine {

class Utf8Assembler {
 public:
  std::string push(std::string_view piece);
  std::string flush();

 private:
  std::string pending_;
};

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  struct Out {
    std::string text;
    bool stopped = false;
  };
  Out push(std::string_view text);
  std::string flush();  // the held-back tail at the end of generation

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace kvs::engine
