"""An LSTM policy that plays like the humans it was cloned from.

Input per step: the env's observation and the previous action (cursor and keys).
Outputs: a cursor head, a mixture of ``mixtures`` diagonal Gaussians over the cursor's
displacement this step (in units of 64 osu!px), so hesitations and flicks both keep
their probability mass instead of being averaged into a mush; and a key head, two logits
for "key 1/2 down during this step".  Trained by behavioural cloning with teacher forcing
(:mod:`agents.train`); played closed loop by :class:`BCAgent`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from osu_env.env import ACTION_HALF_RANGE_PX
from osu_env.errors import AgentError, first_line

from .key_decoding import MedianKeys

DISPLACEMENT_UNIT_PX = 64.0
# action units (x 512 px) -> displacement units (x 64 px)
ACT_TO_DISP = ACTION_HALF_RANGE_PX / DISPLACEMENT_UNIT_PX
LOG_SIGMA_MIN = -7.0


@contextmanager
def onednn_off():
    """torch's own RNN kernels instead of oneDNN's for the block (the flag is restored
    after).  oneDNN's LSTM costs ~2 ms a call on one CPU thread whatever the length, so a
    policy stepped one frame at a time runs 5x faster without it.  The setting is flipped
    by hand: torch's ``mkldnn.flags()`` context warns about TF32 on every entry."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


class LSTMPolicy(nn.Module):
    def __init__(self, obs_size: int, hidden: int = 256, layers: int = 2, mixtures: int = 5):
        super().__init__()
        self.config = {"obs_size": obs_size, "hidden": hidden, "layers": layers, "mixtures": mixtures}
        self.mixtures = mixtures
        self.inp = nn.Sequential(nn.Linear(obs_size + 4, hidden), nn.GELU())
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.cursor_head = nn.Linear(hidden, mixtures * 5)
        self.key_head = nn.Linear(hidden, 2)

    def forward(self, obs: torch.Tensor, prev_act: torch.Tensor, state=None):
        """obs (B, L, D), prev_act (B, L, 4) -> (logit_pi, mu, log_sigma (B, L, M[, 2])), key logits (B, L, 2), state."""
        h, state = self.lstm(self.inp(torch.cat([obs, prev_act], -1)), state)
        p = self.cursor_head(h).unflatten(-1, (self.mixtures, 5))
        logit_pi, mu, log_sigma = p[..., 0], p[..., 1:3], p[..., 3:5].clamp(min=LOG_SIGMA_MIN, max=3.0)
        return (logit_pi, mu, log_sigma), self.key_head(h), state


def displacement_target(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """The cursor's move this step in displacement units; obs[..., :2] is the previous
    cursor as (px - centre) / 256, act[..., :2] the new one as (px - centre) / 512."""
    return (act[..., :2] - obs[..., :2] / 2) * ACT_TO_DISP


def bc_losses(model: LSTMPolicy, obs, act, prev_act, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(cursor negative log-likelihood, key binary cross-entropy), means over valid steps."""
    (logit_pi, mu, log_sigma), key_logits, _ = model(obs, prev_act)
    target = displacement_target(obs, act).unsqueeze(-2)  # (B, L, 1, 2)
    z = (target - mu) * torch.exp(-log_sigma)
    log_n = (-0.5 * z.pow(2) - log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)
    nll = -torch.logsumexp(torch.log_softmax(logit_pi, -1) + log_n, -1)
    bce = nn.functional.binary_cross_entropy_with_logits(key_logits, act[..., 2:], reduction="none").sum(-1)
    if mask is None:
        return nll.mean(), bce.mean()
    m = mask.float()
    return (nll * m).sum() / m.sum(), (bce * m).sum() / m.sum()


def load_policy(checkpoint: str | Path, device: str = "cpu") -> LSTMPolicy:
    """A trained policy from a checkpoint file (or a folder holding ``last.pt``)."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "last.pt"
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        model = LSTMPolicy(**ckpt["config"]["model"])
        model.load_state_dict(ckpt["model"])
    except FileNotFoundError:
        raise AgentError(f"{path}: no such checkpoint") from None
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, KeyError... on a bad file
        raise AgentError(f"{path}: not a bc checkpoint ({type(e).__name__}: {first_line(e)})") from None
    return model.to(device).eval()


class BCAgent:
    """The cloned policy as a closed-loop player in the env.

    ``temperature`` scales the cursor's sampling: 1 draws from the learned mixture, 0 takes
    the most likely component's mean.  Keys: a press is a rare switch to which the model
    gives a moderate probability on each of a few steps, so thresholding P(down) > 0.5
    presses late or never, and sampling each step scatters the presses (UR ~300).  The
    default ``key_decoding="median"`` switches a key at the median of the predicted switch
    time instead (:class:`agents.key_decoding.MedianKeys`); ``"sample"`` draws each step at ``key_temperature``
    (0: threshold).  On the 10 held-out maps one checkpoint scored 85.4% accuracy (median)
    against 76.0% (sample).
    """

    name = "bc"
    closed_loop = True

    def __init__(self, checkpoint: str | Path, temperature: float = 0.3, key_temperature: float = 1.0,
                 device: str = "cpu", seed: int | None = None, key_decoding: str = "median"):
        if key_decoding not in ("sample", "median"):
            raise ValueError(f"key_decoding must be 'sample' or 'median', not {key_decoding!r}")
        self.key_decoding = key_decoding
        self.model = load_policy(checkpoint, device)
        self.device = device
        self.temperature = temperature
        self.key_temperature = key_temperature
        self.seed = seed

    def reset(self, beatmap, seed: int | None = None):
        self.median_keys = MedianKeys()
        self.state = None
        self.prev = torch.zeros(1, 1, 4, device=self.device)
        self.gen = torch.Generator(device="cpu").manual_seed(seed if seed is not None else (self.seed or 0))
        return None  # the env's own step grid

    @torch.no_grad()
    def act(self, obs: np.ndarray, t_ms: float) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).view(1, 1, -1)
        with onednn_off():  # one step at a time: 0.4 ms a call against ~2 ms (the same numbers)
            (logit_pi, mu, log_sigma), key_logits, self.state = self.model(o, self.prev, self.state)
        logit_pi, mu, log_sigma, key_logits = logit_pi[0, 0].cpu(), mu[0, 0].cpu(), log_sigma[0, 0].cpu(), key_logits[0, 0].cpu()
        T, TK = self.temperature, self.key_temperature
        if T <= 0:
            disp = mu[int(torch.argmax(logit_pi))]
        else:
            j = int(torch.multinomial(torch.softmax(logit_pi / T, -1), 1, generator=self.gen))
            disp = mu[j] + torch.exp(log_sigma[j]) * math.sqrt(T) * torch.randn(2, generator=self.gen)
        if self.key_decoding == "median":
            keys = torch.tensor(self.median_keys.step(torch.sigmoid(key_logits).tolist()))
        elif TK <= 0:
            keys = key_logits > 0
        else:
            keys = torch.rand(2, generator=self.gen) < torch.sigmoid(key_logits / TK)
        cursor = torch.as_tensor(obs[:2], dtype=torch.float32) / 2 + disp / ACT_TO_DISP
        a = torch.cat([cursor.clamp(-1, 1), keys.float() * 2 - 1])
        self.prev = torch.cat([a[:2], keys.float()]).view(1, 1, 4).to(self.device)
        return a.numpy()
