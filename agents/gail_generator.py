"""The WGAN generator as GAIL's policy: a recurrent player trained on its own states.

GAIL's MLP policy over 8 stacked observations, warm-started by BC, plays 56-64% on the
held-out maps (README): 133 ms of history is not enough to aim and hold like BC's LSTM.
The WGAN-GP generator (:mod:`agents.wgan`) is a recurrent closed-loop player that already
hits notes (80-88%) and moves closer to people than BC.  Here it becomes the actor of
sb3-contrib's ``RecurrentPPO``, weight for weight, so GAIL fine-tunes it in the env:

- **Input.** :class:`GeneratorInput` builds the generator's input from the last two
  frames of the ``VecFrameStack`` (observation, keys held, last move, spinner features)
  with the style latent and step noise at zero, their mean: PPO's Gaussian is the
  policy's noise now, and a latent the policy drew for itself would not be in its
  log-probabilities.
- **Recurrence.** sb3-contrib steps an ``nn.LSTM`` with (h, c) states; the generator is a
  GRU, so :class:`GRUAsLSTM` carries ``c`` along untouched.  The critic has no recurrence
  of its own: its own copy of the input layer, then an MLP.
- **Actions as the generator emits them.** (dx, dy) in 64 px units, or on spinner steps
  (outward, turn in radians) about the centre (:func:`agents.wgan.spinner_frame`, which
  the env side calls too), and
  two key logits.  The env side (:func:`generator_targets`) turns a move into the next
  cursor and the logits into presses by median switching (:class:`MedianKeysVec`, as
  every trained player decodes keys), holding a key through spinners: so training and
  play act alike, and a policy is judged on presses, not on the sign of a Gaussian.
"""
from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from osu_env.env import ACTION_CENTRE_PX, ACTION_HALF_RANGE_PX

from .dataset import spinning
from .key_decoding import MedianKeysVec
from .wgan import MOTION, MOVE_TO_OBS, Generator, spin_focus, spinner_frame, step_input

OBS_CURSOR_PX = 256.0  # the observation's cursor is (px - centre) / 256 (features.py)
MOVE_LIMIT = 2.0  # a move of at most 2 x 64 px a step (humans move further in 0.03% of steps)
KEY_LOGIT_LIMIT = 20.0  # SB3 clips actions to the space: key logits keep their sign and size
ACTION_LIMIT = np.array([MOVE_LIMIT, MOVE_LIMIT, KEY_LOGIT_LIMIT, KEY_LOGIT_LIMIT], np.float32)


def generator_action_space() -> spaces.Box:
    """(move x, move y) in 64 px units (spinner steps: outward, turn), two key logits."""
    return spaces.Box(-ACTION_LIMIT, ACTION_LIMIT, dtype=np.float32)


def generator_targets(cursor_px: np.ndarray, obs: np.ndarray, action: np.ndarray, keys: MedianKeysVec,
                      spin_frame: bool) -> np.ndarray:
    """The env's actions (n, 4) for the generator-policy's ``action`` (n, 4) in the state
    ``obs`` (n, D) with the cursor at ``cursor_px``: the next cursor, and the keys after
    median switching on sigmoid(logit) (one held while a spinner runs).  ``keys`` is
    updated in place."""
    a = np.clip(np.asarray(action, np.float64), -ACTION_LIMIT, ACTION_LIMIT)
    spin = spinning(obs)
    cur = (cursor_px - ACTION_CENTRE_PX) / OBS_CURSOR_PX
    move = a[:, :2]
    if spin_frame:  # the generator's own polar frame on spinner steps, one implementation for both sides
        move = spinner_frame(torch.from_numpy(move), torch.from_numpy(cur), torch.from_numpy(spin)).numpy()
    nxt = np.clip(cur + move * MOVE_TO_OBS, -2.0, 2.0)  # where the env lets a cursor go (px / 256)
    down = keys.step(1.0 / (1.0 + np.exp(-a[:, 2:])), hold_one=spin)
    target = np.empty((len(a), 4))
    target[:, :2] = nxt * OBS_CURSOR_PX / ACTION_HALF_RANGE_PX
    target[:, 2:] = np.where(down, 1.0, -1.0)
    return target


class GeneratorInput(BaseFeaturesExtractor):
    """The generator's input layer over a frame stack (see the module docstring).  Frames
    are the env's observation plus the keys held (+-1); ``VecFrameStack`` pads before an
    episode's first frame with zeros, which is how a first step is told (keys are never 0
    after it): its last move is then zero, as :class:`agents.wgan.WGANAgent` starts."""

    def __init__(self, observation_space: spaces.Box, obs_size: int, hidden: int, style: int, noise: int,
                 spin_focus: bool = False):
        super().__init__(observation_space, hidden)
        self.frame, self.extra, self.style, self.spin_focus = obs_size + 2, style + noise, style, spin_focus
        self.inp = nn.Sequential(nn.Linear(obs_size + 2 + MOTION + style + noise, hidden), nn.GELU())

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        last, prev = stacked[:, -self.frame:], stacked[:, -2 * self.frame:-self.frame]
        obs, keys = last[:, :-2], last[:, -2:]
        if self.spin_focus:  # as the generator's own forward (agents.wgan.Generator)
            obs = spin_focus(obs)
        cur = obs[:, :2]
        first = (prev[:, -2:] == 0).all(-1, keepdim=True)
        before = torch.where(first, cur, prev[:, :2])
        zeros = stacked.new_zeros(len(stacked), self.extra)
        return self.inp(step_input(obs, (keys + 1) / 2, cur, before, zeros[:, :self.style], zeros[:, self.style:]))


class GRUAsLSTM(nn.Module):
    """A GRU with an LSTM's calling convention, (x, (h, c)) -> (y, (h', c)): sb3-contrib's
    recurrent policy keeps (h, c) states for its ``nn.LSTM``; ``c`` rides along unused."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers)

    def forward(self, x: torch.Tensor, states: tuple[torch.Tensor, torch.Tensor]):
        h, c = states
        y, h = self.gru(x, h.contiguous())
        return y, (h, c)


class GeneratorPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's recurrent actor-critic with the generator's GRU as its actor.
    ``key_log_std``: the key logits' noise, apart from the moves' (``log_std_init``):
    logits live on another scale than 64 px moves."""

    def __init__(self, observation_space, action_space, lr_schedule, *args, key_log_std: float | None = None, **kwargs):
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
        self.lstm_actor = GRUAsLSTM(self.features_dim, self.lstm_output_dim, self.lstm_hidden_state_shape[0])
        if key_log_std is not None:
            with torch.no_grad():
                self.log_std[2:] = key_log_std
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def actor_parameters(self) -> list[nn.Parameter]:
        """What the generator's weights became (frozen while the critic warms up)."""
        return [*self.pi_features_extractor.parameters(), *self.lstm_actor.parameters(),
                *self.action_net.parameters(), self.log_std]


def generator_policy_kwargs(gen_config: dict, move_log_std: float, key_log_std: float) -> dict:
    """``policy_kwargs`` for :class:`GeneratorPolicy` that hold a generator of ``gen_config``."""
    hidden = int(gen_config["hidden"])
    return {"features_extractor_class": GeneratorInput,
            "features_extractor_kwargs": {"obs_size": int(gen_config["obs_size"]), "hidden": hidden,
                                          "style": int(gen_config["style"]), "noise": int(gen_config["noise"]),
                                          "spin_focus": bool(gen_config.get("spin_focus", False))},
            "share_features_extractor": False, "lstm_hidden_size": hidden, "n_lstm_layers": 2,
            "enable_critic_lstm": False, "net_arch": {"pi": [], "vf": [hidden]}, "ortho_init": False,
            "log_std_init": float(move_log_std), "key_log_std": float(key_log_std)}


def load_generator_weights(policy: GeneratorPolicy, gen: Generator) -> None:
    """Copy the generator into the policy's actor (and its input layer into the critic's),
    so the policy's mean action is the generator's at zero style and noise."""
    with torch.no_grad():
        policy.pi_features_extractor.inp.load_state_dict(gen.inp.state_dict())
        policy.vf_features_extractor.inp.load_state_dict(gen.inp.state_dict())
        for name, p in gen.gru.named_parameters():
            getattr(policy.lstm_actor.gru, name).copy_(p)
        policy.action_net.weight.copy_(torch.cat([gen.move.weight, gen.keys.weight]))
        policy.action_net.bias.copy_(torch.cat([gen.move.bias, gen.keys.bias]))


def make_generator_policy(observation_space, gen_config: dict, policy_kwargs: dict, lr: float = 0.0) -> GeneratorPolicy:
    """A :class:`GeneratorPolicy` built from saved ``policy_kwargs`` (to load its weights)."""
    return GeneratorPolicy(observation_space, generator_action_space(), lambda _: lr, **policy_kwargs)
