#!/usr/bin/env python3
"""The step-time model of gpt-dist's data-parallel step (docs/scaling.md, "A model of the step").

One optimizer step of a rank that processes `tokens` tokens in micro-steps of `micro` tokens:

    T_N = T_c + exposed_RS + exposed_AG + latency + overhead

  T_c         compute of one rank alone: tokens x t_tok (forward + backward + AdamW)
  window_RS   the last micro-step's backward after lm_head's (wte's bucket is final there):
              (2/3) x micro x t_tok x (1 - h), h = lm_head's share of the FLOPs
  RS          reduce-scatter of the gradients: (N-1)/N x G x wire/4 / B + buckets x (N-1) x alpha,
              plus every rank's embedding-lookup rows after backward: (N-1) x micro x (C+1) x 4 / B
  window_AG   the first micro-step's forward before lm_head: (1/3) x micro x t_tok x (1 - h)
  AG          allgather of the parameters: (N-1)/N x P / B + buckets x (N-1) x alpha,
              plus the embedding rows fetched before the lookup: (N-1) x micro x C x 4 / B
  exposed_X   max(0, X - window_X)
  latency     the norm's allreduce: 2 log2(N) x alpha
  overhead    kappa x bytes a rank moves (sent + received): the CPU time TCP takes from the
              rank's own cores (calibrated on the emulated hosts)

Stage 0 replaces RS and AG by one allreduce of 2(N-1)/N x G in the backward window.
Bytes per direction B (GB/s) is the link's payload rate. Efficiency = T_c / T_N.

  python3 scripts/scaling_model.py check          # the model beside the measured 2-host cells
  python3 scripts/scaling_model.py predict [T_TOK [KAPPA]]   # GPT-2 124M at 2..64 hosts, 10 and 100 Gbit/s
"""
import math
import sys

# GPT-2 124M (vocab 50304, nanoGPT's padded vocabulary) and the shakespeare-gpu shape.
SHAPES = {
    "gpt2-124m": dict(params=124_475_904, vocab=50304, embd=768, buckets=20),
    "shakespeare-gpu": dict(params=30_148_608, vocab=50304, embd=384, buckets=9),
}


def step_time(shape, n, t_tok, tokens, micro, bandwidth, alpha, kappa, wire=4, stage=1):
    s = SHAPES[shape]
    grad = s["params"] * 4.0
    h = s["vocab"] * s["embd"] / s["params"]  # lm_head's share of the matrix products
    t_c = tokens * t_tok
    backward = 2.0 / 3.0 * micro * t_tok * (1 - h)
    forward = 1.0 / 3.0 * micro * t_tok * (1 - h)
    b = bandwidth * 1e9
    frac = (n - 1) / n
    rows = (n - 1) * micro * (s["embd"] + 1) * 4.0
    if stage == 1:
        rs = frac * grad * wire / 4 / b + s["buckets"] * (n - 1) * alpha + rows / b
        ag = frac * grad / b + s["buckets"] * (n - 1) * alpha + (n - 1) * micro * s["embd"] * 4.0 / b
        exposed = max(0.0, rs - backward) + max(0.0, ag - forward)
        moved = 2 * (frac * grad * wire / 4 + rows + frac * grad + (n - 1) * micro * s["embd"] * 4.0)
    else:
        ar = 2 * frac * grad * wire / 4 / b + 2 * s["buckets"] * (n - 1) * alpha + rows / b
        exposed = max(0.0, ar - backward)
        moved = 2 * (2 * frac * grad * wire / 4 + rows)
    latency = 2 * math.log2(n) * alpha
    total = t_c + exposed + latency + kappa * moved
    return total, t_c / total, exposed


# Link payload rates per direction (GB/s): 1gbit measured as raw TCP (0.957 Gbit/s); 10gbit and
# none are one core pushing TCP through a veth here (doctor's 16 MiB allreduce: 0.65-0.96 GB/s).
LINKS = {"1gbit": 0.1196, "10gbit": 0.8, "none": 0.8}

# The measured 2-host cells (docs/scaling.md's table, medians): shape, link, one rank alone
# s/step, tokens per rank, wire bytes, stage, measured s/step and exposed s/step.
CELLS = [
    ("gpt2-124m", "1gbit", 8.41, 1024, 4, 1, 10.16, 0.43),
    ("gpt2-124m", "1gbit", 8.41, 1024, 2, 1, 9.94, 0.30),
    ("gpt2-124m", "1gbit", 8.41, 1024, 4, 0, 9.94, 0.37),
    ("shakespeare-gpu", "1gbit", 3.77, 2048, 4, 1, 4.42, 0.25),
    ("shakespeare-gpu", "1gbit", 3.77, 2048, 2, 1, 4.16, 0.19),
    ("shakespeare-gpu", "10gbit", 3.81, 2048, 4, 1, 4.29, 0.07),
    ("shakespeare-gpu", "10gbit", 3.81, 2048, 4, 0, 4.17, 0.04),
]

KAPPA = 1.4e-9  # seconds of the rank's CPU per byte it sends or receives: the middle of CELLS' 1.0-1.6
ALPHA = 3e-4    # seconds per ring step of a bucket: the progress thread's 500 us sleep, half on average, plus the link


def check():
    """The measured 2-host cells beside the model."""
    print("| shape | link | wire | stage | model s/step (exposed) | measured s/step (exposed) |")
    print("|---|---|---|---|---|---|")
    for shape, link, one, tokens, wire, stage, measured, exposed in CELLS:
        t, e, x = step_time(shape, 2, one / tokens, tokens, tokens, LINKS[link], ALPHA, KAPPA, wire, stage)
        print(f"| {shape} | {link} | {'bf16' if wire == 2 else 'fp32'} | {stage} | {t:.2f} ({x:.2f}) "
              f"| {measured:.2f} ({exposed:.2f}) |")


def predict():
    """GPT-2 124M at 2..64 hosts over 10 and 100 Gbit/s: the efficiency with one micro-step of
    1 x 1024 tokens per rank, and the micro-steps (gradient accumulation) each rank needs for
    0.90. Two kinds of rank: one core as here, paying TCP's CPU time itself (KAPPA), and a
    many-core node 16 times faster whose network work runs on cores the kernels do not use."""
    one_core = 8.41 / 1024
    micro = 1024
    kinds = [(one_core, KAPPA), (one_core / 16, 0.0)]
    print("| hosts | link | 1-core rank: efficiency (1 micro-step) | micro-steps for 0.90 "
          "| 16x rank: efficiency (1 micro-step) | micro-steps for 0.90 |")
    print("|---|---|---|---|---|---|")
    for link, bw in [("10 Gbit/s", 1.17), ("100 Gbit/s", 11.7)]:
        for n in [2, 4, 8, 16, 64]:
            cells = []
            for t_tok, kappa in kinds:
                _, e1, _ = step_time("gpt2-124m", n, t_tok, micro, micro, bw, ALPHA, kappa)
                need = next((a for a in range(1, 1025)
                             if step_time("gpt2-124m", n, t_tok, a * micro, micro, bw, ALPHA, kappa)[1] >= 0.90), None)
                cells += [f"{e1:.2f}", str(need) if need else "> 1024"]
            print(f"| {n} | {link} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "predict"
    check() if what == "check" else predict()
