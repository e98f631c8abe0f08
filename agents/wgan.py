"""A WGAN-GP cursor generator: motion a critic cannot tell from a person's.

BC fits each step's move to the human's next move, given the human's own past; played
closed loop it wanders into states no human was in, and its motion gives it away (the
benchmark tells it from humans at AUC 0.91-0.997).  This generator is trained the way it
plays: **closed loop**, on its own cursor.

- **Generator.** A two-layer GRU, stepped one env step at a time.  Its input is the env's
  observation (:func:`osu_env.features.observe`) for *its own* previous cursor, the keys
  held one step earlier, its last move, the spinner features below, a style latent drawn
  once per window and fresh noise every step.  A linear head emits the move in units of
  64 osu!px; a key head gives two logits, decoded at play time by median switching as BC's
  are (:class:`agents.key_decoding.MedianKeys`).  The observation for a generated cursor is
  computed in training from the dataset's (human) one exactly: a cursor elsewhere only
  moves the cursor feature and, the other way, every object offset (the objects in view
  depend on time alone).  So a window is rolled out closed loop with gradients through the
  whole path, as the env would serve it.
- **Critic.** It sees that same observation (the map around the cursor, so aim is
  judged), the keys, the cursor's velocity and acceleration, and the spinner features,
  over windows of ``window`` steps (128: 2.1 s).  An LSTM by default, a 1-D convolution
  with ``--critic conv``.  No batch norm: it would couple the samples the penalty treats
  one by one.
- **Gradient penalty.** The real one (Gulrajani et al. 2017): on points interpolated
  between a real and a fake window, lambda (``gp_weight``, 10) x (||grad_x D|| - 1)^2,
  differentiated again for the critic's step.  cuDNN's RNN kernels have no double
  backward, so the penalty pass runs with cuDNN off (:func:`gradient_penalty`); on CPU
  torch's LSTM supports it either way.
- **Teacher forcing first.** The first ``pretrain_steps`` fit each step's move to the
  human's next cursor from the human's own cursor shifted by 18 px noise, as BC trains
  with 12 (:func:`teacher_forced`): one GRU pass a window instead of a step-by-step rollout, about
  7 times as many steps per second on a CPU.  Measured (2026-12-02, seeds 3-5, 10 held-out
  maps): 2,000 such steps play 65.7-74.3% where 1,200 closed-loop steps from scratch
  played 16-36%, and move closer to the humans than BC (README).  By default
  (``steps`` 2000) training ends there; the closed-loop, adversarial phase below runs
  for the steps asked beyond it.  The spinner, break and pace windows below are charged in
  the teacher forcing alone unless ``adv_windows`` (off, a probe): without them 600
  adversarial steps left seed 24 clearing 14 of 26 held-out spinners; with them seeds 24,
  25 and 26 cleared 24, 17 and 16 (README).
- **Losses.** Generator: ``adv_weight(s)`` x (-D(fake)) + ``pos_weight(s)`` x a
  positional term + ``key_weight`` x the keys' cross-entropy.  The positional term is
  SmoothL1 between the generated and the human path, so the run starts BC-like; over
  ``anneal_steps`` after ``warmup_steps`` it falls to ``pos_final`` while the adversarial
  term rises to 1 and the learning rate falls from ``lr`` to ``adv_lr``.  On spinner
  steps the positional term compares radius and angular speed instead of position
  (:func:`positional_loss`): a spin in another phase is as good a spin, and pulling a
  spinning cursor towards the human's point of the circle is what dragged the earlier
  attempt's generator into the centre.
- **Spinners.** Generator and critic both see, while a spinner runs, the cursor's radius
  about the centre, the angle (cos, sin) and the angle turned in the last step;
  ``spinner_share`` of the windows are placed over spinners (as BC does) and those are
  turned by a random angle about the centre.  ``pretrain_spin_scale`` (off by default)
  also shows the teacher-forced generator spins off a person's radius
  (:func:`teacher_forced`; measured in the README: a trade, not a gain).
  ``pretrain_spin_rollouts`` (16 by default) plays that many spinner windows of each
  length in ``pretrain_spin_steps`` (64: 1.07 s) closed loop beside each teacher-forced
  step and fits their spin alone, each length's term counting alike
  (:func:`spinner_loss`): the teacher-forced generator turns at the humans' pace, but
  closed loop a quarter of its spinner windows turned slower than the spinner asks,
  against a tenth of the humans'.  Those windows leave spins longer than a
  second untrained (seed 11 faded from 2.9 to 0.9 turns a second over a 7.3 s spinner).
  8 of 128 steps, the same compute, kept that spin up but played 74.3-86.4% on three fresh
  seeds; 8 of 64 with 8 of 128 kept it up too (seed 11: 5.1-5.7 turns a second) but on
  fresh seeds cleared no more spinners than 64 alone, for 1.5x the steps (README), so 64
  stays.  ``pretrain_spin_onset`` places a share of those windows over a spinner's start
  (off by default: on three fresh seeds it cleared 75 spinners of 78 where the default
  cleared 74, README), ``pretrain_spin_turn_weight`` weights their pace up (off by
  default: at 3 one fresh seed of three fell to 65.67%), and ``pretrain_spin_slow``
  starts a share of them from a slowed spin (:func:`slowed_spin`; half by default: on five
  seeds 126 spinners of 130 against 120 without, and 1.6 points more accuracy, README).
  ``spin_focus`` hides, while a spinner runs, the objects due more than ``FOCUS_S`` after
  it (:func:`spin_focus`): what the generator saw of them set its spin's pace.
  ``pretrain_spin_shorten`` makes a share of those windows' spinners end sooner
  (:func:`shortened_spinner`; off: on five seeds 127 spinners of 130 against 126, README).
  ``pretrain_spin_floor`` charges those windows, one-sidedly, for a spin slower than a
  floor (:func:`slow_spin`; 4 turns a second by default: on five seeds 128 spinners of 130
  against 126 and every seed at 95%, at the same accuracy and the same C2ST AUC, README).
  ``pretrain_spin_wide`` starts a share of them from a spin wider than the person's and
  fits its way back in (:func:`widened_spin`; off by default: seed 25's wide spins came in
  at the 75th percentile but kept twice the humans' median radius, README).
- **Pace and spread.** ``pretrain_pace_rollouts`` (8) plays that many windows of ordinary
  play closed loop beside the teacher forcing and charges the distance between their mix
  of step lengths and the person's in the same window (:func:`pace_gap`): teacher forced,
  the generator moves as far a step as a person, closed loop 7% less.
  ``pretrain_energy_weight`` (0.3) draws each teacher-forced step twice under other noise
  and charges the pair's energy score (:func:`energy_score`), so the noise spreads the
  moves as a person's spread instead of being ignored.  Played at temperature 0
  (:data:`PLAY_TEMPERATURE`), the two together played 80.0-93.5% in ``evaluate`` on five
  seeds (mean 88.7%), every seed's spinners at 96% or more, against 82.0-86.4% (mean
  84.0%) without them, at the same C2ST AUC (README).
  ``pretrain_path_rollouts`` (off) plays the last ``PATH_STEPS`` of that many windows
  twice closed loop from the person's path and charges the energy score of the whole
  stretch (:func:`path_energy`): the spread of paths, not of single steps.  Off: on seeds
  24 and 25 it brought the speed nearer the humans' but cost 10-22 points of accuracy
  (README).
- **Breaks.** ``pretrain_idle_rollouts`` (8) plays windows over breaks closed loop beside
  the teacher forcing, from starts shifted up to ``IDLE_SHIFT_PX``, and charges only a
  drift outwards beyond ``IDLE_RADIUS_PX`` from the centre (:func:`outward_drift`).  Why:
  nothing else plays a break closed loop, and every earlier checkpoint left the screen in
  FREEDOM DiVE's 15 s break (four parked in the env's corner); fitting the person's path
  there instead (``pretrain_idle_loss`` "path") kept it on the screen but cost 4-5 points
  of accuracy, or spinners at a lower weight (README).

Trained by ``osu-imitation train wgan``; played by :class:`WGANAgent` (``--agent wgan``).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from osu_env.errors import AgentError, OsuInputError, first_line
from osu_env.features import GLOBAL_FEATURES, OBJECT_FEATURES, TIME_CLIP_S

from .dataset import Dataset, offset_index, rotate_about_centre, spinner_onsets, spinning
from .key_decoding import MedianKeys
from .lstm import DISPLACEMENT_UNIT_PX, onednn_off
from .train import load_checkpoint, pick_device, save_checkpoint

KIND = "wgan"
MOVE_TO_OBS = DISPLACEMENT_UNIT_PX / 256.0  # a move in 64 px units -> the observation's cursor units (px / 256)
SPIN = 4  # radius, cos, sin, angle turned last step (while a spinner runs; zeros otherwise)
MOTION = 2 + SPIN  # the generator's extra inputs: its last move, the spinner features
CRITIC_MOTION = 4 + SPIN  # the critic's: velocity, acceleration, the spinner features
SPIN_SCALE_MAX_PX = 200.0  # :func:`teacher_forced` moves a spinning cursor no further out than this
SPIN_RETURN = 0.25  # ... and fits each step to take back this share of the factor
FOCUS_S = 0.5  # while a spinner runs, objects after it due within this (s) stay in the generator's view (:func:`spin_focus`)
SLOW_LEAD_IN = 16  # steps of a slowed spin a closed-loop spinner window may start with (0.27 s)
WIDE_SCALE = 3.0  # a widened lead-in's radius: up to this many times the human's (:func:`widened_spin`)
WIDE_SETTLE = 32  # steps over which its target radius comes back to the human's (0.53 s)
IDLE_AHEAD_S = 2.0  # a step is idle when nothing runs and the next object is further ahead than this
IDLE_STEPS = 64  # steps in each closed-loop window over a break (1.07 s)
IDLE_RADIUS_PX = 230.0  # beyond this from the centre a break's cursor may not drift further out (:func:`outward_drift`)
IDLE_LOSSES = ("outward", "path")  # what a break window is charged for (``pretrain_idle_loss``)
IDLE_SHIFT_PX = 384.0  # a break window's cursor starts shifted by up to this, so many start beyond it
PACE_STEPS = 64  # steps in each closed-loop window fitted for its pace (:func:`pace_gap`; 1.07 s)
PATH_LEAD = 32  # steps of the person's path a window charged by :func:`path_energy` starts with (0.53 s) ...
PATH_STEPS = 16  # ... and the steps the generator then plays closed loop, twice (0.27 s: an approach)


@dataclass
class WGANArgs:
    """``osu-imitation train wgan``: every field is a flag."""

    data: str
    out: str
    seed: int = 0
    # generator steps, the teacher-forced ones included.  2000 stops where the teacher forcing
    # does: on a CPU, 600 adversarial steps after it (--steps 2600) moved `evaluate` by -23 to
    # +6 points and raised the C2ST AUC on each of seeds 3-5 (README, WGAN section)
    steps: int = 2000
    batch: int = 32  # windows per generator step
    window: int = 128  # env steps per window (2.1 s, twice the benchmark's longest motion window)
    hidden: int = 192  # generator GRU width
    critic_hidden: int = 64
    critic: str = "lstm"  # lstm or conv
    style: int = 16  # style latent per window
    noise: int = 4  # noise per step
    n_critic: int = 3  # critic steps per generator step
    lr: float = 6e-4  # warm-up, Adam (0.5, 0.9); at 250 warm-up steps: positional 0.39 against 0.49 at 2e-4
    adv_lr: float = 1e-4  # both, once the anneal is over (6e-4 throughout let the path drift off: positional 0.3 -> 1.6)
    gp_weight: float = 10.0
    pretrain_steps: int = 2000  # teacher forcing first (:func:`teacher_forced`), lr ``lr``
    pretrain_noise_px: float = 18.0  # the cursor shift it trains on, as BC's --cursor-noise-px (12 until 2026-12-07: slower, README)
    pretrain_return: float = 1.0  # share of that shift a step's target takes back (:func:`returning_target`)
    pretrain_spin_scale: float = 1.0  # spinner steps' radius scaled by up to this either way (:func:`teacher_forced`); 1: off
    pretrain_spin_rollouts: int = 16  # spinner windows played closed loop beside each of those steps (:func:`spinner_loss`); 0: off
    pretrain_spin_steps: tuple[int, ...] = (64,)  # ... of each of these lengths (1.07 s; longer ones kept long spins up, no gain on fresh seeds, README)
    pretrain_spin_weight: float = 0.1  # ... and their term's weight (at 1 it was 3x the teacher-forced term and play fell to 27-31%)
    pretrain_spin_turn_weight: float = 1.0  # ... their angular speed's part of it (:func:`spinner_loss`)
    pretrain_spin_onset: float = 0.0  # share of those windows placed over a spinner's first step (:func:`agents.dataset.spinner_onsets`)
    pretrain_spin_slow: float = 0.5  # share of those windows started from a slowed spin (:func:`slowed_spin`; 0: off, README)
    pretrain_spin_wide: float = 0.0  # share of those windows started from a widened spin (:func:`widened_spin`; 0: off, README)
    pretrain_spin_shorten: float = 0.0  # share of those windows whose spinner is made to end sooner (:func:`shortened_spinner`)
    pretrain_spin_floor: float = 4.0  # turns a second under which their spin is charged too (:func:`slow_spin`; 0: off, README)
    pretrain_idle_rollouts: int = 8  # windows over breaks played closed loop beside each teacher-forced step (:func:`train_wgan`); 0: off
    pretrain_idle_weight: float = 0.1  # ... and their term's weight
    pretrain_idle_loss: str = "outward"  # that term: "outward" (:func:`outward_drift`) or "path" (the person's path: README)
    pretrain_pace_rollouts: int = 8  # windows of play played closed loop beside each teacher-forced step, fitted for their pace (:func:`pace_gap`); 0: off
    pretrain_pace_weight: float = 0.1  # ... and their term's weight
    pretrain_energy_weight: float = 0.3  # the teacher-forced steps' energy score over two draws (:func:`energy_score`); 0: off
    pretrain_path_rollouts: int = 0  # windows whose last ``PATH_STEPS`` are played closed loop twice, charged :func:`path_energy`; 0: off
    pretrain_path_weight: float = 0.3  # ... and their term's weight
    adv_windows: bool = False  # the spinner, break and pace windows charged after the teacher forcing too
    warmup_steps: int = 0  # then closed loop, the positional term only (200 before the teacher forcing)
    anneal_steps: int = 300  # then the adversarial term rises to 1 and the positional falls to pos_final
    pos_final: float = 0.5  # (0.2 let the path drift off as above)
    key_weight: float = 1.0  # as BC's
    spinner_share: float = 0.25
    spin_frame: bool = True  # moves on spinners as (outward, turn) about the centre (:func:`spinner_frame`)
    spin_focus: bool = False  # while a spinner runs, the generator does not see objects due more than 0.5 s after (:func:`spin_focus`)
    device: str | None = None
    resume: bool = False
    force: bool = False
    progress: bool = True
    checkpoint_every: int = 100


def schedule(step: int, args: WGANArgs) -> tuple[float, float, float]:
    """(adversarial weight, positional weight, learning rate) at generator step ``step``:
    all three move linearly over the anneal, from the warm-up's to the adversarial phase's.
    The teacher-forced steps come first, then the warm-up, then the anneal."""
    ramp = min(max((step + 1 - args.pretrain_steps - args.warmup_steps) / max(args.anneal_steps, 1), 0.0), 1.0)
    return ramp, (1.0 - ramp) + ramp * args.pos_final, (1.0 - ramp) * args.lr + ramp * args.adv_lr


def spin_features(cur: torch.Tensor, before: torch.Tensor, spin: torch.Tensor) -> torch.Tensor:
    """(..., 4): radius, cos and sin of the angle, and the angle turned since ``before``
    of the cursor ``cur`` about the playfield centre (both in the observation's units,
    offsets from the centre / 256), where ``spin`` (a spinner runs) is set; else zeros."""
    r = cur.norm(dim=-1, keepdim=True)
    unit = cur / r.clamp(min=1e-4)
    cross = before[..., 0] * cur[..., 1] - before[..., 1] * cur[..., 0]
    dot = (before * cur).sum(-1)
    turned = torch.atan2(cross, dot + 1e-9).unsqueeze(-1)
    return torch.cat([r, unit, turned], -1) * spin.unsqueeze(-1).float()


def shift_masks(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Mx, My), each shaped like ``obs``: the observation of a cursor moved by (dx, dy)
    (obs units) is ``obs + dx Mx + dy My``.  The cursor feature moves with it and every
    present object's offsets move the other way (:func:`agents.dataset.shift_cursor`,
    written so gradients flow through the move)."""
    present, xs, ys = offset_index((obs.shape[-1] - GLOBAL_FEATURES) // OBJECT_FEATURES)
    flags = obs[..., present].repeat_interleave(3, -1)
    mx, my = torch.zeros_like(obs), torch.zeros_like(obs)
    mx[..., 0], my[..., 1] = 1.0, 1.0
    mx[..., xs], my[..., ys] = -flags, -flags
    return mx, my


def critic_inputs(obs: torch.Tensor, keys: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
    """(B, L - 2, D + 2 + 8): what the critic sees at steps 2.. of a window: the
    observation, the keys held one step earlier, the cursor's velocity and acceleration
    (64 px units per step) and the spinner features.  ``cur`` (B, L, 2) is the cursor of
    ``obs`` (the previous step's, in obs units)."""
    vel = (cur[:, 1:] - cur[:, :-1]) / MOVE_TO_OBS
    acc = vel[:, 1:] - vel[:, :-1]
    spin = spin_features(cur[:, 2:], cur[:, 1:-1], spinning(obs[:, 2:]))
    return torch.cat([obs[:, 2:], keys[:, 2:], vel[:, 1:], acc, spin], -1)


def spinner_frame(move: torch.Tensor, cur: torch.Tensor, spin: torch.Tensor) -> torch.Tensor:
    """The head's output (..., 2) as a move in playfield axes (64 px units): on spinner
    steps (``spin``) it is (outward in 64 px units, turn in radians) about the centre at the
    cursor ``cur`` (obs units), elsewhere (dx, dy) as it stands.  A steady spin is then a
    steady output at any radius and phase.  In playfield axes the same spin is a move
    that turns with the cursor every step, and its rate of turn falls as the radius grows:
    teacher-forced on the humans' small circles, a generator that drifted wide spun at a
    human's linear speed and so too few turns (seed 4, wgan+keys: the spinners it failed
    were spun at a median radius of 80-140 px, the ones it cleared at 25-75)."""
    r = cur.norm(dim=-1, keepdim=True)
    u = torch.where(r > 1e-3, cur / r.clamp(min=1e-3), torch.tensor([1.0, 0.0], device=cur.device))
    c, s_ = torch.cos(move[..., 1:]), torch.sin(move[..., 1:])
    turned = torch.cat([c * cur[..., :1] - s_ * cur[..., 1:], s_ * cur[..., :1] + c * cur[..., 1:]], -1)
    polar = (turned - cur) / MOVE_TO_OBS + move[..., :1] * u
    return torch.where(spin.unsqueeze(-1), polar, move)


def spin_focus(obs: torch.Tensor) -> torch.Tensor:
    """``obs`` (..., D) with, while a spinner runs, every later object that starts more
    than ``FOCUS_S`` ahead taken out of view (all zeros: what a missing object looks like).

    Why: a person's spin does not depend on what comes after it (training plays: 5.8
    turns a second at any radius, 5.3-5.7 on spinners of any length), but the generator's
    did.  Seed 18 (``--pretrain-spin-slow 0.5``), handed spins of 1-7 turns a second at 35 px
    on FREEDOM DiVE's 1.9 s spinner, turned at 2.7-3.9, and at 3.9-4.8 without the
    objects after it in view; on the map's 4.3 s spinner, with the same pace required,
    4.6-5.5 either way.  The
    objects it cannot see are ones a player need not yet aim at; those due within
    ``FOCUS_S`` stay, so the way out of the spinner is still planned."""
    k = (obs.shape[-1] - GLOBAL_FEATURES) // OBJECT_FEATURES
    objects = obs[..., GLOBAL_FEATURES:].unflatten(-1, (k, OBJECT_FEATURES))
    later = torch.arange(k, device=obs.device) > 0
    hide = spinning(obs)[..., None] & later & (objects[..., 1] > FOCUS_S)
    objects = objects * (~hide)[..., None]
    return torch.cat([obs[..., :GLOBAL_FEATURES], objects.flatten(-2)], -1)


class Generator(nn.Module):
    def __init__(self, obs_size: int, hidden: int = 192, style: int = 16, noise: int = 4, spin_frame: bool = False,
                 spin_focus: bool = False):
        super().__init__()
        self.config = {"obs_size": obs_size, "hidden": hidden, "style": style, "noise": noise, "spin_frame": spin_frame,
                       "spin_focus": spin_focus}
        self.style, self.noise, self.spin_frame, self.spin_focus = style, noise, spin_frame, spin_focus
        self.obs_size = obs_size
        self.inp = nn.Sequential(nn.Linear(obs_size + 2 + MOTION + style + noise, hidden), nn.GELU())
        self.gru = nn.GRU(hidden, hidden, 2, batch_first=True)
        self.move = nn.Linear(hidden, 2)
        self.keys = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs (B, L, F) -> (moves (B, L, 2) in 64 px units, key logits (B, L, 2), state):
        a whole window at once when its inputs are known (teacher forcing), or one step.
        With ``spin_focus`` the observation in ``x`` is first :func:`spin_focus`'s."""
        if self.spin_focus:
            x = torch.cat([spin_focus(x[..., : self.obs_size]), x[..., self.obs_size :]], -1)
        y, h = self.gru(self.inp(x), h)
        return self.move(y), self.keys(y), h

    def step(self, x: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One env step: input (B, F) -> (move (B, 2), key logits (B, 2), state)."""
        move, keys, h = self(x.unsqueeze(1), h)
        return move[:, 0], keys[:, 0], h

    def playfield_move(self, move: torch.Tensor, cur: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """The head's output as a move in playfield axes (:func:`spinner_frame` when the
        generator was built with ``spin_frame``)."""
        return spinner_frame(move, cur, spinning(obs)) if self.spin_frame else move


def step_input(obs: torch.Tensor, keys: torch.Tensor, cur: torch.Tensor, before: torch.Tensor,
               z: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The generator's input for one step: observation, keys held, last move, spinner
    features, style and noise.  ``cur``/``before``: the cursor one and two steps ago."""
    spin = spin_features(cur, before, spinning(obs))
    return torch.cat([obs, keys, (cur - before) / MOVE_TO_OBS, spin, z, eps], -1)


def rollout(gen: Generator, obs: torch.Tensor, keys: torch.Tensor, gen_noise: torch.Generator, through_path: bool = True,
            given: torch.Tensor | None = None, free_from: torch.Tensor | None = None):
    """A window played closed loop by the generator from the human's first two cursors.

    ``given`` (B, L, 2) and ``free_from`` (B,): the cursors of each window's steps before
    ``free_from`` (at least 2; 2 when None) are ``given``'s instead; the generator still steps through
    them, so its state holds that lead-in (:func:`slowed_spin`).

    ``through_path`` False: each move starts from its cursor detached, so a step's loss
    reaches its own move (and the GRU state) but not, through the cursors, every earlier
    move: a loss on the states the generator visits, as DAgger fits them, without the
    long products of gradients that a whole closed loop multiplies.

    ``obs`` (B, L, D): the human's observations; ``keys`` (B, L, 2): keys held one step
    earlier (conditioning: the generator plays to them).  Returns (cursor (B, L, 2) in obs
    units: the human's for the first two steps, then the generator's; its observations
    (B, L, D); key logits (B, L - 2, 2) for the keys of steps 2..L-1 given steps ..1..L-2)."""
    B, L, _ = obs.shape
    mx, my = shift_masks(obs)
    human = obs[..., :2]
    z = torch.randn(B, gen.style, generator=gen_noise).to(obs.device)
    eps = torch.randn(B, L, gen.noise, generator=gen_noise).to(obs.device)
    given = human if given is None else given
    cur, before = given[:, 1], given[:, 0]
    path, logits, h = [given[:, 0], given[:, 1]], [], None
    for t in range(1, L - 1):
        c, b = (cur, before) if through_path else (cur.detach(), before.detach())
        d = c - human[:, t]
        o = obs[:, t] + d[:, :1] * mx[:, t] + d[:, 1:] * my[:, t]
        move, key_logits, h = gen.step(step_input(o, keys[:, t], c, b, z, eps[:, t]), h)
        before, cur = cur, c + gen.playfield_move(move, c, o) * MOVE_TO_OBS
        if free_from is not None:
            cur = torch.where((t + 1 < free_from)[:, None], given[:, t + 1], cur)
        path.append(cur)
        logits.append(key_logits)
    path = torch.stack(path, 1)
    d = path - human
    return path, obs + d[..., :1] * mx + d[..., 1:] * my, torch.stack(logits, 1)


def slowed_spin(human: torch.Tensor, spin: torch.Tensor, pace: torch.Tensor, steps: int) -> torch.Tensor:
    """The human's cursors (B, L, 2, obs units) with the spin of their first ``steps``
    steps turned at ``pace`` (B,) times the human's rate: each spinner step's turn about
    the centre is scaled, the radius kept, and the lag built up stays on the later steps
    (whose turns are the human's).  Other steps keep their moves.

    A lead-in for the closed-loop spinner windows (``pretrain_spin_slow``).  Why: those
    windows all start from a person's full-pace spin, so they never ask the generator to
    spin up, and where it failed held-out spinners it spun steadily slow: the default's
    seed 18 spun FREEDOM DiVE's 1.9 s spinner at 2.2-3.2 turns a second, 30-40 px out,
    where the same seed spun the map's 4.3 s one at 5-7 and the humans turn 5.8 at any
    radius (training plays, 0.5 s spans, medians of 5.2-6.3 by radius).  What set that
    slow pace was found later (:func:`spin_focus`)."""
    turn = spin_features(human[:, 1:], human[:, :-1], spin[:, 1:] & spin[:, :-1])[..., 3]
    lag = torch.cumsum(turn * (1 - pace[:, None]), 1)
    lag = torch.cat([torch.zeros_like(lag[:, :1]), lag], 1)
    lag[:, steps:] = lag[:, steps - 1 : steps]
    c, s_ = torch.cos(-lag), torch.sin(-lag)
    x, y = human[..., 0], human[..., 1]
    return torch.stack([c * x - s_ * y, s_ * x + c * y], -1)


def widened_spin(human: torch.Tensor, spin: torch.Tensor, scale: torch.Tensor, steps: int,
                 settle: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(given, target) cursors (B, L, 2, obs units): the human's, with the spin of a window
    that spins through its first ``steps`` steps put at ``scale`` (B,) times the human's
    radius about the centre there (``given``: the lead-in), and a target radius that comes
    back from that scale to the human's, log-linearly, over the ``settle`` steps after it
    (``target``).  Turns are kept.  A window not spinning throughout the lead-in is left as
    it is, so no lead-in jumps at a spinner's start.

    A lead-in for the closed-loop spinner windows (``pretrain_spin_wide``).  Why: those
    windows all start from a person's radius, so they never ask the generator to close in,
    and where it spun wide it stayed wide: seed 25 (2026-12-07) spun the held-out spinners
    at a median 58 px, the humans at 29, and some of its spins spiralled out to 237 px (95th
    percentile) over spinners of several seconds; people start wide and close in (42 px in
    a spinner's first half second, 27 after)."""
    L = human.shape[1]
    s = torch.where(spin[:, :steps].all(1), scale, torch.ones_like(scale)).log()[:, None]
    k = torch.arange(L, device=human.device, dtype=human.dtype)[None]
    back = ((k - steps + 1) / settle).clamp(0.0, 1.0)
    lead = (k < steps).to(human.dtype)
    on = spin.to(human.dtype)
    given = human * torch.exp(s * lead * on)[..., None]
    target = human * torch.exp(s * (1 - back) * (1 - lead) * on)[..., None]
    return given, target


def shortened_spinner(obs: torch.Tensor, share: float, rng: np.random.Generator) -> torch.Tensor:
    """``obs`` (B, L, D) with, in a share ``share`` of the windows that spin at every step,
    the spinner's end and every later object brought forward by the same time: a fraction
    drawn in [0, 1) of what is left of the spinner at the window's last step, so it still
    ends after the window.  The person's spin is kept: it is now the spin of a shorter
    spinner, one that ends soon after.

    Why: people spin a spinner at the same pace however soon it ends (training plays: 6.0
    turns a second on spinners under 1 s, 5.3 on 1-2 s ones, 5.4 on 2-4 s ones, 5.7 on
    longer ones), but 3 of the 65 training spinners are under 1 s and a window drawn by
    step lands on a spinner in proportion to its length, so nearly every spin the generator
    was fitted on had seconds left.  Handed a 5.8 turns a second spin 0.1-0.8 s into a
    spinner, the default's seed 18 kept it on a 5.8 s training spinner (5.6-5.8) and fell
    to 3.4-4.9 on seven of eight spinners of 0.8-2.4 s, held-out and training alike (6.1-6.3
    on the eighth); moving the later objects 10 s away brought those seven to 4.3-5.0.  It
    failed held-out spinners at that pace (2.7-3.7 turns a second through Deconstruction
    Star's 0.8 s and 2.2 s spinners)."""
    B = obs.shape[0]
    draw = torch.as_tensor(rng.random(B) < share, device=obs.device)
    frac = torch.as_tensor(rng.uniform(0.0, 1.0, B), dtype=obs.dtype, device=obs.device)
    pick = draw & spinning(obs).all(1)
    k = (obs.shape[-1] - GLOBAL_FEATURES) // OBJECT_FEATURES
    out = obs.clone()
    objects = out[..., GLOBAL_FEATURES:].unflatten(-1, (k, OBJECT_FEATURES))  # a view: writes land in ``out``
    delta = torch.where(pick, frac * objects[:, -1, 0, 2].clamp(min=0.0), torch.zeros_like(frac))  # (B,)
    objects[..., 0, 2] -= delta[:, None]  # the spinner's time until its end
    times = objects[..., 1:, 1:3]  # every later object's time until its start and its end
    move = (objects[..., 1:, :1] > 0.5) & (times < TIME_CLIP_S)  # present; those clipped far off stay
    times.copy_(torch.where(move, (times - delta[:, None, None, None]).clamp(min=-TIME_CLIP_S), times))
    return out


def returning_target(human: torch.Tensor, before: torch.Tensor, spin: torch.Tensor, share: float) -> torch.Tensor:
    """The path a teacher-forced step is fitted to: the human's next cursor plus the part
    of the step's shift (``before`` - the human's cursor) that it does not take back.

    Why: fitted to the human's own next cursor (``share`` 1), the generator learns to undo
    any offset in one step, a controller of gain 1.  Played closed loop, it keeps
    re-aiming at where the human would be, and its slow moves turn twice as much as the
    humans' (median 20-29 degrees a frame below 4 px a frame, humans 10-17; seed 3).  A
    hand returns to its path over several frames.  Spinner steps keep the human's target
    (their loss compares radius and turning, not position)."""
    if share >= 1.0:
        return human
    target = human.clone()
    keep = (1.0 - share) * (before - human[:, 1:-1]) * (~spin[:, 2:, None])
    target[:, 2:] = human[:, 2:] + keep
    return target


def teacher_forced(gen: Generator, obs: torch.Tensor, keys: torch.Tensor, noise_px: float, gen_noise: torch.Generator,
                   spin_scale: float = 1.0, draws: int = 1):
    """A window predicted one step at a time from the human's cursors, each shifted by
    N(0, ``noise_px``) px, as BC is trained (:func:`agents.dataset.shift_cursor`): the
    generator learns to aim, and to steer back after its own errors, from every step at
    once (one GRU pass, not a step-by-step rollout).  Returns (path (B, L, 2): the human's
    first two cursors, then each step's predicted next cursor; the shifted cursors each
    move started from (B, L - 2, 2); key logits (B, L - 2, 2), as :func:`rollout`; the
    path to fit (B, L, 2): the human's, but see ``spin_scale``).  ``draws`` D > 1: the same
    shifted window is also predicted under D - 1 more style and noise draws, stacked along
    the batch draw by draw (every output has D B rows), for :func:`energy_score`.

    ``spin_scale`` S > 1: on a window's spinner steps the cursor is also put at s times
    the human's distance from the centre (s log-uniform in [1/S, S], one per window, at
    most ``SPIN_SCALE_MAX_PX`` out unless the human was further).  The target keeps the
    human's turning, and its radius is the human's times what is left of s once
    ``SPIN_RETURN`` of it is taken back, so the generator comes back over a few frames as a
    hand does.  Why: 12 px of noise (the default then) never shows the generator a spin far off a person's
    radius, and played closed loop it drifts there and does not know the way back: seed 4
    (2026-12-05) failed held-out spinners spinning 100-128 px wide at under half the
    humans' rate (humans 25-51 px), and seed 5 spun 1-5 px about the centre.  Fitted to
    the human's radius itself (all of it back in one step) the run's other play suffered
    (seed 0: 82.57% against 86.12% in ``evaluate``, on maps without spinners as much as
    with): errors that large swamp the rest of the gradient."""
    B, L, _ = obs.shape
    mx, my = shift_masks(obs)
    human = obs[..., :2]
    d = torch.randn(B, L, 2, generator=gen_noise).to(obs.device) * (noise_px / 256.0)
    z = torch.randn(B, 1, gen.style, generator=gen_noise).to(obs.device).expand(B, L - 2, gen.style)
    eps = torch.randn(B, L - 2, gen.noise, generator=gen_noise).to(obs.device)
    target = human
    if spin_scale > 1.0:
        log_s = (2 * torch.rand(B, 1, generator=gen_noise) - 1).to(obs.device) * math.log(spin_scale)
        r = human.norm(dim=-1)
        out = torch.minimum(r * log_s.exp(), torch.clamp(r, min=SPIN_SCALE_MAX_PX / 256.0))
        k = torch.where(spinning(obs), out / r.clamp(min=1e-6), torch.ones_like(r))  # (B, L) factor on each step's input
        d = d + human * (k - 1).unsqueeze(-1)
        target = human.clone()
        target[:, 2:] = human[:, 2:] * (1 + (1 - SPIN_RETURN) * (k[:, 1:-1] - 1)).unsqueeze(-1)
    cur = human + d
    o = obs + d[..., :1] * mx + d[..., 1:] * my
    if draws > 1:
        z = torch.cat([z, torch.randn(B * (draws - 1), 1, gen.style, generator=gen_noise).to(obs.device).expand(-1, L - 2, -1)])
        eps = torch.cat([eps, torch.randn(B * (draws - 1), L - 2, gen.noise, generator=gen_noise).to(obs.device)])
        o, keys, cur, human, target = (x.repeat(draws, *([1] * (x.dim() - 1))) for x in (o, keys, cur, human, target))
    move, logits, _ = gen(step_input(o[:, 1:-1], keys[:, 1:-1], cur[:, 1:-1], cur[:, :-2], z, eps))
    path = torch.cat([human[:, :2], cur[:, 1:-1] + gen.playfield_move(move, cur[:, 1:-1], o[:, 1:-1]) * MOVE_TO_OBS], 1)
    return path, cur[:, 1:-1], logits, target


class Critic(nn.Module):
    def __init__(self, in_size: int, hidden: int = 128, kind: str = "lstm"):
        super().__init__()
        if kind not in ("lstm", "conv"):
            raise ValueError(f"critic must be 'lstm' or 'conv', not {kind!r}")
        self.config = {"in_size": in_size, "hidden": hidden, "kind": kind}
        self.kind = kind
        self.inp = nn.Sequential(nn.Linear(in_size, hidden), nn.LeakyReLU(0.2))
        if kind == "lstm":
            self.body = nn.LSTM(hidden, hidden, batch_first=True)
        else:
            self.body = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv1d(hidden, hidden, 5, stride=2, padding=2), nn.LeakyReLU(0.2))])
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, F) -> (B,) scores: the mean over the window of a per-step score."""
        y = self.inp(x)
        y = self.body(y)[0] if self.kind == "lstm" else self.body(y.transpose(1, 2)).transpose(1, 2)
        return self.out(y).mean((1, 2))


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """mean over windows of (||grad D(x_hat)||_2 - 1)^2, x_hat = mix real + (1 - mix) fake,
    with the graph kept so the penalty itself can be differentiated.  cuDNN's RNNs have
    no double backward: the pass runs with cuDNN off (on CPU it changes nothing)."""
    x = (mix[:, None, None] * real + (1 - mix[:, None, None]) * fake).requires_grad_(True)
    with torch.backends.cudnn.flags(enabled=False):
        score = critic(x)
        (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def critic_step(critic: Critic, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                gp_weight: float, noise: torch.Generator) -> dict:
    """One critic update on (B, L, F) real and fake windows: minimise D(fake) - D(real)
    + lambda GP.  Returns the scalars logged (the Wasserstein estimate is D(real) - D(fake))."""
    d_real, d_fake = critic(real).mean(), critic(fake).mean()
    gp = gradient_penalty(critic, real, fake, torch.rand(real.shape[0], generator=noise).to(real.device))
    loss = d_fake - d_real + gp_weight * gp
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"critic/loss": loss.item(), "critic/wasserstein": (d_real - d_fake).item(), "critic/gradient_penalty": gp.item()}


def _sense(turned: torch.Tensor) -> torch.Tensor:
    """(B, 1): +1 or -1, the way each window's turns (B, L) go most, taken as fixed."""
    return torch.where(turned.sum(1, keepdim=True) >= 0, 1.0, -1.0).detach()


def _step_losses(path: torch.Tensor, human: torch.Tensor, spin: torch.Tensor,
                 before: torch.Tensor | None, turn_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(positional, spinning) losses (B, L - 2) at steps 2..: SmoothL1 between the cursors
    (64 px units), and between radii plus ``turn_weight`` x angular speeds (:func:`positional_loss`)."""
    p, h, s = path[:, 2:] / MOVE_TO_OBS, human[:, 2:] / MOVE_TO_OBS, spin[:, 2:]
    where = nn.functional.smooth_l1_loss(p, h, reduction="none").sum(-1)
    fp = spin_features(path[:, 2:], path[:, 1:-1] if before is None else before, s)
    fh = spin_features(human[:, 2:], human[:, 1:-1], s)
    sense = _sense(fp[..., 3])
    spinning_ = nn.functional.smooth_l1_loss(fp[..., 0] / MOVE_TO_OBS, fh[..., 0] / MOVE_TO_OBS, reduction="none") \
        + turn_weight * nn.functional.smooth_l1_loss(sense * fp[..., 3], fh[..., 3].abs(), reduction="none")
    return where, spinning_


def positional_loss(path: torch.Tensor, human: torch.Tensor, spin: torch.Tensor,
                    before: torch.Tensor | None = None) -> torch.Tensor:
    """SmoothL1 between generated and human cursors (64 px units) at steps 2.., but on
    spinner steps between radii and angular speeds: a spin in another phase or the other
    way round is as good a spin.  The generator's speed is taken in the sense it turns
    most over the window, so going back and forth (a large |turn| every step, no net
    turn: what a loss on |turn| alone taught it) costs as much as standing still.
    ``before`` (B, L - 2, 2): where each of those moves started, when not ``path[:, 1:-1]``
    (teacher forcing: the noisy cursor the step was given)."""
    where, spinning_ = _step_losses(path, human, spin, before)
    return torch.where(spin[:, 2:], spinning_, where).mean()


def spinner_loss(path: torch.Tensor, human: torch.Tensor, spin: torch.Tensor, turn_weight: float = 1.0) -> torch.Tensor:
    """:func:`positional_loss`'s spinner term (radius and angular speed against the
    human's) averaged over the spinner steps alone; 0 where there are none.  For
    windows played closed loop beside the teacher forcing (``pretrain_spin_rollouts``):
    there only the spin is fitted, so the rest of the play keeps its teacher-forced fit.

    ``turn_weight`` scales the angular speed's part.  Why: a spin at 3 turns a second
    where the human turns 5.4 is 0.25 rad a step short, a SmoothL1 of 0.03, where a radius
    40 px off costs 0.2: the closed-loop spins the generator failed held-out spinners with
    ran steadily at 2.6-3.3 turns a second (README)."""
    s = spin[:, 2:]
    _, spinning_ = _step_losses(path, human, spin, None, turn_weight)
    return (spinning_ * s).sum() / s.sum().clamp(min=1)


def slow_spin(path: torch.Tensor, spin: torch.Tensor, floor: float) -> torch.Tensor:
    """How far (radians a step, a mean over the spinner steps from 2) the spin of ``path``
    (B, L, 2, obs units) falls short of ``floor`` radians a step, in the sense the window
    turns most; 0 at or above it, and where ``spin`` is unset.  One-sided, as
    :func:`outward_drift` is: a person's spin (5.3-6.0 turns a second on the training
    spinners) is above any floor set under it, so it is charged nothing.

    Why: the spinners the generator fails are short ones it spins up slowly from the
    approach (seed 24 on Deconstruction Star's 0.78 s spinner: 0 to 3.3 turns a second over
    its first 0.5 s, 3 of the 5 half-turns), and :func:`spinner_loss`'s SmoothL1 on the
    angular speed charges a spin 0.25 rad a step short only 0.03."""
    s = spin[:, 2:]
    turned = spin_features(path[:, 2:], path[:, 1:-1], s)[..., 3]
    short = (floor - _sense(turned) * turned).clamp(min=0.0)
    return (short * s).sum() / s.sum().clamp(min=1)


def outward_drift(path: torch.Tensor, bound: float) -> torch.Tensor:
    """How far (64 px units, a mean over the steps from 2) the cursors of ``path`` (B, L, 2,
    obs units) move away from the playfield centre on the steps that start further out
    than ``bound`` (obs units); moving round or back in costs nothing, and so does
    anything nearer the centre.  For windows played with ``through_path`` False, where
    each step's cursor starts detached: a step's term reaches its own move alone.

    Why: the humans stay on the screen through a break (nine in ten of their steps with
    nothing due for 2 s lie within 227 px of the centre; the OS clamps them at its edge),
    but no object pulls a generator back, and played closed loop its own last move, fed
    back, carried it off the screen (README: FREEDOM DiVE's 15 s break).  Fitting the
    person's wander there instead cost accuracy and spinners (README); this term is zero
    wherever a person's cursor would be, so it asks nothing else of the generator."""
    r = path[:, 1:].norm(dim=-1)
    out = (r[:, 1:] - r[:, :-1].detach()).clamp(min=0.0) * (r[:, :-1] > bound).detach()
    return out.mean() / MOVE_TO_OBS


def _two_draw_energy(a: torch.Tensor, b: torch.Tensor, y: torch.Tensor, keep: torch.Tensor, dims) -> torch.Tensor:
    """(|a - y| + |b - y|) / 2 - |a - b| / 2, each distance over the axes ``dims``, in 64 px
    units, a mean over the places ``keep`` marks (:func:`energy_score`, :func:`path_energy`)."""

    def dist(u, v):  # |u - v|, with a finite gradient where they meet
        return ((u - v).square().sum(dims) + 1e-12).sqrt()

    score = 0.5 * (dist(a, y) + dist(b, y)) - 0.5 * dist(a, b)
    keep = keep.to(a.dtype)
    return (score * keep).sum() / keep.sum().clamp(min=1) / MOVE_TO_OBS


def energy_score(a: torch.Tensor, b: torch.Tensor, target: torch.Tensor, spin: torch.Tensor) -> torch.Tensor:
    """The energy score (64 px units, a mean over the steps from 2 that are not spinner
    steps) of two draws ``a`` and ``b`` (B, L, 2, obs units) of each step's next cursor,
    given the same past, against the ``target`` cursor y: (|a - y| + |b - y|) / 2 - |a - b| / 2
    (Gneiting and Raftery 2007, the energy score with beta 1, estimated from two draws).  A
    strictly proper scoring rule: its expectation is least when the draws come from the
    distribution y does, where the SmoothL1 positional term is least at that distribution's
    mean with no spread at all.

    Why: trained on the positional term alone the generator's noise hardly moves it (seed
    24: two draws 2.1 px apart where its steps miss the person's by 10 px), so it plays the
    mean of a person's next moves, and played closed loop that mean is slow (held-out: 11.25
    osu!px a frame against the humans' 12.17, short of them at every quantile above the
    25th, and most between objects; README).  Spinner steps are left to the spinner terms,
    which fit their radius and turning, not their phase."""
    return _two_draw_energy(a[:, 2:], b[:, 2:], target[:, 2:], ~spin[:, 2:], -1)


def path_energy(a: torch.Tensor, b: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The energy score of two closed-loop draws ``a`` and ``b`` (B, K, 2, obs units) of a
    stretch of K steps played from the same past, against the person's stretch ``target``,
    each stretch taken as one point in 2K dimensions (distances in 64 px units over sqrt(K),
    so a step's share reads as :func:`energy_score`'s); a mean over the windows ``keep`` (B,).

    Why it was tried: played through the hand the generator sets off early and moves slower
    between objects (seed 24: a median 16% of the gap covered when the object before ends,
    the humans 7%; 11.57 osu!px a frame against 12.72), read then as the mean of people's
    departures.  :func:`energy_score` charges one step at a time from the person's past,
    beside a SmoothL1 term at three times its weight that is least at each step's mean;
    nothing charged the spread of whole stretches played from the generator's own past.
    Here a path that averages an early and a late departure scores worse than either,
    since it is near neither.  Measured, it cost accuracy and did not move the departure,
    which turned out to be the hand's lead (README)."""
    return _two_draw_energy(a, b, target, keep, (-1, -2)) / math.sqrt(a.shape[1])


def pace_gap(path: torch.Tensor, human: torch.Tensor, spin: torch.Tensor) -> torch.Tensor:
    """The 1-D Wasserstein distance (64 px units, a mean over windows) between the step
    lengths of ``path`` and those of the ``human`` (both (B, L, 2), obs units) within each
    window, from step 2, leaving out spinner steps (``spin``: both counted as still there,
    so they pair with each other).  It asks for the person's mix of moves in a window, not
    their path: where each fast or slow step falls is left to the generator.

    Why: teacher forced, the generator's steps are as long as the person's (seed 24 on
    training windows: a mean of 13.21 px against 13.10), but played closed loop they are
    7% shorter (12.18), and on the held-out plays its cursor is slower than the humans' on
    17 of 18 (11.03 osu!px a frame against 12.17; README)."""
    keep = (~spin[:, 2:]).to(path.dtype)
    mine = (path[:, 2:] - path[:, 1:-1]).norm(dim=-1) * keep
    theirs = (human[:, 2:] - human[:, 1:-1]).norm(dim=-1) * keep
    return (mine.sort(dim=1).values - theirs.sort(dim=1).values).abs().mean() / MOVE_TO_OBS


def _shifted_start(human: torch.Tensor, rng) -> torch.Tensor:
    """The human's cursors (B, L, 2, obs units) shifted, window by window, by a vector of
    random direction and a length drawn in [0, ``IDLE_SHIFT_PX``): break windows given to
    :func:`rollout` from there start anywhere from the person's point to well off the
    screen, so :func:`outward_drift` has steps to act on in a 1 s window."""
    B = human.shape[0]
    angle = torch.as_tensor(rng.uniform(0, 2 * math.pi, B), dtype=human.dtype, device=human.device)
    length = torch.as_tensor(rng.uniform(0, IDLE_SHIFT_PX / 256.0, B), dtype=human.dtype, device=human.device)
    shift = torch.stack([torch.cos(angle), torch.sin(angle)], -1) * length[:, None]
    return (human + shift[:, None]).clamp(-2.0, 2.0)  # where the env lets a cursor go


def _windows(ds: Dataset, episodes, n: int, args: WGANArgs, rng, anchors, device,
             length: int | None = None, share: float | None = None):
    """(obs, keys held one step earlier, keys) for ``n`` windows of ``length`` steps
    (``args.window``), a share ``share`` (``args.spinner_share``) over spinners, those turned."""
    length = args.window if length is None else length
    share = args.spinner_share if share is None else share
    obs, act, prev = (torch.as_tensor(a, device=device) for a in ds.sample_windows(episodes, n, length, rng, anchors, share))
    theta = torch.as_tensor(rng.uniform(0, 2 * math.pi, n), dtype=torch.float32, device=device)
    theta = torch.where(spinning(obs).any(1), theta, torch.zeros_like(theta))
    obs, act, prev = rotate_about_centre(obs, act, prev, theta, ds.k)
    return obs, prev[..., 2:], act[..., 2:]


def _spinner_windows(ds: Dataset, episodes, args: WGANArgs, rng, anchors, onsets, device, length: int):
    """(obs, keys held one step earlier) for the ``pretrain_spin_rollouts`` windows of
    ``length`` steps played closed loop: a share ``pretrain_spin_onset`` of them over a
    spinner's first step, the rest over any spinner step.  Why onsets: drawn by step, a
    window lands on a spinner in proportion to its length and seldom holds its start, so
    the closed loop never practised starting a spin from the approach, nor the short
    spinners whose whole length is that start."""
    n_on = int(round(args.pretrain_spin_rollouts * args.pretrain_spin_onset))
    parts = [_windows(ds, episodes, n, args, rng, rows, device, length=length, share=1.0)[:2]
             for n, rows in ((args.pretrain_spin_rollouts - n_on, anchors), (n_on, onsets)) if n]
    return tuple(torch.cat(part) for part in zip(*parts))


def _slowed_lead_in(obs: torch.Tensor, spin: torch.Tensor, share: float, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """(given cursors, free_from) for :func:`rollout`: a share ``share`` of the windows (the
    last ones) start from ``SLOW_LEAD_IN`` steps of the human's spin slowed to a pace drawn
    in [0, 1) (:func:`slowed_spin`); the rest from the human's first two cursors."""
    B, L = spin.shape
    n = int(round(B * share))
    pace = torch.ones(B, device=obs.device)
    pace[B - n :] = torch.as_tensor(rng.uniform(0.0, 1.0, n), dtype=torch.float32, device=obs.device)
    lead_in = min(SLOW_LEAD_IN, L - 2)
    free_from = torch.full((B,), 2, device=obs.device)
    free_from[B - n :] = lead_in
    return slowed_spin(obs[..., :2], spin, pace, lead_in), free_from


def _wide_lead_in(obs: torch.Tensor, spin: torch.Tensor, given: torch.Tensor | None, free_from: torch.Tensor | None,
                  share: float, rng) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(given cursors, free_from, target) for :func:`rollout` and :func:`spinner_loss`: a share
    ``share`` of the windows (the first ones, so the slowed lead-ins, the last, are kept
    where the shares allow) start from ``SLOW_LEAD_IN`` steps of the human's spin at a
    radius drawn log-uniform in [1, ``WIDE_SCALE``] times the human's, and are fitted to
    come back to the human's radius (:func:`widened_spin`); the others keep ``given`` and
    ``free_from`` (the human's cursors and step 2 where None) and the human's path."""
    B, L = spin.shape
    n = int(round(B * share))
    human = obs[..., :2]
    scale = torch.ones(B, device=obs.device)
    scale[:n] = torch.as_tensor(np.exp(rng.uniform(0.0, math.log(WIDE_SCALE), n)), dtype=torch.float32, device=obs.device)
    lead_in = min(SLOW_LEAD_IN, L - 2)
    wide, target = widened_spin(human, spin, scale, lead_in, WIDE_SETTLE)
    given = human.clone() if given is None else given.clone()
    free_from = torch.full((B,), 2, device=obs.device) if free_from is None else free_from.clone()
    given[:n], free_from[:n] = wide[:n], lead_in
    return given, free_from, target


def train_wgan(args: WGANArgs) -> dict:
    """Train the generator and critic; returns the last losses."""
    device = pick_device(args.device)
    out = Path(args.out)
    ckpt_path = out / "last.pt"
    if ckpt_path.exists() and not (args.resume or args.force):
        raise OsuInputError(f"{out}: holds a checkpoint already; pass --resume to continue it or --force to start over")
    ds = Dataset(args.data)
    train_eps = ds.split("train")
    if not train_eps:
        raise OsuInputError(f"{args.data}: no training episodes")
    if args.window < 8:
        raise OsuInputError(f"--window {args.window}: a window needs at least 8 steps")
    if args.pretrain_spin_rollouts and min(args.pretrain_spin_steps, default=0) < 8:
        lengths = ",".join(map(str, args.pretrain_spin_steps)) or "(none)"
        raise OsuInputError(f"--pretrain-spin-steps {lengths}: a spinner window needs at least 8 steps")
    if args.pretrain_idle_loss not in IDLE_LOSSES:
        raise OsuInputError(f"--pretrain-idle-loss {args.pretrain_idle_loss}: one of {', '.join(IDLE_LOSSES)}")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    D = ds.obs.shape[1]
    gen = Generator(D, args.hidden, args.style, args.noise, args.spin_frame, args.spin_focus).to(device)
    critic = Critic(D + 2 + CRITIC_MOTION, args.critic_hidden, args.critic).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=args.lr, betas=(0.5, 0.9))
    config = {"kind": KIND, "generator": gen.config, "critic": critic.config, "args": asdict(args),
              "k_objects": ds.k, "step_ms": ds.meta["step_ms"]}
    start = 0
    if args.resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, device)
        gen.load_state_dict(ckpt["generator"])
        critic.load_state_dict(ckpt["critic"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_c.load_state_dict(ckpt["opt_c"])
        start = int(ckpt["step"])
        print(f"resuming from step {start} ({ckpt_path})", flush=True)
    spinning_rows = ds.spinning_steps(train_eps)
    anchors = spinning_rows if args.spinner_share > 0 else None
    onsets = spinner_onsets(spinning_rows)
    idle_rows = ds.idle_steps(train_eps, IDLE_AHEAD_S) if args.pretrain_idle_rollouts else np.empty(0, np.int64)
    spin_floor = 2 * math.pi * args.pretrain_spin_floor * ds.meta["step_ms"] / 1000.0  # turns a second -> radians a step
    if args.pretrain_idle_rollouts and not len(idle_rows):  # windows drawn anywhere would be charged for aiming out
        print(f"{args.data}: no breaks in the training plays (nothing due for {IDLE_AHEAD_S:g} s): "
              "no closed-loop break windows", flush=True)
    # oneDNN's LSTM made the critic's penalty pass 1.6x slower on one CPU thread (0.99 s
    # against 0.62 s for 32 windows of 254 steps); torch's own kernels serve both here
    from torch.utils.tensorboard import SummaryWriter

    with onednn_off():
        writer = SummaryWriter(str(out / "tb"), purge_step=start if start else None)
        losses: dict = {}
        t0 = time.perf_counter()

        def window_terms(rng, noise):
            """The closed-loop spinner, break and pace windows' weighted terms."""
            extra = 0.0
            if args.pretrain_spin_rollouts:
                spun = 0.0
                for length in args.pretrain_spin_steps:  # each length its own batch; their terms count alike
                    s_obs, s_keys = _spinner_windows(ds, train_eps, args, rng, anchors, onsets, device, length)
                    if args.pretrain_spin_shorten:
                        s_obs = shortened_spinner(s_obs, args.pretrain_spin_shorten, rng)
                    s_spin, given, free_from, target = spinning(s_obs), None, None, s_obs[..., :2]
                    if args.pretrain_spin_slow:
                        given, free_from = _slowed_lead_in(s_obs, s_spin, args.pretrain_spin_slow, rng)
                    if args.pretrain_spin_wide:
                        given, free_from, target = _wide_lead_in(s_obs, s_spin, given, free_from, args.pretrain_spin_wide, rng)
                    if free_from is not None:
                        s_spin = s_spin & (torch.arange(length, device=device)[None] >= free_from[:, None])
                    s_path = rollout(gen, s_obs, s_keys, noise, through_path=False, given=given, free_from=free_from)[0]
                    spun = spun + spinner_loss(s_path, target, s_spin,
                                               args.pretrain_spin_turn_weight) / len(args.pretrain_spin_steps)
                    if args.pretrain_spin_floor:
                        spun = spun + slow_spin(s_path, s_spin, spin_floor) / len(args.pretrain_spin_steps)
                extra = extra + args.pretrain_spin_weight * spun
                losses["generator/spinner_closed_loop"] = spun.item()
            if args.pretrain_idle_rollouts and len(idle_rows):
                # Why: nothing else plays a break closed loop, and with no object to follow
                # the generator's own moves fed back drove it off the screen (README:
                # FREEDOM DiVE's 15 s break)
                i_obs, i_keys, _ = _windows(ds, train_eps, args.pretrain_idle_rollouts, args, rng, idle_rows, device,
                                            length=IDLE_STEPS, share=1.0)
                if args.pretrain_idle_loss == "outward":
                    i_path = rollout(gen, i_obs, i_keys, noise, through_path=False, given=_shifted_start(i_obs[..., :2], rng))[0]
                    idle = outward_drift(i_path, IDLE_RADIUS_PX / 256.0)
                else:
                    i_path = rollout(gen, i_obs, i_keys, noise, through_path=False)[0]
                    idle = positional_loss(i_path, i_obs[..., :2], spinning(i_obs))
                extra = extra + args.pretrain_idle_weight * idle
                losses["generator/idle_closed_loop"] = idle.item()
            if args.pretrain_pace_rollouts:
                p_obs, p_keys, _ = _windows(ds, train_eps, args.pretrain_pace_rollouts, args, rng, None, device,
                                            length=PACE_STEPS, share=0.0)
                p_path = rollout(gen, p_obs, p_keys, noise, through_path=False)[0]
                pace = pace_gap(p_path, p_obs[..., :2], spinning(p_obs))
                extra = extra + args.pretrain_pace_weight * pace
                losses["generator/pace_closed_loop"] = pace.item()
            if args.pretrain_path_rollouts:
                n = args.pretrain_path_rollouts
                t_obs, t_keys, _ = _windows(ds, train_eps, n, args, rng, None, device, length=PATH_LEAD + PATH_STEPS, share=0.0)
                two_obs, two_keys = t_obs.repeat(2, 1, 1), t_keys.repeat(2, 1, 1)  # each window twice, under other noise
                free = torch.full((2 * n,), PATH_LEAD, device=device)
                t_path = rollout(gen, two_obs, two_keys, noise, given=two_obs[..., :2], free_from=free)[0][:, PATH_LEAD:]
                keep = ~spinning(t_obs)[:, PATH_LEAD:].any(1)  # spinners are the spinner windows' to fit
                traj = path_energy(t_path[:n], t_path[n:], t_obs[:, PATH_LEAD:, :2], keep)
                extra = extra + args.pretrain_path_weight * traj
                losses["generator/path_energy"] = traj.item()
            return extra

        bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="wgan", disable=not args.progress)
        for step in bar:
            # every draw is seeded by (seed, step): a resumed run draws what it would have drawn
            rng = np.random.default_rng((args.seed, step))
            noise = torch.Generator().manual_seed(int(rng.integers(2**62)))
            adv_w, pos_w, lr = schedule(step, args)
            for group in (*opt_g.param_groups, *opt_c.param_groups):
                group["lr"] = lr
            if adv_w > 0:  # the critic trains once its term counts (the warm-up is BC-like)
                obs, keys, _ = _windows(ds, train_eps, args.batch * args.n_critic, args, rng, anchors, device)
                with torch.no_grad():
                    path, fake_obs, _ = rollout(gen, obs, keys, noise)
                real_x, fake_x = critic_inputs(obs, keys, obs[..., :2]), critic_inputs(fake_obs, keys, path)
                for i in range(args.n_critic):
                    part = slice(i * args.batch, (i + 1) * args.batch)
                    losses.update(critic_step(critic, opt_c, real_x[part], fake_x[part], args.gp_weight, noise))
            obs, keys, keys_next = _windows(ds, train_eps, args.batch, args, rng, anchors, device)
            if step < args.pretrain_steps:
                draws = 2 if args.pretrain_energy_weight else 1
                path, before, key_logits, target = teacher_forced(gen, obs, keys, args.pretrain_noise_px, noise,
                                                                  args.pretrain_spin_scale, draws)
                n, spin = len(obs), spinning(obs)  # the first draw is fitted as ever, a second beside it for the energy score
                target = returning_target(target[:n], before[:n], spin, args.pretrain_return)
                pos = positional_loss(path[:n], target, spin, before[:n])
                if draws > 1:
                    energy = energy_score(path[:n], path[n:], target, spin)
                    pos = pos + args.pretrain_energy_weight * energy
                    losses["generator/energy_score"] = energy.item()
                key_logits = key_logits[:n]
                pos = pos + window_terms(rng, noise)
            else:
                path, fake_obs, key_logits = rollout(gen, obs, keys, noise)
                pos = positional_loss(path, obs[..., :2], spinning(obs))
                if args.adv_windows:  # Why: trained in the teacher forcing alone, spinners fell apart under the critic (README)
                    pos = pos + window_terms(rng, noise)
            bce = nn.functional.binary_cross_entropy_with_logits(key_logits, keys_next[:, 1:-1])
            adv = -critic(critic_inputs(fake_obs, keys, path)).mean() if adv_w > 0 else torch.zeros((), device=device)
            loss_g = adv_w * adv + pos_w * pos + args.key_weight * bce
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
            opt_g.step()
            critic.zero_grad(set_to_none=True)  # the generator's pass left gradients there
            done = step + 1
            losses.update({"generator/adversarial": adv.item(), "generator/positional": pos.item(), "generator/keys_bce": bce.item(),
                           "generator/loss": loss_g.item(), "schedule/adv_weight": adv_w, "schedule/pos_weight": pos_w,
                           "schedule/lr": lr})
            if done % 10 == 0 or done == args.steps:
                for key, v in losses.items():
                    writer.add_scalar(key, v, done)
                writer.add_scalar("train/windows_per_s", args.batch * (done - start) / (time.perf_counter() - t0), done)
                bar.set_postfix(pos=f"{pos.item():.3f}", W=f"{losses.get('critic/wasserstein', 0.0):.3f}")
            if done % args.checkpoint_every == 0 or done == args.steps:
                save_checkpoint(ckpt_path, {"generator": gen.state_dict(), "critic": critic.state_dict(),
                                            "opt_g": opt_g.state_dict(), "opt_c": opt_c.state_dict(), "step": done, "config": config})
        writer.close()
        return losses


def load_generator(checkpoint: str | Path, device: str = "cpu") -> tuple[Generator, dict]:
    """The generator of a ``train wgan`` checkpoint (a file, or a folder holding ``last.pt``)."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "last.pt"
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        config = ckpt["config"]
        if config.get("kind") != KIND:
            raise ValueError(f"made by {config.get('kind') or 'another trainer'}")
        gen = Generator(**config["generator"])
        gen.load_state_dict(ckpt["generator"])
    except FileNotFoundError:
        raise AgentError(f"{path}: no such checkpoint") from None
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, KeyError... on a bad file
        raise AgentError(f"{path}: not a wgan checkpoint ({type(e).__name__}: {first_line(e)})") from None
    return gen.to(device).eval(), config


# The temperature ``--agent wgan`` plays at unless told, chosen on seed 24 with the energy
# score (the benchmark's 18 held-out plays at T 1 / 0.5 / 0.25 / 0: 73.41 / 87.28 / 88.98 /
# 91.48%, at the same AUC): each step's spread is a person's given their past, but closed
# loop the generator compounds it where a person corrects it.  Generators trained without
# the score hardly use their noise (seed 24: 80.10% at 0, 79.25% at 1; README).
PLAY_TEMPERATURE = 0.0


class WGANAgent:
    """The generator as a closed-loop player: it sees the env's observation of its own
    cursor, as in training.  A fresh style latent is drawn every ``window`` steps (the
    training window) while the GRU's state carries on, so windows join without seams.
    While a spinner runs one key is held (:meth:`MedianKeys.hold_one`): the generator,
    trained on humans who spin with a key down, spins only while it sees one down, so a
    key head that let go left the cursor still (seed 0: all three spinners it failed on
    the held-out maps had no key held, 0 to 24% of their length; with the rule it failed none).

    With ``--hand`` the generator plays on its intended cursor and the one recorded is
    that intent through a hand and a screen (:class:`agents.hand.Handed`, for any
    closed-loop agent).  Why: its paths zigzag from frame to frame and never stand still
    where a person's do (README: what it does to the detectors and to accuracy).

    ``temperature`` scales the style latent and the step noise, as a GAN's truncation
    does: 1 plays as trained, 0 (:data:`PLAY_TEMPERATURE`, the default) plays the
    generator's most central moves.  Why: a generator trained with the energy score
    (``--pretrain-energy-weight``) spreads its moves as a person's next moves spread given
    their past, and played closed loop at 1 that spread misses circles (README)."""

    name = KIND
    closed_loop = True

    def __init__(self, checkpoint: str | Path, device: str = "cpu", seed: int | None = None,
                 temperature: float = PLAY_TEMPERATURE):
        if not temperature >= 0:
            raise ValueError(f"wgan: the temperature must be >= 0, got {temperature}")
        self.gen, config = load_generator(checkpoint, device)
        self.window = int(config["args"]["window"])
        self.device = device
        self.seed = seed
        self.temperature = float(temperature)

    def reset(self, beatmap, seed: int | None = None):
        self.median_keys = MedianKeys()
        self.h = None
        self.before = None
        self.keys = torch.zeros(1, 2)
        self.n = 0
        self.noise = torch.Generator().manual_seed(seed if seed is not None else (self.seed or 0))
        return None  # the env's own step grid

    @torch.no_grad()
    def act(self, obs: np.ndarray, t_ms: float) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32).view(1, -1)
        cur = o[:, :2]
        before = cur if self.before is None else self.before
        if self.n % self.window == 0:
            self.z = torch.randn(1, self.gen.style, generator=self.noise) * self.temperature
        eps = torch.randn(1, self.gen.noise, generator=self.noise) * self.temperature
        x = step_input(o, self.keys, cur, before, self.z, eps).to(self.device)
        with onednn_off():  # one step at a time (see onednn_off)
            move, key_logits, self.h = self.gen.step(x, self.h)
        nxt = cur + self.gen.playfield_move(move.cpu(), cur, o) * MOVE_TO_OBS
        p_down = torch.sigmoid(key_logits[0]).tolist()
        keys = self.median_keys.step(p_down)
        spin = bool(spinning(o[0]))
        if spin:
            keys = self.median_keys.hold_one(p_down)
        self.keys = torch.tensor([keys], dtype=torch.float32)
        self.before, self.n = cur, self.n + 1
        nxt = (nxt / 2).clamp(-1, 1) * 2  # where the env lets a cursor go (action units are px / 512)
        action = (nxt[0] / 2).numpy()  # obs units (px / 256) -> action units (px / 512)
        return np.concatenate([action, np.where(keys, 1.0, -1.0)]).astype(np.float32)
