#include "eval/workload.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <span>

namespace kvs::eval {

namespace {

// SplitMix64: a fixed generator, so the stream does not depend on the standard library's distributions.
uint64_t mix64(uint64_t z) {  // SplitMix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t s;
  uint64_t next() {
    return mix64(s += 0x9E3779B97F4A7C15ull);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

std::vector<int> shuffled(int n, uint64_t seed) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  Rng rng{seed};
  for (int i = n - 1; i > 0; --i) std::swap(v[i], v[rng.below(static_cast<size_t>(i) + 1)]);
  return v;
}

constexpr std::array<const char*, 16> kRoles = {
    "nurse",          "retired teacher", "software engineer", "pharmacist",   "high-school student", "farmer",
    "physiotherapist", "journalist",     "bus driver",        "accountant",   "medical student",     "chef",
    "social worker",  "lawyer",          "caregiver",         "librarian"};
constexpr std::array<const char*, 16> kCities = {"Lyon",   "Austin", "Nairobi", "Osaka",    "Leeds", "Porto",
                                                 "Denver", "Krakow", "Lagos",   "Montreal", "Pune",  "Perth",
                                                 "Bergen", "Quito",  "Seoul",   "Tucson"};
constexpr std::array<const char*, 8> kPrefs = {
    "prefers short answers",         "likes step-by-step explanations", "wants plain language, no jargon",
    "prefers bullet points",         "asks for the key facts first",    "likes a brief summary at the end",
    "prefers a formal tone",         "wants sources mentioned when possible"};
constexpr std::array<const char*, 12> kFacts = {
    "Allergic to penicillin.",
    "Has type 2 diabetes and mild hypertension.",
    "Asks on behalf of an elderly parent.",
    "Speaks English as a second language.",
    "Is preparing for a nursing exam next month.",
    "Recently moved and has no regular doctor yet.",
    "Has a family history of heart disease.",
    "Is 28 weeks pregnant.",
    "Runs marathons and trains five days a week.",
    "Takes a daily statin and a low-dose aspirin.",
    "Works night shifts.",
    "Cares for two children under five."};

EvalRequest make_rag_request(const RagItem& item, int use, int index, uint64_t seed) {
  EvalRequest r;
  r.key = "p" + std::to_string(item.id);
  r.use = use;
  r.index = index;
  const bool second = use % 2 == 1 && !item.question2.empty();
  r.question = second ? item.question2 : item.question;
  r.share_text = user_preamble(seed, index) + "\n\nReference passage:\n" + item.passage + "\n\nQuestion: " + r.question;
  r.messages = {{"system", kRagSystemPrompt}, {"user", r.share_text}};
  r.reference = item.passage;
  return r;
}

// A request over a set of passages (workload.h, rag with rag_passages_max > 1).
EvalRequest make_rag_set_request(std::span<const RagItem* const> set, int use, int index, uint64_t seed) {
  const int size = static_cast<int>(set.size());
  const RagItem& asked = *set[use % size];
  EvalRequest r;
  r.key = "m" + std::to_string(set[0]->id);
  r.use = use;
  r.index = index;
  r.question = (use / size) % 2 == 1 && !asked.question2.empty() ? asked.question2 : asked.question;
  std::string text = user_preamble(seed, index) + "\n\nReference passages:";
  for (int i = 0; i < size; ++i) text += "\n[" + std::to_string(i + 1) + "] " + set[i]->passage + "\n";
  r.share_text = text + "\nQuestion: " + r.question;
  r.messages = {{"system", kRagSystemPrompt}, {"user", r.share_text}};
  r.reference = asked.passage;
  return r;
}

void make_rag_sets(const EvalData& data, const WorkloadOptions& opt, std::vector<EvalRequest>& out) {
  const auto order = shuffled(static_cast<int>(data.rag.size()), opt.seed);
  const int span = opt.rag_passages_max - opt.rag_passages_min + 1;
  std::vector<std::vector<const RagItem*>> sets;
  for (size_t i = 0, j = 0;; ++j) {
    const size_t size = static_cast<size_t>(opt.rag_passages_min + static_cast<int>(j % span));
    if (i + size > order.size()) break;
    std::vector<const RagItem*> set;
    for (size_t k = 0; k < size; ++k) set.push_back(&data.rag[order[i + k]]);
    sets.push_back(std::move(set));
    i += size;
  }
  for (size_t w = 0; w < sets.size() && static_cast<int>(out.size()) < opt.n; w += opt.window) {
    const size_t w_end = std::min(sets.size(), w + opt.window);
    for (int use = 0; use < opt.rag_uses; ++use)
      for (size_t i = w; i < w_end && static_cast<int>(out.size()) < opt.n; ++i)
        out.push_back(make_rag_set_request(sets[i], use, static_cast<int>(out.size()), opt.seed));
  }
}

// One step of a growing session (workload.h): which of the session's passages, in order, and which is asked.
struct GrowingStep {
  std::array<int, 4> passages;  // indices into the session's four; -1 = none
  int asked;                    // the passage whose question is asked
  bool second;                  // its second question (when it has one)
};
constexpr std::array<GrowingStep, 10> kGrowingSteps = {{{{0, -1, -1, -1}, 0, false},
                                                       {{0, -1, -1, -1}, 0, true},
                                                       {{0, 1, -1, -1}, 1, false},
                                                       {{0, 1, -1, -1}, 1, true},
                                                       {{0, 1, 2, -1}, 2, false},
                                                       {{0, 1, 2, -1}, 2, true},
                                                       {{1, 3, -1, -1}, 3, false},
                                                       {{2, 0, -1, -1}, 0, true},
                                                       {{0, 1, 2, 3}, 3, true},
                                                       {{3, 0, 1, 2}, 1, false}}};

EvalRequest make_growing_request(std::span<const RagItem* const> session, int step, int index, uint64_t seed) {
  const GrowingStep& s = kGrowingSteps[step];
  const RagItem& asked = *session[s.asked];
  EvalRequest r;
  r.key = "s" + std::to_string(session[0]->id);
  r.use = step;
  r.index = index;
  r.question = s.second && !asked.question2.empty() ? asked.question2 : asked.question;
  std::string text = user_preamble(seed, index) + "\n\nReference passages:";
  int number = 1;
  for (int p : s.passages)
    if (p >= 0) text += "\n[" + std::to_string(number++) + "] " + session[p]->passage + "\n";
  r.share_text = text + "\nQuestion: " + r.question;
  r.messages = {{"system", kRagSystemPrompt}, {"user", r.share_text}};
  r.reference = asked.passage;
  return r;
}

void make_growing(const EvalData& data, const WorkloadOptions& opt, std::vector<EvalRequest>& out) {
  const auto order = shuffled(static_cast<int>(data.rag.size()), opt.seed);
  std::vector<std::array<const RagItem*, 4>> sessions;
  for (size_t i = 0; i + 4 <= order.size(); i += 4)
    sessions.push_back({&data.rag[order[i]], &data.rag[order[i + 1]], &data.rag[order[i + 2]], &data.rag[order[i + 3]]});
  for (size_t w = 0; w < sessions.size() && static_cast<int>(out.size()) < opt.n; w += opt.window) {
    const size_t w_end = std::min(sessions.size(), w + opt.window);
    for (int step = 0; step < static_cast<int>(kGrowingSteps.size()); ++step)
      for (size_t i = w; i < w_end && static_cast<int>(out.size()) < opt.n; ++i)
        out.push_back(make_growing_request(sessions[i], step, static_cast<int>(out.size()), opt.seed));
  }
}

}  // namespace

const char* workload_name(WorkloadKind k) {
  switch (k) {
    case WorkloadKind::kRag: return "rag";
    case WorkloadKind::kGrowing: return "growing";
    case WorkloadKind::kParaphrase: break;
  }
  return "paraphrase";
}

const char* split_name(Split s) {
  switch (s) {
    case Split::kTune: return "tune";
    case Split::kTest: return "test";
    case Split::kAll: break;
  }
  return "all";
}

bool parse_split(const std::string& s, Split* out) {
  if (s == "all") *out = Split::kAll;
  else if (s == "tune") *out = Split::kTune;
  else if (s == "test") *out = Split::kTest;
  else return false;
  return true;
}

std::string focus_key(const std::string& focus) {
  std::string out;
  bool gap = false;
  for (unsigned char c : focus) {
    if (std::isalnum(c)) {
      if (gap && !out.empty()) out += ' ';
      out += static_cast<char>(std::tolower(c));
      gap = false;
    } else {
      gap = true;
    }
  }
  return out;
}

Split focus_split(const std::string& focus) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a 64
  for (unsigned char c : focus_key(focus)) h = (h ^ c) * 0x100000001B3ull;
  return (mix64(h) & 1) == 0 ? Split::kTune : Split::kTest;
}

EvalData filter_split(const EvalData& d, Split s) {
  if (s == Split::kAll) return d;
  EvalData out;
  for (const auto& g : d.groups)
    if (focus_split(g.focus) == s) out.groups.push_back(g);
  for (const auto& r : d.rag)
    if (focus_split(r.focus) == s) out.rag.push_back(r);
  return out;
}

bool parse_workload(const std::string& s, WorkloadKind* out) {
  if (s == "rag") *out = WorkloadKind::kRag;
  else if (s == "growing") *out = WorkloadKind::kGrowing;
  else if (s == "paraphrase") *out = WorkloadKind::kParaphrase;
  else return false;
  return true;
}

std::string user_preamble(uint64_t seed, int index) {
  Rng rng{seed ^ (0xA24BAED4963EE407ull * (static_cast<uint64_t>(index) + 1))};
  std::string s = "User profile: id " + std::to_string(1000 + rng.below(9000)) + ", " + kRoles[rng.below(kRoles.size())] +
                  " in " + kCities[rng.below(kCities.size())] + ", " + kPrefs[rng.below(kPrefs.size())] + ".";
  const size_t n_facts = rng.below(4);  // 0..3 extra sentences: preambles of different lengths
  size_t f = rng.below(kFacts.size());
  for (size_t k = 0; k < n_facts; ++k, f = (f + 1 + rng.below(3)) % kFacts.size()) {
    s += ' ';
    s += kFacts[f];
  }
  return s;
}

Result<std::vector<EvalRequest>> make_workload(WorkloadKind kind, const EvalData& all, const WorkloadOptions& opt) {
  const EvalData data = filter_split(all, opt.split);
  if (opt.n < 1) return invalid_argument("n must be at least 1");
  if (opt.window < 1) return invalid_argument("window must be at least 1");
  if (opt.rag_uses < 1) return invalid_argument("rag_uses must be at least 1");
  if (opt.rag_passages_min < 1 || opt.rag_passages_max < opt.rag_passages_min || opt.rag_passages_max > 8)
    return invalid_argument("rag passages per prompt must be a range within 1-8");
  std::vector<EvalRequest> out;
  out.reserve(opt.n);
  if (kind == WorkloadKind::kParaphrase) {
    const auto order = shuffled(static_cast<int>(data.groups.size()), opt.seed);
    for (size_t w = 0; w < order.size() && static_cast<int>(out.size()) < opt.n; w += opt.window) {
      const size_t w_end = std::min(order.size(), w + opt.window);
      size_t max_q = 0;
      for (size_t i = w; i < w_end; ++i) max_q = std::max(max_q, data.groups[order[i]].questions.size());
      for (size_t q = 0; q < max_q; ++q) {
        for (size_t i = w; i < w_end && static_cast<int>(out.size()) < opt.n; ++i) {
          const ParaphraseGroup& g = data.groups[order[i]];
          if (q >= g.questions.size()) continue;
          EvalRequest r;
          r.index = static_cast<int>(out.size());
          r.key = "g" + std::to_string(g.id);
          r.use = static_cast<int>(q);
          r.question = g.questions[q].text;
          r.share_text = r.question;
          r.messages = {{"user", r.question}};
          r.reference = g.reference;
          out.push_back(std::move(r));
        }
      }
    }
  } else if (kind == WorkloadKind::kGrowing) {
    make_growing(data, opt, out);
  } else if (opt.rag_passages_max > 1) {
    make_rag_sets(data, opt, out);
  } else {
    const auto order = shuffled(static_cast<int>(data.rag.size()), opt.seed);
    for (size_t w = 0; w < order.size() && static_cast<int>(out.size()) < opt.n; w += opt.window) {
      const size_t w_end = std::min(order.size(), w + opt.window);
      for (int use = 0; use < opt.rag_uses; ++use)
        for (size_t i = w; i < w_end && static_cast<int>(out.size()) < opt.n; ++i)
          out.push_back(make_rag_request(data.rag[order[i]], use, static_cast<int>(out.size()), opt.seed));
    }
  }
  if (static_cast<int>(out.size()) < opt.n)
    return invalid_argument("the data holds only " + std::to_string(out.size()) + " " + workload_name(kind) +
                            " requests (split " + split_name(opt.split) + "); asked for " + std::to_string(opt.n));
  return out;
}

}  // namespace kvs::eval
