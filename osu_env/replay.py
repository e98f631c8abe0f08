"""Load and save ``.osr`` replays via ``osrparse``, as numpy frame arrays plus the header.

Frames are cleaned the way osu! itself plays them back (osu.Game/Scoring/Legacy/
LegacyScoreDecoder.cs): the two leading ``(256, -500)`` frames that stable writes at
t=0 and at the skip boundary are dropped after their deltas have moved the clock, and
frames that go back in time are skipped until the clock catches up.  Times are cumulative map (song) time in ms;
under DT/HT they are *not* rescaled, since hit windows live in map time too.
"""
from __future__ import annotations

import hashlib
import lzma
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import osrparse
import osrparse.replay
from osrparse.utils import GameMode, Key, Mod, ReplayEventOsu

from . import rules
from .errors import ReplayError, read_input
from .rules import Mods


@dataclass(frozen=True)
class Replay:
    """A play: frames (``t_ms`` int64, ``x``/``y`` osu!px, ``keys`` bit field) and header.

    ``counts`` are what osu! recorded when the play ended: (n300, n100, n50, nmiss);
    for a replay that we produced they are our judge's.
    """

    path: str
    player: str
    beatmap_md5: str
    mods: int
    game_version: int
    t_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    keys: np.ndarray
    n300: int = 0
    n100: int = 0
    n50: int = 0
    nmiss: int = 0
    ngeki: int = 0
    nkatu: int = 0
    max_combo: int = 0
    score: int = 0
    timestamp: datetime | None = None

    @property
    def counts(self) -> tuple[int, int, int, int]:
        return self.n300, self.n100, self.n50, self.nmiss

    @property
    def n_frames(self) -> int:
        return int(self.t_ms.shape[0])

    @property
    def mod_names(self) -> str:
        names = [m.name for m in Mods if self.mods & m and not (m is Mods.DoubleTime and self.mods & Mods.Nightcore)]
        return ",".join(names) if names else "NM"


class _FrameTextUnpacker(osrparse.replay._Unpacker):
    """osrparse's reader, keeping the decoded frame text (osrparse drops the two leading
    (256, -500) frames *with* their time deltas, which shifts every later frame), and
    inflating it with a bounded decompressor: an LZMA stream of a few hundred KB can
    inflate to gigabytes, and osrparse's ``lzma.decompress`` would take them all."""

    frame_text = ""

    def unpack_play_data(self, mode):
        length = self.unpack_int()
        end = self.offset + length
        text = inflate_frames(self.replay_data[self.offset:end])
        replay_data, rng_seed = self.parse_replay_data(text, mode)
        self.offset = end
        return replay_data, rng_seed

    def parse_replay_data(self, replay_data_str, mode):
        self.frame_text = replay_data_str
        return osrparse.replay._Unpacker.parse_replay_data(replay_data_str, mode)


class FrameStreamTooLarge(ValueError):
    """The replay's frame stream inflates past :data:`rules.MAX_FRAME_TEXT_BYTES`."""


def inflate_frames(data: bytes) -> str:
    """The frame text of an ``.osr``'s LZMA stream, refused once it passes
    :data:`rules.MAX_FRAME_TEXT_BYTES` (before anything is parsed)."""
    d = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
    out = d.decompress(data, max_length=rules.MAX_FRAME_TEXT_BYTES + 1)
    if len(out) > rules.MAX_FRAME_TEXT_BYTES:
        raise FrameStreamTooLarge(f"its frame stream inflates past {rules.MAX_FRAME_TEXT_BYTES // 2**20} MiB "
                                  f"(a decompression bomb, or not a replay)")
    if not d.eof:
        raise EOFError("the frame stream ends early")
    return out.decode("ascii")


def parse_frame_text(text: str):
    """Raw ``w|x|y|z`` frames -> (t_ms, x, y, keys) the way osu! plays them back.

    Follows osu.Game/Scoring/Legacy/LegacyScoreDecoder.cs (itself citing stable's
    ReplayWatcher): drop the ``-12345`` seed frame, fix up the first frames' times, drop
    the leading (256, -500) frames after their deltas have moved the clock, then skip
    frames that go back in time until the clock catches up (as circleguard does).
    """
    rows = [f.split("|") for f in text.strip().rstrip(",").split(",") if f]
    rows = [r for r in rows if len(r) >= 4 and r[0] != "-12345"]
    if not rows:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty, empty.astype(np.int64)
    deltas = np.array([round(float(r[0])) for r in rows], np.int64)
    xs = np.array([float(r[1]) for r in rows])
    ys = np.array([float(r[2]) for r in rows])
    keys = np.array([int(float(r[3])) for r in rows], np.int64)
    t = np.cumsum(deltas)
    if len(t) >= 2 and t[1] < t[0]:
        t[1], t[0] = t[0], 0
    if len(t) >= 3 and t[0] > t[2]:
        t[0] = t[1] = t[2]
    keep = np.ones(len(t), bool)
    for i in (1, 0):
        if len(t) > i and xs[i] == 256 and ys[i] == -500:
            keep[i] = False
    t, xs, ys, keys = t[keep], xs[keep], ys[keep], keys[keep]
    forward = t >= np.maximum.accumulate(t)
    return t[forward], xs[forward], ys[forward], keys[forward]


def load_replay(path: str | Path) -> Replay:
    """Read an osu!standard ``.osr``; raises :class:`ReplayError` naming the file."""
    path = Path(path)
    raw = read_input(path, ReplayError, rules.MAX_REPLAY_BYTES)
    try:
        unpacker = _FrameTextUnpacker(raw)
        r = unpacker.unpack()
    except FrameStreamTooLarge as e:
        raise ReplayError(f"{path}: refused: {e}") from None
    except (lzma.LZMAError, EOFError) as e:
        raise ReplayError(f"{path}: truncated or corrupt replay data ({e or 'unexpected end of file'})") from None
    except Exception as e:  # osrparse raises struct.error/ValueError/IndexError on bad bytes
        raise ReplayError(f"{path}: not a readable .osr replay ({type(e).__name__}: {e})") from None
    if r.mode != GameMode.STD:
        raise ReplayError(f"{path}: replay is for {r.mode.name.lower()}, not osu!standard")
    t, xs, ys, ks = parse_frame_text(unpacker.frame_text)
    if t.size > rules.MAX_REPLAY_FRAMES:
        raise ReplayError(f"{path}: refused: {t.size} frames, more than the limit of {rules.MAX_REPLAY_FRAMES:,}")
    if t.size == 0:
        raise ReplayError(f"{path}: replay has no cursor frames (truncated?)")
    return Replay(
        path=str(path),
        player=r.username or "",
        beatmap_md5=r.beatmap_hash or "",
        mods=int(r.mods),
        game_version=int(r.game_version),
        t_ms=t,
        x=xs,
        y=ys,
        keys=ks,
        n300=int(r.count_300),
        n100=int(r.count_100),
        n50=int(r.count_50),
        nmiss=int(r.count_miss),
        ngeki=int(r.count_geki),
        nkatu=int(r.count_katu),
        max_combo=int(r.max_combo),
        score=int(r.score),
        timestamp=r.timestamp,
    )


def save_replay(replay: Replay, path: str | Path, game_version: int = 20250702) -> Path:
    """Write ``replay`` as an ``.osr`` that osu! opens (frames, md5, player, mods, counts).

    Frame times are written as integer deltas; stable expects a leading zero frame and a
    final ``-12345`` seed frame, which osrparse appends from ``rng_seed``.
    """
    path = Path(path)
    t = np.asarray(replay.t_ms, np.int64)
    deltas = np.diff(np.concatenate([[0], t]))
    events = [ReplayEventOsu(0, 256.0, -500.0, Key(0))]
    events += [
        ReplayEventOsu(int(d), float(x), float(y), Key(int(k)))
        for d, x, y, k in zip(deltas, replay.x, replay.y, replay.keys)
    ]
    ts = replay.timestamp or datetime.now(timezone.utc)
    replay_hash = hashlib.md5(f"{replay.player}{replay.beatmap_md5}{replay.score}{ts.isoformat()}".encode()).hexdigest()
    r = osrparse.Replay(
        mode=GameMode.STD,
        game_version=int(replay.game_version or game_version),
        beatmap_hash=replay.beatmap_md5,
        username=replay.player,
        replay_hash=replay_hash,
        count_300=replay.n300,
        count_100=replay.n100,
        count_50=replay.n50,
        count_geki=replay.ngeki,
        count_katu=replay.nkatu,
        count_miss=replay.nmiss,
        score=replay.score,
        max_combo=replay.max_combo,
        perfect=replay.nmiss == 0,
        mods=Mod(int(replay.mods)),
        life_bar_graph=None,
        timestamp=ts,
        replay_data=events,
        replay_id=0,
        rng_seed=0,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    r.write_path(str(path))
    return path
