"""Behavioural-cloning training throughput: sequences (windows) per second.

    python scripts/bench_train.py --data out/ds [--device cuda] [--batch 32] [--window 256]

Times forward + backward + optimizer steps of the LSTM policy on real windows from a
dataset built by `osu-imitation dataset`, after a warm-up, on CPU (and on CUDA when
present, with bf16 autocast as in training).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agents.dataset import Dataset
from agents.lstm import LSTMPolicy, bc_losses


def bench(ds: Dataset, device: torch.device, batch: int, window: int, hidden: int, steps: int) -> float:
    torch.manual_seed(0)
    model = LSTMPolicy(ds.obs.shape[1], hidden=hidden).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    eps = ds.split("train")
    amp = device.type == "cuda"

    def step():
        obs, act, prev = (torch.as_tensor(a, device=device) for a in ds.sample_windows(eps, batch, window, rng))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            nll, bce = bc_losses(model, obs, act, prev)
        opt.zero_grad()
        (nll + bce).backward()
        opt.step()

    for _ in range(3):
        step()
    if amp:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if amp:
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--batch", type=int, default=32, help="windows per step")
    p.add_argument("--window", type=int, default=256, help="steps per window")
    p.add_argument("--hidden", type=int, default=256, help="LSTM width")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    args = p.parse_args()
    ds = Dataset(args.data)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; batch {args.batch} x window {args.window}, hidden {args.hidden}")
    for d in devices:
        rate = bench(ds, d, args.batch, args.window, args.hidden, args.steps)
        print(f"{d.type:5s} {rate:8.1f} sequences/s  ({rate * args.window:9.0f} steps/s)")


if __name__ == "__main__":
    main()
