"""Env and renderer throughput: single-env and vectorised frames/s, offscreen render fps.

    taskset -c 0 python scripts/bench_env.py [--maps DIR] [--envs 64] [--steps 2000]

Targets (issue 19), on one core: the vector env >= 500k frames/s and >= 0.2 of
gymnasium's CartPoleVectorEnv in the same run; the single env >= 20k steps/s; offscreen
render >= 300 fps at 640x480 (issue 3).  Actions are random (keys mashed, cursor
anywhere), which keeps the judge busy with presses.  Gymnasium's CartPole (single, and
its numpy ``CartPoleVectorEnv``) is measured in the same run as a reference, and each of
ours is printed as a ratio to it: these machines are too noisy for absolute numbers
alone.  The compiled kernels' compile time is measured apart, in a fresh process with an
empty numba cache, and not in any rate.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from osu_env.beatmap import load_beatmap
from osu_env import DEMO_MAP
from osu_env.corpus import data_dir
from osu_env.env import OsuEnv, OsuVectorEnv

from fresh_process import printed_seconds


def _maps(folder: Path | None, limit: int) -> list:
    paths = sorted(folder.glob("*.osu"))[:limit] if folder and folder.is_dir() else []
    return [load_beatmap(p) for p in paths] or [load_beatmap(DEMO_MAP)]


_FIRST_STEPS = """
import time
import numpy as np
from osu_env import DEMO_MAP
from osu_env.env import OsuEnv, OsuVectorEnv
t1 = time.perf_counter()
v = OsuVectorEnv([DEMO_MAP], num_envs=2); v.reset(seed=0); v.step(np.zeros((2, 4)))
e = OsuEnv(DEMO_MAP); e.reset(seed=0); e.step(np.zeros(4))
print(time.perf_counter() - t1)
"""


def bench_single(bm, steps: int, rng) -> float:
    env = OsuEnv(bm)
    env.reset(seed=0)
    actions = rng.uniform(-1, 1, (steps, 4)).astype(np.float32)
    t = time.perf_counter()
    for a in actions:
        _, _, term, _, _ = env.step(a)
        if term:
            env.reset()
    return steps / (time.perf_counter() - t)


def bench_vector(maps, n_envs: int, steps: int, rng) -> float:
    env = OsuVectorEnv(maps, num_envs=n_envs)
    env.reset(seed=0)
    actions = rng.uniform(-1, 1, (steps, n_envs, 4)).astype(np.float32)
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps * n_envs / (time.perf_counter() - t)


def bench_cartpole(n_envs: int, steps: int, rng) -> float:
    """CartPole frames/s: the single env for ``n_envs == 0``, else its vector env."""
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv

    if n_envs == 0:
        env = CartPoleEnv()
        env.reset(seed=0)
        actions = rng.integers(0, 2, steps)
        t = time.perf_counter()
        for a in actions.tolist():
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return steps / (time.perf_counter() - t)
    env = CartPoleVectorEnv(num_envs=n_envs)
    env.reset(seed=0)
    actions = rng.integers(0, 2, (steps, n_envs))
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps * n_envs / (time.perf_counter() - t)


def bench_render(bm, frames: int, size) -> float:
    from agents.baselines import Autoplay
    from osu_env.render import replay_frames

    replay = Autoplay().replay(bm)
    gen = replay_frames(bm, replay, fps=60, size=size)
    next(gen)
    t = time.perf_counter()
    n = 0
    for _ in gen:
        n += 1
        if n >= frames:
            break
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--maps", type=Path, default=data_dir() / "maps", help="folder of .osu files (default: the shared data)")
    p.add_argument("--n-maps", type=int, default=16, help="how many maps the vector env mixes")
    p.add_argument("--envs", type=int, default=64, help="sub-envs in the vector env")
    p.add_argument("--steps", type=int, default=2000, help="steps per measurement")
    p.add_argument("--repeats", type=int, default=3, help="report the median of this many runs")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    maps = _maps(args.maps, args.n_maps)
    cold, = printed_seconds(_FIRST_STEPS)
    print(f"compiled env kernels: first steps in a fresh process {cold:.1f} s with an empty numba cache")
    bench_vector(maps, 2, 2, rng)  # load the compiled code here, outside the timing
    print(f"{len(maps)} maps; median of {args.repeats} runs")
    single = np.median([bench_single(maps[0], args.steps, rng) for _ in range(args.repeats)])
    cart = np.median([bench_cartpole(0, 10 * args.steps, rng) for _ in range(args.repeats)])
    print(f"single env        {single:10.0f} frames/s   CartPole {cart:10.0f}   ratio {single / cart:.3f}")
    for n in sorted({1, 16, args.envs, 4 * args.envs}):
        steps = max(args.steps // max(n // 16, 1), 50)
        v = np.median([bench_vector(maps, n, steps, rng) for _ in range(args.repeats)])
        c = np.median([bench_cartpole(n, 10 * steps, rng) for _ in range(args.repeats)])
        print(f"vector env x{n:<4d}  {v:10.0f} frames/s   CartPoleVectorEnv {c:10.0f}   ratio {v / c:.3f}")
    demo = load_beatmap(DEMO_MAP)
    for size in ((640, 480), (1280, 720)):
        fps = np.median([bench_render(demo, 600, size) for _ in range(args.repeats)])
        print(f"render {size[0]}x{size[1]} offscreen {fps:8.0f} fps (demo map, autoplay)")


if __name__ == "__main__":
    main()
