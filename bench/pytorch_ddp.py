#!/usr/bin/env python3
"""PyTorch DDP counterpart of a data-parallel `gpt-dist bench`: nanoGPT's GPT (the model of
bench/pytorch_reference.py) trained with torch.nn.parallel.DistributedDataParallel on the gloo
backend, one process per host, on random tokens; a timed step is zero_grad, forward with loss,
backward (DDP's bucketed gradient allreduce overlapping it), clip_grad_norm_(1.0), AdamW step
(fused=False, nanoGPT's groups, lr 1e-4, betas (0.9, 0.95), weight decay 0.1 on >=2-D tensors).

Across hosts (each host runs the same command; scripts/multihost.sh --each-host sets the
variables, including torchrun's PET_NNODES/PET_NODE_RANK/PET_MASTER_ADDR/PET_MASTER_PORT):

  torchrun --nnodes N --nproc-per-node 1 --node-rank I --master-addr HOST1 --master-port 29500 \\
      bench/pytorch_ddp.py --preset shakespeare-gpu --vocab-size 50304 --batch-size 8 --threads 1

Without torchrun it is one process, no process group and no DDP (the one-host baseline).

usage: bench/pytorch_ddp.py [--preset shakespeare-cpu|shakespeare-gpu|gpt2-124m]
       [--n-layer L --n-head H --n-embd C --block-size T --batch-size B (per rank) --vocab-size V]
       [--dropout P] [--no-bias] [--iters N] [--warmup N] [--threads N] [--seed S]
       [--bucket-mb MB] [--bf16-compress] [--exposed-comm] [--no-allreduce-bandwidth]

Gloo binds to GLOO_SOCKET_IFNAME; when it is not set, to the interface of the route to
MASTER_ADDR (in an emulated host: its veth), so no traffic takes another path.
Rank 0 prints; `tokens/s` is global (world size x batch x block / rank 0's best step). Under
torchrun it first times 10 gloo allreduces of 16 MiB and prints them as `gpt-dist doctor` prints
its own (`allreduce 16 MiB: ... bus bandwidth ... GB/s`): gloo's effective bandwidth.
"""
import argparse
import datetime
import os
import resource
import socket
import subprocess
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import PRESETS, model_from_args  # noqa: E402  (nanoGPT's model, the same presets as gpt-dist bench)


def interface_towards(addr):
    """The interface the kernel would use to reach addr (`ip route get`), or None."""
    try:
        out = subprocess.run(["ip", "route", "get", addr], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    words = out.split()
    return words[words.index("dev") + 1] if "dev" in words else None


def gloo_allreduce_bandwidth(world, repetitions=10):
    """gpt-dist doctor's figure for gloo: 16 MiB float32 allreduce, slowest rank's time per call,
    bus bandwidth = bytes / time x 2(n-1)/n (nccl-tests' definition)."""
    x = torch.ones(4 << 20)
    dist.all_reduce(x)  # warm-up (and connections)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(repetitions):
        dist.all_reduce(x)
    seconds = torch.tensor([(time.perf_counter() - start) / repetitions], dtype=torch.float64)
    dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
    t = seconds.item()
    algorithm = x.numel() * 4 / t / 1e9
    return (f"{t * 1e3:.2f} ms per allreduce, bus bandwidth {algorithm * 2 * (world - 1) / world:.2f} GB/s "
            f"(algorithm {algorithm:.2f} GB/s, {repetitions} repetitions, slowest rank; gloo)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=PRESETS, default="shakespeare-cpu")
    for name in ["n-layer", "n-head", "n-embd", "block-size", "vocab-size"]:
        ap.add_argument("--" + name, type=int)
    ap.add_argument("--batch-size", type=int, help="sequences per step per rank")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--no-bias", action="store_true")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads per process (default 1)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket_cap_mb (default 25)")
    ap.add_argument("--bf16-compress", action="store_true",
                    help="DDP comm hook bf16_compress_hook: gradients allreduced as bfloat16")
    ap.add_argument("--exposed-comm", action="store_true",
                    help="also time the same steps under no_sync() (no allreduce); exposed comm = "
                         "best step - best no_sync step")
    ap.add_argument("--timeout-min", type=float, default=10, help="process group timeout (minutes)")
    ap.add_argument("--no-allreduce-bandwidth", action="store_true",
                    help="skip timing 10 gloo allreduces of 16 MiB (float32) before the steps")
    args = ap.parse_args()
    if args.iters < 1 or args.warmup < 0:
        ap.error("--iters must be positive and --warmup >= 0")

    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # started by torchrun
    if distributed:
        if "GLOO_SOCKET_IFNAME" not in os.environ:
            ifname = interface_towards(os.environ.get("MASTER_ADDR", "127.0.0.1"))
            if ifname:
                os.environ["GLOO_SOCKET_IFNAME"] = ifname
        dist.init_process_group("gloo", timeout=datetime.timedelta(minutes=args.timeout_min))
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's too)
    model, (L, H, C, T, B, V) = model_from_args(args)
    n_params = model.num_params()
    n_grad = sum(p.numel() for p in model.parameters())  # what is allreduced (wte/lm_head tied: once)
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), fused=False)

    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, bucket_cap_mb=args.bucket_mb)
        if args.bf16_compress:
            from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
            net.register_comm_hook(dist.group.WORLD, default_hooks.bf16_compress_hook)

    g = torch.Generator().manual_seed(args.seed + 1 + rank)  # each rank its own tokens
    batches = [torch.randint(0, V, (2, B, T), generator=g) for _ in range(4)]

    def run(iters, warmup, sync):
        times, loss = [], None
        for i in range(warmup + iters):
            x, y = batches[i % len(batches)]
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            if sync or not distributed:
                loss = net(x, y)
                loss.backward()
            else:
                with net.no_sync():
                    loss = net(x, y)
                    loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            elapsed = (time.perf_counter() - start) * 1e3
            if i >= warmup:
                times.append(elapsed)
        return sorted(times), loss

    allreduce_line = None
    if distributed and not args.no_allreduce_bandwidth:
        allreduce_line = gloo_allreduce_bandwidth(world)
    if distributed:
        dist.barrier()
    cpu_start = time.process_time()
    times, loss = run(args.iters, args.warmup, True)
    cpu_per_iter = (time.process_time() - cpu_start) / (args.iters + args.warmup) * 1e3
    local_times = None
    if args.exposed_comm and distributed:
        dist.barrier()
        local_times, _ = run(args.iters, 1, False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # The slowest rank's best step, for the record (every rank waits for the allreduce anyway).
    best, median = times[0], times[len(times) // 2]
    slowest_best = best
    hosts = [socket.gethostname()]
    if distributed:
        t = torch.tensor([best], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        slowest_best = t.item()
        gathered = [None] * world
        dist.all_gather_object(gathered, socket.gethostname())
        hosts = gathered

    if rank == 0:
        elem = 2 if args.bf16_compress else 4
        ring_bytes = 2 * (world - 1) / world * n_grad * elem
        print(f"model        n_layer {L}, n_head {H}, n_embd {C}, block {T}, batch {B} per rank, vocab {V}, "
              f"bias {str(not args.no_bias).lower()}, dropout {args.dropout} ({n_params / 1e6:.2f}M params)")
        print(f"threads      {args.threads} per rank (PyTorch {torch.__version__})")
        if distributed:
            hook = "bf16_compress_hook" if args.bf16_compress else "none (float32)"
            print(f"world        {world} ranks (gloo over {os.environ.get('GLOO_SOCKET_IFNAME', '?')}; "
                  f"hosts {', '.join(hosts)}); DDP bucket_cap_mb {args.bucket_mb:g}, comm hook {hook}")
        else:
            print("world        1 rank (no process group, no DDP)")
        print(f"ms/iter      {best:.2f} best, {median:.2f} median of {args.iters} (after {args.warmup} warm-up; "
              f"rank 0; slowest rank's best {slowest_best:.2f}); loss {loss.item():.4f}")
        print(f"cpu ms/iter  {cpu_per_iter:.2f} (CPU time of all threads, mean over warm-up and timed steps, rank 0)")
        print(f"tokens/s     {world * B * T / (best / 1e3):.0f} (global: {world} x {B} x {T} tokens per step, best step)")
        if allreduce_line:
            print(f"allreduce 16 MiB: {allreduce_line}")
        if local_times is not None:
            lbest = local_times[0]
            print(f"exposed comm {best - lbest:.2f} ms/iter (best step {best:.2f} - best no_sync step {lbest:.2f})")
        if distributed:
            print(f"bytes/rank/step {ring_bytes:.0f} (ring allreduce estimate: 2(n-1)/n x {n_grad} gradients x {elem} B)")
        print(f"peak RSS     {rss:.1f} MiB")
        sys.stdout.flush()
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
