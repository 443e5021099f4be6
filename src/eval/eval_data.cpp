#include "eval/eval_data.h"

#include <nlohmann/json.hpp>
#include <set>

#include "eval/gzip_reader.h"

namespace kvs::eval {

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<EvalData> load_eval_data(const std::string& path) {
  auto raw = read_maybe_gzip_file(path);
  if (!raw.is_ok()) return raw.status();
  EvalData out;
  const std::string& text = raw.value();
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    const auto bad = [&](const std::string& why) { return corrupt(path + ":" + std::to_string(line_no) + ": " + why); };
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    const std::string kind = str(j, "kind");
    if (kind == "paraphrase") {
      ParaphraseGroup g;
      g.id = static_cast<int>(out.groups.size());
      g.focus = str(j, "focus");
      g.qtype = str(j, "qtype");
      g.reference = str(j, "reference");
      auto qs = j.find("questions");
      if (qs == j.end() || !qs->is_array()) return bad("paraphrase row without questions");
      std::set<std::string> seen;
      for (const auto& q : *qs) {
        GroupQuestion gq{str(q, "text"), str(q, "origin"), str(q, "qid")};
        if (gq.text.empty() || !seen.insert(gq.text).second) return bad("empty or repeated question");
        g.questions.push_back(std::move(gq));
      }
      if (g.questions.size() < 2) return bad("paraphrase group with fewer than 2 questions");
      out.groups.push_back(std::move(g));
    } else if (kind == "rag") {
      RagItem r;
      r.id = static_cast<int>(out.rag.size());
      r.qid = str(j, "qid");
      r.collection = str(j, "collection");
      r.doc = str(j, "doc");
      r.focus = str(j, "focus");
      r.qtype = str(j, "qtype");
      r.question = str(j, "question");
      r.passage = str(j, "passage");
      r.qid2 = str(j, "qid2");
      r.qtype2 = str(j, "qtype2");
      r.question2 = str(j, "question2");
      if (r.question.empty() || r.passage.empty()) return bad("rag row without question or passage");
      out.rag.push_back(std::move(r));
    } else {
      return bad("unknown kind '" + kind + "'");
    }
  }
  return out;
}

}  // namespace kvs::eval
