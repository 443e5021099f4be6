"""Time to first token of one long prompt (~3,000 tokens of MedQuAD answers) through a running `kvshare serve`.

Usage: python bench/ttft_long_prompt.py PORT [DATA]   (DATA: a MedQuAD jsonl.gz, default ../shared/data/medquad.jsonl.gz)
Streams 3 requests in a row with kvshare.mode = full (no reuse) and prints each TTFT (first content chunk).
"""
import gzip, http.client, json, pathlib, sys, time
port = int(sys.argv[1])
data = sys.argv[2] if len(sys.argv) > 2 else str(pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'medquad.jsonl.gz')
rows = [json.loads(l) for l in gzip.open(data, 'rt')]
text = ""
for r in rows:
    if r.get('answer') and len(r['answer']) > 2000:
        text += r['answer'] + "\n\n"
    if len(text) > 20000: break
def ttft(t):
    body = json.dumps({"messages": [{"role": "user", "content": t + "\nQuestion: summarise the passage."}], "max_tokens": 4,
                       "temperature": 0, "stream": True, "stream_options": {"include_usage": True}, "kvshare": {"mode": "full"}})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300); t0 = time.time()
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}); r = c.getresponse()
    first = None; usage = None
    for line in r:
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]": continue
        j = json.loads(line[6:])
        if first is None and j.get("choices") and (j["choices"][0]["delta"].get("content") or j["choices"][0].get("finish_reason")): first = time.time() - t0
        if j.get("usage"): usage = j["usage"]
    return first, usage["prompt_tokens"]
for k in range(3):
    f, p = ttft(text[:15000]); print(f"prompt {p} tokens: TTFT {f*1000:.0f} ms")
