"""The key decoder on the humans' own cursor paths: its timing with no cursor model between.

Behind a cursor model (``humanized+keys``, ``bc+keys``) the decoder's presses answer that
model's cursor, which reaches circles later than people's does, so its hit errors mix the
two.  Here each validation replay of a dataset keeps its recorded path and mods; the
decoder presses the keys along it, and the judge scores both the human's keys and the
decoder's on the same path.

    python scripts/keys_on_human_paths.py --data data/mine --keys-checkpoint runs/keys

Prints one line per replay (accuracy and mean hit error, decoder vs human), then the
pooled hit errors: mean, unstable rate (10 x std) and the 1-D Wasserstein distance
between the two.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from agents.dataset import Dataset
from agents.keys import KEYS_TEMPERATURE, decode, key_frames, load_decoder
from agents.metrics import wasserstein
from osu_env import rules
from osu_env.beatmap import load_beatmap
from osu_env.judge import judge
from osu_env.replay import load_replay


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="dataset folder: its validation replays")
    p.add_argument("--keys-checkpoint", required=True)
    p.add_argument("--keys-temperature", type=float, default=KEYS_TEMPERATURE)
    p.add_argument("--keys-free-slider-holds", action="store_true",
                   help="draw a slider's hold from the whole mixture, as before 2026-12-07")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)
    threadpool_limits(1)
    model, args = load_decoder(a.keys_checkpoint)
    errors = {"human": [], "decoder": []}
    counts = {"human": np.zeros(4, int), "decoder": np.zeros(4, int)}
    for i, ep in enumerate(e for e in Dataset(a.data).meta["episodes"] if e["split"] == "val"):
        rp = load_replay(ep["replay"])
        bm = load_beatmap(ep["map"], mods=rp.mods)
        t = bm.map_times(rp).astype(np.float64)
        events = decode(model, bm, (t, rp.x, rp.y), float(args["window_ms"]) * bm.clock_rate, a.seed + i, a.keys_temperature,
                        not a.keys_free_slider_holds)
        ft, x, y, keys = key_frames(t, rp.x, rp.y, events)
        ours = dataclasses.replace(rp, t_ms=bm.file_times(ft), x=x.astype(np.float32), y=y.astype(np.float32), keys=keys)
        line = [Path(ep["replay"]).name[:40], f"mods {rp.mods}"]
        for who, r in (("decoder", judge(bm, ours)), ("human", judge(bm, rp))):
            e = r.hit_error_ms[~np.isnan(r.hit_error_ms)]
            errors[who].append(e)
            counts[who] += r.counts
            line.append(f"{who} {rules.accuracy_percent(*r.counts):.2f}% mean {e.mean() if e.size else float('nan'):+.1f} ms")
        print("  ".join(line))
    h, d = np.concatenate(errors["human"]), np.concatenate(errors["decoder"])
    print(json.dumps({
        "replays": len(errors["human"]),
        "accuracy": {k: round(rules.accuracy_percent(*c), 2) for k, c in counts.items()},
        "hit_error_mean_ms": {"decoder": round(float(d.mean()), 2), "human": round(float(h.mean()), 2)},
        "unstable_rate": {"decoder": round(10 * float(d.std()), 1), "human": round(10 * float(h.std()), 1)},
        "w1_hit_error_ms": round(wasserstein(d, h), 2),
    }))


if __name__ == "__main__":
    main()
