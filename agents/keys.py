"""A sequential key decoder: a play's key presses generated one event at a time.

A per-frame key head decides "down or up" every 16 ms, so a press is spread over the
frames where it might begin, and the model taps twice where it is unsure.  This decoder
generates *events* instead: which key, when it is pressed, how long it is held, each
conditioned on the ones before it.

- **Windows.** A play is cut into ``window_ms`` windows (600 ms of map time).  A window is
  conditioned on the map there (the env's observation at its start,
  :func:`osu_env.features.observe`), on the previous ``history`` windows (their presses
  and a summary of the cursor) and on the keys still held from earlier windows.
- **Events.** A GRU runs over the window's events.  At each step it sees the previous
  event and the observation at the time reached so far, and predicts the delay to the next
  press as a mixture of Gaussians over log ms (positive by construction), then the key
  given that delay, then the hold given both and the observation at the press.  One
  distribution factorised in that order: the review's rejected design had separate,
  mutually unaware heads for count, time and type.
- **Aimed and unaimed presses.** The delay's mixture has components anchored at the
  upcoming objects (a hit error each) and free log-normals.  A press inside an object's
  50 window is that object's and is explained by the anchors alone (:func:`on_object`),
  in training and in decoding: a free component that learned the beat as a delay from
  the last press carries a late press's lateness on to the next, and streams drift.
- **Count.** There is none: the sequence ends when the next cumulative time passes the
  window's end.  In training, each window's last step is taught the delay to the first
  press after the window, which is what makes "no more presses here" likely.
- **Holds** run as long as they were drawn, across window ends; the next windows see those
  keys as held and cannot press them again until they are released.  A press that comes
  while both keys are down lets up the key due up first, just before it
  (:func:`_release_for_press`).

Trained by teacher forcing on the dataset's human training replays (``osu-imitation
train keys``); :class:`WithKeys` combines it with any cursor model into a player
(``--agent bc+keys --keys-checkpoint K``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from osu_env.beatmap import SLIDER, SPINNER, Beatmap, load_beatmap
from osu_env.errors import AgentError, OsuInputError, first_line
from osu_env.features import GLOBAL_FEATURES, OBJECT_FEATURES, ObjectTable, obs_size, observe
from osu_env.replay import load_replay

from . import metrics
from .baselines import KEY_BITS, ScriptedAgent
from .train import load_checkpoint, pick_device, save_checkpoint

K_OBJECTS = 4  # upcoming objects in each observation (the env's default)
ENTRY_AT = obs_size(K_OBJECTS)  # after the env's observation: when the cursor reaches each upcoming object
OBS = ENTRY_AT + K_OBJECTS
ENTRY_LEAD_MS = 300.0  # how long before an object's start the cursor's arrival is looked for
HIST = 6  # per past window: presses of each key, mean log hold, share of it with a key down, cursor speed and distance
CARRY = 4  # per key: held now (0/1), ms since its last release / window (clipped)
MAX_EVENTS = 12  # presses per window the decoder may make (humans: 99.9th percentile is 6 in 600 ms)
LOG_MS_SCALE = 6.0  # log ms / 6 keeps the inputs near 1
STEP_TAKEN = OBS + 3 + 2 + 1 + CARRY  # where a step's input says which upcoming objects were pressed for (:func:`_pressed_for`)


@dataclass
class KeysArgs:
    """``osu-imitation train keys``: every field is a flag."""

    data: str
    out: str
    seed: int = 0
    steps: int = 8000
    batch: int = 64
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # or "constant"
    hidden: int = 128
    mixtures: int = 5
    window_ms: float = 600.0
    history: int = 10
    spinner_share: float = 0.25
    device: str | None = None
    resume: bool = False
    force: bool = False
    progress: bool = True
    checkpoint_every: int = 500


class KeyDecoder(nn.Module):
    """Window context -> GRU over events -> (delay mixture, key logits, hold mixture).

    Both mixtures are over ms and have two kinds of component: ``mixtures`` free
    log-normals, and one Gaussian anchored at each of the ``K_OBJECTS`` upcoming objects
    (the delay's at its start, the hold's at its end, as the observation gives them), whose
    mean is that time plus a learned offset and whose spread is learned.  An anchored
    component is a hit error: its offset the player's bias, its spread the unstable rate,
    which a log-normal alone could only hold to a few per cent of the delay."""

    def __init__(self, hidden: int = 128, mixtures: int = 5, history: int = 10):
        super().__init__()
        self.config = {"hidden": hidden, "mixtures": mixtures, "history": history}
        self.mixtures = mixtures
        self.context = nn.Sequential(nn.Linear(OBS + HIST * history + CARRY, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.Tanh())
        step_in = STEP_TAKEN + K_OBJECTS  # obs now, previous key one-hot (K1, K2, start), its log delay and hold, time so far, carry now, taken
        self.gru = nn.GRU(step_in, hidden, batch_first=True)
        self.delay_head = nn.Linear(hidden, 3 * (mixtures + 2 * K_OBJECTS))
        self.key_head = nn.Sequential(nn.Linear(hidden + 1 + CARRY, hidden), nn.GELU(), nn.Linear(hidden, 2))
        self.hold_head = nn.Sequential(nn.Linear(hidden + 1 + 2 + OBS, hidden), nn.GELU(), nn.Linear(hidden, 3 * (mixtures + K_OBJECTS)))

    def run(self, ctx: torch.Tensor, steps: torch.Tensor, h=None):
        """ctx (B, C), steps (B, L, S) -> GRU outputs (B, L, H), state."""
        if h is None:
            h = self.context(ctx).unsqueeze(0)
        return self.gru(steps, h)

    def _mixture(self, p, anchors):
        p = p.unflatten(-1, (self.mixtures + anchors[0].shape[-1], 3))
        return p[..., 0], p[..., 1], p[..., 2].clamp(-6, 3), anchors

    def delay(self, out, step):
        """The delay mixture from GRU outputs and the step inputs (:func:`_step_input`)."""
        obs_now = step[..., :OBS]
        starts, entries = _anchors(obs_now, 1), _entries(obs_now)
        taken = _pressed_for(step)
        return self._mixture(self.delay_head(out), (torch.cat([starts[0], entries[0]], -1),
                                                    torch.cat([starts[1] & ~taken, entries[1] & ~taken], -1)))

    def key(self, out, log_delay, carry_at):
        return self.key_head(torch.cat([out, log_delay.unsqueeze(-1), carry_at], -1))

    def hold(self, out, log_delay, key_onehot, obs_at):
        return self._mixture(self.hold_head(torch.cat([out, log_delay.unsqueeze(-1), key_onehot, obs_at], -1)), _anchors(obs_at, 2))


# The decoder's sampling temperature at play time, chosen with the seed-1 decoder on the 18
# validation replays of the dataset (their maps held out, each played by humanized with
# that replay's mods; humans there: hit error mean -1.3 ms, pooled UR 140): at T 1 (as
# trained) 80.9% accuracy, UR 208, W1 to the humans' hit errors 4.6 ms; at 0.4 89.3%,
# UR 136, W1 2.8; 0.5 88.5%, UR 150, W1 2.4; 0.6 88.1%, UR 158, W1 1.9.  Lower is
# tighter, more machine-like timing.  The command and the Python API both default to it.
KEYS_TEMPERATURE = 0.5
ANCHOR_OFFSET_MS = 50.0  # unit of an anchored component's learned offset ...
ANCHOR_SPREAD_MS = 20.0  # ... and of its spread


_OBJECT_COLUMNS = GLOBAL_FEATURES + OBJECT_FEATURES * torch.arange(K_OBJECTS)  # each upcoming object's "present" flag


def _ahead(obs: torch.Tensor, ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return ms, (obs[..., _OBJECT_COLUMNS] > 0.5) & (ms > 0)


def _anchors(obs: torch.Tensor, column: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ms from now to each upcoming object's start (column 1) or end (column 2), and
    whether it is ahead) from observations (..., OBS)."""
    return _ahead(obs, obs[..., _OBJECT_COLUMNS + column] * 1000.0)


def _entries(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ms from now until the cursor reaches each upcoming object, and whether it is
    ahead) from the block :class:`_Observer` adds."""
    return _ahead(obs, obs[..., ENTRY_AT:ENTRY_AT + K_OBJECTS] * 1000.0)


def _pressed_for(step: torch.Tensor) -> torch.Tensor:
    """(..., K_OBJECTS): the upcoming objects pressed for already, as the step's input
    carries them (:func:`_taken`).  Their anchors are ruled out for the next press: a
    second press aimed at the same object is a double tap, which people make on about 1%
    of circles and the unmasked decoder made on 4%."""
    return step[..., STEP_TAKEN:STEP_TAKEN + K_OBJECTS] > 0.5


def _taken(slots: np.ndarray, done: np.ndarray) -> np.ndarray:
    """(K_OBJECTS,) 1 where the upcoming object in that slot (``slots``: object indices,
    -1 for none; :meth:`_Observer.slots`) was pressed for (``done``, per object: a press
    inside its 50 window nearer its start than any other's, :func:`agents.metrics.press_objects`,
    the benchmark's reading).  Any press so far counts, not only the one just made: one
    made late in a window for an object starting in the next (an early press) left that
    object's anchor open at the next window's start, and 35 of the 88 double taps the
    seed-2 decoder made on the validation replays' own paths were such pairs across a
    window's end (human pairs: 12 of 118)."""
    return np.where(slots >= 0, done[np.maximum(slots, 0)], False).astype(np.float64)


def _masked_logits(logit: torch.Tensor, anchor: torch.Tensor, ahead: torch.Tensor) -> torch.Tensor:
    """The components' logits, anchored ones at objects not ahead ruled out."""
    M = logit.shape[-1] - anchor.shape[-1]
    return torch.cat([logit[..., :M], torch.where(ahead, logit[..., M:], torch.full_like(anchor, -1e9))], -1)


def _component_log_density(params, d_ms: torch.Tensor) -> torch.Tensor:
    """(..., M + A) log density of ``d_ms`` under every component, and the masked logits."""
    logit, mu, log_sigma, (anchor, ahead) = params
    M = logit.shape[-1] - anchor.shape[-1]
    d = d_ms.clamp(min=0.5).unsqueeze(-1)
    sig = torch.exp(log_sigma)
    ln = math.log(2 * math.pi) * 0.5
    free_sigma = sig[..., :M] * LOG_MS_SCALE
    z = (torch.log(d) - mu[..., :M] * LOG_MS_SCALE) / free_sigma
    free = -0.5 * z.pow(2) - torch.log(free_sigma) - ln - torch.log(d)
    a_sigma = sig[..., M:] * ANCHOR_SPREAD_MS
    za = (d - anchor - mu[..., M:] * ANCHOR_OFFSET_MS) / a_sigma
    anchored = -0.5 * za.pow(2) - torch.log(a_sigma) - ln
    return torch.cat([free, anchored], -1), _masked_logits(logit, anchor, ahead)


def _object_windows(params, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ms from the step's time to each upcoming object's start, whether it is ahead and
    not yet pressed for, the 50 window's half-width in ms), read off the delay mixture
    ``params`` (:meth:`KeyDecoder.delay`: its first ``K_OBJECTS`` anchors are the starts,
    already masked by :func:`_pressed_for`) and the step it was made for."""
    anchor, ahead = params[3]
    return anchor[..., :K_OBJECTS], ahead[..., :K_OBJECTS], step[..., 5:6] * 1000.0  # features.py: global 5, s


def on_object(params, step: torch.Tensor, d_ms: torch.Tensor) -> torch.Tensor:
    """(...) whether a press ``d_ms`` after the step's time falls inside the 50 window of an
    upcoming object not yet pressed for.  Such a press is that object's, and only the
    anchored components explain it: the free ones are for presses aimed at no object (a
    spinner's re-press, a tap in a break, the first press after a window).

    Without this the free log-normals also learned the stream's beat as a delay from the
    last press (in teacher forcing the human's last press is on time), and at play time
    they carried a late press's lateness on to the next: on FREEDOM DiVE (222 BPM
    streams) 87 of 96 circles left without a press were stepped over by a free draw
    75-100 ms long where the beat is 67 ms."""
    starts, ahead, w50 = _object_windows(params, step)
    return (ahead & ((d_ms.unsqueeze(-1) - starts).abs() <= w50)).any(-1)


def _mixture_nll(params, target_ms, on_obj: torch.Tensor | None = None):
    """Negative log-likelihood of ``target_ms``; where ``on_obj`` (:func:`on_object`), by
    the anchored components alone (the free ones' share of the mixture is lost there, so
    the free logits learn how often a press is aimed at no object)."""
    dens, logit = _component_log_density(params, target_ms)
    lp = torch.log_softmax(logit, -1) + dens
    if on_obj is not None:
        M = logit.shape[-1] - params[3][0].shape[-1]
        lp = torch.cat([lp[..., :M].masked_fill(on_obj.unsqueeze(-1), -math.inf), lp[..., M:]], -1)
    return -torch.logsumexp(lp, -1)


FREE_TRIES = 64  # draws of a free component before it counts as having no mass off the objects


def _pick(masked: torch.Tensor, temperature: float, gen: torch.Generator) -> int:
    """A component by softmax(logits / T); the likeliest at T 0."""
    if temperature > 0:
        return int(torch.multinomial(torch.softmax(masked / temperature, -1), 1, generator=gen))
    return int(torch.argmax(masked))


def _mixture_sample(params, gen: torch.Generator, temperature: float = 1.0, lo: float = 0.0,
                    hi: float = math.inf, avoid: np.ndarray | None = None) -> float:
    """One draw in ms (at least 0.5).  ``temperature`` < 1 sharpens the draw as a
    language model's sampling temperature does: the component by softmax(logits / T),
    its spread times T (0: the likeliest component's centre).

    With bounds, the draw is from that mixture given that it falls in [``lo``, ``hi``]:
    each component weighted by its mass inside, then drawn from by its inverse CDF.

    ``avoid`` (n, 2): the windows of anchored objects ahead (:func:`object_windows_ms`),
    which the free components do not reach, as they were trained (:func:`on_object`):
    a free component drawn is drawn from again until it
    falls outside them; one that has no mass there after ``FREE_TRIES`` leaves the
    draw to the anchored components.  (Bounded draws, made only about spinners, keep
    the whole mixture.)"""
    logit, mu, log_sigma, (anchor, ahead) = params
    logit, mu, log_sigma, anchor, ahead = (p.reshape(-1) for p in (logit, mu, log_sigma, anchor, ahead))
    M = logit.shape[0] - anchor.shape[0]
    masked = _masked_logits(logit, anchor, ahead)
    if lo > 0 or hi < math.inf:
        return _bounded_sample(*(p.double() for p in (masked, mu, log_sigma, anchor)), M, gen, temperature, lo, hi)
    j = _pick(masked, temperature, gen)
    if j < M:
        sig = math.exp(float(log_sigma[j]))
        for _ in range(FREE_TRIES if avoid is not None and len(avoid) else 1):
            d = math.exp(float(mu[j]) * LOG_MS_SCALE + sig * LOG_MS_SCALE * float(torch.randn((), generator=gen)) * temperature)
            if avoid is None or not ((avoid[:, 0] <= d) & (d <= avoid[:, 1])).any():
                return d
        j = _pick(torch.cat([torch.full((M,), -1e9), masked[M:]]), temperature, gen)  # the windows' anchors are ahead
    sig = math.exp(float(log_sigma[j]))
    e = float(torch.randn((), generator=gen)) * temperature
    return max(0.5, float(anchor[j - M]) + float(mu[j]) * ANCHOR_OFFSET_MS + sig * ANCHOR_SPREAD_MS * e)


def object_windows_ms(params, step: torch.Tensor) -> np.ndarray:
    """(n, 2) the 50 windows, in ms from the step's time, of the upcoming objects not yet
    pressed for (one step: :func:`on_object`'s intervals, for :func:`_mixture_sample`)."""
    starts, ahead, w50 = _object_windows(params, step)
    c = starts.reshape(-1)[ahead.reshape(-1)].double().numpy()
    w = float(w50.reshape(-1)[0])
    return np.column_stack([c - w, c + w])


def _bounded_sample(masked, mu, log_sigma, anchor, M: int, gen: torch.Generator, temperature: float,
                    lo: float, hi: float) -> float:
    """:func:`_mixture_sample` given lo <= draw <= hi.  Free components are normal in log
    ms, anchored ones normal in ms; each is cut to the bounds (its mass there reweights
    it) and drawn from by inverse CDF, so the draw keeps the model's shape inside."""
    t = max(temperature, 1e-3)
    sig = torch.exp(log_sigma)
    centre = torch.cat([mu[:M] * LOG_MS_SCALE, anchor + mu[M:] * ANCHOR_OFFSET_MS])
    spread = torch.cat([sig[:M] * LOG_MS_SCALE, sig[M:] * ANCHOR_SPREAD_MS]) * t
    log_lo = math.log(lo) if lo > 0 else -math.inf
    log_hi = math.log(hi) if hi < math.inf else math.inf
    a = torch.cat([torch.full((M,), log_lo), torch.full((len(centre) - M,), lo)], 0).double()
    b = torch.cat([torch.full((M,), log_hi), torch.full((len(centre) - M,), hi)], 0).double()
    ca, cb = torch.special.ndtr((a - centre) / spread), torch.special.ndtr((b - centre) / spread)
    weight = torch.softmax(masked / t, -1) * (cb - ca).clamp(min=0.0)
    if float(weight.sum()) <= 1e-300:  # no component reaches the bounds: the likeliest one's centre, clipped
        j = int(torch.argmax(masked))
        c = math.exp(float(centre[j])) if j < M else float(centre[j])
        return min(max(c, lo, 0.5), hi)
    j = int(torch.multinomial(weight / weight.sum(), 1, generator=gen))
    u = float(ca[j]) + float(torch.rand((), generator=gen, dtype=torch.float64)) * float(cb[j] - ca[j])
    z = float(centre[j]) + float(spread[j]) * float(torch.special.ndtri(torch.tensor(min(max(u, 1e-300), 1 - 1e-16),
                                                                                    dtype=torch.float64)))
    d = math.exp(z) if j < M else z
    return min(max(d, lo, 0.5), hi)


SPINNER_LEAD_MS = 300.0  # a press this soon before a spinner is its press (humans: median -98 ms, quartile -245)
SPINNER_LATE_MS = 100.0  # ... and it comes by this long after the spinner's start (humans: 95th percentile +86 ms)


def spinner_hold_floor(bm: Beatmap, t_ms: float) -> float:
    """The least hold for a press at ``t_ms``: to the end of the spinner it is for, else 0.

    A press is for a spinner when one is running, or when the next object to start is a
    spinner less than :data:`SPINNER_LEAD_MS` away.  A spinner needs a key held: in the
    human replays of ``../shared/data`` one press covers it (median 1 press; 85% of
    spinners have a key down for >= 95% of their length), begun a little before its
    start and released after its end (quartiles 48 and 362 ms after).  The model's hold
    mixture has an anchor at the spinner's end, but it competes with the taps of every
    other press and, sharpened by the temperature, mostly lost: decoded plays cleared
    42-88% of the held-out spinners.  So decoding draws the hold from the model given
    this floor (:func:`_mixture_sample`'s bounds)."""
    spin = _spinning(bm, t_ms)
    if spin.any():
        return float(bm.end_ms[spin].max() - t_ms)
    nxt = int(np.searchsorted(bm.start_ms, t_ms, side="right"))
    if nxt < bm.n_objects and bm.kind[nxt] == SPINNER and bm.start_ms[nxt] - t_ms <= SPINNER_LEAD_MS:
        return float(bm.end_ms[nxt] - t_ms)
    return 0.0


def slider_hold_floor(bm: Beatmap, t_ms: float, obj: int, done: np.ndarray) -> float:
    """The least hold for a press at ``t_ms``: to the end of the slider it is for, else 0.

    ``obj`` is the object the press is for, or -1: the one whose start is nearest, when
    the press is inside its 50 window (:func:`agents.metrics.press_objects`, which
    :func:`decode` calls once a press, for ``done`` too).  A press is a slider's when that
    object is a slider that has had no press yet (``done``: the objects pressed for).  People hold a slider through: in the human
    replays of ``../shared/data``, on the validation paths, 95.6% of slider presses are
    held past the slider's end and the earliest 1% let go 15 ms before it.  The model's
    hold mixture has an anchor at the slider's end, but at the decoding temperature the
    free, tap-length components often win it: on those paths the seed-2 decoder let go
    of 12.1% of its slider presses before the end (median 57 ms before; 8.4% before the
    last tick, which costs the slider its 300), and its sliders were held for 94.8% of
    their length against the humans' 98.5%.  So decoding draws the hold from the model
    given this floor, as for spinners: the release after the end keeps the model's
    spread (humans' 10th/50th/90th percentiles 12/44/116 ms after the end)."""
    if obj >= 0 and bm.kind[obj] == SLIDER and not done[obj]:
        return float(bm.end_ms[obj] - t_ms)
    return 0.0


def _spinning(bm: Beatmap, t_ms: float) -> np.ndarray:
    """(n,) whether each object is a spinner running at ``t_ms``."""
    return (bm.kind == SPINNER) & (bm.start_ms <= t_ms) & (t_ms < bm.end_ms)


def spinner_press_by(bm: Beatmap, t_ms: float, release: np.ndarray) -> float:
    """The map time by which the next press must come: :data:`SPINNER_LATE_MS` after the
    start of the next spinner that no key (released at ``release``) is held through, or
    inf.  Without it the delay mixture could step over a spinner's start, anchored at
    the next circle, and leave the spinner unpressed.  Decoding applies it in the window
    that holds that time, drawing the delay from the model given the bound."""
    held_to = float(np.max(release)) if len(release) else -math.inf
    todo = np.flatnonzero((bm.kind == SPINNER) & (bm.start_ms + SPINNER_LATE_MS > t_ms) & (bm.end_ms > held_to))
    return float(bm.start_ms[todo[0]]) + SPINNER_LATE_MS if len(todo) else math.inf


def _log_ms(ms) -> np.ndarray:
    return np.log(np.maximum(np.asarray(ms, np.float64), 0.5)) / LOG_MS_SCALE


# ---- features shared by training and decoding ---------------------------------------------

def _carry(t: float, release: np.ndarray, last_release: np.ndarray, window_ms: float) -> np.ndarray:
    """Per key: held at ``t`` (a press not yet released), ms since its last release."""
    held = (release > t).astype(np.float64)
    since = np.clip((t - last_release) / window_ms, 0, 4) * (1 - held)
    return np.concatenate([held, since])


def _history(events: np.ndarray, path: tuple, a_ms: float, n: int, window_ms: float, bm: Beatmap) -> np.ndarray:
    """The ``n`` windows before ``a_ms``: per window, presses of K1 and K2 begun in it,
    their mean log hold, the share of it a key was down, and the cursor's mean speed
    (px/ms) and distance from the nearest object's head (/100 px)."""
    t, x, y = path
    out = np.zeros((n, HIST))
    for i in range(n):
        lo, hi = a_ms - (n - i) * window_ms, a_ms - (n - i - 1) * window_ms
        if hi <= (t[0] if len(t) else 0):
            continue
        e = events[(events[:, 0] >= lo) & (events[:, 0] < hi)] if len(events) else np.empty((0, 3))
        out[i, 0] = (e[:, 1] == 0).sum() / 4
        out[i, 1] = (e[:, 1] == 1).sum() / 4
        out[i, 2] = _log_ms(e[:, 2]).mean() if len(e) else 0.0
        if len(events):
            on, off = events[:, 0], events[:, 0] + events[:, 2]
            out[i, 3] = np.clip(np.minimum(off, hi) - np.maximum(on, lo), 0, None).sum() / window_ms / 2
        grid = np.linspace(lo, hi, 7)
        gx, gy = np.interp(grid, t, x), np.interp(grid, t, y)
        out[i, 4] = np.hypot(np.diff(gx), np.diff(gy)).sum() / window_ms
        j = metrics.nearest(bm.start_ms.astype(np.float64), grid[3:4])
        out[i, 5] = np.hypot(gx[3] - bm.x[j[0]], gy[3] - bm.y[j[0]]) / 100.0 if bm.n_objects else 0.0
    return out.ravel()


def _window_starts(bm: Beatmap, window_ms: float) -> np.ndarray:
    """Where the windows of a play begin: one window before the first object, to its end."""
    return np.arange(float(bm.start_ms[0]) - window_ms, float(bm.end_ms.max()), window_ms)


def _context(obs: "_Observer", events: np.ndarray, path: tuple, a: float, history: int, window_ms: float,
             bm: Beatmap) -> np.ndarray:
    """What a window starting at ``a`` is conditioned on, given the presses so far."""
    return np.concatenate([obs(a)[0], _history(events, path, a, history, window_ms, bm), _carry_at(events, a, window_ms)])


def _step_input(obs_now: np.ndarray, prev: tuple, first: bool, tau: float, a: float, window_ms: float,
                keys_now: tuple, taken: np.ndarray) -> np.ndarray:
    """One GRU step's input at time ``tau`` of the window from ``a``: the observation, the
    previous event (key 0/1, or 2 at the window's start; its delay and hold), the time so
    far, the keys' state just after ``tau`` (``keys_now``: :func:`_keys_after`) and which
    upcoming objects were pressed for (``taken``: :func:`_taken`)."""
    return np.concatenate([obs_now, np.eye(3)[prev[0]], [0.0, 0.0] if first else _log_ms(prev[1:]),
                           [(tau - a) / window_ms], _carry(tau, *keys_now, window_ms), taken])


def _keys_after(events: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_state_before` just after ``tau``: a press made at ``tau`` included."""
    return _state_before(events, tau + 1e-6)


def _carry_at(events: np.ndarray, t: float, window_ms: float) -> np.ndarray:
    return _carry(t, *_state_before(events, t), window_ms)


def _state_before(events: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(release time of each key's latest press begun before ``t``, the latest release
    at or before ``t``)."""
    release, last = np.full(2, -1e9), np.full(2, -1e9)
    for k in (0, 1):
        e = events[(events[:, 1] == k) & (events[:, 0] < t)] if len(events) else np.empty((0, 3))
        if len(e):
            ends = e[:, 0] + e[:, 2]
            release[k] = ends[-1]
            done = ends[ends <= t]
            last[k] = done.max() if len(done) else -1e9
    return release, last


def cursor_entry_ms(bm: Beatmap, path: tuple) -> np.ndarray:
    """For each object, the first map ms (on a 2 ms grid) from ``ENTRY_LEAD_MS`` before its
    start to the end of its 50 window at which the cursor is on its head; NaN when it
    never is, and for spinners.  A press answers the cursor's arrival: a player who
    presses before the cursor is there misses."""
    t, x, y = path
    offsets = np.arange(-ENTRY_LEAD_MS, bm.hit_window_50 + 1.0, 2.0)
    grid = bm.start_ms.astype(np.float64)[:, None] + offsets
    on = np.hypot(np.interp(grid, t, x) - bm.x[:, None], np.interp(grid, t, y) - bm.y[:, None]) <= bm.radius
    first = np.where(on.any(1), grid[np.arange(len(grid)), on.argmax(1)], np.nan)
    return np.where(bm.kind == SPINNER, np.nan, first)


class _Observer:
    """observe() for one map with the cursor on ``path``, and the cursor's arrival at
    each upcoming object (:func:`cursor_entry_ms`, s from now, 0 when unknown)."""

    def __init__(self, bm: Beatmap, path: tuple):
        self.table, self.path = ObjectTable.build([bm]), path
        self.entry = cursor_entry_ms(bm, path) if bm.n_objects else np.empty(0)

    def slots(self, t_ms) -> np.ndarray:
        """(n, K_OBJECTS) the objects observe() shows at each time, -1 past the last."""
        t = np.atleast_1d(np.asarray(t_ms, np.float64))
        idx = np.searchsorted(self.table.key, t, side="left")[:, None] + np.arange(K_OBJECTS)
        return np.where(idx < len(self.entry), idx, -1)

    def __call__(self, t_ms) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t_ms, np.float64))
        pt, px, py = self.path
        base = observe(self.table, np.zeros(len(t), np.int64), t, np.interp(t, pt, px), np.interp(t, pt, py), K_OBJECTS)
        n = len(self.entry)
        idx = self.slots(t)
        e = self.entry[np.maximum(idx, 0)] if n else np.full(idx.shape, np.nan)
        ahead = np.where((idx >= 0) & np.isfinite(e), np.clip((e - t[:, None]) / 1000.0, -10, 10), 0.0)
        return np.concatenate([base, ahead.astype(np.float32)], 1)


def window_examples(bm: Beatmap, path: tuple, events: np.ndarray, window_ms: float, history: int) -> list[dict]:
    """Teacher-forcing examples, one per window of a play: ``events`` (n, 3) are (press
    map ms, key, hold ms) in time order, ``path`` (t, x, y) the cursor."""
    if not bm.n_objects or len(path[0]) < 2:
        return []
    obs = _Observer(bm, path)
    j, aimed = metrics.press_objects(bm, events[:, 0]) if len(events) else (np.empty(0, int), np.empty(0, bool))
    out = []
    for a in _window_starts(bm, window_ms).tolist():
        b = a + window_ms
        inside = events[(events[:, 0] >= a) & (events[:, 0] < b)][:MAX_EVENTS] if len(events) else np.empty((0, 3))
        before = int(np.searchsorted(events[:, 0], a, side="left")) if len(events) else 0
        after = events[events[:, 0] >= b] if len(events) else np.empty((0, 3))
        ctx = _context(obs, events, path, a, history, window_ms, bm)
        times = np.r_[a, inside[:, 0]]  # the time reached before each step
        nxt = after[0, 0] if len(after) else None
        delays = np.diff(np.r_[times, nxt if nxt is not None else np.nan])
        prev_key = np.r_[2, inside[:, 1]].astype(int)
        prev_delay = np.r_[0.0, np.diff(times)]
        prev_hold = np.r_[0.0, inside[:, 2]]
        o_now, slots = obs(times), obs.slots(times)
        steps = []
        for i, tau in enumerate(times.tolist()):  # step i has seen the presses before the window and i of its own
            done = np.zeros(bm.n_objects, bool)
            done[j[:before + i][aimed[:before + i]]] = True
            steps.append(_step_input(o_now[i], (prev_key[i], prev_delay[i], prev_hold[i]), i == 0, tau, a, window_ms,
                                     _keys_after(events, tau), _taken(slots[i], done)))
        carry_at = [_carry_at(events, tau, window_ms) for tau in inside[:, 0].tolist()]
        out.append({
            "spinner": bool(((bm.kind == SPINNER) & (bm.start_ms < b) & (bm.end_ms > a)).any()),
            "ctx": ctx.astype(np.float32),
            "steps": np.asarray(steps, np.float32),
            "delay": delays.astype(np.float32),  # ms; NaN: no press after the window to learn the end from
            "key": inside[:, 1].astype(np.int64),
            "hold": inside[:, 2].astype(np.float32),
            "carry_at": np.asarray(carry_at, np.float32).reshape(-1, CARRY),
            "obs_at": obs(inside[:, 0]).astype(np.float32) if len(inside) else np.zeros((0, OBS), np.float32),
        })
    return out


def replay_events(bm: Beatmap, t_ms: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(n, 3) press map ms, key (0/1), hold map ms, in time order."""
    pt, pk, pl = metrics.presses(t_ms, keys, 1.0)
    return np.column_stack([pt, pk, pl]) if len(pt) else np.empty((0, 3))


# ---- training --------------------------------------------------------------------------

def _collate(batch: list[dict], device) -> dict:
    L = max(len(b["steps"]) for b in batch)
    B = len(batch)
    steps = np.zeros((B, L, batch[0]["steps"].shape[1]), np.float32)
    delay = np.zeros((B, L), np.float32)
    dmask = np.zeros((B, L), bool)
    key = np.zeros((B, L), np.int64)
    hold = np.zeros((B, L), np.float32)
    emask = np.zeros((B, L), bool)
    carry_at = np.zeros((B, L, CARRY), np.float32)
    obs_at = np.zeros((B, L, OBS), np.float32)
    for i, b in enumerate(batch):
        n, e = len(b["steps"]), len(b["key"])
        steps[i, :n] = b["steps"]
        d = b["delay"]
        delay[i, :n] = np.nan_to_num(d)
        dmask[i, :n] = np.isfinite(d)
        key[i, :e], hold[i, :e], emask[i, :e] = b["key"], b["hold"], True
        carry_at[i, :e], obs_at[i, :e] = b["carry_at"], b["obs_at"]
    t = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return {"ctx": t(np.stack([b["ctx"] for b in batch])), "steps": t(steps), "delay": t(delay), "dmask": t(dmask),
            "delay_log": t(_log_ms(delay).astype(np.float32)),
            "key": t(key), "hold": t(hold), "emask": t(emask), "carry_at": t(carry_at), "obs_at": t(obs_at)}


def losses(model: KeyDecoder, b: dict) -> dict:
    """Teacher-forced negative log-likelihoods per valid step: delay (every step,
    including the one past the window's end), key and hold (every press)."""
    out, _ = model.run(b["ctx"], b["steps"])
    delay = model.delay(out, b["steps"])
    delay_nll = _mixture_nll(delay, b["delay"], on_object(delay, b["steps"], b["delay"]))
    key_ce = nn.functional.cross_entropy(model.key(out, b["delay_log"], b["carry_at"]).transpose(1, 2), b["key"], reduction="none")
    hold_nll = _mixture_nll(model.hold(out, b["delay_log"], nn.functional.one_hot(b["key"], 2).float(), b["obs_at"]), b["hold"])
    dm, em = b["dmask"].float(), b["emask"].float()
    return {"delay": (delay_nll * dm).sum() / dm.sum().clamp(min=1), "key": (key_ce * em).sum() / em.sum().clamp(min=1),
            "hold": (hold_nll * em).sum() / em.sum().clamp(min=1)}


def training_windows(data: Path, window_ms: float, history: int, split: str = "train", progress: bool = True) -> list[dict]:
    """Examples from the human replays of a dataset's ``split`` (its meta.json lists
    each replay and map)."""
    meta_path = Path(data) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise OsuInputError(f"{meta_path}: not a dataset made by `osu-imitation dataset` ({e})") from None
    out = []
    for ep in tqdm([e for e in meta["episodes"] if e["split"] == split], desc=f"key windows ({split})", unit="replay", disable=not progress):
        rp = load_replay(ep["replay"])
        bm = load_beatmap(ep["map"], mods=rp.mods)
        t = bm.map_times(rp)
        out += window_examples(bm, (t, rp.x, rp.y), replay_events(bm, t, rp.keys), window_ms * bm.clock_rate, history)
    return out


def learning_rate(step: int, args: KeysArgs) -> float:
    """``lr`` at ``step``: constant, or falling to 0 along a half cosine.  At a constant
    rate the last step's noise stays in the weights, and with it in the anchors' offsets,
    the players' bias: seed-to-seed, decoders' mean hit errors on the validation paths
    ranged from -1.8 to +2.6 ms (humans -1.3)."""
    if args.lr_schedule == "constant":
        return args.lr
    return args.lr * 0.5 * (1.0 + math.cos(math.pi * min(step / max(args.steps, 1), 1.0)))


def train_keys(args: KeysArgs) -> dict:
    """Train a :class:`KeyDecoder`; writes ``last.pt`` (and TensorBoard logs) under
    ``args.out``.  Returns the final losses."""
    from torch.utils.tensorboard import SummaryWriter

    out = Path(args.out)
    ckpt_path = out / "last.pt"
    if ckpt_path.exists() and not (args.resume or args.force):
        raise OsuInputError(f"{out}: a run is already there; --resume to continue it or --force to start over")
    if args.lr_schedule not in ("cosine", "constant"):
        raise OsuInputError(f"--lr-schedule {args.lr_schedule!r}: cosine or constant")
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = training_windows(Path(args.data), args.window_ms, args.history, "train", args.progress)
    val = training_windows(Path(args.data), args.window_ms, args.history, "val", args.progress)
    if not train:
        raise OsuInputError(f"{args.data}: no training replays to learn keys from")
    model = KeyDecoder(args.hidden, args.mixtures, args.history).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step = 0
    if args.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        rng = np.random.default_rng([args.seed, step])
    out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(out / "tb"))
    bar = tqdm(total=args.steps, initial=step, desc="keys", disable=not args.progress)
    last = {}

    def checkpoint():
        save_checkpoint(ckpt_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                          "config": {"model": model.config, "args": asdict(args)},
                          "kind": "keys"})

    spinning = np.flatnonzero([w["spinner"] for w in train])
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args)
        n_spin = int(rng.binomial(args.batch, args.spinner_share)) if len(spinning) else 0
        picks = np.r_[rng.integers(0, len(train), args.batch - n_spin), rng.choice(spinning, n_spin)] if n_spin else \
            rng.integers(0, len(train), args.batch)
        batch = _collate([train[i] for i in picks], device)
        parts = losses(model, batch)
        loss = sum(parts.values())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        last = {k: v.item() for k, v in parts.items()}
        for k, v in last.items():
            writer.add_scalar(f"train/{k}", v, step)
        bar.update()
        bar.set_postfix(last)
        if step % args.checkpoint_every == 0 or step == args.steps:
            if val:
                with torch.no_grad():
                    vb = _collate([val[i] for i in np.random.default_rng(0).integers(0, len(val), 512)], device)
                    for k, v in losses(model, vb).items():
                        writer.add_scalar(f"val/{k}", float(v), step)
                        last[f"val_{k}"] = float(v)
            rng = np.random.default_rng([args.seed, step])  # a resumed run draws what this one would have
            checkpoint()
    bar.close()
    writer.close()
    return last


def load_decoder(checkpoint: str | Path) -> tuple[KeyDecoder, dict]:
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "last.pt"
    try:
        ck = load_checkpoint(path, "cpu")
        if ck.get("kind") != "keys":
            raise ValueError("not made by `train keys`")
        model = KeyDecoder(**ck["config"]["model"])
        got = ck["model"]["gru.weight_ih_l0"].shape[1]
        if got != model.gru.input_size:
            raise AgentError(f"{path}: a keys checkpoint made before the decoder's step inputs changed ({got} inputs, "
                             f"this version's take {model.gru.input_size}); train it again with `osu-imitation train keys`")
        model.load_state_dict(ck["model"])
    except AgentError:
        raise
    except FileNotFoundError:
        raise AgentError(f"{path}: no such checkpoint") from None
    except Exception as e:
        raise AgentError(f"{path}: not a keys checkpoint ({type(e).__name__}: {first_line(e)})") from None
    return model.eval(), ck["config"]["args"]


# ---- decoding ----------------------------------------------------------------------------

@torch.no_grad()
def decode(model: KeyDecoder, bm: Beatmap, path: tuple, window_ms: float, seed: int = 0,
           temperature: float = 1.0, slider_holds: bool = True) -> np.ndarray:
    """Key events (n, 3: press map ms, key, hold ms) for a whole play of ``bm`` whose
    cursor follows ``path`` (t, x, y), window by window.  ``window_ms`` is map time;
    ``temperature`` sharpens the delays' draws (:func:`_mixture_sample`);
    ``slider_holds``: a slider's press is held at least to its end
    (:func:`slider_hold_floor`; False draws it from the whole mixture, as before
    2026-12-07)."""
    gen = torch.Generator().manual_seed(seed)
    history = model.config["history"]
    obs = _Observer(bm, path)
    events = np.empty((0, 3))
    if not bm.n_objects:
        return events
    done = np.zeros(bm.n_objects, bool)  # pressed for (:func:`_taken`)
    for a in _window_starts(bm, window_ms).tolist():
        b = a + window_ms
        ctx = _context(obs, events, path, a, history, window_ms, bm)
        h, tau, prev = None, a, (2, 0.0, 0.0)
        o_tau = obs(tau)[0]  # the observation at the time reached, computed once per time
        c = torch.from_numpy(ctx.astype(np.float32)).unsqueeze(0)
        for i in range(MAX_EVENTS + 1):
            keys_now = _keys_after(events, tau)
            step = _step_input(o_tau, prev, i == 0, tau, a, window_ms, keys_now, _taken(obs.slots(tau)[0], done))
            step_t = torch.from_numpy(step.astype(np.float32)).view(1, 1, -1)
            out, h = model.run(c, step_t, h)
            due = spinner_press_by(bm, tau, keys_now[0])  # in this window: the press comes by then
            params = model.delay(out, step_t)
            delay = _mixture_sample(params, gen, temperature, hi=max(due - tau, 0.5) if due < b else math.inf,
                                    avoid=object_windows_ms(params, step_t))
            if tau + delay >= b or i == MAX_EVENTS:
                break
            tau += delay
            o_tau = obs(tau)[0]
            state = _state_before(events, tau)
            cut = _release_for_press(bm, events, tau, state[0])
            if cut is not events:
                events, state = cut, _state_before(cut, tau)
            release = state[0]
            carry_at = _carry(tau, *state, window_ms)  # _carry_at, from the state read once
            free = release <= tau
            if not free.any():
                continue  # both keys held, through a spinner or pressed within 2 ms: nothing to press
            lu = torch.tensor([[float(_log_ms(delay))]], dtype=torch.float32)
            logits = model.key(out, lu, torch.from_numpy(carry_at.astype(np.float32)).view(1, 1, -1))[0, 0]
            logits = torch.where(torch.from_numpy(free), logits, torch.tensor(-1e9))
            k = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
            o_at = torch.from_numpy(o_tau.astype(np.float32)).view(1, 1, -1)
            hold_params = model.hold(out, lu, nn.functional.one_hot(torch.tensor([[k]]), 2).float(), o_at)
            (jo,), (hit,) = metrics.press_objects(bm, np.array([tau]))
            floor = spinner_hold_floor(bm, tau)
            if slider_holds:
                floor = max(floor, slider_hold_floor(bm, tau, int(jo) if hit else -1, done))
            hold = max(1.0, _mixture_sample(hold_params, gen, temperature, lo=floor))
            events = np.vstack([events, [tau, k, hold]])
            done[jo] |= bool(hit)
            prev = (k, delay, hold)
    return events


def _release_for_press(bm: Beatmap, events: np.ndarray, tau: float, release: np.ndarray) -> np.ndarray:
    """``events`` with room made for a press at ``tau`` when both keys are held (their
    ``release`` times: :func:`_state_before` at ``tau``), or ``events`` itself: the key
    due up first is let up 1 ms before it (so the press is a new edge), unless it went
    down less than 2 ms ago or a spinner is running (a player spinning holds on; the
    press is dropped).

    A hold is drawn before the next press is, so in a stream two drawn holds can both
    outlast the next press.  Dropping that press left the circle without one: on
    FREEDOM DiVE (222 BPM streams) the seed-1 decoder dropped 152 of 2,180 drawn presses
    so, and each circle left unpressed took the next one's press late, and so on until a
    notelock cascade (127 circles without a press, 73.5% accuracy; with this rule 11 and
    86.3%).  A player presses the next note and lets up the key they need; so does this."""
    if (release <= tau).any() or _spinning(bm, tau).any():
        return events
    k = int(np.argmin(release))
    row = np.flatnonzero((events[:, 1] == k) & (events[:, 0] < tau))[-1]
    if tau - 1.0 - events[row, 0] < 1.0:
        return events
    out = events.copy()
    out[row, 2] = tau - 1.0 - events[row, 0]
    return out


def key_frames(t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, events: np.ndarray):
    """A path's frames with the decoded keys: a frame at every press and release (whole
    ms, as stable records input), the cursor interpolated there.  Returns (t, x, y, keys)."""
    t = np.asarray(t_ms, np.float64)
    on = np.round(events[:, 0]) if len(events) else np.empty(0)
    off = np.maximum(np.round(events[:, 0] + events[:, 2]), on + 1) if len(events) else np.empty(0)
    times = np.unique(np.r_[np.round(t), on, off]).astype(np.int64)
    keys = np.zeros(len(times), np.int64)
    for (k, a, b) in zip(events[:, 1].astype(int).tolist() if len(events) else [], on.tolist(), off.tolist()):
        keys[(times >= a) & (times < b)] |= KEY_BITS[k]
    return times, np.interp(times, t, x), np.interp(times, t, y), keys


class WithKeys(ScriptedAgent):
    """A cursor model's path with the decoder's keys: ``bc+keys``, ``humanized+keys``...

    The cursor model plays the map first (with its own keys, which are then dropped);
    the decoder then generates the presses over the whole play, seeing that path, and the
    two are acted out together, open loop."""

    def __init__(self, cursor, keys_checkpoint: str | Path, keys_temperature: float = KEYS_TEMPERATURE,
                 keys_slider_holds: bool = True):
        """``keys_temperature``, ``keys_slider_holds``: of the decoder's draws (:func:`decode`)."""
        self.cursor = cursor
        self.temperature = keys_temperature
        self.slider_holds = keys_slider_holds
        self.model, args = load_decoder(keys_checkpoint)
        self.window_ms = float(args["window_ms"])
        self.name = f"{getattr(cursor, 'name', 'cursor')}+keys"

    def plan(self, bm: Beatmap, rng: np.random.Generator):
        from .runner import play

        seed = int(rng.integers(2**31))
        p = play(self.cursor, bm, seed=seed)
        t, x, y, _ = (np.asarray(c) for c in zip(*p.frames))
        events = decode(self.model, bm, (t.astype(np.float64), x, y), self.window_ms * bm.clock_rate, seed, self.temperature,
                        self.slider_holds)
        return key_frames(t, x, y, events)
