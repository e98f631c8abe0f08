"""Pairing replays with maps, the cached dataset, BC training, checkpoints and resume."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.baselines import Autoplay, Flower, Humanized
from agents.dataset import Dataset, build_from_folders, replay_sequence
from agents.lstm import BCAgent
from agents.runner import make_agent, play
from agents.train import BCArgs, train_bc
from osu_env.beatmap import load_beatmap
from agents.cli import main
from osu_env import DEMO_MAP
from osu_env.library import pair_replays
from osu_env.replay import save_replay
from osu_env.rules import Mods

from conftest import kill_9_after_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = dict(steps=6, batch=4, window=32, hidden=16, layers=1, mixtures=2, checkpoint_every=3, val_every=3)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A little osu! folder: the demo map and a second map, nine good replays, one truncated."""
    root = tmp_path_factory.mktemp("osu")
    songs, replays = root / "Songs" / "demo", root / "Replays"
    songs.mkdir(parents=True)
    replays.mkdir()
    shutil.copy(DEMO_MAP, songs / "tour.osu")
    second = songs.parent / "second" / "second.osu"
    second.parent.mkdir()
    text = DEMO_MAP.read_text().replace("Version:", "Version:Second ").replace("OverallDifficulty:6", "OverallDifficulty:1")
    second.write_text(text)
    for path in (songs / "tour.osu", second):
        bm = load_beatmap(path)
        for i, agent in enumerate((Autoplay(), Flower(), Humanized(), Humanized(target_ur=90))):
            save_replay(agent.replay(bm, seed=i), replays / f"{path.stem}-{agent.name}-{i}.osr")
    hr = load_beatmap(songs / "tour.osu", mods=Mods.HardRock)
    save_replay(Humanized().replay(hr, seed=9), replays / "tour-hr.osr")
    good = (replays / "tour-autoplay-0.osr").read_bytes()
    (replays / "broken.osr").write_bytes(good[: len(good) // 3])
    return root


def test_pairing_keeps_every_good_replay_and_names_the_bad_one(library):
    pairs, skipped = pair_replays(library / "Songs", library / "Replays", progress=False)
    assert len(pairs) == 9
    assert [s.path.name for s in skipped] == ["broken.osr"]
    assert "truncated" in skipped[0].reason or "corrupt" in skipped[0].reason


def test_dataset_command_writes_a_split_by_map_and_reports_skips(library, tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["dataset", "--maps", str(library / "Songs"), "--replays", str(library / "Replays"), "--out", str(out),
                 "--val-fraction", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 file(s)" in printed and "broken.osr" in printed
    ds = Dataset(out)
    assert isinstance(ds.obs, np.memmap) and ds.obs.dtype == np.float32 and ds.act.shape[1] == 4
    train, val = ds.split("train"), ds.split("val")
    assert train and val
    assert not {e.md5 for e in train} & {e.md5 for e in val}  # no map in both splits
    assert sum(e.length for e in ds.episodes) == ds.obs.shape[0]


def test_sequence_presses_land_on_the_step_nearest_each_hit(library):
    bm = load_beatmap(DEMO_MAP)
    rp = Autoplay().replay(bm)
    obs, act = replay_sequence(bm, rp)
    from osu_env.env import step_times

    t = step_times(bm)
    t = t[(t >= rp.t_ms[0]) & (t <= rp.t_ms[-1])]
    down = (act[:, 2] > 0) | (act[:, 3] > 0)
    rises = t[1:][down[1:] & ~down[:-1]]
    for start in bm.start_ms:
        assert np.abs(rises - start).min() <= 1000 / 120 + 0.5
    # the cursor at each step is the replay's, in action units
    x = np.interp(t, rp.t_ms, rp.x)
    np.testing.assert_allclose(256 + act[:, 0] * 512, x, atol=1e-3)


def test_hardrock_plays_are_flipped_back(library):
    """The same hand movement played on HR (where the map is upside down) gives the same
    cursor track in the dataset as on nomod."""
    from osu_env.env import step_times

    nm, hr = load_beatmap(DEMO_MAP), load_beatmap(DEMO_MAP, mods=Mods.HardRock)
    rp_nm = Autoplay().replay(nm)
    rp_hr = replace(rp_nm, y=384.0 - rp_nm.y, mods=int(Mods.HardRock))

    def cursor_y(bm, rp):
        _, act = replay_sequence(bm, rp)
        t = step_times(bm)
        return t[(t >= rp.t_ms[0]) & (t <= rp.t_ms[-1])], 192 + act[:, 1] * 512

    (t_nm, y_nm), (t_hr, y_hr) = cursor_y(nm, rp_nm), cursor_y(hr, rp_hr)
    common = (t_nm >= t_hr[0]) & (t_nm <= t_hr[-1])
    np.testing.assert_allclose(np.interp(t_nm[common], t_hr, y_hr), y_nm[common], atol=1.0)


def test_training_writes_a_checkpoint_a_bc_agent_can_play(library, tmp_path):
    ds = tmp_path / "ds"
    build_from_folders(library / "Songs", library / "Replays", ds, progress=False, val_fraction=0.5)
    metrics = train_bc(BCArgs(data=str(ds), out=str(tmp_path / "ck"), **TINY))
    assert np.isfinite(metrics["train/cursor_nll"]) and "val/cursor_nll" in metrics
    ckpt = torch.load(tmp_path / "ck" / "last.pt", weights_only=True)
    assert ckpt["step"] == TINY["steps"] and ckpt["config"]["model"]["hidden"] == 16
    assert list((tmp_path / "ck" / "tb").glob("events.out.tfevents.*"))
    bm = load_beatmap(DEMO_MAP)
    p = play(make_agent("bc", checkpoint=tmp_path / "ck", temperature=1.0), bm, seed=0)
    assert p.done and sum(p.result.counts) == bm.n_objects
    a, b = (BCAgent(tmp_path / "ck", temperature=0.0, key_temperature=0.0) for _ in range(2))
    assert play(a, bm).to_replay().x.tolist() == play(b, bm).to_replay().x.tolist()  # T=0 is deterministic
    # --hand: the same policy, its intended path through a hand; the same keys at T=0
    from agents.hand import Handed, HandModel

    bare, handed = play(a, bm), play(Handed(BCAgent(tmp_path / "ck", temperature=0.0, key_temperature=0.0), HandModel()), bm)
    assert [f[3] for f in handed.frames] == [f[3] for f in bare.frames]
    assert handed.to_replay().x.tolist() != bare.to_replay().x.tolist() and sum(handed.result.counts) == bm.n_objects


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    from osu_env.errors import AgentError

    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AgentError, match="x.pt: not a bc checkpoint"):
        make_agent("bc", checkpoint=tmp_path / "x.pt")
    with pytest.raises(AgentError, match="no such checkpoint"):
        make_agent("bc", checkpoint=tmp_path / "missing.pt")


def _train_cmd(ds, out, steps, *extra):
    return [sys.executable, "-m", "agents.cli", "train", "bc", "--data", str(ds), "--out", str(out), "--steps", str(steps),
            "--batch", "4", "--window", "32", "--hidden", "16", "--layers", "1", "--checkpoint-every", "2", "--val-every", "1000", *extra]


def test_kill_9_during_training_then_resume_continues(library, tmp_path):
    ds = tmp_path / "ds"
    build_from_folders(library / "Songs", library / "Replays", ds, progress=False, val_fraction=0.5)
    out = tmp_path / "ck"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    ckpt = out / "last.pt"
    killed_at = kill_9_after_checkpoint(_train_cmd(ds, out, 100000), ckpt, 6, env)
    res = subprocess.run(_train_cmd(ds, out, killed_at + 4, "--resume"), env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from step {killed_at}" in res.stdout
    assert torch.load(ckpt, weights_only=True)["step"] == killed_at + 4


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_writes_the_same_kind_of_checkpoint(library, tmp_path):
    ds = tmp_path / "ds"
    build_from_folders(library / "Songs", library / "Replays", ds, progress=False, val_fraction=0.5)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "agents.cli",
           *_train_cmd(ds, tmp_path / "ddp", 4)[3:], "--device", "cpu"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    ddp = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    train_bc(BCArgs(data=str(ds), out=str(tmp_path / "single"), steps=4, batch=4, window=32, hidden=16, layers=1, mixtures=5))
    single = torch.load(tmp_path / "single" / "last.pt", weights_only=True)
    assert ddp["step"] == 4 and set(ddp["model"]) == set(single["model"])
    assert all(ddp["model"][k].shape == single["model"][k].shape for k in single["model"])


def _demo_training_split(library, tmp_path):
    """(path, dataset, training episodes) of a dataset built from the demo library."""
    ds_path = tmp_path / "ds"
    build_from_folders(library / "Songs", library / "Replays", ds_path, progress=False, val_fraction=0.5)
    ds = Dataset(ds_path)
    return ds_path, ds, ds.split("train")


def test_spinner_windows_are_oversampled_and_init_fine_tunes(library, tmp_path):
    ds_path, ds, eps = _demo_training_split(library, tmp_path)
    spinning = ds.spinning_steps(eps)
    assert 0 < len(spinning) < 0.3 * sum(e.length for e in eps)  # the demo map has one spinner
    rng = np.random.default_rng(0)
    obs, _, _ = ds.sample_windows(eps, 16, 32, rng, anchors=spinning, anchor_share=1.0)
    on_spinner = (obs[:, :, 6 + 11] > 0.5) & (obs[:, :, 6 + 12] > 0.5)
    assert on_spinner.any(1).all()  # every window holds spinning steps
    plain, _, _ = ds.sample_windows(eps, 16, 32, np.random.default_rng(0))
    assert ((plain[:, :, 6 + 11] > 0.5) & (plain[:, :, 6 + 12] > 0.5)).any(1).mean() < 1
    train_bc(BCArgs(data=str(ds_path), out=str(tmp_path / "a"), **TINY))
    tuned = train_bc(BCArgs(data=str(ds_path), out=str(tmp_path / "b"), init=str(tmp_path / "a"), spinner_share=0.5,
                            **{**TINY, "steps": 1}))
    assert np.isfinite(tuned["train/cursor_nll"])
    with pytest.raises(Exception, match="does not match"):
        train_bc(BCArgs(data=str(ds_path), out=str(tmp_path / "c"), init=str(tmp_path / "a"), **{**TINY, "hidden": 8}))


def test_spun_out_plays_give_no_spinner_windows(library, tmp_path):
    """With SpunOut the game turns the spinner, so such a play's spinner steps are not
    drawn as examples of spinning; the rest of that play and every other play keep theirs."""
    ds_path, ds, eps = _demo_training_split(library, tmp_path)
    per_play = [len(ds.spinning_steps([e])) for e in eps]
    assert min(per_play) > 0  # every play of the demo maps passes its spinner
    spun_out = [replace(e, mods=e.mods | Mods.SpunOut) if i == 0 else e for i, e in enumerate(eps)]
    assert len(ds.spinning_steps(spun_out)) == sum(per_play) - per_play[0]
    assert not np.isin(ds.spinning_steps(spun_out), np.arange(eps[0].offset, eps[0].offset + eps[0].length)).any()


def test_spinner_onsets_are_one_row_per_spinner_at_its_start(library, tmp_path):
    from agents.dataset import spinner_onsets, spinning

    ds_path, ds, eps = _demo_training_split(library, tmp_path)
    onsets = spinner_onsets(ds.spinning_steps(eps))
    assert len(onsets) == len(eps)  # one spinner on the demo map, passed in every play
    on = spinning(ds.obs)
    assert on[onsets].all() and not on[onsets - 1].any()  # spinning from that row, not the one before
    spun_out = [replace(e, mods=e.mods | Mods.SpunOut) if i == 0 else e for i, e in enumerate(eps)]
    assert len(spinner_onsets(ds.spinning_steps(spun_out))) == len(eps) - 1


def test_spinner_rotation_keeps_the_spin_and_a_consistent_observation(library, tmp_path):
    """A window turned about the playfield centre is still a play the env could show: the
    spinner's aim offset is still centre minus cursor, and the spin (angle swept about the
    centre, radius, step lengths) is what the human did."""
    from agents.dataset import rotate_about_centre, spinning

    ds_path, ds, eps = _demo_training_split(library, tmp_path)
    obs, act, prev = (torch.as_tensor(a) for a in ds.sample_windows(eps, 8, 32, np.random.default_rng(1),
                                                                       ds.spinning_steps(eps), 1.0))
    theta = torch.linspace(0.3, 5.0, 8)
    o, a, p = rotate_about_centre(obs.clone(), act.clone(), prev.clone(), theta, ds.k)
    on = spinning(o)
    assert on.any() and torch.equal(on, spinning(obs))
    aim = slice(6 + 5, 6 + 7)  # object 0's "where to aim" offset: the spinner centre minus the cursor
    assert torch.allclose(o[..., aim][on], -o[..., :2][on], atol=1e-5)

    def swept(c):  # angle swept about the centre between consecutive actions
        ang = torch.atan2(c[..., 1], c[..., 0])
        return torch.remainder(ang[:, 1:] - ang[:, :-1] + np.pi, 2 * np.pi) - np.pi

    assert torch.allclose(swept(a), swept(act), atol=1e-4)
    assert torch.allclose(a[..., :2].norm(dim=-1), act[..., :2].norm(dim=-1), atol=1e-5)
    assert not torch.allclose(a[..., :2], act[..., :2])
    metrics = train_bc(BCArgs(data=str(ds_path), out=str(tmp_path / "r"), spinner_share=0.5, spinner_rotate=True,
                              **{**TINY, "steps": 2}))
    assert np.isfinite(metrics["train/cursor_nll"])


def test_spin_sense_reads_the_turn_and_a_mirror_reverses_it(library, tmp_path):
    """--spin-one-way mirrors spinner windows by the sign of their turn about the centre:
    that sign must be the cursor's real turn over the spinner steps, and a top-bottom
    mirror must reverse it (and leave windows without a spinner at 0)."""
    from agents.dataset import mirror_index, spin_sense, spinning

    ds_path, ds, eps = _demo_training_split(library, tmp_path)
    obs = torch.as_tensor(ds.sample_windows(eps, 8, 64, np.random.default_rng(2), ds.spinning_steps(eps), 1.0)[0])
    sense = spin_sense(obs)
    assert (sense != 0).any()
    for b in range(8):
        on = spinning(obs[b]).numpy()
        if on.sum() < 2:
            continue
        x, y = obs[b, :, 0].numpy(), obs[b, :, 1].numpy()
        turn = np.unwrap(np.arctan2(y, x))
        steps = np.diff(turn)[on[:-1] & on[1:]]
        assert float(sense[b]) == pytest.approx(float(steps.sum()), abs=1e-3)
    flipped = obs.clone()
    flip = torch.as_tensor(mirror_index(ds.k))
    flipped[:, :, flip] = -flipped[:, :, flip]
    assert torch.allclose(spin_sense(flipped), -sense, atol=1e-4)
    plain = torch.as_tensor(ds.sample_windows(eps, 8, 64, np.random.default_rng(3))[0])
    quiet = ~spinning(plain).any(1)
    assert torch.equal(spin_sense(plain)[quiet], torch.zeros(int(quiet.sum())))


def test_median_key_decoding_switches_when_a_switch_is_more_likely_than_not():
    from agents.key_decoding import MedianKeys

    state = MedianKeys()
    press = [state.step([0.3, 0.1]) for _ in range(2)]
    # key 1: P(pressed by now) = 0.3, 0.51 -> down on the second step; key 2: 0.1, 0.19 -> stays up
    assert press == [[False, False], [True, False]]
    hold = [state.step([0.9, 0.1])[0] for _ in range(7)]
    assert hold == [True] * 6 + [False]  # 0.9^7 = 0.48 < 0.5: released on the seventh step
    assert state.hold_one([0.2, 0.3]) == [False, True]  # none down: the more probable goes down
    assert state.step([0.2, 0.9]) == [False, True]  # ...and its switch starts again from there (0.9 > 0.5)
    assert state.hold_one([0.9, 0.1]) == [False, True]  # one already down: nothing changes
    with pytest.raises(ValueError, match="key_decoding"):
        BCAgent("unused.pt", key_decoding="greedy")


def test_release_keys_lifts_the_previous_keys_over_one_span_and_nothing_else():
    """--release-keys shows the policy its keys up where the human held them, with the
    human's key as the target: only the previous keys change, only inside one contiguous
    span per chosen window, and share 0 changes nothing."""
    from agents.dataset import release_keys

    prev = torch.cat([torch.rand(16, 128, 2), torch.ones(16, 128, 2)], -1)
    out = release_keys(prev.clone(), np.random.default_rng(0), share=0.5, max_steps=40)
    assert torch.equal(out[..., :2], prev[..., :2])
    lifted = (out[..., 2:] == 0).all(-1)
    assert torch.equal(lifted, (out[..., 2:] == 0).any(-1))  # both keys together
    chosen = lifted.any(1)
    assert 0 < int(chosen.sum()) < 16
    for b in torch.nonzero(chosen).flatten().tolist():
        steps = torch.nonzero(lifted[b]).flatten()
        assert 1 <= len(steps) <= 40 and int(steps[-1] - steps[0]) == len(steps) - 1
    assert torch.equal(release_keys(prev.clone(), np.random.default_rng(0), share=0.0), prev)
