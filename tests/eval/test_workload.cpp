#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "eval/runner.h"
#include "eval/workload.h"

namespace kvs::eval {
namespace {

EvalData synthetic_data() {
  EvalData d;
  for (int g = 0; g < 10; ++g) {
    ParaphraseGroup pg;
    pg.id = g;
    pg.focus = "condition " + std::to_string(g);
    pg.questions = {{"What is condition " + std::to_string(g) + " ?", "A", "q1"},
                    {"what is condition " + std::to_string(g) + "?", "B", "q2"}};
    if (g % 2 == 0) pg.questions.push_back({"Can you tell me what condition " + std::to_string(g) + " is?", "template", ""});
    pg.reference = g % 3 == 0 ? "" : "Answer " + std::to_string(g);
    d.groups.push_back(pg);
  }
  for (int i = 0; i < 8; ++i) {
    RagItem r;
    r.id = i;
    r.question = "Question one about passage " + std::to_string(i) + "?";
    r.question2 = i % 2 ? "" : "Question two about passage " + std::to_string(i) + "?";
    r.passage = "Passage " + std::to_string(i) + " text. " + std::string(200, 'x');
    d.rag.push_back(r);
  }
  return d;
}

TEST(Workload, ParaphraseLaterWordingsFollowTheirFirst) {
  const EvalData d = synthetic_data();
  WorkloadOptions o;
  o.n = 20;
  o.window = 3;
  auto w = make_workload(WorkloadKind::kParaphrase, d, o);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  ASSERT_EQ(w->size(), 20u);
  std::map<std::string, int> seen;
  int later = 0;
  for (size_t i = 0; i < w->size(); ++i) {
    const auto& r = (*w)[i];
    EXPECT_EQ(r.index, static_cast<int>(i));
    EXPECT_EQ(r.use, seen[r.key]) << "uses count earlier requests with the key";
    later += r.use > 0;
    ++seen[r.key];
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].role, "user");
    EXPECT_EQ(r.share_text, r.messages[0].content);
  }
  EXPECT_GE(later, 10);  // most requests are paraphrases of an earlier one
  auto again = make_workload(WorkloadKind::kParaphrase, d, o);
  for (size_t i = 0; i < w->size(); ++i) EXPECT_EQ((*again)[i].question, (*w)[i].question);  // deterministic
  o.seed += 1;
  auto other = make_workload(WorkloadKind::kParaphrase, d, o);
  int differ = 0;
  for (size_t i = 0; i < w->size(); ++i) differ += (*other)[i].question != (*w)[i].question;
  EXPECT_GT(differ, 0);  // the seed matters
}

TEST(Workload, RagReusesPassagesBehindDifferentPreambles) {
  const EvalData d = synthetic_data();
  WorkloadOptions o;
  o.n = 12;
  auto w = make_workload(WorkloadKind::kRag, d, o);
  ASSERT_TRUE(w.is_ok());
  std::set<std::string> preambles;
  std::map<std::string, int> uses;
  for (const auto& r : *w) {
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[1].content, r.share_text);
    const auto cut = r.share_text.find("\n\nReference passage:\n");
    ASSERT_NE(cut, std::string::npos);
    preambles.insert(r.share_text.substr(0, cut));
    EXPECT_NE(r.share_text.find(r.reference), std::string::npos) << "the reference is the passage";
    EXPECT_NE(r.share_text.find("Question: " + r.question), std::string::npos);
    ++uses[r.key];
  }
  EXPECT_EQ(preambles.size(), 12u) << "every request has its own preamble";
  EXPECT_EQ(uses.size(), 4u);  // window 4, 3 uses each
  for (const auto& [k, n] : uses) EXPECT_EQ(n, 3);
  std::set<size_t> lengths;
  for (int i = 0; i < 40; ++i) lengths.insert(user_preamble(o.seed, i).size());
  EXPECT_GT(lengths.size(), 10u) << "preambles vary in length";
}

// rag with 2-4 passages: sets of consecutive passages, each set used rag_uses times with the same passages in the
// same order behind a fresh preamble, asking the set's passages in turn.
TEST(Workload, RagPassageSetsRepeatTheirPassagesInOrder) {
  EvalData d = synthetic_data();
  for (int i = 8; i < 24; ++i) {  // 24 passages: sets of 2, 3, 4, 2, 3, 4, ...
    RagItem r = d.rag[i % 8];
    r.id = i;
    r.passage = "Passage " + std::to_string(i) + " text. " + std::string(150, 'y');
    d.rag.push_back(r);
  }
  WorkloadOptions o;
  o.n = 18;
  o.window = 2;
  o.rag_passages_min = 2;
  o.rag_passages_max = 4;
  auto w = make_workload(WorkloadKind::kRag, d, o);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  std::map<std::string, std::vector<std::string>> passages_of;  // key -> passage list of its first request
  std::map<std::string, int> uses;
  std::set<size_t> set_sizes;
  for (const auto& r : *w) {
    const auto head = r.share_text.find("\n\nReference passages:");
    ASSERT_NE(head, std::string::npos);
    std::vector<std::string> ps;
    for (int k = 1; k <= 8; ++k) {
      const auto at = r.share_text.find("\n[" + std::to_string(k) + "] ");
      if (at == std::string::npos) break;
      ps.push_back(r.share_text.substr(at + 5, r.share_text.find('\n', at + 5) - at - 5));
    }
    ASSERT_GE(ps.size(), 2u);
    ASSERT_LE(ps.size(), 4u);
    set_sizes.insert(ps.size());
    EXPECT_NE(std::find(ps.begin(), ps.end(), r.reference), ps.end()) << "the asked passage is in the prompt";
    EXPECT_EQ(ps[r.use % ps.size()], r.reference);
    EXPECT_NE(r.share_text.find("\nQuestion: " + r.question), std::string::npos);
    if (passages_of.count(r.key)) EXPECT_EQ(passages_of[r.key], ps) << "same passages, same order";
    else passages_of[r.key] = ps;
    EXPECT_EQ(r.use, uses[r.key]++);
  }
  EXPECT_EQ(set_sizes, (std::set<size_t>{2, 3, 4}));
  for (const auto& [k, n] : uses) EXPECT_EQ(n, 3);
  o.rag_passages_min = 3;
  o.rag_passages_max = 2;
  EXPECT_FALSE(make_workload(WorkloadKind::kRag, d, o).is_ok());
}

// growing: sessions of four passages, ten steps; prompts extend earlier ones (their passages in order) and
// recombine passages first seen in different prompts.
TEST(Workload, GrowingPromptsExtendAndRecombinePassages) {
  const EvalData d = synthetic_data();
  WorkloadOptions o;
  o.n = 20;
  o.window = 1;
  auto w = make_workload(WorkloadKind::kGrowing, d, o);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  ASSERT_EQ(w->size(), 20u);
  auto passages_in = [&](const EvalRequest& r) {  // ids of the passages a request holds, in prompt order
    std::vector<std::pair<size_t, int>> at;
    for (const auto& item : d.rag)
      if (auto p = r.share_text.find(item.passage); p != std::string::npos) at.push_back({p, item.id});
    std::sort(at.begin(), at.end());
    std::vector<int> ids;
    for (auto& [p, id] : at) ids.push_back(id);
    return ids;
  };
  for (int s = 0; s < 2; ++s) {
    std::vector<std::vector<int>> held;
    for (int step = 0; step < 10; ++step) {
      const EvalRequest& r = (*w)[s * 10 + step];
      EXPECT_EQ(r.use, step);
      EXPECT_EQ(r.key, (*w)[s * 10].key);
      EXPECT_NE(r.share_text.find("Question: " + r.question), std::string::npos);
      EXPECT_NE(r.share_text.find(r.reference), std::string::npos) << "the asked passage is in the prompt";
      held.push_back(passages_in(r));
    }
    const int a = held[0][0], b = held[2][1], c = held[4][2], dd = held[6][1];
    EXPECT_EQ(held[0], std::vector<int>({a}));
    EXPECT_EQ(held[1], std::vector<int>({a}));
    EXPECT_EQ(held[2], std::vector<int>({a, b}));
    EXPECT_EQ(held[4], std::vector<int>({a, b, c}));
    EXPECT_EQ(held[6], std::vector<int>({b, dd}));  // b from the [a b] prompts, d new
    EXPECT_EQ(held[7], std::vector<int>({c, a}));   // recombined in another order
    EXPECT_EQ(held[8], std::vector<int>({a, b, c, dd}));  // the [a b c] prompts extended by d
    EXPECT_EQ(held[9], std::vector<int>({dd, a, b, c}));  // the same four, [a b c] shifted behind d
    EXPECT_EQ(std::set<int>({a, b, c, dd}).size(), 4u);
    EXPECT_NE((*w)[s * 10].share_text.substr(0, 30), (*w)[s * 10 + 1].share_text.substr(0, 30)) << "fresh preambles";
  }
  EXPECT_NE((*w)[0].key, (*w)[10].key);
}

// Partition checks for one split of `d`: tune and test cover every group and RAG item once, no focus key in both.
void expect_partition(const EvalData& d) {
  const EvalData tune = filter_split(d, Split::kTune), test = filter_split(d, Split::kTest);
  EXPECT_EQ(tune.groups.size() + test.groups.size(), d.groups.size());
  EXPECT_EQ(tune.rag.size() + test.rag.size(), d.rag.size());
  std::set<int> group_ids, rag_ids;
  std::set<std::string> tune_focus, test_focus;
  for (const auto& g : tune.groups) group_ids.insert(g.id), tune_focus.insert(focus_key(g.focus));
  for (const auto& g : test.groups) group_ids.insert(g.id), test_focus.insert(focus_key(g.focus));
  for (const auto& r : tune.rag) rag_ids.insert(r.id), tune_focus.insert(focus_key(r.focus));
  for (const auto& r : test.rag) rag_ids.insert(r.id), test_focus.insert(focus_key(r.focus));
  EXPECT_EQ(group_ids.size(), d.groups.size()) << "every group in exactly one part";
  EXPECT_EQ(rag_ids.size(), d.rag.size()) << "every RAG item in exactly one part";
  for (const auto& f : tune_focus) EXPECT_EQ(test_focus.count(f), 0u) << "focus '" << f << "' in both parts";
  const EvalData all = filter_split(d, Split::kAll);
  EXPECT_EQ(all.groups.size(), d.groups.size());
  EXPECT_EQ(all.rag.size(), d.rag.size());
}

TEST(WorkloadSplit, FocusKeyAndNames) {
  EXPECT_EQ(focus_key("  47, XYY "), "47 xyy");
  EXPECT_EQ(focus_key("47,XYY"), "47 xyy");
  EXPECT_EQ(focus_key("Alzheimer's Disease"), "alzheimer s disease");
  EXPECT_EQ(focus_split("47, XYY"), focus_split("47,xyy")) << "one focus, one part";
  Split s = Split::kAll;
  ASSERT_TRUE(parse_split("test", &s));
  EXPECT_EQ(s, Split::kTest);
  ASSERT_TRUE(parse_split("tune", &s));
  EXPECT_EQ(std::string(split_name(s)), "tune");
  EXPECT_FALSE(parse_split("train", &s));
}

TEST(WorkloadSplit, SyntheticPartsAreDisjointByFocusAndCoverEverything) {
  EvalData d = synthetic_data();
  for (auto& r : d.rag) r.focus = "Condition " + std::to_string(r.id % 5);  // shared with groups 0..4
  d.groups[1].focus = "CONDITION 0";                                         // the same focus as group 0
  expect_partition(d);
  EXPECT_EQ(focus_split(d.groups[0].focus), focus_split(d.groups[1].focus));
}

std::string committed_data_path() {
  for (const char* p : {"data/medquad_eval.jsonl.gz", "../data/medquad_eval.jsonl.gz", "../../data/medquad_eval.jsonl.gz"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

TEST(WorkloadSplit, CommittedDataSplitsInHalvesDisjointByFocus) {
  const std::string path = committed_data_path();
  ASSERT_FALSE(path.empty()) << "data/medquad_eval.jsonl.gz not found from the working directory";
  auto d = load_eval_data(path);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  expect_partition(d.value());
  const EvalData test = filter_split(d.value(), Split::kTest);
  const double gs = static_cast<double>(test.groups.size()) / d->groups.size();
  const double rs = static_cast<double>(test.rag.size()) / d->rag.size();
  EXPECT_GT(gs, 0.4);
  EXPECT_LT(gs, 0.6);
  EXPECT_GT(rs, 0.4);
  EXPECT_LT(rs, 0.6);
  // Full-size streams (n = 200) fit in either part, and draw only from it.
  for (Split s : {Split::kTune, Split::kTest}) {
    std::set<std::string> keys;
    const EvalData part = filter_split(d.value(), s);
    for (const auto& g : part.groups) keys.insert("g" + std::to_string(g.id));
    for (const auto& r : part.rag) keys.insert("p" + std::to_string(r.id));
    for (WorkloadKind k : {WorkloadKind::kParaphrase, WorkloadKind::kRag}) {
      WorkloadOptions o;
      o.split = s;
      auto w = make_workload(k, d.value(), o);
      ASSERT_TRUE(w.is_ok()) << w.status().to_string();
      ASSERT_EQ(w->size(), 200u);
      for (const auto& r : *w) EXPECT_EQ(keys.count(r.key), 1u) << split_name(s) << " " << r.key;
    }
  }
  EXPECT_EQ(WorkloadOptions{}.split, Split::kAll) << "the default stream is the one of earlier versions";
}

TEST(Workload, TooManyRequestsIsAnError) {
  const EvalData d = synthetic_data();
  WorkloadOptions o;
  o.n = 1000;
  EXPECT_EQ(make_workload(WorkloadKind::kRag, d, o).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(make_workload(WorkloadKind::kParaphrase, d, o).status().code(), Code::kInvalidArgument);
}

TEST(RunnerParsing, ModesSweepAndPercentile) {
  auto m = parse_modes("semantic, prefix");
  ASSERT_TRUE(m.is_ok());
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].name, "full");
  EXPECT_EQ((*m)[1].name, "semantic");
  EXPECT_FALSE((*m)[1].deviation.has_value());  // the runner's default scorer
  auto a = parse_modes("semantic-attn");
  ASSERT_TRUE(a.is_ok());
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[1].kind, ModeKind::kSemantic);
  EXPECT_EQ((*a)[1].deviation, share::DeviationScorer::kAttnV);
  EXPECT_FALSE(parse_modes("full,bogus").is_ok());
  EXPECT_FALSE(parse_modes("prefix,prefix").is_ok());
  // Semantic options compose, in a fixed order.
  auto c = parse_modes("semantic-edit-gradual-adaptive-repair,semantic-bg");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  const ModeSpec& x = (*c)[1];
  EXPECT_TRUE(x.edit_aware && x.gradual && x.adaptive && x.repair);
  EXPECT_FALSE(x.background || x.deviation.has_value());
  EXPECT_TRUE((*c)[2].background && !(*c)[2].repair);
  for (const char* bad : {"semantic-repair-edit", "semantic-repair-bg", "semantic-foo", "semantic-", "semanticx",
                          "semantic-edit-edit"})
    EXPECT_FALSE(parse_modes(bad).is_ok()) << bad;
  auto s = parse_sweep("0,15,100");
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(*s, (std::vector<double>{0.0, 0.15, 1.0}));
  EXPECT_FALSE(parse_sweep("101").is_ok());
  EXPECT_FALSE(parse_sweep("x").is_ok());
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.5), 2.5);  // numpy.percentile(.., 50)
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9), 9.1);
  EXPECT_EQ(percentile({}, 0.5), 0.0);
}

TEST(RunnerScoring, HitsReuseAndQualityAgainstFull) {
  std::vector<EvalRequest> reqs(2);
  reqs[0].reference = "the answer is yes";
  ModeResult full, m;
  full.spec = {"full", ModeKind::kFull, -1};
  m.spec = {"prefix", ModeKind::kPrefix, -1};
  for (int i = 0; i < 2; ++i) {
    RequestOutcome f;
    f.index = i;
    f.text = "the answer is yes";
    f.first_token = 7;
    f.usage.prompt_tokens = 100;
    f.usage.computed_prompt_tokens = 100;
    f.ttft_ms = 10;
    full.rows.push_back(f);
  }
  m.rows = full.rows;
  m.rows[1].text = "the answer is no";
  m.rows[1].first_token = 8;
  m.rows[1].usage.cached_tokens = 64;
  m.rows[1].usage.computed_prompt_tokens = 36;
  m.rows[1].ttft_ms = 30;
  m.rows[0].usage.cached_tokens = 16;  // only the shared prefix: not a hit
  m.rows[0].usage.computed_prompt_tokens = 84;
  score_mode(m, full, reqs, /*common_prefix=*/20);
  EXPECT_DOUBLE_EQ(m.summary.hit_rate, 0.5);
  EXPECT_DOUBLE_EQ(m.summary.reuse_rate, 80.0 / 200.0);
  EXPECT_DOUBLE_EQ(m.summary.prefill_saved, 1.0 - 120.0 / 200.0);
  EXPECT_DOUBLE_EQ(m.summary.first_token_agreement, 0.5);
  EXPECT_DOUBLE_EQ(m.summary.exact_match_rate, 0.5);
  EXPECT_DOUBLE_EQ(m.summary.rouge_vs_full, (1.0 + 0.75) / 2);
  EXPECT_DOUBLE_EQ(m.summary.rouge_vs_ref, 1.0);  // only request 0 has a reference
  EXPECT_DOUBLE_EQ(m.summary.ttft_p50, 20.0);
  score_mode(full, full, reqs, 20);
  EXPECT_DOUBLE_EQ(full.summary.first_token_agreement, 1.0);
  EXPECT_NEAR(full.summary.bleu_vs_full, 100.0, 1e-9);
  EXPECT_DOUBLE_EQ(full.summary.hit_rate, 0.0);
}

}  // namespace
}  // namespace kvs::eval
