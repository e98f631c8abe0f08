"""The ``osu-imitation`` console command.

Every subcommand turns bad input into one line on stderr naming the file and the
problem, and a non-zero exit code; tracebacks are for bugs only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from osu_env import DEMO_MAP
from osu_env.errors import OsuInputError, WrongBeatmapError

EXIT_BAD_INPUT = 2
# Torch threads.  A policy plays one small forward per frame, which a thread pool only
# slows: with torch's default (one thread per core) on a busy 2-core machine, `play
# --agent bc` took 166 s against 26 s on one thread (issue 21), so play, render, evaluate
# and benchmark use one.  Training defaults to one too (measured in the README); raise it
# with --threads on an idle machine.
PLAY_THREADS = 1
DEFAULT_TRAIN_THREADS = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command killed by a closed pipe


def _judge(args: argparse.Namespace) -> int:
    from osu_env.beatmap import load_beatmap
    from osu_env.judge import judge
    from osu_env.replay import load_replay

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
    from .baselines import autoplay_replay

    from osu_env.beatmap import load_beatmap
    from osu_env.judge import judge
    from osu_env.replay import save_replay

    beatmap = load_beatmap(DEMO_MAP)
    replay = autoplay_replay(beatmap)
    result = judge(beatmap, replay)
    replay = _with_counts(replay, result)
    save_replay(replay, args.out)
    print(f"wrote {args.out}: {beatmap.display_name} played by autoplay")
    args.map, args.replay, args.force = DEMO_MAP, args.out, False
    return _judge(args)


def _mods(args) -> int:
    """``--mods`` as osu!'s bit field, or one line saying what is wrong with it."""
    from osu_env import rules

    try:
        return rules.parse_mods(args.mods)
    except ValueError as e:
        raise OsuInputError(str(e)) from None


def _map_and_mods(args):
    from osu_env.beatmap import load_beatmap

    return load_beatmap(args.map or DEMO_MAP, mods=_mods(args))


def _play_threads() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(PLAY_THREADS)
    threadpool_limits(PLAY_THREADS)  # numpy's BLAS and any OpenMP pool too, for the rest of the command


def _agent_play(args, beatmap):
    """Let the named agent play ``beatmap``: the judged :class:`Play`."""
    from .runner import make_agent, play

    _play_threads()
    agent = make_agent(args.agent, checkpoint=args.checkpoint, **_agent_options(args))
    return play(agent, beatmap, seed=args.seed)


def _play(args: argparse.Namespace) -> int:
    """An agent plays a map; the play is written as an .osr osu! can open."""
    from osu_env.replay import save_replay

    beatmap = _map_and_mods(args)
    p = _agent_play(args, beatmap)
    replay = p.to_replay(player=args.player or f"osu-imitation {args.agent}")
    out = args.out or Path(f"{args.agent}.osr")
    save_replay(replay, out)
    r = p.result
    cleared, spinners = r.spinners_cleared
    print(f"wrote {out}: {beatmap.display_name} [{replay.mod_names}] played by {args.agent}")
    print(f"300 {r.n300}  100 {r.n100}  50 {r.n50}  miss {r.nmiss}  combo {r.max_combo}  "
          f"accuracy {r.accuracy:.2f}%  UR {r.unstable_rate:.1f}  spinners {cleared}/{spinners}")
    return 0


def _render(args: argparse.Namespace) -> int:
    """Draw a replay or an agent's play to a window, a video, a GIF or one PNG frame."""
    from osu_env.judge import judge
    from osu_env.render import Renderer, gif_fps, replay_frames, video_clock, write_video
    from osu_env.replay import load_replay

    if args.replay and args.agent:
        raise OsuInputError("give either --replay or --agent, not both")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise OsuInputError(f"--size {args.size!r}: expected WIDTHxHEIGHT such as 640x480") from None
    if args.replay:
        replay = load_replay(args.replay)
        if args.map is None:
            raise OsuInputError(f"{args.replay}: --map is needed to draw a replay")
        from osu_env.beatmap import load_beatmap

        beatmap = load_beatmap(args.map, mods=replay.mods)
        judge(beatmap, replay, check_md5=not args.force)  # refuses a replay made on another map
        who = replay.player or "replay"
    else:
        args.agent = args.agent or "autoplay"
        beatmap = _map_and_mods(args)
        replay = _agent_play(args, beatmap).to_replay()
        who = args.agent
    start = args.start * 1000 if args.start is not None else None
    duration = args.duration * 1000 if args.duration is not None else None
    if args.window:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
            raise OsuInputError("--window: there is no display here (DISPLAY is not set); write a file with --out instead")
        renderer = Renderer(beatmap, size=(width, height), window=True)
        for _ in replay_frames(beatmap, replay, fps=args.fps, start_ms=start, duration_ms=duration, renderer=renderer):
            renderer.present(int(args.fps))
        renderer.close()
        return 0
    out = args.out or Path("render.mp4")
    fps = args.fps
    if out.suffix.lower() == ".gif" and gif_fps(fps) != fps:
        fps = gif_fps(fps)
        print(f"{out}: a GIF holds delays in whole centiseconds: writing {fps:g} fps instead of {args.fps:g}")
    frames = replay_frames(beatmap, replay, fps=fps, size=(width, height), start_ms=start, duration_ms=duration)
    if out.suffix.lower() == ".png":
        import imageio.v2 as imageio

        imageio.imwrite(out, next(frames))
        n = 1
    else:
        from tqdm import tqdm

        total = len(video_clock(beatmap, replay, fps, start, duration))
        n = write_video(tqdm(frames, total=total, desc=f"rendering {out.name}", unit="frame"), out, fps=fps)
    print(f"wrote {out}: {n} frames of {beatmap.display_name} played by {who}")
    return 0


def _dataset(args: argparse.Namespace) -> int:
    """Pair replays with maps by md5 and write the cached training dataset."""
    from .dataset import build_from_folders

    meta, skipped = build_from_folders(args.maps, args.replays, args.out, k=args.k, val_fraction=args.val_fraction,
                                       seed=args.seed, phases=args.phases)
    eps = meta["episodes"]
    n_val = sum(e["split"] == "val" for e in eps)
    print(f"wrote {args.out}: {len(eps)} sequences ({len(eps) - n_val} train, {n_val} validation on "
          f"{len(meta['val_maps'])} held-out maps), {meta['frames']} steps of {meta['step_ms']:.2f} ms")
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        for s in skipped:
            print(f"  {s.path}: {s.reason}")
    return 0


def _given(cls, args: argparse.Namespace):
    """A trainer's argument dataclass from the options the user gave; the rest keep the
    dataclass's defaults (the parser leaves unset options at None)."""
    fields = cls.__dataclass_fields__
    return cls(**{k: v for k, v in vars(args).items() if k in fields and v is not None})


def _train_threads(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads or DEFAULT_TRAIN_THREADS)


def _train_bc(args: argparse.Namespace) -> int:
    from .train import BCArgs, train_bc

    _train_threads(args)
    metrics = train_bc(_given(BCArgs, args))
    print(" ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    return 0


def _run_trainer(args: argparse.Namespace, train, args_class) -> int:
    """A trainer that returns its last losses, run from the command's options; the losses printed."""
    _train_threads(args)
    losses = train(_given(args_class, args))
    print(f"wrote {args.out}: " + " ".join(f"{k}={v:.4g}" for k, v in losses.items()))
    return 0


def _train_keys(args: argparse.Namespace) -> int:
    from .keys import KeysArgs, train_keys

    return _run_trainer(args, train_keys, KeysArgs)


def _train_wgan(args: argparse.Namespace) -> int:
    from .wgan import WGANArgs, train_wgan

    return _run_trainer(args, train_wgan, WGANArgs)


def _train_adversarial(args: argparse.Namespace) -> int:
    from .gail import AdversarialArgs, train_adversarial

    _train_threads(args)
    metrics = train_adversarial(_given(AdversarialArgs, args))
    history = metrics.pop("history")
    for row in history[-5:]:
        print(f"round {row['round']}: discriminator accuracy {row['disc_acc']:.3f} "
              f"(humans {row['disc_acc_expert']:.3f}, policy {row['disc_acc_gen']:.3f})")
    print(f"wrote {args.out}: {metrics['timesteps']} env steps, {metrics['steps_per_s']:.0f} steps/s")
    return 0


def _train_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder from `osu-imitation dataset`")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--seed", type=int, help="seed (default 0)")
    p.add_argument("--device", help="cuda or cpu (default: cuda when present)")
    p.add_argument("--resume", action="store_true", default=None, help="continue the run in OUT")
    p.add_argument("--force", action="store_true", default=None, help="overwrite a run already in OUT")
    p.add_argument("--threads", type=_positive_int,
                   help=f"torch CPU threads (default {DEFAULT_TRAIN_THREADS}: more only pays on an idle machine)")


def _evaluate(args: argparse.Namespace) -> int:
    """Play maps with an agent and print per-map and overall scores."""
    import json

    from .evaluate import evaluate, format_table, held_out_maps, maps_in
    from .runner import make_agent

    from osu_env.beatmap import load_beatmap

    mods = _mods(args)
    _play_threads()
    agent = make_agent(args.agent, checkpoint=args.checkpoint, **_agent_options(args))
    paths = maps_in(args.maps)
    if args.held_out:
        paths = held_out_maps(paths, args.held_out)
    if args.limit:
        paths = paths[: args.limit]
    maps = [load_beatmap(p, mods=mods) for p in paths]
    if not maps:
        raise OsuInputError(f"{' '.join(map(str, args.maps))}: no maps to evaluate on")
    scores, summary = evaluate(agent, maps, seed=args.seed)
    print(format_table(args.agent, scores, summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"agent": args.agent, "summary": summary, "maps": [s.__dict__ for s in scores]}, indent=1))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    """Every player's accuracy and human-likeness, with the calibration printed first."""
    from . import benchmark

    held = None
    if args.held_out:
        from .dataset import Dataset

        held = set(Dataset(args.held_out).meta["val_maps"])
    _play_threads()
    agents = benchmark.parse_agents(args.agents, args.checkpoint)
    results = benchmark.run(args.maps, args.replays, agents, seed=args.seed, held_out=held,
                            options={name: _agent_options(args, name) for name, _ in agents}, which=args.detectors,
                            jobs=args.jobs)
    paths = benchmark.write(results, args.out)
    print(benchmark.calibration_text(results))
    print()
    print(benchmark.table(results))
    if results["skipped"]:
        print(f"\nskipped {len(results['skipped'])} file(s):")
        for s in results["skipped"]:
            print(f"  {s['path']}: {s['reason']}")
    print(f"\nwrote {paths['json']}, {paths['md']}, {paths['png']}")
    return 0


def _with_counts(replay, result):
    from dataclasses import replace

    return replace(replay, n300=result.n300, n100=result.n100, n50=result.n50, nmiss=result.nmiss, max_combo=result.max_combo)


def _number(kind: type, low: float, low_included: bool, says: str):
    """An argparse type: a finite ``kind`` (int or float) above ``low`` (or at it)."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if not (v >= low if low_included else v > low) or v == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {says}, not {text}")
        return v

    return parse


_positive_int = _number(int, 0, False, "at least 1")
_non_negative_int = _number(int, 0, True, "0 or more")
_positive_float = _number(float, 0.0, False, "a positive number")
_non_negative_float = _number(float, 0.0, True, "a number >= 0")


def _default_jobs() -> int:
    """The cores this process may run on (taskset and cpusets count), at most 4: each
    worker holds its own copy of the windows."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _detectors(text: str) -> tuple[str, ...]:
    from .detectors import parse

    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _share(text: str) -> float:
    v = _non_negative_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"must be a share in 0..1, not {text}")
    return v


def _temperatures(text: str) -> float | dict[str, float]:
    """``T`` for every learned agent in the run, or ``NAME=T,...`` for each its own (a
    benchmark of gail and wgan wants gail's at 0 and wgan's at its default, say)."""
    from .runner import LEARNED

    if "=" not in text:
        return _non_negative_float(text)
    out = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name not in LEARNED:
            raise argparse.ArgumentTypeError(f"{name!r} is not a learned agent ({', '.join(LEARNED)})")
        out[name] = _non_negative_float(value)
    return out


def _lengths(text: str) -> tuple[int, ...]:
    """One or more whole numbers of at least 1, comma-separated."""
    return tuple(_positive_int(part.strip()) for part in text.split(","))


def _spin_scale(text: str) -> float:
    v = _positive_float(text)
    if not 1 <= v <= 10:
        raise argparse.ArgumentTypeError(f"must be a factor in 1..10, not {text}")
    return v


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="osu-imitation", description="osu!standard judge, environment and imitation agents.")
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
    pl = sub.add_parser("play", help="let an agent play a map and write the replay (.osr)")
    _agent_args(pl)
    pl.add_argument("--out", type=Path, help="where to write the .osr (default: AGENT.osr)")
    pl.add_argument("--player", help="player name in the replay header (default: osu-imitation AGENT)")
    pl.set_defaults(func=_play)
    r = sub.add_parser("render", help="draw a replay or an agent's play: window, .mp4, .gif or one .png frame")
    _agent_args(r, agent_default=None)
    r.add_argument("--replay", type=Path, help=".osr replay to draw (instead of --agent)")
    r.add_argument("--out", type=Path, help=".mp4, .gif, or .png for one frame at --start (default: render.mp4)")
    r.add_argument("--window", action="store_true", help="show a pygame window instead of writing a file")
    r.add_argument("--fps", type=_positive_float, default=60.0, help="video frames per second of real time")
    r.add_argument("--size", default="640x480", help="frame size WIDTHxHEIGHT in pixels")
    r.add_argument("--start", type=float, help="start at this map time, in seconds")
    r.add_argument("--duration", type=_positive_float, help="draw this many seconds of map time")
    r.add_argument("--force", action="store_true", help="draw a replay even if it was made on another map")
    r.set_defaults(func=_render)
    ds = sub.add_parser("dataset", help="pair replays with maps by md5 and write a cached training dataset")
    ds.add_argument("--maps", required=True, type=Path, help="folder of .osu files, searched recursively (e.g. osu!/Songs)")
    ds.add_argument("--replays", required=True, type=Path, help="folder of .osr files, searched recursively (e.g. osu!/Replays)")
    ds.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    ds.add_argument("--k", type=_positive_int, default=4, help="upcoming objects in each observation")
    ds.add_argument("--val-fraction", type=_share, default=0.15, help="share of maps held out for validation")
    ds.add_argument("--phases", type=_positive_int, default=1, help="copies on step grids shifted by step/phases (time-offset augmentation)")
    ds.add_argument("--seed", type=int, default=0, help="seed of the map split")
    ds.set_defaults(func=_dataset)
    tr = sub.add_parser("train", help="train a model on a dataset: bc, wgan, keys, gail or airl")
    models = tr.add_subparsers(dest="model", required=True, metavar="{bc,wgan,keys,gail,airl}")
    tb = models.add_parser("bc", help="behavioural cloning of the LSTM policy")
    _train_common(tb)
    tb.add_argument("--steps", type=_positive_int, help="optimizer steps (default 3000)")
    tb.add_argument("--batch", type=_positive_int, help="windows per step (default 32)")
    tb.add_argument("--window", type=_positive_int, help="steps per window (default 256)")
    tb.add_argument("--lr", type=_positive_float, help="learning rate (default 1e-3)")
    tb.add_argument("--hidden", type=_positive_int, help="LSTM width (default 256)")
    tb.add_argument("--layers", type=_positive_int, help="LSTM layers (default 2)")
    tb.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                    help="flip map and cursor top-bottom half of the time, as HR does (default off: it cost 4 points on held-out maps)")
    tb.add_argument("--cursor-noise-px", type=_non_negative_float, help="shift the previous cursor by N(0, this) px (default 12)")
    tb.add_argument("--spinner-share", type=_share, help="share of windows placed over spinners (default 0.5)")
    tb.add_argument("--spinner-rotate", action=argparse.BooleanOptionalAction, default=None,
                    help="turn windows with a spinner under way by a random angle about its centre (default on)")
    tb.add_argument("--spin-one-way", action=argparse.BooleanOptionalAction, default=None,
                    help="mirror spinner windows spun the less common way, so every spin in training turns alike (default off)")
    tb.add_argument("--release-keys", type=_share,
                    help="share of windows whose previous keys read 'up' over a random span, so the policy learns to press again (default 0)")
    tb.add_argument("--init", help="start from this checkpoint's weights (fine-tune), with a fresh optimizer")
    tb.add_argument("--checkpoint-every", type=_positive_int, help="steps between checkpoints (default 200)")
    tb.add_argument("--val-every", type=_positive_int, help="steps between validation losses (default 200)")
    tb.set_defaults(func=_train_bc)
    tw = models.add_parser("wgan", help="a WGAN-GP cursor generator: teacher-forced first, then (--steps above 2000) trained closed loop against a critic")
    _train_common(tw)
    tw.add_argument("--steps", type=_positive_int, help="generator steps, the teacher-forced ones included (default 2000: the teacher forcing alone; "
                                                               "more adds the adversarial phase, e.g. 2600)")
    tw.add_argument("--batch", type=_positive_int, help="windows per generator step (default 32)")
    tw.add_argument("--window", type=_positive_int, help="env steps per window the critic judges (default 128: 2.1 s)")
    tw.add_argument("--hidden", type=_positive_int, help="generator GRU width (default 192)")
    tw.add_argument("--critic", choices=["lstm", "conv"], help="critic: an LSTM (default) or a 1-D convolution")
    tw.add_argument("--critic-hidden", type=_positive_int, help="critic width (default 64)")
    tw.add_argument("--n-critic", type=_positive_int, help="critic steps per generator step (default 3)")
    tw.add_argument("--lr", type=_positive_float, help="Adam learning rate of both in the warm-up (default 6e-4)")
    tw.add_argument("--adv-lr", type=_positive_float, help="... and once the anneal is over (default 1e-4)")
    tw.add_argument("--gp-weight", type=_non_negative_float, help="gradient penalty lambda (default 10)")
    tw.add_argument("--pretrain-steps", type=_non_negative_int, help="first steps by teacher forcing, as BC trains (default 2000)")
    tw.add_argument("--pretrain-noise-px", type=_non_negative_float, help="cursor shift per step in those (default 18 px)")
    tw.add_argument("--pretrain-return", type=_share, help="share of that shift each step's target takes back (default 1)")
    tw.add_argument("--pretrain-spin-scale", type=_spin_scale,
                    help="on spinners in those, the cursor also at up to S times or 1/S of the human's radius, so the generator learns "
                         "its way back to a person's circle (default 1: off)")
    tw.add_argument("--pretrain-spin-rollouts", type=_non_negative_int,
                    help="spinner windows played closed loop beside each of those steps, fitted on the spin alone (default 16; 0: off)")
    tw.add_argument("--pretrain-spin-steps", type=_lengths,
                    help="steps in each of those windows (default 64: 1.07 s); several lengths, as 64,128, play that many windows of each")
    tw.add_argument("--pretrain-spin-weight", type=_non_negative_float, help="weight of their term (default 0.1)")
    tw.add_argument("--pretrain-spin-turn-weight", type=_non_negative_float,
                    help="weight of the angular speed within their term (default 1)")
    tw.add_argument("--pretrain-spin-onset", type=_share,
                    help="share of those windows placed over a spinner's start (default 0)")
    tw.add_argument("--pretrain-spin-slow", type=_share,
                    help="share of those windows that start from 0.27 s of the human's spin slowed to a random pace, so the "
                         "generator learns to spin up (default 0.5)")
    tw.add_argument("--pretrain-spin-wide", type=_share,
                    help="share of those windows that start from 0.27 s of the human's spin at up to 3 times its radius, so the "
                         "generator learns to close in (default 0)")
    tw.add_argument("--pretrain-spin-shorten", type=_share,
                    help="share of those windows whose spinner (and all after it) is made to end sooner, so the generator "
                         "learns the person's pace on short spinners too (default 0)")
    tw.add_argument("--pretrain-spin-floor", type=_non_negative_float,
                    help="turns a second under which those windows' spin is also charged, one-sided (default 4; 0: off)")
    tw.add_argument("--pretrain-idle-rollouts", type=_non_negative_int,
                    help="windows over breaks (nothing due for 2 s) played closed loop beside each teacher-forced step, so "
                         "the cursor stays on the screen through a break (default 8; 0: off)")
    tw.add_argument("--pretrain-idle-weight", type=_non_negative_float, help="weight of their term (default 0.1)")
    tw.add_argument("--pretrain-idle-loss", choices=("outward", "path"),
                    help="their term: only drift outwards more than 230 px from the centre, from starts shifted up to "
                         "384 px (outward, the default), or the person's path")
    tw.add_argument("--pretrain-pace-rollouts", type=_non_negative_int,
                    help="windows of play (1.07 s) played closed loop beside each teacher-forced step, charged for how far "
                         "their mix of step lengths is from the person's (default 8; 0: off)")
    tw.add_argument("--pretrain-pace-weight", type=_non_negative_float, help="weight of their term (default 0.1)")
    tw.add_argument("--pretrain-energy-weight", type=_non_negative_float,
                    help="weight of an energy score over two draws of each teacher-forced step, so the generator's noise "
                         "spreads its moves as a person's spread, not their mean (default 0.3; 0: off)")
    tw.add_argument("--pretrain-path-rollouts", type=_non_negative_int,
                    help="windows whose last 0.27 s are played closed loop twice from the person's path beside each "
                         "teacher-forced step, charged the energy score of the whole stretch (default 0: off)")
    tw.add_argument("--pretrain-path-weight", type=_non_negative_float, help="weight of their term (default 0.3)")
    tw.add_argument("--adv-windows", action="store_true", default=None,
                    help="charge the spinner, break and pace windows after the teacher forcing too (default: off)")
    tw.add_argument("--warmup-steps", type=_non_negative_int, help="then steps closed loop, the positional term alone (default 0)")
    tw.add_argument("--anneal-steps", type=_non_negative_int, help="steps over which the adversarial term rises to 1 (default 300)")
    tw.add_argument("--pos-final", type=_non_negative_float, help="weight of the positional term after the anneal (default 0.5)")
    tw.add_argument("--key-weight", type=_non_negative_float, help="weight of the key head's cross-entropy (default 1)")
    tw.add_argument("--spinner-share", type=_share, help="share of windows placed over spinners (default 0.25)")
    tw.add_argument("--spin-frame", action=argparse.BooleanOptionalAction, default=None,
                    help="on spinners the generator moves outward and turning about the centre, not in x and y (default on)")
    tw.add_argument("--spin-focus", action=argparse.BooleanOptionalAction, default=None,
                    help="while a spinner runs the generator does not see the objects due more than 0.5 s later (default off)")
    tw.add_argument("--checkpoint-every", type=_positive_int, help="steps between checkpoints (default 100)")
    tw.set_defaults(func=_train_wgan)
    tk = models.add_parser("keys", help="the sequential key decoder, by teacher forcing on the human replays")
    _train_common(tk)
    tk.add_argument("--steps", type=_positive_int, help="optimizer steps (default 8000)")
    tk.add_argument("--batch", type=_positive_int, help="windows per step (default 64)")
    tk.add_argument("--lr", type=_positive_float, help="learning rate (default 1e-3)")
    tk.add_argument("--lr-schedule", choices=["cosine", "constant"], help="learning rate over the run: falling to 0 along a half cosine (default), or constant")
    tk.add_argument("--hidden", type=_positive_int, help="GRU width (default 128)")
    tk.add_argument("--mixtures", type=_positive_int, help="free log-normal components of the delay and hold mixtures, beside the anchored ones (default 5)")
    tk.add_argument("--window-ms", type=_positive_float, help="window of map time decoded at once (default 600)")
    tk.add_argument("--history", type=_positive_int, help="past windows each window sees (default 10)")
    tk.add_argument("--spinner-share", type=_share, help="share of each batch drawn from windows with a spinner (default 0.25; they are ~2%% of play)")
    tk.add_argument("--checkpoint-every", type=_positive_int, help="steps between checkpoints (default 500)")
    tk.set_defaults(func=_train_keys)
    for algo, what in (("gail", "GAIL"), ("airl", "AIRL")):
        ta = models.add_parser(algo, help=f"{what} with imitation and PPO in the env, warm-started by BC"
                                  + (" or from a wgan generator" if algo == "gail" else ""))
        _train_common(ta)
        ta.add_argument("--timesteps", type=_positive_int, help="env steps of adversarial training (default 1,000,000)")
        ta.add_argument("--envs", type=_positive_int, help="plays stepped together (default 16)")
        ta.add_argument("--n-steps", type=_positive_int, help="steps per play per PPO rollout (default 256)")
        ta.add_argument("--n-stack", type=_positive_int, help="observations stacked as history (default 8)")
        ta.add_argument("--judgement-weight", "-w", type=_non_negative_float,
                        help="reward = discriminator + W x the env's judgement reward (default 0: pure imitation)")
        ta.add_argument("--lr", type=_positive_float, help="PPO learning rate (default 1e-4"
                        + ("; 1e-5 with --generator)" if algo == "gail" else ")"))
        ta.add_argument("--disc-lr", type=_positive_float, help="discriminator learning rate (default 2e-4)")
        ta.add_argument("--disc-updates", type=_positive_int, help="discriminator updates per round (default 2)")
        ta.add_argument("--bc-batches", type=_non_negative_int, help="BC warm-start batches of 256 before adversarial training (default 10000; 0: none)")
        ta.add_argument("--bc-spinner-repeat", type=_positive_int, help="BC warm start: count each spinner step this many times (default 1)")
        ta.add_argument("--checkpoint-every", type=_positive_int, help="rounds between checkpoints (default 10)")
        ta.add_argument("--init", help="start the policy from this gail/airl checkpoint's weights instead of BC")
        if algo == "gail":
            ta.add_argument("--generator", help="the policy is this `train wgan` checkpoint's generator, fine-tuned by "
                                                "recurrent PPO (instead of an MLP warm-started by BC)")
            ta.add_argument("--critic-warmup-rounds", type=_non_negative_int,
                            help="with --generator: rounds that train the critic alone first (default 5)")
            ta.add_argument("--move-log-std", type=float, help="with --generator: log of the moves' noise in 64 px units (default -3)")
            ta.add_argument("--key-log-std", type=float, help="with --generator: log of the key logits' noise (default -1)")
        ta.set_defaults(func=_train_adversarial, algo=algo)
    ev = sub.add_parser("evaluate", help="play maps with an agent and report accuracy, UR and spinners")
    ev.add_argument("maps", nargs="+", type=Path, help=".osu files or folders of them")
    ev.add_argument("--agent", default="autoplay", help="autoplay, flower, humanized, bc, wgan, gail, airl; NAME+keys: with the key decoder")
    ev.add_argument("--checkpoint", type=Path, help="trained model for bc/wgan/gail/airl")
    _bc_args(ev)
    ev.add_argument("--held-out", type=Path, help="dataset folder: evaluate only on its validation maps")
    ev.add_argument("--mods", default="NM", help="mods as acronyms")
    ev.add_argument("--limit", type=_positive_int, help="play only the first N maps (sorted by path, after --held-out)")
    ev.add_argument("--seed", type=int, default=0, help="seed")
    ev.add_argument("--json", type=Path, help="also write the scores as JSON here")
    ev.set_defaults(func=_evaluate)
    bn = sub.add_parser("benchmark", help="human-likeness against accuracy for agents, humans and recorded bots")
    bn.add_argument("--maps", required=True, type=Path, help="folder of .osu files, searched recursively")
    bn.add_argument("--replays", required=True, type=Path,
                    help="folder of .osr files; subfolders named human/auto/autopilot/relax/stolen/timewarp say who played")
    bn.add_argument("--agents", default="human,autoplay,humanized",
                    help="comma-separated players: human (the held-out replays), autoplay, flower, humanized, bc[=CKPT], wgan[=CKPT], gail[=CKPT], "
                         "airl[=CKPT], and any of them as NAME+keys (with --keys-checkpoint)")
    bn.add_argument("--checkpoint", type=Path, help="checkpoint for trained agents named without =CKPT")
    _bc_args(bn)
    bn.add_argument("--held-out", type=Path, help="dataset folder: only human replays on its validation maps are the reference")
    bn.add_argument("--out", type=Path, default=Path("benchmark"), help="folder for results.json, results.md, tradeoff.png")
    bn.add_argument("--seed", type=int, default=0, help="seed (same seed, same results)")
    bn.add_argument("--jobs", type=_positive_int, default=_default_jobs(),
                    help="processes for the plays and the two-sample tests (default: the cores this process may use, at most 4)")
    bn.add_argument("--detectors", type=_detectors, default="gbt,seq,keys",
                    help="comma-separated detectors of the two-sample test: gbt (motion statistics), seq (a 1-D CNN on "
                         "raw cursor and key windows), keys (timing statistics); the headline AUC is their maximum")
    bn.set_defaults(func=_benchmark)
    return p


def _bc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temperature", type=_temperatures,
                   help="cursor sampling temperature: bc/gail/airl (default 0.3; 0: most likely), wgan's noise scaled by it "
                        "(default 0: its most central moves; 1: as trained); T for all, or NAME=T,... for each, "
                        "e.g. gail=0,wgan=1")
    p.add_argument("--key-decoding", choices=["sample", "median"], default="median",
                   help="bc/gail/airl keys: sample each step, or switch at the median of the predicted switch time")
    p.add_argument("--key-temperature", type=_non_negative_float, default=1.0, help="bc key sampling temperature (0: P(down) > 0.5)")
    p.add_argument("--hand", action="store_true",
                   help="bc, wgan, gail, airl: the agent's intended cursor through a hand and a screen (a speed-dependent low-pass, "
                        "a 1.5 px deadband, 1080p screen pixels, each frame's point read up to 0.3 of a step off its stamp, "
                        "kept on a 16:9 screen; "
                        "agents/hand.py) before it is recorded")
    p.add_argument("--lead-ms", type=_non_negative_float, default=0.0,
                   help="with --hand: the agent sees the map this many real ms ahead of the clock, as a person aims ahead of "
                        "their hand's lag (at most 100; default 0)")
    p.add_argument("--hand-beta", type=_non_negative_float, default=None,
                   help="with --hand: Hz of the low-pass's cutoff added per osu!px/s of the cursor's speed, so fast moves "
                        "lag less (default 0.02; agents/hand.py)")
    p.add_argument("--hand-predict-ms", type=_non_negative_float, default=None,
                   help="with --hand: the hand runs ahead on its own velocity to make up this many ms of the low-pass's lag "
                        "at most (at most 100; default 0: off; agents/hand.py)")
    p.add_argument("--keys-checkpoint", type=Path, help="key decoder (`train keys`) for agents named NAME+keys, e.g. bc+keys")
    p.add_argument("--keys-temperature", type=_non_negative_float,
                   help="NAME+keys: sampling temperature of the decoder's press times and holds (default 0.5; 1: as trained)")
    p.add_argument("--keys-free-slider-holds", action="store_true",
                   help="NAME+keys: draw a slider's hold from the decoder's whole mixture, as before 2026-12-07 "
                        "(default: held at least to the slider's end, agents/keys.py slider_hold_floor)")


def _agent_options(args: argparse.Namespace, name: str | None = None) -> dict:
    """Keyword arguments for the named trained agent (``args.agent`` by default)."""
    from .runner import KEYS_SUFFIX, LEARNED

    name = name or args.agent
    if name.endswith(KEYS_SUFFIX):
        keys = {"keys_checkpoint": args.keys_checkpoint}
        if args.keys_temperature is not None:  # else the decoder's own default (agents.keys.KEYS_TEMPERATURE)
            keys["keys_temperature"] = args.keys_temperature
        if args.keys_free_slider_holds:
            keys["keys_slider_holds"] = False
        return _agent_options(args, name[: -len(KEYS_SUFFIX)]) | keys
    if name not in LEARNED:
        return {}
    from .hand import HandModel

    if args.lead_ms and not args.hand:
        raise OsuInputError("--lead-ms leads the hand: give --hand with it")
    if args.hand_beta is not None and not args.hand:
        raise OsuInputError("--hand-beta sets the hand's filter: give --hand with it")
    if args.hand_predict_ms is not None and not args.hand:
        raise OsuInputError("--hand-predict-ms sets the hand's prediction: give --hand with it")
    given_hand = {k: v for k, v in (("beta", args.hand_beta), ("predict_ms", args.hand_predict_ms)) if v is not None}
    try:
        hand = {"hand": HandModel(lead_ms=args.lead_ms, **given_hand) if args.hand else None}
    except ValueError as e:
        raise OsuInputError(f"--hand: {e}") from None
    given = args.temperature.get(name) if isinstance(args.temperature, dict) else args.temperature
    if name == "wgan":  # unless given, the generator's own default (agents.wgan.PLAY_TEMPERATURE)
        return hand | ({} if given is None else {"temperature": given})
    temperature = 0.3 if given is None else given
    if name == "bc":
        return hand | {"temperature": temperature, "key_temperature": args.key_temperature, "key_decoding": args.key_decoding}
    return hand | {"temperature": temperature, "key_decoding": args.key_decoding}


def _agent_args(p: argparse.ArgumentParser, agent_default: str | None = "autoplay") -> None:
    p.add_argument("--map", type=Path, help=".osu beatmap (default: the bundled demo map)")
    p.add_argument("--agent", default=agent_default, help="autoplay, flower, humanized, bc, wgan, gail, airl; NAME+keys: with the key decoder (default: autoplay)")
    p.add_argument("--checkpoint", type=Path, help="trained model for bc/wgan/gail/airl")
    p.add_argument("--mods", default="NM", help="mods as acronyms, e.g. HDHR or DT")
    p.add_argument("--seed", type=int, default=0, help="random seed for agents that sample")
    _bc_args(p)


def _check_device(name: str | None) -> None:
    """A --device the machine has, or one line saying why not (before any work starts)."""
    if name is None:
        return
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise OsuInputError(f"--device {name!r}: not a device (cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OsuInputError(f"--device {name}: this torch build or machine has no CUDA (torch {torch.__version__}); use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise OsuInputError(f"--device {name}: only cpu and cuda are supported")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_device(getattr(args, "device", None))
        return args.func(args)
    except OsuInputError as e:
        print(f"osu-imitation {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader went away (`... --json | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        print(f"osu-imitation {args.command}: error: the output was closed before everything was written",
              file=sys.stderr)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
