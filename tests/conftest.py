"""Shared fixtures: tiny inline maps for rule tests, and the real data in ../shared/data."""
from __future__ import annotations

import numpy as np
import pytest

from osu_env.corpus import data_dir
from osu_env.judge import judge
from osu_env.replay import Replay

HEADER = """osu file format v{version}

[General]
AudioFilename: audio.mp3
AudioLeadIn: 0
PreviewTime: -1
Countdown: 0
SampleSet: Normal
StackLeniency: {stack_leniency}
Mode: {mode}
LetterboxInBreaks: 0
WidescreenStoryboard: 0

[Editor]
DistanceSpacing: 1
BeatDivisor: 4
GridSize: 8
TimelineZoom: 1

[Metadata]
Title:t
Artist:a
Creator:c
Version:v
Source:
Tags:
BeatmapID:0
BeatmapSetID:-1
TitleUnicode:t
ArtistUnicode:a

[Difficulty]
HPDrainRate:5
CircleSize:{cs}
OverallDifficulty:{od}
ApproachRate:{ar}
SliderMultiplier:{sv}
SliderTickRate:1

[Events]

[TimingPoints]
0,500,4,2,0,60,1,0

[HitObjects]
"""


@pytest.fixture
def make_map(tmp_path):
    """Write a tiny .osu from hit-object lines; returns its path. 500 ms/beat, SV 1.4."""
    counter = iter(range(10**6))

    def make(objects: list[str], cs=4, od=5, ar=9, sv=1.4, stack_leniency=0.7, mode=0, version=14):
        text = HEADER.format(cs=cs, od=od, ar=ar, sv=sv, stack_leniency=stack_leniency, mode=mode, version=version)
        text += "\n".join(objects) + "\n"
        path = tmp_path / f"map{next(counter)}.osu"
        path.write_bytes(text.replace("\n", "\r\n").encode())
        return path

    return make


def frames(*rows, mods=0, md5="") -> Replay:
    """A replay from (t_ms, x, y, keys) rows."""
    a = np.array(rows, dtype=np.float64)
    return Replay(path="inline", player="test", beatmap_md5=md5, mods=mods, game_version=20250702,
                  t_ms=a[:, 0].astype(np.int64), x=a[:, 1], y=a[:, 2], keys=a[:, 3].astype(np.int64))


@pytest.fixture(scope="session")
def shared_data():
    root = data_dir()
    if not (root / "manifest.csv").exists():
        pytest.skip(f"real osu! data not found at {root} (set OSU_IMITATION_DATA); tests on bundled maps still run")
    return root


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory):
    """A little osu! folder (``Songs``, ``Replays``) and its dataset (``ds``, all training):
    three humanized plays of the demo map, one of them HR."""
    from agents.baselines import Humanized
    from agents.dataset import build_from_folders
    from osu_env import DEMO_MAP
    from osu_env.beatmap import load_beatmap
    from osu_env.replay import save_replay
    from osu_env.rules import Mods

    root = tmp_path_factory.mktemp("demo_dataset")
    songs, replays = root / "Songs", root / "Replays"
    songs.mkdir()
    replays.mkdir()
    (songs / "tour.osu").write_bytes(DEMO_MAP.read_bytes())
    bm = load_beatmap(DEMO_MAP)
    for i in range(2):
        save_replay(Humanized().replay(bm, seed=i), replays / f"h{i}.osr")
    save_replay(Humanized().replay(load_beatmap(DEMO_MAP, mods=Mods.HardRock), seed=5), replays / "hr.osr")
    build_from_folders(songs, replays, root / "ds", progress=False, val_fraction=0.0)
    return root


def kill_9_after_checkpoint(cmd: list[str], ckpt, min_step: int, env: dict, timeout_s: float = 120.0) -> int:
    """Start a training command, SIGKILL it once its checkpoint holds ``min_step`` steps,
    and return the step the checkpoint holds after the kill (loading it proves it was
    never left half-written)."""
    import os
    import signal
    import subprocess
    import time

    import torch

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    step, deadline = 0, time.time() + timeout_s
    while time.time() < deadline and step < min_step:
        time.sleep(0.3)
        if ckpt.exists():
            step = torch.load(ckpt, weights_only=True)["step"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert step >= min_step, "no checkpoint written before the kill"
    return int(torch.load(ckpt, weights_only=True)["step"])


def assert_same_judgement(ref, fast, what: str = "") -> None:
    """Every field of two JudgeResults, and every event, equal."""
    assert np.array_equal(ref.result, fast.result), what
    np.testing.assert_array_equal(ref.judged_at_ms, fast.judged_at_ms, err_msg=what)
    np.testing.assert_array_equal(ref.hit_error_ms, fast.hit_error_ms, err_msg=what)
    np.testing.assert_array_equal(ref.slider_parts, fast.slider_parts, err_msg=what)
    np.testing.assert_array_equal(ref.spinner_half_turns, fast.spinner_half_turns, err_msg=what)
    assert ref.max_combo == fast.max_combo, what
    assert ref.events == fast.events, what


def judge_both(beatmap, replay, **kw):
    """``judge()`` (the compiled judge), held equal to the readable reference on the same
    input: the rule tests on tiny maps check both judges with every call."""
    fast = judge(beatmap, replay, **kw)
    assert_same_judgement(judge(beatmap, replay, reference=True, **kw), fast, getattr(replay, "path", ""))
    return fast
