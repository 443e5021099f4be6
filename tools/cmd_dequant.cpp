// `kvshare dequant`: a test/diagnostic tool. Writes the first --rows rows of a GGUF tensor, dequantised by the CPU
// kernels of the active ISA (KVS_ISA=scalar|avx2|avx512 picks one), as float32 to --out; the reference test
// (tests/python/test_quant_ref.py) compares them with the gguf package's dequantisation.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "gguf/gguf_file.h"
#include "kernels/cpu/ops.h"

namespace kvs::cli {

namespace {
struct DequantArgs {
  std::string model, tensor, out;
  int64_t rows = 4;
};

int run_dequant(const DequantArgs& a) {
  auto f = gguf::GgufFile::open(a.model);
  if (!f.is_ok()) {
    std::fprintf(stderr, "error: cannot open %s: %s\n", a.model.c_str(), f.status().to_string().c_str());
    return 1;
  }
  const gguf::TensorInfo* t = f.value()->find_tensor(a.tensor);
  if (!t) {
    std::fprintf(stderr, "error: %s has no tensor '%s'\n", a.model.c_str(), a.tensor.c_str());
    return 2;
  }
  if (!kernels::supports_weight_type(t->type) || t->ne.empty()) {
    std::fprintf(stderr, "error: tensor '%s' has type %s, which the kernels do not dequantise\n", a.tensor.c_str(),
                 dtype_name(t->type));
    return 2;
  }
  const int64_t k = t->ne[0], n_rows = std::min<int64_t>(a.rows, t->n_elements() / k);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(a.out.c_str(), "wb"), &std::fclose);
  if (!out) {
    std::fprintf(stderr, "error: cannot write %s\n", a.out.c_str());
    return 1;
  }
  std::vector<float> row(static_cast<size_t>(k));  // (k) one dequantised row
  const uint8_t* base = static_cast<const uint8_t*>(t->data);
  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::dequantize_row(t->type, base + r * dtype_row_bytes(t->type, k), row.data(), k);
    std::fwrite(row.data(), sizeof(float), row.size(), out.get());
  }
  std::printf("{\"type\": \"%s\", \"k\": %lld, \"rows\": %lld, \"isa\": \"%s\"}\n", dtype_name(t->type),
              static_cast<long long>(k), static_cast<long long>(n_rows), kernels::active_isa());
  return 0;
}
}  // namespace

void add_dequant(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<DequantArgs>();
  CLI::App* sub = app.add_subcommand("dequant", "Dequantise the first rows of a GGUF tensor to float32 (tests)");
  sub->add_option("-m,--model", a->model, "GGUF file")->required();
  sub->add_option("--tensor", a->tensor, "Tensor name, e.g. blk.0.ffn_down.weight")->required();
  sub->add_option("--rows", a->rows, "Rows (of ne[0] elements) to write")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--out", a->out, "Output file (float32, rows x ne[0])")->required();
  sub->callback([a, &exit_code] { exit_code = run_dequant(*a); });
}

}  // namespace kvs::cli
