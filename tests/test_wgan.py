"""The WGAN-GP cursor generator: its penalty, its closed-loop rollout, training, resume and play."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import wgan as W
from agents.cli import main
from agents.dataset import Dataset, shift_cursor, spinning
from agents.hand import Hand, HandModel
from agents.runner import make_agent, play
from osu_env import DEMO_MAP
from osu_env.beatmap import load_beatmap
from osu_env.errors import AgentError, OsuInputError
from osu_env.judge import judge
from osu_env.replay import load_replay

from conftest import kill_9_after_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = ["--steps", "6", "--batch", "4", "--window", "24", "--hidden", "16", "--critic-hidden", "8",
        "--pretrain-steps", "2", "--warmup-steps", "1", "--anneal-steps", "2", "--n-critic", "2", "--checkpoint-every", "2"]


def _reference_penalty(critic: W.Critic, real, fake, mix) -> torch.Tensor:
    """The penalty in float64, written out: grad of D at each interpolate, its norm, squared gap to 1."""
    c64 = W.Critic(**critic.config).double()
    c64.load_state_dict({k: v.double() for k, v in critic.state_dict().items()})
    out = []
    for i in range(real.shape[0]):
        x = (mix[i] * real[i] + (1 - mix[i]) * fake[i]).double()[None].requires_grad_(True)
        (g,) = torch.autograd.grad(c64(x).sum(), x, create_graph=True)
        out.append((g.norm() - 1) ** 2)
    return torch.stack(out).mean(), c64


@pytest.mark.parametrize("kind", ["lstm", "conv"])
def test_gradient_penalty_matches_a_float64_reference_and_its_gradient_is_nonzero(kind):
    torch.manual_seed(0)
    critic = W.Critic(7, hidden=8, kind=kind)
    real, fake, mix = torch.randn(3, 10, 7), torch.randn(3, 10, 7) * 2, torch.rand(3)
    gp = W.gradient_penalty(critic, real, fake, mix)
    ref, c64 = _reference_penalty(critic, real, fake, mix)
    assert abs(gp.item() - ref.item()) < 1e-5 * max(1.0, ref.item())
    gp.backward()
    ref.backward()
    grads = [p.grad for p in critic.parameters()]
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0  # the penalty trains the critic
    for g, g64 in zip(grads, (p.grad for p in c64.parameters())):
        if g is None:  # the last bias: the slope of D does not depend on it
            assert g64 is None
        else:
            assert torch.allclose(g.double(), g64, atol=1e-5, rtol=1e-3)


def _windows_and_generator(demo_dataset, n: int, length: int, seed: int, spinner_share: float = 0.0):
    """The demo dataset, ``n`` of its training windows (obs, previous actions; a share
    placed over spinners) and a small untrained generator (torch seed 0) that moves in
    the spinner frame."""
    ds = Dataset(demo_dataset / "ds")
    eps = ds.split("train")
    obs, _, prev = (torch.as_tensor(a) for a in ds.sample_windows(eps, n, length, np.random.default_rng(seed),
                                                                  ds.spinning_steps(eps), spinner_share))
    torch.manual_seed(0)
    return ds, obs, prev, W.Generator(obs.shape[-1], hidden=16, spin_frame=True)


def test_rollout_observations_are_what_the_dataset_shows_a_moved_cursor(demo_dataset):
    ds, obs, prev, gen = _windows_and_generator(demo_dataset, 2, 40, 1)
    path, seen, logits = W.rollout(gen, obs, prev[..., 2:], torch.Generator().manual_seed(0))
    assert path.shape == (2, 40, 2) and logits.shape == (2, 38, 2)
    assert torch.equal(path[:, :2], obs[:, :2, :2])  # it starts from the human's cursors
    assert not torch.allclose(path[:, 2:], obs[:, 2:, :2])  # then plays its own
    d = (path - obs[..., :2]).detach().numpy() * 256.0  # px
    expect, _ = shift_cursor(obs.numpy().copy(), prev.numpy().copy(), d[..., 0], d[..., 1], ds.k)
    assert np.allclose(seen.detach().numpy(), expect, atol=1e-5)
    # the gradient flows back through the observation of its own cursor
    path[:, -1].sum().backward()
    assert gen.inp[0].weight.grad.abs().sum() > 0


def test_a_rollout_without_gradients_through_its_path_plays_the_same_and_fits_each_move_alone(demo_dataset):
    """through_path False (the spinner rollouts): the same play, but the last cursor's
    gradient reaches only the last move, not every move before it through the cursors."""
    _, obs, prev, gen = _windows_and_generator(demo_dataset, 3, 20, 3)
    assert not spinning(obs).any()  # moves are (dx, dy): the head's bias moves a cursor one for one
    keys = prev[..., 2:]
    whole = W.rollout(gen, obs, keys, torch.Generator().manual_seed(0))[0]
    local = W.rollout(gen, obs, keys, torch.Generator().manual_seed(0), through_path=False)[0]
    assert torch.allclose(whole, local)
    (g_local,) = torch.autograd.grad(local[:, -1, 0].sum(), gen.move.bias)
    (g_whole,) = torch.autograd.grad(whole[:, -1, 0].sum(), gen.move.bias)
    assert g_local[0].item() == pytest.approx(3 * W.MOVE_TO_OBS)  # one move per window
    assert g_whole[0].item() > 5 * 3 * W.MOVE_TO_OBS  # every move of the window


def test_teacher_forcing_predicts_each_step_as_the_agent_steps_from_the_shifted_cursor(demo_dataset):
    """One GRU pass over a window is the recurrence the agent steps: each move starts from
    the human's cursor shifted by the noise, seen through that cursor's observation."""
    ds, obs, prev, gen = _windows_and_generator(demo_dataset, 2, 30, 2, spinner_share=0.5)
    assert spinning(obs).any() and not spinning(obs).all()  # both kinds of step
    keys = prev[..., 2:]
    with torch.no_grad():
        path, before, logits, target = W.teacher_forced(gen, obs, keys, 12.0, torch.Generator().manual_seed(5))
    assert torch.equal(target, obs[..., :2])  # the human's own path
    g = torch.Generator().manual_seed(5)  # the same draws, in the same order
    d = torch.randn(2, 30, 2, generator=g) * (12.0 / 256.0)
    z = torch.randn(2, 1, gen.style, generator=g)[:, 0]
    eps = torch.randn(2, 28, gen.noise, generator=g)
    cur = obs[..., :2] + d
    px = d.numpy() * 256.0
    seen, _ = shift_cursor(obs.numpy().copy(), prev.numpy().copy(), px[..., 0], px[..., 1], ds.k)
    seen, h = torch.as_tensor(seen), None
    assert torch.equal(path[:, :2], obs[:, :2, :2]) and torch.allclose(before, cur[:, 1:-1])
    for t in range(1, 29):
        with torch.no_grad():
            move, key_logits, h = gen.step(W.step_input(seen[:, t], keys[:, t], cur[:, t], cur[:, t - 1], z, eps[:, t - 1]), h)
        assert torch.allclose(path[:, t + 1], cur[:, t] + gen.playfield_move(move, cur[:, t], seen[:, t]) * W.MOVE_TO_OBS, atol=1e-5)
        assert torch.allclose(logits[:, t - 1], key_logits, atol=1e-5)


def test_teacher_forcing_puts_a_spinning_cursor_off_the_humans_radius_by_one_factor_a_window(demo_dataset):
    """--pretrain-spin-scale: on spinner steps, and only there, the cursor each move starts
    from is the noisy one moved out (or in) from the centre by s x the human's offset, one
    s in [1/S, S] per window (capped at 200 px out); the next step's target is the human's
    cursor scaled by what is left of s after SPIN_RETURN of it is taken back."""
    ds, obs, prev, gen = _windows_and_generator(demo_dataset, 6, 30, 6, spinner_share=1.0)
    spin = spinning(obs)[:, 1:-1]
    assert spin.any() and not spin.all()
    keys = prev[..., 2:]
    with torch.no_grad():
        plain = W.teacher_forced(gen, obs, keys, 12.0, torch.Generator().manual_seed(5))
        scaled = W.teacher_forced(gen, obs, keys, 12.0, torch.Generator().manual_seed(5), 3.0)
    assert torch.equal(plain[1][~spin], scaled[1][~spin])  # the same noise draws off spinners
    human = obs[:, 1:-1, :2]
    factor = 1 + ((scaled[1] - plain[1]) * human).sum(-1) / (human * human).sum(-1)  # along the radius
    assert torch.allclose(scaled[1] - plain[1], human * (factor - 1).unsqueeze(-1), atol=1e-5)  # radial only
    capped = (scaled[1] - plain[1] + human).norm(dim=-1) >= W.SPIN_SCALE_MAX_PX / 256.0 - 1e-5
    moved = 0
    for b in range(6):
        f = factor[b][spin[b] & ~capped[b]]
        if len(f):
            assert torch.allclose(f, f[0].expand_as(f), atol=1e-3) and 1 / 3 - 1e-4 <= f[0] <= 3 + 1e-4
            moved += int(abs(f[0] - 1) > 0.05)
    assert moved >= 2
    target, human_all = scaled[3], obs[..., :2]
    assert torch.equal(target[:, :2], human_all[:, :2]) and torch.equal(target[:, 2:][~spin], human_all[:, 2:][~spin])
    back = 1 + (1 - W.SPIN_RETURN) * (factor - 1)  # what is left of the factor a step later
    assert torch.allclose(target[:, 2:][spin], human_all[:, 2:][spin] * back[spin].unsqueeze(-1), atol=1e-6)
    assert torch.equal(W.teacher_forced(gen, obs, keys, 12.0, torch.Generator().manual_seed(5), 1.0)[0], plain[0])


def test_the_returning_target_takes_back_its_share_of_the_shift_off_spinners():
    g = torch.Generator().manual_seed(0)
    human = torch.randn(3, 10, 2, generator=g)
    before = human[:, 1:-1] + torch.randn(3, 8, 2, generator=g)  # the shifted cursors the moves start from
    spin = torch.zeros(3, 10, dtype=torch.bool)
    spin[0, 5:] = True
    assert W.returning_target(human, before, spin, 1.0) is human
    t = W.returning_target(human, before, spin, 0.25)
    assert torch.equal(t[:, :2], human[:, :2])
    off = ~spin[:, 2:]
    expect = human[:, 2:] + 0.75 * (before - human[:, 1:-1])
    assert torch.allclose(t[:, 2:][off], expect[off])
    assert torch.equal(t[:, 2:][~off], human[:, 2:][~off])  # spinner steps: the human's own target


def test_on_spinners_the_head_moves_outward_and_turns_about_the_centre():
    """A steady output is a steady spin: (0, theta) turns the cursor by theta at any phase
    and radius, and (a, 0) moves it straight out; off spinners it is (dx, dy)."""
    unit = W.MOVE_TO_OBS
    move = torch.tensor([[0.0, math.pi / 2], [1.0, 0.0], [0.0, 0.1]])
    cur = torch.tensor([[0.4, 0.0], [0.0, -0.4], [0.0, 0.4]])
    out = W.spinner_frame(move, cur, torch.tensor([True, True, False]))
    assert torch.allclose(out, torch.tensor([[-0.4 / unit, 0.4 / unit], [0.0, -1.0], [0.0, 0.1]]), atol=1e-5)
    for p in (torch.tensor([[0.3, 0.2]]), torch.tensor([[-0.05, 0.02]]), torch.tensor([[0.0, -0.7]])):
        nxt = p + W.spinner_frame(torch.tensor([[0.0, 0.4]]), p, torch.tensor([True])) * unit
        f = W.spin_features(nxt, p, torch.tensor([True]))[0]
        assert torch.allclose(f[3], torch.tensor(0.4), atol=1e-5) and torch.allclose(f[0], p.norm(), atol=1e-5)


def test_spinner_features_read_radius_angle_and_turn():
    cur = torch.tensor([[0.0, 0.5]])
    before = torch.tensor([[0.5, 0.0]])
    f = W.spin_features(cur, before, torch.tensor([True]))
    assert torch.allclose(f, torch.tensor([[0.5, 0.0, 1.0, np.pi / 2]]), atol=1e-5)
    assert torch.equal(W.spin_features(cur, before, torch.tensor([False])), torch.zeros(1, 4))
    # the positional term on spinner steps asks for a spin, not the human's point of it
    t = torch.linspace(0, 3, 12)
    human = torch.stack([0.4 * torch.cos(t), 0.4 * torch.sin(t)], -1)[None]
    other_phase = torch.stack([0.4 * torch.cos(t + 2), 0.4 * torch.sin(t + 2)], -1)[None]
    spin = torch.ones(1, 12, dtype=torch.bool)
    assert W.positional_loss(other_phase, human, spin) < 1e-6
    assert W.positional_loss(other_phase, human, ~spin) > 0.1
    reverse = torch.stack([0.4 * torch.cos(-t), 0.4 * torch.sin(-t)], -1)[None]
    assert W.positional_loss(reverse, human, spin) < 1e-6  # nor the other way round
    assert W.positional_loss(torch.zeros_like(human), human, spin) > 0.1  # the centre is no spin
    wobble = torch.stack([0.4 * torch.cos(0.3 * (-1) ** torch.arange(12)), 0.4 * torch.sin(0.3 * (-1) ** torch.arange(12))], -1)[None]
    assert W.positional_loss(wobble, human, spin) > 0.1  # nor is going back and forth


def test_the_spinner_loss_fits_the_spin_on_spinner_steps_alone():
    """--pretrain-spin-rollouts fits closed-loop windows on their spinner steps only:
    moving the cursor elsewhere costs nothing, a spin of the wrong radius or pace does."""
    t = torch.linspace(0, 3, 12)
    human = torch.stack([0.4 * torch.cos(t), 0.4 * torch.sin(t)], -1)[None]
    spin = torch.zeros(1, 12, dtype=torch.bool)
    spin[0, 4:] = True
    elsewhere = human.clone()
    elsewhere[0, :3] += 0.5  # step 3 stays: the first spinner step's turn starts there
    assert W.spinner_loss(human, human, spin) < 1e-6
    assert W.spinner_loss(elsewhere, human, spin) < 1e-6  # off the spinner steps
    assert W.positional_loss(elsewhere, human, spin) > 0.01
    assert W.spinner_loss(human * 0.25, human, spin) > 0.01  # too small a circle
    slow = torch.stack([0.4 * torch.cos(t / 2), 0.4 * torch.sin(t / 2)], -1)[None]
    half = 3 / 11 / 2  # rad a step short of the human's turn
    assert torch.allclose(W.spinner_loss(slow, human, spin), torch.tensor(0.5 * half**2), atol=1e-5)  # too slow a spin (SmoothL1)
    assert torch.allclose(W.spinner_loss(slow, human, spin, turn_weight=3.0), torch.tensor(1.5 * half**2), atol=1e-5)
    assert torch.allclose(W.spinner_loss(human * 0.25, human, spin, turn_weight=3.0), W.spinner_loss(human * 0.25, human, spin))  # the radius's part alone
    every = torch.ones_like(spin)
    assert torch.allclose(W.spinner_loss(slow, human, every), W.positional_loss(slow, human, every))
    assert W.spinner_loss(slow, human, torch.zeros_like(spin)) == 0  # no spinner: nothing to fit


@pytest.mark.parametrize("lengths", [(64,), (16, 40)])
def test_spinner_rollouts_beside_the_teacher_forcing_train_the_closed_loop_spin(demo_dataset, tmp_path, lengths):
    args = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=4, window=24, hidden=16,
                      critic_hidden=8, pretrain_steps=2, pretrain_spin_rollouts=3, pretrain_spin_steps=lengths,
                      pretrain_spin_weight=0.5, progress=False)
    losses = W.train_wgan(args)
    alone = W.train_wgan(replace(args, out=str(tmp_path / "b"), pretrain_spin_weight=0.0))  # the same draws
    assert losses["generator/spinner_closed_loop"] > 0
    assert losses["generator/positional"] == pytest.approx(alone["generator/positional"] + 0.5 * losses["generator/spinner_closed_loop"])
    ds, obs, prev, gen = _windows_and_generator(demo_dataset, 3, args.pretrain_spin_steps[0], 4, spinner_share=1.0)
    path = W.rollout(gen, obs, prev[..., 2:], torch.Generator().manual_seed(0))[0]
    W.spinner_loss(path, obs[..., :2], spinning(obs)).backward()
    assert gen.inp[0].weight.grad.abs().sum() > 0  # through the generator's own closed-loop path


def test_onset_share_places_closed_loop_spinner_windows_over_a_spinners_start(demo_dataset):
    ds = Dataset(demo_dataset / "ds")
    eps = ds.split("train")
    anchors = ds.spinning_steps(eps)
    onsets = W.spinner_onsets(anchors)
    for share, with_start in ((1.0, 6), (0.5, 3)):
        args = W.WGANArgs(data="", out="", pretrain_spin_rollouts=6, pretrain_spin_onset=share)
        obs, keys = W._spinner_windows(ds, eps, args, np.random.default_rng(0), anchors, onsets, "cpu", 24)
        assert obs.shape[:2] == keys.shape[:2] == (6, 24)
        on = spinning(obs)
        assert on.any(1).all()  # every window over a spinner
        first = on.float().argmax(1)  # each window's first spinner step
        since_start = -obs[torch.arange(6), first, 6 + 1]  # s since the spinner began (object 0's time to start)
        step_s = ds.meta["step_ms"] / 1000
        assert (since_start[-with_start:] < step_s).all()  # the onset windows (last) hold the spin's first step
        assert (since_start[:-with_start] >= step_s).all()  # the others, drawn by step, land mid-spin here


def test_a_slowed_spin_turns_at_the_pace_given_through_the_lead_in_then_at_the_humans():
    t = 0.4 * torch.arange(24.0)  # a steady 0.4 rad a step
    human = torch.stack([0.2 * torch.cos(t), 0.2 * torch.sin(t)], -1)[None].repeat(3, 1, 1)
    human[2] = -human[2].flip(-1)  # the other way round, another phase
    spin = torch.ones(3, 24, dtype=torch.bool)
    spin[1, :5] = False  # the spinner starts at step 5
    slowed = W.slowed_spin(human, spin, torch.tensor([0.5, 0.25, 0.0]), 10)
    turn = torch.atan2(slowed[..., 1], slowed[..., 0]).diff(dim=1)
    turn = torch.remainder(turn + math.pi, 2 * math.pi) - math.pi
    assert torch.allclose(slowed.norm(dim=-1), human.norm(dim=-1), atol=1e-6)  # the radius kept
    assert torch.allclose(turn[0, :9], torch.full((9,), 0.2), atol=1e-5)  # half the pace through the lead-in
    assert torch.allclose(turn[0, 9:], torch.full((14,), 0.4), atol=1e-5)  # then the human's
    assert torch.allclose(slowed[1, :6], human[1, :6])  # before the spinner: the human's cursor
    assert torch.allclose(turn[1, 5:9], torch.full((4,), 0.1), atol=1e-5)
    assert torch.allclose(turn[2, :9], torch.zeros(9), atol=1e-5)  # pace 0: held still
    assert torch.allclose(turn[2, 9:].abs(), torch.full((14,), 0.4), atol=1e-5)
    assert torch.allclose(W.slowed_spin(human, spin, torch.ones(3), 10), human, atol=1e-6)


def test_a_widened_spin_starts_wide_and_its_target_closes_in_to_the_humans_radius():
    t = 0.4 * torch.arange(60.0)
    human = torch.stack([0.2 * torch.cos(t), 0.2 * torch.sin(t)], -1)[None].repeat(3, 1, 1)
    spin = torch.ones(3, 60, dtype=torch.bool)
    spin[2, :4] = False  # a spinner that starts inside the lead-in: left as it is
    given, target = W.widened_spin(human, spin, torch.tensor([2.0, 1.0, 3.0]), 10, 20)
    angle = lambda p: torch.atan2(p[..., 1], p[..., 0])
    assert torch.allclose(angle(given), angle(human), atol=1e-5) and torch.allclose(angle(target), angle(human), atol=1e-5)
    assert torch.allclose(given[0, :10].norm(dim=-1), torch.full((10,), 0.4))  # twice the radius through the lead-in
    assert torch.allclose(given[0, 10:], human[0, 10:])  # then the human's (what the rollout ignores)
    r = target[0, 10:].norm(dim=-1)
    assert (r[:19].diff() < 0).all() and math.isclose(r[0].item(), 0.4 * 2 ** (-1 / 20), rel_tol=1e-5)  # closing in, log-linearly
    assert torch.allclose(r[19:], torch.full((31,), 0.2), atol=1e-6)  # back at the human's after 20 steps
    assert torch.allclose(given[1], human[1]) and torch.allclose(target[1], human[1])  # scale 1: the human's
    assert torch.allclose(given[2], human[2]) and torch.allclose(target[2], human[2])


def _eight_spinner_windows(demo_dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight closed-loop spinner windows of 24 steps from the demo dataset, and where they spin."""
    ds = Dataset(demo_dataset / "ds")
    eps = ds.split("train")
    anchors = ds.spinning_steps(eps)
    args = W.WGANArgs(data="", out="", pretrain_spin_rollouts=8)
    obs, _ = W._spinner_windows(ds, eps, args, np.random.default_rng(0), anchors, W.spinner_onsets(anchors), "cpu", 24)
    return obs, spinning(obs)


def test_the_wide_share_starts_the_first_windows_wide_and_keeps_the_slowed_ones(demo_dataset):
    obs, spin = _eight_spinner_windows(demo_dataset)
    slowed, slow_from = W._slowed_lead_in(obs, spin, 0.25, np.random.default_rng(1))
    given, free_from, target = W._wide_lead_in(obs, spin, slowed, slow_from, 0.25, np.random.default_rng(2))
    assert free_from.tolist() == [W.SLOW_LEAD_IN] * 2 + [2] * 4 + [W.SLOW_LEAD_IN] * 2
    assert torch.equal(given[2:], slowed[2:]) and torch.equal(target[2:], obs[2:, :, :2])
    whole = spin[:2, :W.SLOW_LEAD_IN].all(1)  # spinning through the lead-in: started wide
    assert whole.any()
    lead = slice(0, W.SLOW_LEAD_IN)
    assert (given[:2][whole, lead].norm(dim=-1) > 1.001 * obs[:2][whole, lead, :2].norm(dim=-1)).all()
    assert torch.equal(given[:2][~whole], obs[:2][~whole, :, :2])


def test_a_rollout_follows_the_given_cursors_until_its_free_step_then_its_own(demo_dataset):
    _, obs, prev, gen = _windows_and_generator(demo_dataset, 3, 20, 0, spinner_share=1.0)
    given = obs[..., :2] + 0.05
    free_from = torch.tensor([2, 6, 12])
    path = W.rollout(gen, obs, prev[..., 2:], torch.Generator().manual_seed(0), given=given, free_from=free_from)[0]
    for b, k in enumerate(free_from.tolist()):
        assert torch.equal(path[b, :k], given[b, :k])
        assert not torch.allclose(path[b, k:], given[b, k:])
    plain = W.rollout(gen, obs, prev[..., 2:], torch.Generator().manual_seed(0))[0]
    assert torch.equal(W.rollout(gen, obs, prev[..., 2:], torch.Generator().manual_seed(0), given=obs[..., :2],
                                 free_from=torch.full((3,), 2))[0], plain)  # from step 2 on: the plain rollout


def test_the_slow_share_starts_that_many_closed_loop_spinner_windows_from_a_slowed_lead_in(demo_dataset, tmp_path):
    obs, spin = _eight_spinner_windows(demo_dataset)
    given, free_from = W._slowed_lead_in(obs, spin, 0.25, np.random.default_rng(1))
    assert free_from.tolist() == [2] * 6 + [W.SLOW_LEAD_IN] * 2
    assert torch.equal(given[:6], obs[:6, :, :2])  # the rest start from the human's own spin
    lead = slice(0, W.SLOW_LEAD_IN)
    assert not torch.allclose(given[6:, lead], obs[6:, lead, :2])  # slowed through the lead-in
    train = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=4, window=24, hidden=16,
                       critic_hidden=8, pretrain_steps=1, pretrain_spin_rollouts=4, pretrain_spin_steps=(24,),
                       pretrain_spin_slow=0.5, pretrain_spin_floor=0.0, progress=False)
    slowed = W.train_wgan(train)["generator/spinner_closed_loop"]
    plain = W.train_wgan(replace(train, out=str(tmp_path / "b"), pretrain_spin_slow=0.0))["generator/spinner_closed_loop"]
    assert slowed > 0 and slowed != plain
    floored = W.train_wgan(replace(train, out=str(tmp_path / "c"), pretrain_spin_floor=4.0))["generator/spinner_closed_loop"]
    assert floored > slowed  # the same draws, and an untrained generator spins slower than 4 turns a second
    wide = W.train_wgan(replace(train, out=str(tmp_path / "d"), pretrain_spin_wide=0.5))["generator/spinner_closed_loop"]
    assert wide > 0 and wide != slowed


def _spinner_then_two_objects(due_s: tuple[float, float]) -> torch.Tensor:
    """An observation (k 3): a spinner under way, then objects due in ``due_s`` seconds."""
    G, F = W.GLOBAL_FEATURES, W.OBJECT_FEATURES
    obs = torch.zeros(G + 3 * F)
    obs[:2] = torch.tensor([0.1, -0.2])
    obs[G + 0], obs[G + 2], obs[G + 11], obs[G + 12], obs[G + 13] = 1.0, 1.5, 1.0, 1.0, 0.7  # the spinner
    for j, due in enumerate(due_s, 1):
        obs[G + j * F: G + (j + 1) * F] = torch.tensor([1.0, due, due, 0.3, 0.1, 0.3, 0.1, 0.3, 0.1, 1.0, 0, 0, 0, 0])
    return obs


def test_spin_focus_hides_the_objects_after_a_running_spinner_until_they_are_nearly_due():
    G, F = W.GLOBAL_FEATURES, W.OBJECT_FEATURES
    obs = _spinner_then_two_objects((0.3, 1.2))
    focused = W.spin_focus(obs[None])[0]
    assert torch.equal(focused[: G + 2 * F], obs[: G + 2 * F])  # the spinner, and the object due in 0.3 s
    assert (focused[G + 2 * F:] == 0).all()  # the one due in 1.2 s: out of view, as a missing object
    idle = obs.clone()
    idle[G + 12] = 0.0  # the spinner not yet under way
    assert torch.equal(W.spin_focus(idle[None])[0], idle)
    torch.manual_seed(0)
    gen = W.Generator(obs.shape[0], hidden=16, spin_focus=True)
    other = _spinner_then_two_objects((0.3, 3.0))
    other[G + 2 * F + 3:G + 2 * F + 9] *= -2  # elsewhere, and later still
    x = torch.stack([W.step_input(o[None], torch.tensor([[1.0, 0.0]]), o[None, :2], o[None, :2], torch.zeros(1, 16),
                                  torch.zeros(1, 4))[0] for o in (obs, other)])[:, None]
    move, _, _ = gen(x)
    assert torch.equal(move[0], move[1])  # the generator cannot tell them apart
    gen.spin_focus = False
    move, _, _ = gen(x)
    assert not torch.equal(move[0], move[1])


def test_a_shortened_spinner_ends_sooner_by_one_time_for_it_and_every_later_object():
    G, F = W.GLOBAL_FEATURES, W.OBJECT_FEATURES
    L, step_s = 5, 0.0167
    window = torch.stack([_spinner_then_two_objects((2.0, W.TIME_CLIP_S)) for _ in range(L)])
    window[:, G + 2] = 1.5 - step_s * torch.arange(L)  # the spinner's end comes nearer each step
    window[:, G + F + 1] -= step_s * torch.arange(L)
    obs = torch.stack([window, window.clone()])
    obs[1, 0, G + 12] = 0.0  # the second window's first step is before the spinner starts
    short = W.shortened_spinner(obs, 1.0, np.random.default_rng(0))
    delta = obs[0, :, G + 2] - short[0, :, G + 2]
    assert (delta > 0).all() and torch.allclose(delta, delta[0].expand(L))  # one time for the whole window
    assert short[0, -1, G + 2] > 0  # still ends after the window
    assert torch.allclose(obs[0, :, G + F + 1] - short[0, :, G + F + 1], delta)  # the next object as much sooner
    assert torch.allclose(obs[0, :, G + F + 2] - short[0, :, G + F + 2], delta)
    assert torch.equal(short[0, :, G + 2 * F + 1], obs[0, :, G + 2 * F + 1])  # one clipped far off stays far off
    keep = torch.ones_like(obs[0], dtype=torch.bool)
    keep[:, [G + 2, G + F + 1, G + F + 2]] = False
    assert torch.equal(short[0][keep], obs[0][keep])  # positions, kinds, the spin: as they were
    assert torch.equal(short[1], obs[1])  # a window not spinning throughout is left alone
    assert torch.equal(W.shortened_spinner(obs, 0.0, np.random.default_rng(0)), obs)


def test_idle_windows_lie_where_nothing_is_due_and_are_played_closed_loop_in_training(demo_dataset, tmp_path, monkeypatch):
    ds = Dataset(demo_dataset / "ds")
    eps = ds.split("train")
    G = W.GLOBAL_FEATURES
    idle = ds.idle_steps(eps, 0.6)
    o = ds.obs[idle]
    assert len(idle) and (o[:, G] > 0.5).all() and (o[:, G + 12] < 0.5).all() and (o[:, G + 1] > 0.6).all()
    assert set(ds.idle_steps(eps, 0.9)) < set(idle)  # the further ahead, the fewer
    assert not set(ds.spinning_steps(eps)) & set(idle)
    train = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=4, window=24, hidden=16,
                       critic_hidden=8, pretrain_steps=1, pretrain_spin_rollouts=0, progress=False)
    assert not len(ds.idle_steps(eps, W.IDLE_AHEAD_S))  # the demo map has no 2 s gap: no break windows at all
    assert "generator/idle_closed_loop" not in W.train_wgan(train)
    monkeypatch.setattr(W, "IDLE_AHEAD_S", 0.6)
    outward = W.train_wgan(replace(train, out=str(tmp_path / "b")))  # the default: outward drift
    assert outward["generator/idle_closed_loop"] >= 0
    path = W.train_wgan(replace(train, out=str(tmp_path / "c"), pretrain_idle_loss="path"))
    assert path["generator/idle_closed_loop"] > 0 and path["generator/loss"] != outward["generator/loss"]
    plain = W.train_wgan(replace(train, out=str(tmp_path / "d"), pretrain_idle_rollouts=0))
    assert "generator/idle_closed_loop" not in plain and plain["generator/loss"] != outward["generator/loss"]
    with pytest.raises(OsuInputError, match="pretrain-idle-loss"):
        W.train_wgan(replace(train, out=str(tmp_path / "e"), pretrain_idle_loss="centre"))


def test_slow_spin_charges_only_a_pace_under_the_floor_either_way_round():
    step = 2 * math.pi / 60  # a turn a second at 60 steps a second
    def circle(turns_per_s, n=12):
        a = turns_per_s * step * torch.arange(n, dtype=torch.float32)
        return 0.3 * torch.stack([torch.cos(a), torch.sin(a)], -1)
    path = torch.stack([circle(5.0), circle(2.0), circle(-2.0), circle(2.0)])
    spin = torch.ones(4, 12, dtype=torch.bool)
    spin[3] = False  # not a spinner: nothing to charge
    floor = 4.0 * step
    each = [W.slow_spin(path[i:i + 1], spin[i:i + 1], floor).item() for i in range(4)]
    assert each[0] == pytest.approx(0.0, abs=1e-6)  # a person's pace is above the floor
    assert each[1] == pytest.approx(2.0 * step, rel=1e-3) and each[2] == pytest.approx(each[1], rel=1e-4)
    assert each[3] == 0.0


def test_outward_drift_charges_only_moves_away_from_the_centre_beyond_the_bound():
    bound = 1.0  # obs units (256 px)
    t = torch.arange(10, dtype=torch.float32)
    out = torch.stack([1.2 + 0.01 * t, torch.zeros(10)], -1)  # beyond, drifting out 2.56 px a step
    back = out.flip(0)  # the same path back in
    inside = torch.stack([0.5 + 0.01 * t, torch.zeros(10)], -1)  # drifting out, but within the bound
    angle = 0.1 * t
    around = (1.5 - 1e-3 * t)[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], -1)  # round, beyond it
    path = torch.stack([out, back, inside, around]).requires_grad_(True)
    per_window = [W.outward_drift(path[i:i + 1], bound).item() for i in range(4)]
    assert per_window[0] == pytest.approx(0.01 / W.MOVE_TO_OBS * 8 / 8, rel=1e-4)  # every step from 2 charged
    assert per_window[1:] == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    W.outward_drift(path, bound).backward()
    g = path.grad
    assert (g[0, 2:, 0] > 0).all() and (g[1:] == 0).all()  # outward moves pushed back; the rest untouched
    assert (g[:, :2] == 0).all()  # the given start is not the generator's
    shifted = W._shifted_start(torch.zeros(256, 5, 2), np.random.default_rng(0))
    far = shifted[:, 0].norm(dim=-1) * 256
    assert (shifted == shifted[:, :1]).all()  # one shift a window
    assert far.max() <= W.IDLE_SHIFT_PX and (far > W.IDLE_RADIUS_PX).float().mean() > 0.3  # many start where the term acts


def test_pace_gap_matches_the_mix_of_step_lengths_not_their_order(demo_dataset, tmp_path):
    human = torch.zeros(1, 6, 2)
    human[0, :, 0] = 0.1 * torch.arange(6.0)  # 0.1 obs units a step
    shuffled = torch.zeros(1, 6, 2)
    shuffled[0, :, 0] = torch.tensor([0.0, 0.1, 0.3, 0.35, 0.5, 0.55])  # steps 0.2, 0.05, 0.15, 0.05
    slow = human * 0.5
    none = torch.zeros(1, 6, dtype=torch.bool)
    assert W.pace_gap(human, human, none).item() == pytest.approx(0.0)
    assert W.pace_gap(slow, human, none).item() == pytest.approx(0.05 / W.MOVE_TO_OBS)
    # sorted, 0.05 0.05 0.15 0.2 against 0.1 x 4: |-.05| + |-.05| + .05 + .1, over 4 steps
    assert W.pace_gap(shuffled, human, none).item() == pytest.approx(0.0625 / W.MOVE_TO_OBS, rel=1e-5)
    spin = none.clone()
    spin[0, 2:] = True  # a spinner's steps are not charged at all
    assert W.pace_gap(shuffled, human, spin).item() == pytest.approx(0.0, abs=1e-7)
    moves = torch.tensor([[[0.05, 0.0]] * 4], requires_grad=True)  # the slow path's steps
    W.pace_gap(torch.cat([slow[:, :2], slow[:, 1:2] + moves.cumsum(1)], 1), human, none).backward()
    assert (moves.grad[..., 0] < 0).all() and (moves.grad[..., 1] == 0).all()  # every short move lengthened along itself
    train = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=4, window=24, hidden=16,
                       critic_hidden=8, pretrain_steps=1, pretrain_spin_rollouts=0, pretrain_pace_rollouts=0, progress=False)
    plain = W.train_wgan(train)
    paced = W.train_wgan(replace(train, out=str(tmp_path / "b"), pretrain_pace_rollouts=4))
    assert "generator/pace_closed_loop" not in plain and paced["generator/pace_closed_loop"] > 0
    assert paced["generator/loss"] != plain["generator/loss"]


def _one_step_adds_the_term(demo_dataset, tmp_path, term: str, weight: float, **on):
    """One training step without a generator term and one with it (``on``): the term is
    logged only when on, it is positive, and the generator's loss grows by weight times it."""
    train = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=4, window=24, hidden=16,
                       critic_hidden=8, pretrain_steps=1, pretrain_spin_rollouts=0, pretrain_pace_rollouts=0,
                       pretrain_energy_weight=0.0, progress=False)
    plain = W.train_wgan(train)
    added = W.train_wgan(replace(train, out=str(tmp_path / "b"), **on))
    assert term not in plain and added[term] > 0
    assert added["generator/loss"] == pytest.approx(plain["generator/loss"] + weight * added[term], rel=1e-4)


def test_energy_score_is_least_for_draws_spread_as_the_target_is(demo_dataset, tmp_path):
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(4000, 3, 2, generator=gen, dtype=torch.float64) * 0.1  # the person's next cursors, spread 0.1
    none = torch.zeros(4000, 3, dtype=torch.bool)

    def score(spread):
        a, b = (torch.randn(4000, 3, 2, generator=gen, dtype=torch.float64) * spread for _ in range(2))
        return W.energy_score(a, b, y, none).item()

    # the SmoothL1 term would choose spread 0 (the mean); the energy score the target's own spread
    assert score(0.1) < score(0.0) and score(0.1) < score(0.05) and score(0.1) < score(0.2)
    a, b = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    a[0, 2, 0], b[0, 2, 0] = 0.3, -0.1  # y = 0 at the one scored step: (0.3 + 0.1) / 2 - 0.4 / 2 = 0
    assert W.energy_score(a, b, torch.zeros(1, 3, 2), none[:1]).item() == pytest.approx(0.0, abs=1e-5)
    b[0, 2, 0] = 0.3  # both draws 0.3 off the same way: 0.3, in 64 px units
    assert W.energy_score(a, b, torch.zeros(1, 3, 2), none[:1]).item() == pytest.approx(0.3 / W.MOVE_TO_OBS, rel=1e-4)
    spin = none[:1].clone()
    spin[0, 2] = True  # spinner steps are left to the spinner terms
    assert W.energy_score(a, b, torch.zeros(1, 3, 2), spin).item() == 0.0

    _, obs, prev, g = _windows_and_generator(demo_dataset, 2, 24, 3)
    one = W.teacher_forced(g, obs, prev[..., 2:], 12.0, torch.Generator().manual_seed(5))
    two = W.teacher_forced(g, obs, prev[..., 2:], 12.0, torch.Generator().manual_seed(5), draws=2)
    assert two[0].shape == (4, 24, 2) and torch.allclose(two[0][:2], one[0], atol=1e-6)  # the first draw as ever
    assert torch.equal(two[1][:2], two[1][2:])  # both from the same shifted cursors
    assert not torch.allclose(two[0][2:], one[0], atol=1e-4)  # other noise
    _one_step_adds_the_term(demo_dataset, tmp_path, "generator/energy_score", 0.3, pretrain_energy_weight=0.3)


def test_path_energy_scores_one_departure_over_the_mean_of_two(demo_dataset, tmp_path):
    K = W.PATH_STEPS
    t = torch.arange(K, dtype=torch.float64)
    early, late = ((t - s).clamp(0, 4) / 4 * 0.5 for s in (2, 8))  # 128 px covered in 4 steps, set off at step 2 or 8
    modes = [torch.stack([m, torch.zeros_like(m)], -1) for m in (early, late)]
    combos = [(a, b, y) for a in modes for b in modes for y in modes]  # both draws and the person from the same two
    a, b, y = (torch.stack(c) for c in zip(*combos))
    keep = torch.ones(len(combos), dtype=torch.bool)
    crisp = W.path_energy(a, b, y, keep).item()
    mean = (modes[0] + modes[1]) / 2  # set off between, and slower: the mean of the two paths
    averaged = W.path_energy(mean.expand_as(a), mean.expand_as(a), y, keep).item()
    assert crisp < averaged
    assert crisp == pytest.approx(0.5 * averaged, rel=1e-5)  # by hand, D = |early - late|: 6 of 8 combos score 0, 2 score D; the mean path D / 2 each
    keep[:] = False
    assert W.path_energy(a, b, y, keep).item() == 0.0  # windows over spinners are left to the spinner terms
    _one_step_adds_the_term(demo_dataset, tmp_path, "generator/path_energy", 0.3, pretrain_path_rollouts=4)


def test_a_few_critic_steps_move_the_wasserstein_estimate(demo_dataset):
    _, obs, prev, gen = _windows_and_generator(demo_dataset, 16, 48, 0)
    keys = prev[..., 2:]
    with torch.no_grad():
        path, fake_obs, _ = W.rollout(gen, obs, keys, torch.Generator().manual_seed(0))
    real_x, fake_x = W.critic_inputs(obs, keys, obs[..., :2]), W.critic_inputs(fake_obs, keys, path)
    critic = W.Critic(real_x.shape[-1], hidden=16)
    opt = torch.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.9))
    noise = torch.Generator().manual_seed(0)
    first = W.critic_step(critic, opt, real_x, fake_x, 10.0, noise)
    for _ in range(15):
        last = W.critic_step(critic, opt, real_x, fake_x, 10.0, noise)
    assert abs(first["critic/wasserstein"]) < 0.05  # an untrained critic cannot tell them apart
    assert last["critic/wasserstein"] > 0.2  # a trained one scores the human windows higher
    assert last["critic/gradient_penalty"] < first["critic/gradient_penalty"]


def test_training_logs_the_losses_and_starts_the_critic_after_the_warmup(demo_dataset, tmp_path):
    args = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=3, batch=4, window=24, hidden=16,
                      critic_hidden=8, pretrain_steps=0, warmup_steps=2, anneal_steps=4, n_critic=1, progress=False)
    assert W.schedule(0, args) == (0.0, 1.0, args.lr) and W.schedule(1, args) == (0.0, 1.0, args.lr)
    assert W.schedule(2, args) == (0.25, 0.75 + 0.25 * args.pos_final, 0.75 * args.lr + 0.25 * args.adv_lr)
    assert W.schedule(100, args) == (1.0, args.pos_final, args.adv_lr)
    first = replace(args, pretrain_steps=1, steps=4)
    assert W.schedule(2, first) == (0.0, 1.0, args.lr) and W.schedule(3, first) == W.schedule(2, args)  # teacher forcing first
    losses = W.train_wgan(first)
    assert {"critic/wasserstein", "critic/gradient_penalty", "generator/adversarial", "generator/positional",
            "generator/keys_bce"} <= set(losses)
    assert any((tmp_path / "a" / "tb").iterdir())


def test_a_checkpoint_plays_the_demo_map_and_writes_a_replay_the_judge_reads(demo_dataset, tmp_path, capsys):
    out = tmp_path / "wg"
    assert main(["train", "wgan", "--data", str(demo_dataset / "ds"), "--out", str(out), *TINY]) == 0
    assert "wrote" in capsys.readouterr().out
    osr = tmp_path / "w.osr"
    assert main(["play", "--agent", "wgan", "--checkpoint", str(out), "--out", str(osr)]) == 0
    replay = load_replay(osr)
    bm = load_beatmap(DEMO_MAP)
    judged = judge(bm, replay)
    assert (judged.result >= 0).all() and sum(judged.counts) == bm.n_objects
    p1 = play(make_agent("wgan", out, temperature=1.0), bm, seed=3)
    p2 = play(make_agent("wgan", out, temperature=1.0), bm, seed=3).result
    assert p1.result.to_dict() == p2.to_dict()  # same seed, same play
    cold = [np.array(play(make_agent("wgan", out), bm, seed=s).frames) for s in (3, 4)]
    assert np.array_equal(cold[0], cold[1])  # at temperature 0 (the default) the noise is gone: the seed changes nothing
    assert not np.array_equal(cold[0], np.array(p1.frames))  # and at 1 it moves the cursor
    assert main(["play", "--agent", "wgan", "--checkpoint", str(out), "--temperature", "1", "--seed", "4",
                 "--out", str(tmp_path / "t1.osr")]) == 0
    warm = play(make_agent("wgan", out, temperature=1.0), bm, seed=4)
    assert not np.array_equal(np.array(warm.frames), cold[1])
    assert judge(bm, load_replay(tmp_path / "t1.osr")).counts == warm.result.counts  # the flag reaches it
    t, keys = np.array([f[0] for f in p1.frames]), np.array([f[3] for f in p1.frames])
    spin = bm.kind == 2
    during = (t > bm.start_ms[spin][0]) & (t < bm.end_ms[spin][0])
    assert during.sum() > 100 and (keys[during] > 0).all()  # a spinner needs a key held: the untrained head's is
    # a hand: the generator plays the same intended path, the cursor is that path through the hand
    handed = play(make_agent("wgan", out, hand=HandModel(), temperature=1.0), bm, seed=3).frames
    n = int((t < bm.start_ms[spin][0]).sum())  # before the spinner, where the low-pass is on
    xy, xy_hand = np.array([f[1:3] for f in p1.frames]), np.array([f[1:3] for f in handed])
    assert [f[3] for f in handed[:n]] == keys[:n].tolist()
    hand = Hand(HandModel(), 1 / 60, seed=3)  # the play's seed draws the hand's timing jitter
    expected = np.array([hand.step(p) for p in xy[:n]])
    off = np.hypot(*(xy_hand[:n] - expected).T)
    assert np.median(off) < 1e-3 and off.max() < 1.5  # (float32 actions: a deadband or lattice step may flip)
    assert np.hypot(*(xy_hand[1:n] - xy[1:n]).T).max() > 1.0  # the hand is there
    assert main(["play", "--agent", "wgan", "--checkpoint", str(out), "--hand", "--out", str(tmp_path / "h.osr")]) == 0
    assert "played by wgan" in capsys.readouterr().out
    assert judge(bm, load_replay(tmp_path / "h.osr")).counts == play(make_agent("wgan", out, hand=HandModel()), bm, seed=0).result.counts
    with pytest.raises(AgentError, match="foreign.pt: not a wgan checkpoint"):
        torch.save({"config": {"model": {}}, "model": {}}, tmp_path / "foreign.pt")
        make_agent("wgan", tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["play", "--agent", "wgan", "--checkpoint", str(tmp_path / "junk.pt")]) == 2
    assert "junk.pt: not a wgan checkpoint" in capsys.readouterr().err
    assert main(["play", "--agent", "bc", "--checkpoint", str(out)]) == 2  # a wgan run is not a bc checkpoint
    assert "not a bc checkpoint" in capsys.readouterr().err


def test_kill_9_then_resume_continues_where_the_run_stopped(demo_dataset, tmp_path):
    out = tmp_path / "wk"
    cmd = [sys.executable, "-m", "agents.cli", "train", "wgan", "--data", str(demo_dataset / "ds"), "--out", str(out)]
    tiny = TINY[:1] + ["100000"] + TINY[2:]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    ckpt = out / "last.pt"
    killed_at = kill_9_after_checkpoint(cmd + tiny, ckpt, 4, env)
    tiny[1] = str(killed_at + 2)
    res = subprocess.run(cmd + tiny + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from step {killed_at}" in res.stdout
    assert torch.load(ckpt, weights_only=True)["step"] == killed_at + 2
    again = subprocess.run(cmd + tiny, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "pass --resume" in again.stderr


@pytest.mark.parametrize("short, flag", [({"window": 4}, "--window 4"), ({"pretrain_spin_steps": (64, 2)}, "--pretrain-spin-steps 64,2")])
def test_windows_too_short_to_fit_are_a_clear_error(demo_dataset, tmp_path, short, flag):
    args = W.WGANArgs(**{**dict(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=2, window=16, hidden=8,
                                critic_hidden=8, progress=False), **short})
    with pytest.raises(OsuInputError, match=f"^{flag}: a .*window needs at least 8 steps"):
        W.train_wgan(args)


def test_several_spinner_window_lengths_are_given_comma_separated():
    from agents.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["train", "wgan", "--data", "d", "--out", "o", "--pretrain-spin-steps", "64, 128"]).pretrain_spin_steps == (64, 128)
    assert parse(["train", "wgan", "--data", "d", "--out", "o", "--pretrain-spin-steps", "96"]).pretrain_spin_steps == (96,)
    with pytest.raises(SystemExit):
        parse(["train", "wgan", "--data", "d", "--out", "o", "--pretrain-spin-steps", "64,0"])


def test_the_spinner_window_length_is_not_checked_when_those_windows_are_off(demo_dataset, tmp_path):
    W.train_wgan(W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=1, batch=2, window=16, hidden=8,
                            critic_hidden=8, progress=False, pretrain_spin_rollouts=0, pretrain_spin_steps=(2,)))
    assert (tmp_path / "a" / "last.pt").exists()


def test_adv_windows_keep_the_closed_loop_windows_charged_under_the_critic(demo_dataset, tmp_path):
    base = W.WGANArgs(data=str(demo_dataset / "ds"), out=str(tmp_path / "a"), steps=2, batch=4, window=24, hidden=16,
                      critic_hidden=8, pretrain_steps=1, anneal_steps=1, pretrain_spin_rollouts=2, pretrain_spin_steps=(16,),
                      pretrain_pace_rollouts=2, progress=False)
    off = W.train_wgan(base)
    on = W.train_wgan(replace(base, out=str(tmp_path / "b"), adv_windows=True))
    assert on["generator/adversarial"] == pytest.approx(off["generator/adversarial"])  # the same step, the same path
    # and the windows' terms on top of its positional term (weighted as in the teacher forcing)
    extra = base.pretrain_spin_weight * on["generator/spinner_closed_loop"] + base.pretrain_pace_weight * on["generator/pace_closed_loop"]
    assert on["generator/positional"] == pytest.approx(off["generator/positional"] + extra, rel=1e-4)
    assert extra > 0
