"""Adversarial imitation in the env: GAIL and AIRL through ``imitation`` 1.0.1 and
Stable-Baselines3's PPO.

BC learns only the states humans visited; played closed loop it drifts into states no
human saw.  Here the policy plays the env on its own states and is rewarded by a
discriminator that tells its transitions from the humans' (plus, optionally, ``w`` times
the env's judgement reward: the knob between human-likeness and accuracy).

The pieces, each chosen for a reason:

- **VecEnv.** :class:`OsuSB3VecEnv` is an SB3 ``VecEnv`` over one
  :class:`~osu_env.env.OsuVectorEnv`, so one numpy call builds every env's observation
  (a ``DummyVecEnv`` of single envs was 5x slower per step when measured).
- **Actions are moves.** The policy emits the cursor's move this step in units of
  :data:`MOVE_UNIT_PX` and two key values (pressed when > 0), not the env's absolute
  target: a move is stationary across the playfield, so a Gaussian policy's noise is a
  tremor of the hand, not a jump of the target.
- **History.** The env's observation holds the cursor but not the keys, so each
  observation here is the env's plus the keys held in the previous step (+1 down, -1
  up), as BC's LSTM sees its previous action.  ``VecFrameStack`` of the last ``n_stack``
  of those gives the policy and the discriminator positions, velocities, accelerations
  and how long each key has been down.  :func:`stack_frames` builds the same stacks for the demonstrations and
  :class:`AdversarialAgent` for play.
- **Keys as presses.** The discriminator sees keys as the env acted on them (+1 pressed,
  -1 up) and the move clipped as the env clips it, never the policy's raw Gaussian
  sample: otherwise "not exactly +-1" alone tells every generated key from a human's.
  AIRL's policy term ``log pi(a|s)`` is then evaluated at those acted-on values.
- **Variable horizon.** Episodes are whole maps and differ in length.  ``imitation``
  warns that variable horizons leak reward information through termination (a policy
  can end an episode early to stop a negative reward).  That cannot happen here: an
  episode ends when the map's clock runs out, whatever the policy does, so its length is
  a function of the map alone and ``allow_variable_horizon=True`` carries no bias.
- **Warm start.** The PPO policy is first fitted to the demonstrations with
  ``imitation``'s BC, so adversarial training starts from a player that hits notes.
- **Or the WGAN generator as the policy** (``--generator``, GAIL only): recurrent PPO
  (sb3-contrib) whose actor is a ``train wgan`` generator, weight for weight, with a
  discriminator on states alone (:mod:`agents.gail_generator` says why each piece is so).

Checkpoints: ``ppo.zip`` (SB3's ``.save``, for ``--resume``), ``policy.pt`` (the policy's
weights, loaded with ``weights_only=True`` to play), ``adversarial.pt`` (discriminator,
its optimizer, the round) and ``meta.json`` (what a player needs to rebuild the policy).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

from tqdm import tqdm

from osu_env.beatmap import Beatmap, load_beatmap
from osu_env.env import ACTION_CENTRE_PX, ACTION_HALF_RANGE_PX, DEFAULT_STEP_MS, OsuVectorEnv, step_times
from osu_env.errors import AgentError, OsuInputError, first_line
from osu_env.features import DEFAULT_K, OBS_LIMIT, ObjectTable, obs_size, observe
from osu_env.replay import Replay, load_replay
from osu_env.rules import Mods

from .dataset import Dataset, Episode, as_trained, keys_on_steps, spinning
from .gail_generator import OBS_CURSOR_PX, generator_action_space, generator_targets
from .key_decoding import MedianKeys, MedianKeysVec
from .lstm import onednn_off
from .train import pick_device, save_checkpoint

MOVE_UNIT_PX = 128.0  # a move action of 1 is 128 osu!px in one step; humans move further in 0.03% of steps
CHECKPOINT_FORMAT = 1


def move_space() -> spaces.Box:
    """The policy's action: (dx, dy) in move units, key 1, key 2 (pressed when > 0)."""
    return spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)


class OsuSB3VecEnv(VecEnv):
    """Stable-Baselines3's ``VecEnv`` interface over one :class:`OsuVectorEnv`.

    Actions are moves (see the module docstring); every play starts again when its map
    ends, and the finished play's last observation is in ``infos[i]["terminal_observation"]``
    with its counts, as SB3 expects.  ``last_rewards`` keeps the env's own judgement
    rewards of the last step, so a wrapper that replaces the reward (imitation's) can
    still mix them in, and ``finished`` the final info of every play that ended (counts,
    accuracy) until the trainer collects them.
    """

    def __init__(self, maps: list[Beatmap], num_envs: int = 16, *, k_objects: int = DEFAULT_K, seed: int | None = None,
                 generator_actions: bool = False, spin_frame: bool = False):
        self.venv = OsuVectorEnv(maps, num_envs, k_objects=k_objects)
        self.render_mode = None
        super().__init__(num_envs, observation_space(k_objects, 1), generator_action_space() if generator_actions else move_space())
        # ``generator_actions``: the WGAN generator's moves and key logits (agents.gail_generator)
        self.generator_actions, self.spin_frame = generator_actions, spin_frame
        self._median = MedianKeysVec(num_envs)
        self._obs = np.zeros((num_envs, obs_size(k_objects)), np.float32)
        self._seed = seed
        self._actions = np.zeros((num_envs, 4))
        self._keys = np.full((num_envs, 2), -1.0, np.float32)
        self.last_rewards = np.zeros(num_envs, np.float32)
        self.finished: list[dict] = []

    def seed(self, seed: int | None = None):
        self._seed = seed
        return [seed] * self.num_envs

    def reset(self):
        obs, _ = self.venv.reset(seed=self._seed)
        self._seed = None  # a second reset draws new maps, as SB3 expects
        self._keys[:] = -1.0
        self._median.reset(slice(None))
        self._obs = obs
        return with_keys(obs, self._keys)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.float64)

    def step_wait(self):
        if self.generator_actions:
            target = generator_targets(self.venv.cursor, self._obs, self._actions, self._median, self.spin_frame)
        else:
            a = np.clip(self._actions, -1.0, 1.0)
            x, y = self.venv.cursor.T
            target = np.empty_like(a)
            target[:, 0] = (x + a[:, 0] * MOVE_UNIT_PX - ACTION_CENTRE_PX[0]) / ACTION_HALF_RANGE_PX
            target[:, 1] = (y + a[:, 1] * MOVE_UNIT_PX - ACTION_CENTRE_PX[1]) / ACTION_HALF_RANGE_PX
            target[:, 2:] = a[:, 2:]
        obs, rewards, done, _, info = self.venv.step(target)
        self._obs = obs
        self._keys[:] = np.where(target[:, 2:] > 0, 1.0, -1.0)
        self.last_rewards = rewards.astype(np.float32)
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        for e in np.flatnonzero(done):
            last = with_keys(info["final_observation"][e][None], self._keys[e][None])[0]
            infos[e] = {**info["final_info"][e], "terminal_observation": last, "TimeLimit.truncated": False}
            self.finished.append(info["final_info"][e])
        self._keys[done] = -1.0  # a new play starts with no key held
        self._median.reset(done)
        return with_keys(obs, self._keys), self.last_rewards.copy(), done, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        raise AttributeError(f"OsuSB3VecEnv has no per-env method {method_name!r}: its plays share one OsuVectorEnv")

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(self._indices(indices))

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


def with_keys(obs: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The env's observations (n, D) with the keys held in the previous step appended."""
    return np.concatenate([obs, keys], axis=1).astype(np.float32)


def observation_space(k_objects: int, n_stack: int) -> spaces.Box:
    return spaces.Box(-OBS_LIMIT, OBS_LIMIT, shape=((obs_size(k_objects) + 2) * n_stack,), dtype=np.float32)


def make_vec_env(maps: list[Beatmap], num_envs: int, n_stack: int, *, k_objects: int = DEFAULT_K,
                 seed: int | None = None, **actions) -> tuple[VecFrameStack, OsuSB3VecEnv]:
    """(frame-stacked venv for training, the raw one under it); ``actions``: how
    :class:`OsuSB3VecEnv` reads them."""
    raw = OsuSB3VecEnv(maps, num_envs, k_objects=k_objects, seed=seed, **actions)
    return VecFrameStack(raw, n_stack), raw


def stack_frames(obs: np.ndarray, n_stack: int) -> np.ndarray:
    """(T, n_stack * D): each row the last ``n_stack`` observations, oldest first, zeros
    before the start, exactly as ``VecFrameStack`` stacks a 1-D observation."""
    t, d = obs.shape
    padded = np.concatenate([np.zeros((n_stack - 1, d), obs.dtype), obs])
    return np.concatenate([padded[i:i + t] for i in range(n_stack)], axis=1)


def _track(hx: np.ndarray, hy: np.ndarray, noise_px: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(moves (n, 2) float32, cursor x, y after each step) of a policy that follows the
    human's cursor ``hx, hy`` from the env's start at the centre: each move goes as far
    towards the human as one action can (:data:`MOVE_UNIT_PX`), and the cursor is
    integrated with the very float operations the env uses, so stepping the env with
    these moves puts its cursor exactly on the returned path.

    ``noise_px`` (n, 2) is added to each executed move but not to the recorded one (DART:
    the demonstrator is pushed off its path and the label is its way back), so a policy
    cloned from it learns to steer back after its own errors instead of drifting off."""
    n = len(hx)
    moves = np.empty((n, 2), np.float32)
    px, py = np.empty(n), np.empty(n)
    x, y = float(ACTION_CENTRE_PX[0]), float(ACTION_CENTRE_PX[1])
    nx, ny = (noise_px[:, 0].tolist(), noise_px[:, 1].tolist()) if noise_px is not None else ([0.0] * n, [0.0] * n)
    for i, (tx, ty) in enumerate(zip(hx.tolist(), hy.tolist())):
        mx = np.float32(min(max((tx - x) / MOVE_UNIT_PX, -1.0), 1.0))
        my = np.float32(min(max((ty - y) / MOVE_UNIT_PX, -1.0), 1.0))
        moves[i] = mx, my
        ax = min(max((x + float(mx) * MOVE_UNIT_PX + nx[i] - ACTION_CENTRE_PX[0]) / ACTION_HALF_RANGE_PX, -1.0), 1.0)
        ay = min(max((y + float(my) * MOVE_UNIT_PX + ny[i] - ACTION_CENTRE_PX[1]) / ACTION_HALF_RANGE_PX, -1.0), 1.0)
        x, y = ACTION_CENTRE_PX[0] + ax * ACTION_HALF_RANGE_PX, ACTION_CENTRE_PX[1] + ay * ACTION_HALF_RANGE_PX
        px[i], py[i] = x, y
    return moves, px, py


def replay_trajectory(bm: Beatmap, replay: Replay, n_stack: int, *, step_ms: float = DEFAULT_STEP_MS,
                      k_objects: int = DEFAULT_K, cursor_noise_px: float = 0.0, rng: np.random.Generator | None = None):
    """A human replay as an ``imitation`` Trajectory through the env's own observations:
    the whole episode the env would play on ``bm`` (loaded with the replay's mods; HR
    plays are flipped back as the dataset flips them), with actions that follow the
    human's cursor (:func:`_track`) and hold the human's keys on each step
    (:func:`agents.dataset.keys_on_steps`).  Stepping :class:`OsuSB3VecEnv` with its
    actions reproduces its observations, and the judgement is the replay's as far as
    60 Hz steps can carry it.  ``cursor_noise_px`` > 0 pushes the cursor off by
    N(0, that) px each step (see :func:`_track`; for BC, not for the discriminator)."""
    from imitation.data.types import Trajectory

    bm, ft, x, y = as_trained(bm, replay)
    t = step_times(bm, step_ms).astype(np.float64)
    noise = (rng or np.random.default_rng(0)).normal(0.0, cursor_noise_px, (len(t), 2)) if cursor_noise_px > 0 else None
    moves, px, py = _track(np.interp(t, ft, x), np.interp(t, ft, y), noise)
    keys = np.where(keys_on_steps(replay, ft, t, step_ms), 1.0, -1.0).astype(np.float32)
    cx = np.concatenate([[ACTION_CENTRE_PX[0]], px])  # the cursor each observation shows
    cy = np.concatenate([[ACTION_CENTRE_PX[1]], py])
    obs_t = np.concatenate([t, t[-1:]])  # the final observation is taken at the last frame's time
    obs = observe(ObjectTable.build([bm]), np.zeros(len(obs_t), np.int64), obs_t, cx, cy, k_objects)
    prev_keys = np.concatenate([np.full((1, 2), -1.0, np.float32), keys])
    return Trajectory(obs=stack_frames(with_keys(obs, prev_keys), n_stack),
                      acts=np.concatenate([moves, keys], axis=1), infos=None, terminal=True)


def human_plays(episodes: list[Episode], progress: bool = True) -> tuple[list[tuple[Beatmap, Replay]], list[Beatmap]]:
    """(every replay of ``episodes`` once, with its map loaded under its mods; the maps as
    training plays them, HR flipped back).  A dataset built with ``--phases`` holds several
    copies of a replay; each is read once here, however many trajectories are made of it.

    Plays with SpunOut are left out, as :meth:`Dataset.spinning_steps` leaves them out:
    the game turns their spinners, so their cursor on a spinner shows no one spinning, and
    the discriminator, which does not see the mods, would learn that a still cursor on a
    spinner is a person's."""
    plays, maps, seen = [], {}, set()
    for e in tqdm(episodes, desc="demonstrations", unit="replay", disable=not progress):
        if e.replay in seen or e.mods & Mods.SpunOut:
            continue
        seen.add(e.replay)
        if (e.map, e.mods) not in maps:
            maps[e.map, e.mods] = load_beatmap(e.map, mods=e.mods)
        plays.append((maps[e.map, e.mods], load_replay(e.replay)))
    return plays, [bm.mirrored() if mods & Mods.HardRock else bm for (_, mods), bm in maps.items()]


def human_trajectories(plays: list[tuple[Beatmap, Replay]], n_stack: int, *, step_ms: float, k_objects: int,
                       cursor_noise_px: float = 0.0, seed: int = 0) -> list:
    """:func:`replay_trajectory` of every play, the cursor noise drawn from one seeded stream."""
    rng = np.random.default_rng(seed)
    return [replay_trajectory(bm, rp, n_stack, step_ms=step_ms, k_objects=k_objects, cursor_noise_px=cursor_noise_px,
                              rng=rng) for bm, rp in plays]


class StandardizedObs(BaseFeaturesExtractor):
    """The policy's input layer: observations standardised by the demonstrations' mean
    and spread (buffers, so they travel in the policy's weights).  The env's features
    mix units (a 16 ms step is 0.016 of a time feature, a cursor offset is px / 256);
    unscaled, a tanh MLP cannot resolve a press to the step."""

    def __init__(self, observation_space: spaces.Box):
        super().__init__(observation_space, int(np.prod(observation_space.shape)))
        self.register_buffer("mean", torch.zeros(self.features_dim))
        self.register_buffer("scale", torch.ones(self.features_dim))

    def set_stats(self, obs: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(obs.mean(0)))
        self.scale.copy_(torch.as_tensor(1.0 / np.maximum(obs.std(0), 1e-3)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs.flatten(1) - self.mean) * self.scale


# --------------------------------------------------------------------- discriminator
def _as_acted(action: torch.Tensor) -> torch.Tensor:
    return torch.cat([action[:, :2].clamp(-1.0, 1.0), torch.where(action[:, 2:] > 0, 1.0, -1.0)], -1)


def discriminator_net(algo: str, observation_space, action_space, hidden: tuple[int, ...], states_only: bool = False):
    """The discriminator's reward net: imitation's BasicRewardNet (GAIL) or
    BasicShapedRewardNet (AIRL), with inputs normalised by a running mean and actions
    seen as acted (keys +-1, the move clipped).

    ``states_only`` (GAIL): it sees the frame stack after the step alone, the cursor's
    last 8 positions and the keys held, and no action (GAIfO, Torabi et al. 2018).  The
    generator policy's actions are polar on spinners and its keys logits; what a person
    sees is where the cursor went and what was pressed, and the stack holds both."""
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util.networks import RunningNorm

    if states_only:
        return BasicRewardNet(observation_space, action_space, use_state=False, use_action=False, use_next_state=True,
                              hid_sizes=hidden, normalize_input_layer=RunningNorm)

    class Acted:
        def preprocess(self, state, action, next_state, done):
            s, a, n, d = super().preprocess(state, action, next_state, done)
            return s, _as_acted(a), n, d

    if algo == "gail":
        cls = type("GAILDiscriminator", (Acted, BasicRewardNet), {})
        return cls(observation_space, action_space, hid_sizes=hidden, normalize_input_layer=RunningNorm)
    cls = type("AIRLDiscriminator", (Acted, BasicShapedRewardNet), {})
    return cls(observation_space, action_space, reward_hid_sizes=hidden, potential_hid_sizes=hidden,
               normalize_input_layer=RunningNorm)


# --------------------------------------------------------------------- training
# PPO's rates.  The generator policy starts as a player that already hits ~86% of
# notes: at 3e-5, GAIL's 500k steps cost it 2-9 points of accuracy on seeds 0 and 3-5;
# at 1e-5 it keeps the warm start's accuracy (README, GAIL section: seeds 0, 3-8).
MLP_LR = 1e-4
GENERATOR_LR = 1e-5


@dataclass
class AdversarialArgs:
    data: str  # dataset folder from `osu-imitation dataset`
    out: str  # checkpoint folder
    algo: str = "gail"  # gail or airl
    timesteps: int = 1_000_000  # env steps of generator training in all
    envs: int = 16  # plays stepped together
    n_steps: int = 256  # steps per env per PPO rollout (a round has envs x n_steps)
    n_stack: int = 8  # observations stacked (8 x 16.7 ms = 133 ms of motion)
    judgement_weight: float = 0.0  # w: reward = discriminator + w x judgement reward (0: pure imitation)
    hidden: tuple[int, ...] = (256, 256)  # policy, value and discriminator layers
    lr: float | None = None  # PPO learning rate (None: MLP_LR, or GENERATOR_LR with --generator)
    disc_lr: float = 2e-4  # discriminator learning rate
    demo_batch: int = 1024  # expert samples per discriminator batch
    disc_updates: int = 2  # discriminator updates per round
    bc_batches: int = 10000  # BC warm-start batches of 256 (0: none); 30,000 measured no better (README)
    init: str | None = None  # start the policy from this gail/airl checkpoint's weights instead of BC
    generator: str | None = None  # GAIL only: the policy is this `train wgan` checkpoint's generator (agents.gail_generator)
    critic_warmup_rounds: int = 5  # with --generator: rounds that train the critic alone before the actor moves
    move_log_std: float = -3.0  # with --generator: the moves' Gaussian noise (e^-3 x 64 px = 3.2 px)
    key_log_std: float = -1.0  # with --generator: the key logits' Gaussian noise
    bc_cursor_noise_px: float = 12.0  # BC warm start: push the demonstrated cursor off by N(0, this) px per step (DART)
    bc_spinner_repeat: int = 1  # BC warm start: each step over a spinner counts this many times (10 measured no better)
    ppo_epochs: int = 5
    ppo_batch: int = 512
    log_std_init: float = -1.5  # the policy's initial noise before BC (e^-1.5 = 0.22 move units)
    seed: int = 0
    device: str | None = None  # cuda when present, else cpu
    checkpoint_every: int = 10  # rounds between checkpoints
    resume: bool = False  # continue from out/
    force: bool = False  # overwrite a run already in out/
    progress: bool = True
    extra: dict = field(default_factory=dict)  # recorded beside the args (e.g. the command line)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save(out: Path, ppo, trainer, round_: int, meta: dict) -> None:
    tmp = out / f"ppo.tmp{os.getpid()}.zip"
    ppo.save(tmp)
    os.replace(tmp, out / "ppo.zip")
    save_checkpoint(out / "policy.pt", {"policy": ppo.policy.state_dict()})
    save_checkpoint(out / "adversarial.pt", {"reward_net": trainer._reward_net.state_dict(),
                                             "disc_opt": trainer._disc_opt.state_dict(), "round": round_})
    _atomic_write_text(out / "meta.json", json.dumps({**meta, "round": round_}, indent=1))


def train_adversarial(args: AdversarialArgs) -> dict:
    """GAIL or AIRL on the dataset's training maps; returns the last round's metrics and
    the discriminator accuracy of every round (``history``)."""
    from imitation.algorithms import bc as imitation_bc
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.data import rollout
    from imitation.util import logger as imit_logger
    from stable_baselines3 import PPO

    if args.algo not in ("gail", "airl"):
        raise OsuInputError(f"unknown adversarial algorithm {args.algo!r} (gail or airl)")
    if args.generator and args.algo != "gail":
        raise OsuInputError("--generator is for GAIL: AIRL's reward needs the policy's log-probabilities, "
                            "which a recurrent policy gives only along its own states")
    if args.generator and args.n_stack < 2:
        raise OsuInputError("--generator needs --n-stack 2 or more: the generator's input holds its last move")
    if args.lr is None:
        args = dataclasses.replace(args, lr=GENERATOR_LR if args.generator else MLP_LR)
    out = Path(args.out)
    if (out / "meta.json").exists() and not (args.resume or args.force):
        raise OsuInputError(f"{out}: holds a run already; pass --resume to continue it or --force to start over")
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(args.device)
    ds = Dataset(args.data)
    train_eps = ds.split("train")
    if not train_eps:
        raise OsuInputError(f"{args.data}: no training episodes")
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)

    gen_config = None
    if args.generator:
        from .wgan import load_generator

        gen, wgan_config = load_generator(args.generator, device)
        gen_config = wgan_config["generator"]
        if int(gen_config["obs_size"]) != obs_size(ds.k):
            raise OsuInputError(f"{args.generator}: a generator for {gen_config['obs_size']} observation features, "
                                f"the dataset has {obs_size(ds.k)}")
    plays, maps = human_plays(train_eps, args.progress)
    demo_kwargs = {"step_ms": ds.meta["step_ms"], "k_objects": ds.k}
    actions = {"generator_actions": True, "spin_frame": bool(gen_config["spin_frame"])} if gen_config else {}
    venv, raw = make_vec_env(maps, args.envs, args.n_stack, k_objects=ds.k, seed=args.seed, **actions)
    transitions = rollout.flatten_trajectories(human_trajectories(plays, args.n_stack, **demo_kwargs))
    logger = imit_logger.configure(str(out / "tb"), ["tensorboard"])
    resuming = args.resume and (out / "ppo.zip").exists()
    ppo_kwargs = {"n_steps": args.n_steps, "batch_size": args.ppo_batch, "n_epochs": args.ppo_epochs,
                  "learning_rate": args.lr, "ent_coef": 0.0, "gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.1,
                  "device": device, "seed": args.seed, "verbose": 0}
    if gen_config:
        from sb3_contrib import RecurrentPPO

        from .gail_generator import GeneratorPolicy, generator_policy_kwargs, load_generator_weights

        policy_kwargs = generator_policy_kwargs(gen_config, args.move_log_std, args.key_log_std)
        if resuming:
            ppo = RecurrentPPO.load(out / "ppo.zip", env=venv, device=device)
        else:
            ppo = RecurrentPPO(GeneratorPolicy, venv, policy_kwargs=policy_kwargs, **ppo_kwargs)
            load_generator_weights(ppo.policy, gen)
    else:
        policy_kwargs = {"net_arch": list(args.hidden), "log_std_init": args.log_std_init}
        if resuming:
            ppo = PPO.load(out / "ppo.zip", env=venv, device=device)
        else:
            ppo = PPO("MlpPolicy", venv, policy_kwargs={**policy_kwargs, "features_extractor_class": StandardizedObs},
                      **ppo_kwargs)
            ppo.policy.features_extractor.set_stats(transitions.obs)
    reward_net = discriminator_net(args.algo, venv.observation_space, venv.action_space, tuple(args.hidden),
                                   states_only=bool(gen_config))
    algo = GAIL if args.algo == "gail" else AIRL
    if gen_config:
        class RecurrentGAIL(GAIL):
            def _get_log_policy_act_prob(self, obs_th, acts_th):
                """None: GAIL's discriminator does not use it, and a recurrent policy has
                no log-probabilities without its states (imitation asks without them)."""
                return None

        algo = RecurrentGAIL
    trainer = algo(demonstrations=transitions, demo_batch_size=args.demo_batch, gen_replay_buffer_capacity=args.envs * args.n_steps,
                   n_disc_updates_per_round=args.disc_updates, venv=venv, gen_algo=ppo, reward_net=reward_net,
                   allow_variable_horizon=True, disc_opt_kwargs={"lr": args.disc_lr}, custom_logger=logger)
    # Mix the env's judgement into the discriminator's reward: imitation's wrapper replaces
    # the reward, but it steps the raw env first, whose rewards of this step are kept.
    disc_reward = trainer.venv_wrapped.reward_fn
    w = float(args.judgement_weight)
    trainer.venv_wrapped.reward_fn = (lambda o, a, n, d: disc_reward(o, a, n, d) + w * raw.last_rewards) if w else disc_reward

    start = 0
    history: list[dict] = []
    if resuming:
        state = torch.load(out / "adversarial.pt", map_location=device, weights_only=True)
        trainer._reward_net.load_state_dict(state["reward_net"])
        trainer._disc_opt.load_state_dict(state["disc_opt"])
        start = int(state["round"])
        history = json.loads((out / "meta.json").read_text()).get("history", [])[:start]
        print(f"resuming from round {start} ({out})", flush=True)
    elif gen_config:
        pass  # the generator's weights are the warm start
    elif args.init:
        weights = torch.load(Path(args.init) / "policy.pt", map_location=device, weights_only=True)["policy"]
        try:
            ppo.policy.load_state_dict(weights)
        except RuntimeError as e:
            raise OsuInputError(f"{args.init}: its policy does not match --hidden/--n-stack ({str(e).splitlines()[0]})") from None
    elif args.bc_batches > 0:
        noisy = transitions
        if args.bc_cursor_noise_px > 0:
            noisy = rollout.flatten_trajectories(human_trajectories(plays, args.n_stack, **demo_kwargs,
                                                                    cursor_noise_px=args.bc_cursor_noise_px, seed=args.seed))
        # Spinners are ~2% of play but need a motion of the policy's own: repeat their
        # steps, as BC's --spinner-share oversamples their windows.
        on_spinner = np.flatnonzero(spinning(noisy.obs[:, -(obs_size(ds.k) + 2):]))
        if args.bc_spinner_repeat > 1 and on_spinner.size:
            rows = np.concatenate([np.arange(len(noisy)), np.repeat(on_spinner, args.bc_spinner_repeat - 1)])
            noisy = dataclasses.replace(noisy, **{f.name: getattr(noisy, f.name)[rows] for f in dataclasses.fields(noisy)})
        bc = imitation_bc.BC(observation_space=venv.observation_space, action_space=venv.action_space, rng=rng,
                             policy=ppo.policy, demonstrations=noisy, batch_size=256, device=device,
                             custom_logger=logger)
        bc.train(n_batches=args.bc_batches, progress_bar=args.progress, log_interval=500)

    meta = {"format": CHECKPOINT_FORMAT, "algo": args.algo, "obs_size": obs_size(ds.k), "k_objects": ds.k,
            "n_stack": args.n_stack, "move_unit_px": MOVE_UNIT_PX, "step_ms": ds.meta["step_ms"],
            "policy": "generator" if gen_config else "mlp", "generator_config": gen_config,
            "policy_kwargs": {k: v for k, v in policy_kwargs.items() if k != "features_extractor_class"},
            "args": {**asdict(args), "hidden": list(args.hidden)}}
    rounds = max(1, args.timesteps // trainer.gen_train_timesteps)
    t0 = time.perf_counter()
    metrics: dict = {}
    for r in tqdm(range(start, rounds), initial=start, total=rounds, desc=args.algo, disable=not args.progress):
        if gen_config:  # the critic starts from nothing: let it learn the returns before the actor follows its advantages
            for p in ppo.policy.actor_parameters():
                p.requires_grad_(r >= args.critic_warmup_rounds)
        trainer.train_gen(trainer.gen_train_timesteps)
        stats = [trainer.train_disc() for _ in range(args.disc_updates)]
        last = stats[-1]
        row = {"round": r + 1, "timesteps": (r + 1) * trainer.gen_train_timesteps,
               "disc_acc": float(np.mean([s["disc_acc"] for s in stats])),
               "disc_acc_expert": float(np.mean([s["disc_acc_expert"] for s in stats])),
               "disc_acc_gen": float(np.mean([s["disc_acc_gen"] for s in stats])),
               "disc_loss": float(last["disc_loss"]),
               "plays_finished": len(raw.finished),
               "play_accuracy": float(np.mean([f["accuracy"] for f in raw.finished])) if raw.finished else None}
        raw.finished.clear()
        history.append(row)
        logger.dump(trainer._global_step)
        metrics = {**row, "steps_per_s": (r + 1 - start) * trainer.gen_train_timesteps / (time.perf_counter() - t0)}
        if (r + 1) % args.checkpoint_every == 0 or r + 1 == rounds:
            _save(out, ppo, trainer, r + 1, {**meta, "history": history})
    if not metrics:  # a finished run resumed: nothing left to train
        metrics = {**(history[-1] if history else {}), "timesteps": start * trainer.gen_train_timesteps, "steps_per_s": 0.0}
    metrics["history"] = history
    return metrics


# --------------------------------------------------------------------- playing
def load_adversarial_policy(checkpoint: str | Path, device: str = "cpu"):
    """(the trained policy, its meta) from a checkpoint folder of ``train gail/airl``."""
    from stable_baselines3.common.policies import ActorCriticPolicy

    path = Path(checkpoint)
    if not path.is_dir():
        path = path.parent
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != CHECKPOINT_FORMAT or meta.get("algo") not in ("gail", "airl"):
            raise ValueError("meta.json is not a gail/airl checkpoint's")
        weights = torch.load(path / "policy.pt", map_location=device, weights_only=True)["policy"]
        obs_space = observation_space(int(meta["k_objects"]), int(meta["n_stack"]))
        if meta.get("policy") == "generator":
            from .gail_generator import generator_policy_kwargs, make_generator_policy

            a = meta["args"]
            policy = make_generator_policy(obs_space, meta["generator_config"], generator_policy_kwargs(
                meta["generator_config"], a["move_log_std"], a["key_log_std"]))
        else:
            policy = ActorCriticPolicy(obs_space, move_space(), lambda _: 0.0, features_extractor_class=StandardizedObs,
                                       **meta["policy_kwargs"])
        policy.load_state_dict(weights)
    except FileNotFoundError as e:
        raise AgentError(f"{path}: not a gail/airl checkpoint (no {Path(e.filename).name})") from None
    except Exception as e:  # a foreign or damaged file: json, torch and state-dict errors alike
        raise AgentError(f"{path}: not a gail/airl checkpoint ({type(e).__name__}: {first_line(e)})") from None
    return policy.to(device).eval(), meta


class AdversarialAgent:
    """A GAIL/AIRL policy as a closed-loop player.  It keeps the stack of its last
    observations as ``VecFrameStack`` did in training.  ``temperature`` scales the
    policy's Gaussian noise on the cursor: 1 plays the policy as trained, 0 its mean.

    Keys: ``key_decoding="sample"`` draws them as trained (at ``temperature``).  A press
    is a short event to which the policy gives a moderate chance on each of a few steps,
    so its mean alone rarely crosses 0 (a held-out map of 607 objects got 46 presses).
    ``"median"`` (the default) treats P(key value > 0) as a hazard and switches the key
    once the switch has become more likely than not (:class:`agents.key_decoding.MedianKeys`,
    shared with :class:`agents.lstm.BCAgent`)."""

    closed_loop = True

    def __init__(self, checkpoint: str | Path, temperature: float = 1.0, device: str = "cpu",
                 key_decoding: str = "median"):
        if key_decoding not in ("sample", "median"):
            raise ValueError(f"key_decoding must be 'sample' or 'median', not {key_decoding!r}")
        self.key_decoding = key_decoding
        self.policy, self.meta = load_adversarial_policy(checkpoint, device)
        self.name = self.meta["algo"]
        self.n_stack = int(self.meta["n_stack"])
        self.move_unit = float(self.meta["move_unit_px"])
        self.temperature = temperature
        self.device = device

    def reset(self, beatmap, seed: int | None = None):
        self.stack = np.zeros((self.n_stack, int(self.meta["obs_size"]) + 2), np.float32)
        self.keys = np.full(2, -1.0, np.float32)
        self.median_keys = MedianKeys()
        self.median_vec = MedianKeysVec(1)
        self.states = None
        self.gen = torch.Generator(device="cpu").manual_seed(seed or 0)
        return None  # the env's own step grid

    def _generator_act(self, o: torch.Tensor, obs: np.ndarray) -> np.ndarray:
        """One step of a ``--generator`` policy: its GRU state carries on, and its action
        reaches the env as in training (:func:`agents.gail_generator.generator_targets`)."""
        p = self.policy
        if self.states is None:
            self.states = (torch.zeros(p.lstm_hidden_state_shape), torch.zeros(p.lstm_hidden_state_shape))
        with onednn_off():  # one step at a time (see onednn_off)
            latent, self.states = p._process_sequence(p.pi_features_extractor(o), self.states, torch.zeros(1), p.lstm_actor)
        dist = p._get_action_dist_from_latent(p.mlp_extractor.forward_actor(latent)).distribution
        mean, std = dist.mean[0].cpu(), dist.stddev[0].cpu()
        a = mean + self.temperature * std * torch.randn(4, generator=self.gen) if self.temperature > 0 else mean
        cursor = obs[None, :2] * OBS_CURSOR_PX + ACTION_CENTRE_PX
        target = generator_targets(cursor, obs[None], a.numpy()[None], self.median_vec, bool(self.meta["generator_config"]["spin_frame"]))[0]
        self.keys = target[2:].astype(np.float32)
        return target

    @torch.no_grad()
    def act(self, obs: np.ndarray, t_ms: float) -> np.ndarray:
        self.stack = np.roll(self.stack, -1, axis=0)
        self.stack[-1] = with_keys(obs[None], self.keys[None])[0]
        o = torch.as_tensor(self.stack.reshape(1, -1), device=self.device)
        if self.meta.get("policy") == "generator":
            return self._generator_act(o, obs)
        dist = self.policy.get_distribution(o).distribution
        mean, std = dist.mean[0].cpu(), dist.stddev[0].cpu()
        a = mean + self.temperature * std * torch.randn(4, generator=self.gen) if self.temperature > 0 else mean.clone()
        a = a.clamp(-1, 1).numpy().astype(np.float64)
        if self.key_decoding == "median":
            p_down = (0.5 * (1 + torch.erf(mean[2:] / (std[2:] * math.sqrt(2))))).tolist()  # P(key value > 0)
            self.keys = np.where(self.median_keys.step(p_down), 1.0, -1.0).astype(np.float32)
        else:
            self.keys = np.where(a[2:] > 0, 1.0, -1.0).astype(np.float32)
        target = np.empty(4)
        target[:2] = (obs[:2] * OBS_CURSOR_PX + a[:2] * self.move_unit) / ACTION_HALF_RANGE_PX
        target[2:] = self.keys
        return np.clip(target, -1.0, 1.0)
