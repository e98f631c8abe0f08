"""GAIL and AIRL: the gymnasium 0.29 stack, the SB3 VecEnv, the demonstrations, training
on the demo map, checkpoints, resume and playing."""
from __future__ import annotations

import csv
import json

import gymnasium
import imitation
import numpy as np
import pytest
import stable_baselines3
import torch

from agents.cli import main
from agents.gail import (GENERATOR_LR, MLP_LR, AdversarialArgs, OsuSB3VecEnv, _as_acted, discriminator_net,
                         make_vec_env, replay_trajectory, stack_frames, train_adversarial)
from agents.runner import make_agent, play
from osu_env import DEMO_MAP
from osu_env.beatmap import load_beatmap
from osu_env.errors import AgentError, OsuInputError
from osu_env.env import step_times
from osu_env.judge import judge
from osu_env.replay import load_replay, save_replay

TINY = dict(timesteps=2 * 4 * 128, envs=4, n_steps=128, n_stack=4, hidden=(16, 16), bc_batches=20, demo_batch=128,
            ppo_batch=128, ppo_epochs=1, checkpoint_every=1, progress=False)


def test_the_stack_is_the_one_imitation_pins():
    assert gymnasium.__version__.startswith("0.29.")
    assert stable_baselines3.__version__.startswith("2.2.")
    assert imitation.__version__ == "1.0.1"


def test_stack_frames_is_vec_frame_stack():
    """The demonstrations' history is stacked exactly as VecFrameStack stacks the env's."""
    bm = load_beatmap(DEMO_MAP)
    stacked_env, _ = make_vec_env([bm], 1, 3, seed=0)
    raw_env = OsuSB3VecEnv([bm], 1, seed=0)
    stacked, rows = [stacked_env.reset()[0]], [raw_env.reset()[0]]
    for a in np.random.default_rng(0).uniform(-1, 1, (10, 1, 4)):
        stacked.append(stacked_env.step(a)[0][0])
        rows.append(raw_env.step(a)[0][0])
    np.testing.assert_array_equal(stack_frames(np.array(rows), 3), np.array(stacked))


def test_vec_env_restarts_plays_and_reports_them_as_sb3_expects():
    bm = load_beatmap(DEMO_MAP)
    ours = OsuSB3VecEnv([bm], 2, seed=0)
    obs = ours.reset()
    assert obs.shape == (2,) + ours.observation_space.shape and ours.observation_space.contains(obs[0])
    n = len(step_times(bm))  # the demo map's frames
    a = np.tile([[0.1, -0.05, 1.0, -1.0]], (2, 1))
    for i in range(n):
        obs, rew, done, infos = ours.step(a)
        assert np.isfinite(rew).all()
    assert done.all() and all("terminal_observation" in i and "accuracy" in i for i in infos)
    assert ours.observation_space.contains(infos[0]["terminal_observation"])
    assert (obs[:, -2:] == -1).all()  # a new play starts with no key held
    assert len(ours.finished) == 2


def test_a_human_trajectory_replays_through_the_env_to_the_same_judgement(shared_data):
    """The demonstrations are the env's own observations: stepping the env with a
    human trajectory's actions reproduces every observation bit for bit, and the
    judgement is the replay's own as far as 60 Hz steps carry it."""
    rows = [r for r in csv.DictReader(open(shared_data / "manifest.csv")) if r["category"] == "human"]
    row = next(r for r in rows if r["replay_file"].startswith("replays/human/Syrin"))
    rp = load_replay(shared_data / row["replay_file"])
    bm = load_beatmap(shared_data / row["map_file"], mods=rp.mods)
    traj = replay_trajectory(bm, rp, 1)
    env = OsuSB3VecEnv([bm], 1, seed=0)
    obs = env.reset()
    np.testing.assert_array_equal(obs[0], traj.obs[0])
    for i, a in enumerate(traj.acts):
        obs, _, done, infos = env.step(a[None].astype(np.float64))
        np.testing.assert_array_equal(infos[0]["terminal_observation"] if done[0] else obs[0], traj.obs[i + 1])
    assert done[0] and i + 1 == len(traj.acts)
    ours = np.array([infos[0][c] for c in ("n300", "n100", "n50", "nmiss")])
    theirs = np.array(judge(bm, rp).counts)
    assert np.abs(ours - theirs).sum() / 2 <= 0.01 * bm.n_objects, (ours, theirs)


def test_spun_out_plays_are_no_demonstrations(demo_dataset):
    """The game turns a SpunOut play's spinners, so that play is neither a demonstration
    nor one of the maps the policy learns on; every other play is both."""
    from dataclasses import replace

    from agents.dataset import Dataset
    from agents.gail import human_plays
    from osu_env.rules import Mods

    eps = Dataset(demo_dataset / "ds").split("train")
    plays, maps = human_plays(eps, progress=False)
    spun_out = [replace(e, mods=e.mods | Mods.SpunOut) if i == 0 else e for i, e in enumerate(eps)]
    fewer, fewer_maps = human_plays(spun_out, progress=False)
    assert len(plays) == len(eps) >= 2 and len(fewer) == len(plays) - 1
    assert all(not bm.mods & Mods.SpunOut for bm in fewer_maps) and len(fewer_maps) <= len(maps)


def test_the_discriminator_sees_keys_as_pressed_not_the_gaussian_sample():
    a = torch.tensor([[1.7, -0.25, 0.31, -0.9], [0.0, 0.0, -0.01, 2.0]])
    np.testing.assert_array_equal(_as_acted(a).numpy(), [[1.0, -0.25, 1.0, -1.0], [0.0, 0.0, -1.0, 1.0]])
    venv, _ = make_vec_env([load_beatmap(DEMO_MAP)], 1, 2)
    net = discriminator_net("gail", venv.observation_space, venv.action_space, (8,))
    o = np.zeros((2,) + venv.observation_space.shape, np.float32)
    _, acts, _, _ = net.preprocess(o, a.numpy(), o, np.zeros(2, bool))
    assert set(acts[:, 2:].flatten().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize("algo", ["gail", "airl"])
def test_a_tiny_run_trains_checkpoints_and_plays_the_demo_map(demo_dataset, tmp_path, algo):
    out = tmp_path / algo
    m = train_adversarial(AdversarialArgs(data=str(demo_dataset / "ds"), out=str(out), algo=algo, judgement_weight=0.5, **TINY))
    assert [h["round"] for h in m["history"]] == [1, 2]
    assert all(0.0 <= h["disc_acc"] <= 1.0 for h in m["history"])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["round"] == 2 and meta["algo"] == algo and (out / "ppo.zip").exists()
    assert meta["args"]["lr"] == MLP_LR  # the default, recorded as trained
    torch.load(out / "policy.pt", weights_only=True)
    torch.load(out / "adversarial.pt", weights_only=True)
    assert any((out / "tb").rglob("events.out.tfevents.*"))
    _plays_the_demo_map_and_reads_back(make_agent(algo, checkpoint=out, temperature=0.5), tmp_path)
    with pytest.raises(AgentError, match=f"a {algo} checkpoint"):
        make_agent("airl" if algo == "gail" else "gail", checkpoint=out)


def _plays_the_demo_map_and_reads_back(agent, tmp_path) -> None:
    """The agent plays every object of the demo map, its .osr judges the same when read
    back, and the same seed plays the same."""
    bm = load_beatmap(DEMO_MAP)
    p = play(agent, bm, seed=0)
    assert sum(p.result.counts) == bm.n_objects
    path = tmp_path / "play.osr"
    save_replay(p.to_replay(), path)
    assert judge(bm, load_replay(path)).counts == p.result.counts
    assert play(agent, bm, seed=0).result.counts == p.result.counts  # seeded


def test_resume_continues_and_an_existing_run_is_not_overwritten(demo_dataset, tmp_path):
    out = tmp_path / "run"
    args = dict(data=str(demo_dataset / "ds"), out=str(out), **TINY)
    train_adversarial(AdversarialArgs(**{**args, "timesteps": 4 * 128}))
    with pytest.raises(OsuInputError, match="holds a run already"):
        train_adversarial(AdversarialArgs(**args))
    m = train_adversarial(AdversarialArgs(**args, resume=True))
    assert [h["round"] for h in m["history"]] == [1, 2]
    assert json.loads((out / "meta.json").read_text())["round"] == 2
    done = train_adversarial(AdversarialArgs(**args, resume=True))  # nothing left: says so, trains nothing
    assert done["timesteps"] == 2 * 4 * 128 and done["steps_per_s"] == 0.0


def test_train_gail_command_and_foreign_checkpoints(demo_dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "gail", "--data", str(demo_dataset / "ds"), "--out", str(out), "--timesteps", "512",
                 "--envs", "4", "--n-steps", "128", "--n-stack", "2", "--bc-batches", "5", "-w", "1"]) == 0
    assert "discriminator accuracy" in capsys.readouterr().out
    assert main(["play", "--agent", "gail", "--checkpoint", str(out), "--out", str(tmp_path / "g.osr")]) == 0
    assert main(["play", "--agent", "gail", "--checkpoint", str(out), "--hand", "--out", str(tmp_path / "h.osr")]) == 0
    from agents.hand import HandModel

    bm = load_beatmap(DEMO_MAP)
    assert judge(bm, load_replay(tmp_path / "h.osr")).counts == play(make_agent("gail", out, temperature=0.3, hand=HandModel()), bm, seed=0).result.counts  # the command's default T
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "meta.json").write_text("{not json")
    with pytest.raises(AgentError, match="not a gail/airl checkpoint"):
        make_agent("gail", checkpoint=tmp_path / "junk")
    with pytest.raises(AgentError, match="no meta.json"):
        make_agent("gail", checkpoint=tmp_path)


# --------------------------------------------------------------------- the generator as GAIL's policy
@pytest.fixture(scope="module")
def tiny_generator(demo_dataset, tmp_path_factory):
    from agents import wgan as W

    out = tmp_path_factory.mktemp("wgan")
    W.train_wgan(W.WGANArgs(data=str(demo_dataset / "ds"), out=str(out), steps=2, batch=4, window=24, hidden=16,
                            critic_hidden=8, pretrain_steps=1, spin_frame=True, progress=False))
    return out


def test_median_keys_for_many_plays_is_median_keys_for_each():
    from agents.key_decoding import MedianKeys, MedianKeysVec

    rng = np.random.default_rng(0)
    p = rng.random((200, 3, 2)) ** 3  # mostly unlikely switches, some sure ones
    spin = rng.random((200, 3)) < 0.2
    one, many = [MedianKeys() for _ in range(3)], MedianKeysVec(3)
    for t in range(200):
        if t == 100:
            many.reset(np.array([False, True, False]))
            one[1] = MedianKeys()
        got = many.step(p[t], hold_one=spin[t])
        for i, m in enumerate(one):
            m.step(p[t, i].tolist())
            if spin[t, i]:
                m.hold_one(p[t, i].tolist())
        assert got.tolist() == [m.down for m in one]


def test_the_env_side_moves_the_cursor_in_the_generators_spinner_frame():
    from agents.dataset import spinning
    from agents.gail_generator import OBS_CURSOR_PX, generator_targets
    from agents.key_decoding import MedianKeysVec
    from agents.wgan import MOVE_TO_OBS, spinner_frame
    from osu_env.env import ACTION_CENTRE_PX, ACTION_HALF_RANGE_PX
    from osu_env.features import GLOBAL_FEATURES

    rng = np.random.default_rng(1)
    move, cur, spin = rng.normal(size=(64, 2)) * 0.3, rng.normal(size=(64, 2)) * 0.4, rng.random(64) < 0.5
    cur[0] = 0.0  # at the centre the outward direction is x
    obs = np.zeros((64, 80))
    obs[spin, GLOBAL_FEATURES + 11] = obs[spin, GLOBAL_FEATURES + 12] = 1.0  # a spinner under way
    assert (spinning(obs) == spin).all()
    action = np.concatenate([move, np.full((64, 2), -5.0)], 1)
    target = generator_targets(cur * OBS_CURSOR_PX + ACTION_CENTRE_PX, obs, action, MedianKeysVec(64), spin_frame=True)
    want = cur + spinner_frame(torch.as_tensor(move), torch.as_tensor(cur), torch.as_tensor(spin)).numpy() * MOVE_TO_OBS
    np.testing.assert_allclose(target[:, :2], want * OBS_CURSOR_PX / ACTION_HALF_RANGE_PX, atol=1e-12)
    assert not np.allclose(target[spin, :2], ((cur + move * MOVE_TO_OBS) * OBS_CURSOR_PX / ACTION_HALF_RANGE_PX)[spin])


def test_the_policy_starts_as_the_generator_at_zero_style_and_noise(demo_dataset, tiny_generator, tmp_path):
    """The warm start is exact: along a play of the demo map, the policy's mean action is
    the generator's move and key logits, step for step, its GRU state carried by
    sb3-contrib's sequence code (episode starts included)."""
    from agents.gail_generator import generator_policy_kwargs, load_generator_weights, make_generator_policy
    from agents.wgan import load_generator, step_input

    gen, config = load_generator(tiny_generator)
    bm = load_beatmap(DEMO_MAP)
    venv, raw = make_vec_env([bm], 2, 3, generator_actions=True, spin_frame=True, seed=0)
    policy = make_generator_policy(venv.observation_space, config["generator"],
                                   generator_policy_kwargs(config["generator"], -3.0, -1.0))
    load_generator_weights(policy, gen)
    obs = venv.reset()
    states = (torch.zeros(2, 2, 16), torch.zeros(2, 2, 16))
    h, before, keys = None, None, torch.zeros(2, 2)
    starts = torch.ones(2)
    frame = obs.shape[1] // 3
    with torch.no_grad():
        for t in range(40):
            o = torch.as_tensor(obs)
            latent, states = policy._process_sequence(policy.pi_features_extractor(o), states, starts, policy.lstm_actor)
            mean = policy._get_action_dist_from_latent(policy.mlp_extractor.forward_actor(latent)).distribution.mean
            last = o[:, -frame:-2]
            cur = last[:, :2]
            z = torch.zeros(2, gen.style + gen.noise)
            move, logits, h = gen.step(step_input(last, keys, cur, cur if before is None else before,
                                                  z[:, :gen.style], z[:, gen.style:]), h)
            torch.testing.assert_close(mean, torch.cat([move, logits], 1), atol=1e-5, rtol=1e-5)
            obs, _, done, _ = venv.step(mean.numpy())
            assert not done.any()
            before, keys, starts = cur, torch.as_tensor((obs[:, -2:] + 1) / 2), torch.zeros(2)
    assert policy.log_std.detach().tolist() == [-3.0, -3.0, -1.0, -1.0]


def test_gail_fine_tunes_a_generator_on_cpu_and_plays_it(demo_dataset, tiny_generator, tmp_path):
    out = tmp_path / "gen"
    args = AdversarialArgs(data=str(demo_dataset / "ds"), out=str(out), generator=str(tiny_generator),
                           critic_warmup_rounds=1, judgement_weight=1.0, **{**TINY, "timesteps": 3 * 4 * 128})
    before = make_agent("gail", checkpoint=_frozen(args, tmp_path))  # critic rounds only: the actor is the generator
    m = train_adversarial(args)
    assert [h["round"] for h in m["history"]] == [1, 2, 3]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["policy"] == "generator" and meta["generator_config"]["hidden"] == 16
    assert meta["args"]["lr"] == GENERATOR_LR  # the generator's own default, recorded as trained
    agent = make_agent("gail", checkpoint=out, temperature=0)
    moved = [a.detach() - b.detach() for a, b in zip(agent.policy.lstm_actor.parameters(), before.policy.lstm_actor.parameters())]
    assert max(float(d.abs().max()) for d in moved) > 0  # the actor trained after its warm-up round
    _plays_the_demo_map_and_reads_back(agent, tmp_path)
    m = train_adversarial(AdversarialArgs(**{**vars(args), "timesteps": 4 * 4 * 128, "resume": True}))
    assert [h["round"] for h in m["history"]] == [1, 2, 3, 4]
    with pytest.raises(OsuInputError, match="--generator is for GAIL"):
        train_adversarial(AdversarialArgs(**{**vars(args), "algo": "airl", "out": str(tmp_path / "airl")}))
    with pytest.raises(AgentError, match="no such checkpoint"):
        train_adversarial(AdversarialArgs(**{**vars(args), "generator": str(tmp_path / "nothing"), "out": str(tmp_path / "x")}))


def _frozen(args: AdversarialArgs, tmp_path):
    """A one-round run whose actor never trained (its critic warm-up outlasts it)."""
    out = tmp_path / "frozen"
    train_adversarial(AdversarialArgs(**{**vars(args), "out": str(out), "timesteps": 4 * 128, "critic_warmup_rounds": 5}))
    return out
