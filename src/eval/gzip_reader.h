// gunzip: decompresses a gzip file (RFC 1952) holding DEFLATE data (RFC 1951), for the eval's committed data
// (data/medquad_eval.jsonl.gz) without linking zlib. Small and slow-ish (bit by bit Huffman decoding, a few
// MB/s): meant for files of a few MB.
//
// Invariants: never reads outside the input; every malformed input (bad magic, unknown method, reserved
// block type, invalid Huffman code, distance beyond the output, truncated stream, CRC-32 or length mismatch)
// is Corrupt, never a crash. Concatenated members are decoded one after another (as gzip -d does).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kvs::eval {

Result<std::string> gunzip(std::string_view data);
// Reads `path` and gunzips it; a file that does not start with the gzip magic is returned as it is.
Result<std::string> read_maybe_gzip_file(const std::string& path);
uint32_t crc32(std::string_view data);

}  // namespace kvs::eval
