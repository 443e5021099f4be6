// UTF-8: strict validation, decoding to code points with byte offsets, encoding.
//
// Valid UTF-8 here is RFC 3629: shortest form only (no overlong encodings), no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF. Bytes 0xC0, 0xC1 and 0xF5..0xFF never occur.
//   U+0000..U+007F     0xxxxxxx
//   U+0080..U+07FF     110xxxxx 10xxxxxx
//   U+0800..U+FFFF     1110xxxx 10xxxxxx 10xxxxxx            (minus surrogates)
//   U+10000..U+10FFFF  11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kvs::tok {

// Ok when `text` is valid UTF-8; otherwise InvalidArgument naming the byte offset of the first bad
// sequence and what is wrong with it ("invalid UTF-8 at byte offset 7: truncated sequence").
Status validate_utf8(std::string_view text);

// Length in bytes of the valid sequence starting at text[0], or 0 if it is not valid there.
int utf8_sequence_length(std::string_view text);

// Decodes valid UTF-8 (REQUIRES: validate_utf8(text).is_ok()). Appends one code point per character to
// `cps` and its starting byte offset to `offsets`; finally appends text.size() to `offsets`, so character
// k spans bytes [offsets[k], offsets[k+1]).
void decode_utf8(std::string_view text, std::vector<char32_t>& cps, std::vector<uint32_t>& offsets);

// Appends the UTF-8 encoding of a code point (REQUIRES: cp <= 0x10FFFF, not a surrogate).
void append_utf8(std::string& out, char32_t cp);

}  // namespace kvs::tok
