#!/usr/bin/env python3
"""The demo's two users (scripts/run_demo.sh): one asks a question, another user of the same share domain asks a
paraphrase of it; prints both answers and the second one's sharing report. Python standard library only.
  demo_client.py PORT KEY_A KEY_B OPERATOR_KEY "question" "paraphrase" [max_tokens]
The time to first token of each request is the engine's own, read from the dashboard's request log.
"""
import json
import sys
import urllib.request


def ask(port, key, question, max_tokens):
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens, "temperature": 0,
            "kvshare": {"report": True}}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def logged(port, operator_key, request_id):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/dashboard/api/requests/{request_id}",
                                 headers={"Authorization": f"Bearer {operator_key}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def show(who, question, resp, log):
    print(f"\n== {who} asks: {question}")
    print(resp["choices"][0]["message"]["content"].strip())
    print(f"-- {resp['id']}: mode {log['mode']}, TTFT {log['ttft_ms']:.0f} ms, {log['prompt_tokens']} prompt tokens")


def main():
    port, key_a, key_b, operator_key, question, paraphrase = sys.argv[1:7]
    max_tokens = int(sys.argv[7]) if len(sys.argv) > 7 else 96
    first = ask(port, key_a, question, max_tokens)
    second = ask(port, key_b, paraphrase, max_tokens)
    log_a, log_b = logged(port, operator_key, first["id"]), logged(port, operator_key, second["id"])
    show("user A (tenant alice)", question, first, log_a)
    show("user B (tenant bob, same share domain)", paraphrase, second, log_b)
    rep = second["kvshare"]
    print("\n== sharing report of user B's request")
    print(f"   mode:        {rep['mode']}" + (" (the quality guard fell back to full prefill)" if rep.get("fell_back") else ""))
    if log_b["donor_id"] >= 0:
        whose = " (user A's prompt)" if log_b.get("donor_request_id") == first["id"] else ""
        print(f"   donor:       #{log_b['donor_id']}{whose}, similarity {log_b['similarity']:.3f}")
    print(f"   reused:      {rep['reused_tokens']} of {rep['total_tokens']} prompt tokens")
    print(f"   recomputed:  {rep['recomputed_tokens']} tokens")
    print(f"   edit script: {rep.get('edit_script') or '(none)'}   (K keep, D delete, I insert, (+n) shift)")
    print(f"   TTFT:        user A {log_a['ttft_ms']:.0f} ms, user B {log_b['ttft_ms']:.0f} ms")
    print(f"\nDashboard (the sharing view of user B's request; KVS_DEMO_KEEP=1 keeps the server up to look):\n"
          f"   http://127.0.0.1:{port}/dashboard#key={operator_key}&req={second['id']}")


if __name__ == "__main__":
    main()
