// The evaluation's data set: paraphrase groups and RAG items derived from MedQuAD (CC BY 4.0), as committed in
// data/medquad_eval.jsonl.gz by scripts/make_eval_data.py (see data/README.md for the row format).
//
// Invariants after load_eval_data(): every group has >= 2 questions of non-empty, pairwise different text;
// every RAG item has a non-empty passage and question (question2 may be empty); ids are the rows' order.
#pragma once
#include <string>
#include <vector>

#include "base/status.h"

namespace kvs::eval {

struct GroupQuestion {
  std::string text;
  std::string origin;  // MedQuAD collection, or "template" (a hand-written re-wording)
  std::string qid;     // "" for templates
};

struct ParaphraseGroup {
  int id = 0;
  std::string focus, qtype;
  std::vector<GroupQuestion> questions;  // natural wordings first, the template last
  std::string reference;                 // a MedQuAD answer for (focus, qtype), "" when none
};

struct RagItem {
  int id = 0;
  std::string qid, collection, doc, focus, qtype;
  std::string question;               // the passage's own question
  std::string passage;                // the answer text (>= ~300 model tokens)
  std::string qid2, qtype2, question2;  // another question on the same document, or ""
};

struct EvalData {
  std::vector<ParaphraseGroup> groups;
  std::vector<RagItem> rag;
};

// Reads the JSON Lines file (gzip or plain). Corrupt (naming the line) for a malformed row.
Result<EvalData> load_eval_data(const std::string& path);

}  // namespace kvs::eval
