"""The timing half of one agent's play on a dataset's held-out maps, no mods.

Accuracy and spinners cleared as ``osu-imitation evaluate`` reports them (the same plays:
seed 0), plus what the key decoder is judged on: double taps (two presses inside one
circle's 50 window) per 1,000 circles and the share of each spinner a key is held.

    python scripts/keys_report.py --maps ../shared/data/maps --held-out data/mine \
        --agent humanized+keys --keys-checkpoint runs/keys --keys-temperature 0.4
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from threadpoolctl import threadpool_limits

from agents.evaluate import held_out_maps, maps_in
from agents.keys import KEYS_TEMPERATURE
from agents.metrics import held, key_stats
from agents.runner import make_agent, play
from osu_env import rules
from osu_env.beatmap import SPINNER, load_beatmap


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--maps", required=True)
    p.add_argument("--held-out", required=True, help="dataset folder: its validation maps")
    p.add_argument("--agent", required=True)
    p.add_argument("--checkpoint")
    p.add_argument("--keys-checkpoint")
    p.add_argument("--keys-temperature", type=float, default=KEYS_TEMPERATURE)
    p.add_argument("--keys-free-slider-holds", action="store_true",
                   help="draw a slider's hold from the whole mixture, as before 2026-12-07")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)
    threadpool_limits(1)
    paths = held_out_maps(maps_in([a.maps]), a.held_out)
    kw = ({"keys_checkpoint": a.keys_checkpoint, "keys_temperature": a.keys_temperature,
           "keys_slider_holds": not a.keys_free_slider_holds} if a.agent.endswith("+keys") else {})
    agent = make_agent(a.agent, a.checkpoint, **kw)
    counts, doubles, circles, cleared, spinners, hold = np.zeros(4, int), 0, 0, 0, 0, []
    for path in paths:
        bm = load_beatmap(path)
        pl = play(agent, bm, seed=a.seed)
        counts += pl.result.counts
        t, _, _, k = (np.asarray(c) for c in zip(*pl.frames))
        ks = key_stats(bm, t, k)
        doubles, circles = doubles + ks.double_taps, circles + ks.circles
        c, n = pl.result.spinners_cleared
        cleared, spinners = cleared + c, spinners + n
        down = held(k).any(1)
        for i in np.flatnonzero(bm.kind == SPINNER):
            during = (t >= bm.start_ms[i]) & (t <= bm.end_ms[i])
            hold.append(float(down[during].mean()) if during.any() else 0.0)
    print(json.dumps({"agent": a.agent, "maps": len(paths), "accuracy": rules.accuracy_percent(*counts),
                      "spinners_cleared": cleared / spinners if spinners else 1.0,
                      "double_taps_per_1k_circles": 1000 * doubles / max(circles, 1),
                      "spinner_hold_share_mean": float(np.mean(hold)) if hold else None}))


if __name__ == "__main__":
    main()
