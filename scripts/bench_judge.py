"""How fast the judge is: median time to judge one replay, replays/s and frames/s.

    python scripts/bench_judge.py [--data ../shared/data] [--repeats 5]

Maps and replays are loaded once, outside the timing; each replay is judged
``--repeats`` times and its median taken.  Run it on one core (``taskset -c 0``).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from osu_env.beatmap import load_beatmap  # noqa: E402
from osu_env.corpus import data_dir  # noqa: E402
from osu_env.errors import OsuInputError  # noqa: E402
from osu_env.judge import judge  # noqa: E402
from osu_env.replay import load_replay  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data_dir())
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    pairs = []
    with open(args.data / "manifest.csv", newline="") as f:
        for m in csv.DictReader(f):
            if m["category"] != "human":
                continue
            try:
                rp = load_replay(args.data / m["replay_file"])
                pairs.append((load_beatmap(args.data / m["map_file"], mods=rp.mods), rp))
            except OsuInputError as e:
                print(f"skipped: {e}")
    per_replay, frames = [], 0
    for bm, rp in pairs:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            judge(bm, rp)
            times.append(time.perf_counter() - t0)
        per_replay.append(statistics.median(times))
        frames += rp.n_frames
    total = sum(per_replay)
    big = [t for (bm, _), t in zip(pairs, per_replay) if bm.n_objects >= 100]
    print(f"replays: {len(pairs)}  frames: {frames}")
    print(f"median per replay: {1000 * statistics.median(per_replay):.2f} ms")
    if big:
        print(f"median per full song (>=100 objects, {len(big)} replays): {1000 * statistics.median(big):.2f} ms")
    print(f"replays/s: {len(pairs) / total:.1f}  frames/s: {frames / total:,.0f}")


if __name__ == "__main__":
    main()
