#!/usr/bin/env python3
"""Load for `gpt-dist serve`: C concurrent clients, each streaming R completions one after another.

Prints aggregate decode throughput (completion tokens / wall time), time to first token
(request sent -> first text event) and per-token latency (a completion's time from its first to
its last text event / (events - 1): one value per completion, robust to a client that reads
several events at once) as p50/p99 over the completions. Only talks to the address given (default 127.0.0.1:8080); stops by
itself after C*R requests.

  python3 scripts/serve_load.py --port 8080 --clients 4 --requests 3 --max-tokens 200
"""
import argparse
import http.client
import json
import statistics
import threading
import time


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def one_stream(host, port, body, out):
    conn = http.client.HTTPConnection(host, port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        out.append({"error": f"{response.status} {response.read()[:200]!r}"})
        return
    first = None
    stamps = []
    tokens = 0
    buffer = b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            data = event[len(b"data: "):]
            if data == b"[DONE]":
                continue
            obj = json.loads(data)
            now = time.perf_counter()
            choice = obj["choices"][0]
            if choice["text"]:
                if first is None:
                    first = now
                stamps.append(now)
            if obj.get("usage"):
                tokens = obj["usage"]["completion_tokens"]
    conn.close()
    per_token = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
    out.append({"ttft": (first or time.perf_counter()) - start, "per_token": per_token, "tokens": tokens})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--requests", type=int, default=3, help="completions per client, one after another")
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=200)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("serve_load.py only loads a server on this machine (127.0.0.1)")

    results = []
    lock = threading.Lock()

    def client(index):
        mine = []
        for r in range(args.requests):
            body = {"prompt": args.prompt, "max_tokens": args.max_tokens, "temperature": args.temperature,
                    "top_k": args.top_k, "seed": 1000 * index + r, "stream": True}
            try:
                one_stream(args.host, args.port, body, mine)
            except OSError as e:
                mine.append({"error": f"{type(e).__name__}: {e}"})
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    errors = [r["error"] for r in results if "error" in r]
    done = [r for r in results if "error" not in r]
    tokens = sum(r["tokens"] for r in done)
    ttft = [r["ttft"] for r in done]
    per_token = [r["per_token"] for r in done if r["per_token"] == r["per_token"]]
    print(f"clients {args.clients}, {len(done)} completions of {args.max_tokens} tokens, {len(errors)} errors, wall {wall:.2f} s")
    print(f"aggregate {tokens / wall:.1f} tokens/s")
    print(f"time to first token p50 {percentile(ttft, 50) * 1000:.1f} ms, p99 {percentile(ttft, 99) * 1000:.1f} ms")
    print(f"per-token latency p50 {percentile(per_token, 50) * 1000:.2f} ms, p99 {percentile(per_token, 99) * 1000:.2f} ms"
          f" (mean {statistics.mean(per_token) * 1000 if per_token else float('nan'):.2f} ms)")
    for e in errors[:3]:
        print("error:", e)


if __name__ == "__main__":
    main()
