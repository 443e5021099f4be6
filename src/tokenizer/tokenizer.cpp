#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "gguf/gguf_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace kvs::tok {

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::GgufFile& file, const TokenizerOptions& opts) {
  auto vocab = Vocab::from_gguf(file);
  if (!vocab.is_ok()) return vocab.status();
  return from_vocab(std::move(vocab).value(), opts);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_vocab(Vocab vocab, const TokenizerOptions& opts) {
  std::unique_ptr<Tokenizer> t(new Tokenizer(std::move(vocab)));
  const Vocab& v = t->vocab_;
  if (v.model() == "gpt2") {
    auto pre = pretokenizer_for(v.pre(), opts.compat);
    if (!pre.is_ok()) return pre.status();
    auto bpe = BpeModel::create(v, *pre);
    if (!bpe.is_ok()) return bpe.status();
    t->model_ = std::move(bpe).value();
  } else if (v.model() == "llama") {
    auto spm = SpmModel::create(v);
    if (!spm.is_ok()) return spm.status();
    t->model_ = std::move(spm).value();
  } else {
    return unsupported("tokenizer model '" + v.model() + "' (tokenizer.ggml.model) is not supported; only 'gpt2' "
                       "(byte-level BPE) and 'llama' (SentencePiece BPE)");
  }
  for (int32_t id : {v.eos(), v.eot(), v.eom()}) {
    if (id != kNoToken) t->eog_.push_back(id);
  }
  for (std::string_view text : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>"}) {
    const int32_t id = v.find(text);
    if (id != kNoToken && v.type(id) == TokenType::kControl) t->eog_.push_back(id);
  }
  std::sort(t->eog_.begin(), t->eog_.end());
  t->eog_.erase(std::unique(t->eog_.begin(), t->eog_.end()), t->eog_.end());
  return t;
}

Result<std::vector<int32_t>> Tokenizer::encode(std::string_view text, bool parse_special) const {
  KVS_RETURN_IF_ERROR(validate_utf8(text));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<Fragment> fragments;
  specials_.split(text, parse_special, fragments);
  for (const Fragment& f : fragments) {
    if (f.id != kNoToken) {
      ids.push_back(f.id);
    } else {
      model_->encode(f.text, f.text.data() == text.data(), ids);
    }
  }
  return ids;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  return vocab_.valid(id) ? model_->piece(id) : std::string();
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (vocab_.valid(id)) out += model_->piece(id);
  }
  return out;
}

bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

}  // namespace kvs::tok
