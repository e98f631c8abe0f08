"""The ``osu-imitation`` console command.

Every subcommand turns bad input into one line on stderr naming the file and the
problem, and a non-zero exit code; tracebacks are for bugs only.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import OsuInputError, WrongBeatmapError

EXIT_BAD_INPUT = 2
DEMO_MAP = Path(__file__).resolve().parent / "demo" / "tour.osu"


def _judge(args: argparse.Namespace) -> int:
    from .beatmap import load_beatmap
    from .judge import judge
    from .replay import load_replay

    replay = load_replay(args.replay)
    beatmap = load_beatmap(args.map, mods=replay.mods)
    try:
        result = judge(beatmap, replay, check_md5=not args.force)
    except WrongBeatmapError as e:
        raise WrongBeatmapError(f"{e}; use --force to judge anyway") from None
    out = result.to_dict()
    out.update(
        {
            "map": beatmap.display_name,
            "player": replay.player,
            "mods": replay.mod_names,
            "game_counts": dict(zip(("n300", "n100", "n50", "nmiss"), replay.counts)),
            "game_max_combo": replay.max_combo,
        }
    )
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['map']}  played by {out['player'] or '?'}  [{out['mods']}]")
    print(f"{'':10s}{'300':>7s}{'100':>7s}{'50':>7s}{'miss':>7s}{'combo':>8s}")
    print(f"{'judge':10s}{out['n300']:>7d}{out['n100']:>7d}{out['n50']:>7d}{out['nmiss']:>7d}{out['max_combo']:>8d}")
    g = replay.counts
    if sum(g):
        print(f"{'osu!':10s}{g[0]:>7d}{g[1]:>7d}{g[2]:>7d}{g[3]:>7d}{replay.max_combo:>8d}")
    print(f"accuracy {out['accuracy']:.2f}%   unstable rate {out['unstable_rate']:.1f}   objects {out['objects']}")
    if out["spinners"]:
        print(f"spinners cleared {out['spinners_cleared']}/{out['spinners']}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The built-in default: the bundled demo map, played by autoplay, saved and judged."""
    from agents.baselines import autoplay_replay

    from .beatmap import load_beatmap
    from .judge import judge
    from .replay import save_replay

    beatmap = load_beatmap(DEMO_MAP)
    replay = autoplay_replay(beatmap)
    result = judge(beatmap, replay)
    replay = _with_counts(replay, result)
    save_replay(replay, args.out)
    print(f"wrote {args.out}: {beatmap.display_name} played by autoplay")
    args.map, args.replay, args.force = DEMO_MAP, args.out, False
    return _judge(args)


def _with_counts(replay, result):
    from dataclasses import replace

    return replace(replay, n300=result.n300, n100=result.n100, n50=result.n50, nmiss=result.nmiss, max_combo=result.max_combo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="osu-imitation", description="osu!standard judge, environment and imitation agents.")
    sub = p.add_subparsers(dest="command", required=True)
    j = sub.add_parser("judge", help="judge a replay on a beatmap with osu!stable's rules")
    j.add_argument("--map", required=True, type=Path, help=".osu beatmap file")
    j.add_argument("--replay", required=True, type=Path, help=".osr replay file")
    j.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    j.add_argument("--force", action="store_true", help="judge even if the replay was made on another map (md5 mismatch)")
    j.set_defaults(func=_judge)
    d = sub.add_parser("demo", help="play the bundled demo map with autoplay, save the .osr and judge it")
    d.add_argument("--out", type=Path, default=Path("demo_autoplay.osr"), help="where to write the replay")
    d.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OsuInputError as e:
        print(f"osu-imitation {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
