"""Loading, saving, and the CLI: good input round-trips, bad input gives one clear line."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import osrparse
import pytest
from osrparse.utils import GameMode

from agents.baselines import autoplay_replay
from osu_env.beatmap import load_beatmap
from agents.cli import main
from osu_env import DEMO_MAP
from osu_env.errors import BeatmapError, ReplayError
from osu_env.judge import judge
from osu_env.replay import load_replay, save_replay


@pytest.fixture
def demo_osr(tmp_path):
    bm = load_beatmap(DEMO_MAP)
    res = judge(bm, autoplay_replay(bm))
    rp = replace(autoplay_replay(bm), n300=res.n300, max_combo=res.max_combo)
    return save_replay(rp, tmp_path / "demo.osr"), bm, rp


def test_saved_replay_reads_back_with_header_and_frames(demo_osr):
    path, bm, rp = demo_osr
    back = load_replay(path)
    assert back.beatmap_md5 == bm.md5 and back.player == rp.player
    assert back.counts == (bm.n_objects, 0, 0, 0) and back.max_combo == rp.max_combo
    np.testing.assert_array_equal(back.t_ms, rp.t_ms)
    np.testing.assert_allclose(back.x, rp.x, atol=1e-3)
    np.testing.assert_array_equal(back.keys, rp.keys)
    assert osrparse.Replay.from_path(str(path)).beatmap_hash == bm.md5
    assert judge(bm, back).counts == (bm.n_objects, 0, 0, 0)


def test_cli_judge_json_contract(demo_osr, capsys):
    path, bm, _ = demo_osr
    assert main(["judge", "--map", str(DEMO_MAP), "--replay", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("n300", "n100", "n50", "nmiss", "max_combo", "accuracy", "unstable_rate", "objects"):
        assert key in out
    assert out["objects"] == bm.n_objects and out["accuracy"] == 100.0


def _cli(*args):
    p = subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def _assert_one_line_error(rc, err, must_name):
    assert rc == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(must_name) in lines[0]


def test_truncated_replay_is_one_clear_line(demo_osr, tmp_path):
    path, _, _ = demo_osr
    bad = tmp_path / "truncated.osr"
    bad.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    rc, _, err = _cli("judge", "--map", str(DEMO_MAP), "--replay", str(bad))
    _assert_one_line_error(rc, err, bad)
    with pytest.raises(ReplayError, match="truncated|corrupt|not a readable"):
        load_replay(bad)


def test_replay_for_another_mode_is_refused(demo_osr, tmp_path):
    path, _, _ = demo_osr
    r = osrparse.Replay.from_path(str(path))
    r.mode = GameMode.TAIKO
    r.replay_data = [osrparse.utils.ReplayEventTaiko(16, 0, osrparse.utils.KeyTaiko(0))]
    taiko = tmp_path / "taiko.osr"
    r.write_path(str(taiko))
    rc, _, err = _cli("judge", "--map", str(DEMO_MAP), "--replay", str(taiko))
    _assert_one_line_error(rc, err, taiko)
    assert "osu!standard" in err


def test_replay_for_another_map_needs_force(demo_osr, make_map):
    path, _, _ = demo_osr
    other = make_map(["100,100,1000,1,0,0:0:0:0:"])
    rc, _, err = _cli("judge", "--map", str(other), "--replay", str(path))
    _assert_one_line_error(rc, err, path)
    assert "--force" in err
    rc, out, _ = _cli("judge", "--map", str(other), "--replay", str(path), "--force", "--json")
    assert rc == 0 and json.loads(out)["objects"] == 1


@pytest.mark.parametrize(
    "objects,kwargs,message",
    [([], {}, "no hit objects"), (["100,100,notatime,1,0,0:0:0:0:"], {}, "malformed"), (["100,100,1000,1,0,0:0:0:0:"], {"mode": 3}, "osu!mania")],
)
def test_bad_beatmaps_are_one_clear_line(demo_osr, make_map, objects, kwargs, message):
    path, _, _ = demo_osr
    bad_map = make_map(objects, **kwargs)
    with pytest.raises(BeatmapError, match=message):
        load_beatmap(bad_map)
    rc, _, err = _cli("judge", "--map", str(bad_map), "--replay", str(path), "--force")
    _assert_one_line_error(rc, err, bad_map)


def test_missing_files_are_named(tmp_path):
    rc, _, err = _cli("judge", "--map", str(DEMO_MAP), "--replay", str(tmp_path / "nope.osr"))
    _assert_one_line_error(rc, err, tmp_path / "nope.osr")
    rc, _, err = _cli("judge", "--map", str(tmp_path / "nope.osu"), "--replay", str(tmp_path / "nope.osr"))
    assert rc == 2 and "nope" in err and "Traceback" not in err


def test_demo_command_writes_an_osr_and_judges_it(tmp_path, capsys):
    out = tmp_path / "demo.osr"
    assert main(["demo", "--out", str(out)]) == 0
    assert load_replay(out).counts == (load_beatmap(DEMO_MAP).n_objects, 0, 0, 0)
    assert "accuracy 100.00%" in capsys.readouterr().out


def test_play_writes_an_osr_osu_can_open(tmp_path, capsys):
    """The .osr carries the map's md5, the player, the mods and the judge's counts."""
    from osu_env.rules import Mods

    out = tmp_path / "humanized.osr"
    assert main(["play", "--agent", "humanized", "--mods", "HDHR", "--seed", "4", "--out", str(out), "--player", "tester"]) == 0
    printed = capsys.readouterr().out
    raw = osrparse.Replay.from_path(out)
    bm = load_beatmap(DEMO_MAP, mods=Mods.Hidden | Mods.HardRock)
    assert raw.beatmap_hash == bm.md5 and raw.username == "tester"
    assert int(raw.mods) == Mods.Hidden | Mods.HardRock
    ours = load_replay(out)
    res = judge(bm, ours)
    assert (raw.count_300, raw.count_100, raw.count_50, raw.count_miss) == res.counts
    assert raw.max_combo == res.max_combo and sum(res.counts) == bm.n_objects
    assert f"300 {res.n300}" in printed


def test_play_bad_input_is_one_clear_line(tmp_path, capsys):
    assert main(["play", "--agent", "dance-dance", "--out", str(tmp_path / "x.osr")]) == 2
    assert "unknown agent 'dance-dance'" in capsys.readouterr().err
    assert main(["play", "--map", str(tmp_path / "nope.osu")]) == 2
    assert "nope.osu: no such file" in capsys.readouterr().err
    assert main(["play", "--mods", "ZZ"]) == 2
    assert "unknown mod 'ZZ'" in capsys.readouterr().err
    assert not (tmp_path / "x.osr").exists()


def test_temperature_is_one_number_for_all_or_one_per_agent():
    from agents.cli import _agent_options, build_parser

    parse = build_parser().parse_args
    bench = ["benchmark", "--maps", "m", "--replays", "r", "--agents", "human,gail=g,wgan=w,bc=b"]
    every = parse([*bench, "--temperature", "0.5"])
    assert [_agent_options(every, n)["temperature"] for n in ("gail", "wgan", "bc")] == [0.5, 0.5, 0.5]
    each = parse([*bench, "--temperature", "gail=0, wgan=1"])
    assert _agent_options(each, "gail")["temperature"] == 0.0 and _agent_options(each, "wgan")["temperature"] == 1.0
    assert _agent_options(each, "bc")["temperature"] == 0.3  # not named: its own default
    assert "temperature" not in _agent_options(parse(bench), "wgan")  # the generator's own (agents.wgan.PLAY_TEMPERATURE)
    for bad in ("humanized=0", "gail=-1", "gail=x"):
        with pytest.raises(SystemExit):
            parse([*bench, "--temperature", bad])


def test_hand_beta_sets_the_hands_filter_and_needs_the_hand(capsys):
    from agents.cli import _agent_options, build_parser, main
    from agents.hand import HandModel
    from osu_env.errors import OsuInputError

    parse = build_parser().parse_args
    bench = ["benchmark", "--maps", "m", "--replays", "r", "--agents", "human,wgan=w", "--hand"]
    assert _agent_options(parse(bench), "wgan")["hand"] == HandModel()
    assert _agent_options(parse([*bench, "--hand-beta", "0.07", "--lead-ms", "16"]), "wgan")["hand"] == HandModel(beta=0.07, lead_ms=16)
    with pytest.raises(OsuInputError, match="--hand-beta sets the hand's filter: give --hand"):
        _agent_options(parse([*bench[:-1], "--hand-beta", "0.07"]), "wgan")
    assert _agent_options(parse([*bench, "--hand-predict-ms", "8"]), "wgan")["hand"] == HandModel(predict_ms=8)
    with pytest.raises(OsuInputError, match="--hand-predict-ms sets the hand's prediction: give --hand"):
        _agent_options(parse([*bench[:-1], "--hand-predict-ms", "8"]), "wgan")
    with pytest.raises(OsuInputError, match="predict_ms must be in"):
        _agent_options(parse([*bench, "--hand-predict-ms", "150"]), "wgan")
    with pytest.raises(SystemExit):
        parse([*bench, "--hand-beta", "-1"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["play", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"lag less (default {HandModel.beta:g};" in help_text  # the help's literal is the hand's default


@pytest.mark.parametrize("script", sorted(p.name for p in (Path(__file__).resolve().parents[1] / "scripts").glob("*.py")
                                          if p.name not in ("circleguard_times.py", "fresh_process.py")))
def test_every_script_the_readme_names_starts(script):
    """Each measuring script imports and parses its arguments (``--help``): two once broke
    on a constant that had moved.  circleguard_times.py runs in circleguard's own venv and
    fresh_process.py is a helper module, so they are left out."""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "scripts" / script), "--help"], capture_output=True, text=True,
                       cwd=root, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage:"), r.stderr[-2000:]
