"""Judge every replay in a manifest and compare with the counts osu! recorded.

    python scripts/judge_corpus.py [--data ../shared/data] [--categories human]

Prints one line per replay (ours vs the game's 300/100/50/miss and max combo), then the
exact-match rate and the per-class count error over all of them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from osu_env.corpus import data_dir, judge_manifest, summarize  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data_dir(), help="folder with manifest.csv, maps/ and replays/")
    ap.add_argument("--categories", default="human", help="comma-separated manifest categories to judge")
    ap.add_argument("--only-mismatches", action="store_true", help="list only replays whose counts differ")
    args = ap.parse_args()
    rows = judge_manifest(args.data, tuple(args.categories.split(",")))
    print(f"{'replay':52s} {'mods':>5s}  {'game 300/100/50/miss':>22s}  {'ours':>22s}  {'combo game/ours':>15s}")
    for r in rows:
        if args.only_mismatches and r.exact:
            continue
        name = Path(r.replay).name[:52]
        if r.error:
            print(f"{name:52s} {r.mods:>5d}  {'/'.join(map(str, r.game)):>22s}  ERROR {r.error}")
            continue
        mark = "" if r.exact else "  <-- differs"
        print(
            f"{name:52s} {r.mods:>5d}  {'/'.join(map(str, r.game)):>22s}  {'/'.join(map(str, r.ours)):>22s}"
            f"  {r.game_combo:>7d}/{r.ours_combo:<7d}{mark}"
        )
    s = summarize(rows)
    print()
    print(f"replays: {s['replays']}  judged: {s['judged']}  exact match: {s['exact']} ({100 * s['exact_rate']:.1f}%)"
          f"  max combo equal: {s['max_combo_exact']}")
    per = "  ".join(f"{k} {v}" for k, v in s["per_class_abs_error"].items())
    print(f"per-class |ours - game| summed: {per}  over {s['objects']} objects -> {100 * s['per_class_error_rate']:.3f}%")


if __name__ == "__main__":
    main()
