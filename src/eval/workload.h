// Evaluation workloads: deterministic request streams over the MedQuAD-derived data (eval_data.h).
//
// paraphrase: one chat turn per request, the user message is a question (the model's template adds its default
//   system prompt). Groups are shuffled (seeded) and taken `window` at a time; within a window the stream
//   asks every group's first wording, then every group's second wording, ... So each later wording of a
//   question arrives a few requests after an earlier one (its natural donor):
//     window of 3 groups a, b, c:   a0 b0 c0 a1 b1 c1 a2 c2 ...
//   reference = the group's MedQuAD answer.
// rag: system prompt (kRagSystemPrompt) + user message
//     "<preamble>\n\nReference passage:\n<passage>\n\nQuestion: <question>"
//   The preamble is a user profile that differs per request in content and length (so an exact-prefix cache
//   stops right after the system prompt and "User profile: id "). Passages are shuffled and taken `window` at a
//   time; each is used `rag_uses` times (use 0: its own question; use 1: the second question on the same
//   document, or its own when there is none; later uses alternate), every use with a fresh preamble, so a
//   later request finds a donor holding the same passage at a shifted position.
//   reference = the passage (the MedQuAD answer it was cut from).
//   With rag_passages_max > 1 (`kvshare eval --rag-passages 2-4`, longer prompts): requests carry sets of
//   passages instead of one, "<preamble>\n\nReference passages:\n[1] <p>\n\n[2] <p>...\n\nQuestion: <q>"; set j
//   holds rag_passages_min + j % (max - min + 1) consecutive passages of the shuffled order, each set is used
//   rag_uses times like a passage (use u asks passage u % size, its second question on every other round), so a
//   later request finds a donor with the same passages behind a preamble of another length.
//   key = "m<first passage id>"; reference = the asked passage.
// growing (reuse coverage: content that grows and recombines): sessions of four passages A, B, C, D; a session
//   asks, each time behind a fresh preamble and with the system prompt of rag,
//     [A] qA, [A] qA', [A B] qB, [A B] qB', [A B C] qC, [A B C] qC', [B D] qD, [C A] qA', [A B C D] qD',
//     [D A B C] qB
//   (q' = the passage's second question when it has one), the passages numbered in the user message
//   ("Reference passages:\n[1] ...\n\n[2] ..."). So prompts extend earlier ones (1-4 passages, their earlier part
//   at the same place) and recombine passages first seen in different prompts (in another order, or a known run
//   shifted behind a passage of another prompt); 1-4 passages a prompt, about 400-2,500 tokens. Sessions are taken `window` at a time and interleaved step by step.
//   key = "s<A's id>", use = the step (0..7); reference = the asked passage.
// share_text (what the engine embeds to find donors) = the user message content.
// split: the stream is drawn only from the part of the data named by WorkloadOptions::split (filter_split): tune
//   and test are disjoint by MedQuAD focus (a focus, compared as focus_key, is in exactly one part, in both
//   workloads), about half the data each; all = both parts (the default, the stream of earlier versions).
//
// Invariants: the stream is a pure function of (data, kind, options); indices are 0..n-1 in order; requests
// with the same `key` share their content (group or passage), `use` counts earlier requests with that key;
// filter_split(d, kTune) and filter_split(d, kTest) partition d's groups and RAG items, no focus_key in both.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "eval/eval_data.h"
#include "tokenizer/chat_template.h"

namespace kvs::eval {

enum class WorkloadKind { kParaphrase, kRag, kGrowing };
const char* workload_name(WorkloadKind k);
bool parse_workload(const std::string& s, WorkloadKind* out);

inline constexpr const char* kRagSystemPrompt =
    "You are a careful medical assistant. Answer the user's question using the reference passage. "
    "Keep the answer short and factual.";

// Which part of the data a workload draws from. Choose defaults on kTune, report final figures on kTest.
enum class Split { kAll, kTune, kTest };
const char* split_name(Split s);
bool parse_split(const std::string& s, Split* out);
// The focus as the split compares it: lower-cased, every run of non-alphanumerics folded to one space, trimmed
// ("47, XYY" and "47,XYY" are one focus), as scripts/make_eval_data.py groups paraphrases.
std::string focus_key(const std::string& focus);
// kTune or kTest: the parity of a fixed 64-bit hash (FNV-1a, then SplitMix64's finaliser) of focus_key(focus).
Split focus_split(const std::string& focus);
// The groups and RAG items of `d` in part `s` (all of them for kAll), in their order, ids unchanged.
EvalData filter_split(const EvalData& d, Split s);

struct WorkloadOptions {
  int n = 200;                 // requests
  Split split = Split::kAll;   // the part of the data the stream is drawn from
  uint64_t seed = 20250214;
  int window = 4;              // groups / passages in flight
  int rag_uses = 3;            // requests per passage (rag)
  int rag_passages_min = 1, rag_passages_max = 1;  // passages per rag prompt (1, 1: one, as before)
};

struct EvalRequest {
  int index = 0;
  std::string key;             // "g<group id>" or "p<rag item id>"
  int use = 0;                 // how many earlier requests had this key
  std::vector<tok::ChatMessage> messages;
  std::string share_text;      // the user message content
  std::string question;        // the question asked
  std::string reference;       // MedQuAD answer ("" when none)
};

// InvalidArgument when the data cannot fill n requests or options are out of range.
Result<std::vector<EvalRequest>> make_workload(WorkloadKind kind, const EvalData& data, const WorkloadOptions& opt);

// The rag preamble of request `index` (exposed for tests).
std::string user_preamble(uint64_t seed, int index);

}  // namespace kvs::eval
