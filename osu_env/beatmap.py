"""Load ``.osu`` beatmaps into immutable numpy tables, with stacking and mods applied.

``slider`` parses the file; the geometry osu!stable judges against is computed here:
slider paths sampled along their real curves (by arc length, truncated or extended to
the mapped pixel length), slider score events (ticks, repeats, the legacy last tick),
stack heights (new and old algorithms) and the HR flip.  The judge, the features, the
renderer and the scripted players all read these tables, never slider's objects.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import slider
from slider import curve as slider_curve

from . import rules
from .errors import BeatmapError, read_input

CIRCLE, SLIDER, SPINNER = 0, 1, 2
KIND_NAMES = ("circle", "slider", "spinner")
PLAYFIELD_HEIGHT = 384.0
EVENT_TICK, EVENT_REPEAT, EVENT_TAIL = 0, 1, 2

BASE_SCORING_DISTANCE = 100.0  # R/Objects/Slider.cs
CATMULL_DETAIL = 50  # osu.Game/Rendering/PathApproximator catmull_detail
EARLY_VERSION_TIMING_OFFSET_MS = 24  # LegacyBeatmapDecoder: maps before v5 were offset


def timing_offset_ms(format_version: int) -> int:
    """How much later than its file says a map of this format version is played, its
    objects and a replay's frames on it alike (lazer LegacyBeatmapDecoder and
    LegacyScoreDecoder ``beatmapOffset``)."""
    return EARLY_VERSION_TIMING_OFFSET_MS if format_version < 5 else 0


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


class PathTooLong(ValueError):
    """A slider path (or a map's paths together) past :data:`rules.MAX_PATH_POINTS`."""


# --------------------------------------------------------------------------- paths
def _bezier(points: np.ndarray) -> np.ndarray:
    """One Bezier segment as osu! flattens it: split in halves until each piece's control
    polygon bends by at most the 0.25 px tolerance, then three points per control point
    of each flat piece (osu-framework PathApproximator.BezierToPiecewiseLinear, from
    stable).  The ball runs along this polyline, so a follow-circle test within a
    quarter pixel depends on flattening it the same way."""
    cp = [(float(x), float(y)) for x, y in points]
    n = len(cp)
    if n < 3:
        return points.copy()
    out: list[tuple[float, float]] = []
    stack = [cp]
    while stack:
        if len(out) > rules.MAX_PATH_POINTS:
            raise PathTooLong(f"a slider's curve flattens to more than {rules.MAX_PATH_POINTS:,} points")
        piece = stack.pop()
        left, right = _bezier_halves(piece)
        if _bezier_flat(piece):
            # the flat piece's points: the halves' control points, smoothed 1-2-1
            joined = left + right[1:]
            out.append(piece[0])
            for i in range(1, n - 1):
                a, b, c = joined[2 * i - 1], joined[2 * i], joined[2 * i + 1]
                out.append((0.25 * (a[0] + 2 * b[0] + c[0]), 0.25 * (a[1] + 2 * b[1] + c[1])))
            continue
        stack.append(right)
        stack.append(left)
    out.append(cp[-1])
    return np.array(out, dtype=np.float64)


_BEZIER_FLAT_SQ = 4 * 0.25**2  # PathApproximator: (2 x BEZIER_TOLERANCE)^2


def _bezier_flat(cp: list) -> bool:
    for i in range(1, len(cp) - 1):
        dx = cp[i - 1][0] - 2 * cp[i][0] + cp[i + 1][0]
        dy = cp[i - 1][1] - 2 * cp[i][1] + cp[i + 1][1]
        if dx * dx + dy * dy > _BEZIER_FLAT_SQ:
            return False
    return True


def _bezier_halves(cp: list) -> tuple[list, list]:
    """de Casteljau at t = 1/2: the control points of the two halves."""
    n = len(cp)
    mid = list(cp)
    left, right = [None] * n, [None] * n
    for i in range(n):
        left[i] = mid[0]
        right[n - 1 - i] = mid[n - 1 - i]
        for j in range(n - 1 - i):
            mid[j] = ((mid[j][0] + mid[j + 1][0]) * 0.5, (mid[j][1] + mid[j + 1][1]) * 0.5)
    return left, right


def _multi_bezier(points: np.ndarray) -> np.ndarray:
    """A "B" slider: Bezier segments split where a control point repeats (red anchors)."""
    out, start = [], 0
    for i in range(1, len(points)):
        if i == len(points) - 1 or np.array_equal(points[i], points[i + 1]):
            out.append(_bezier(points[start : i + 1]))
            start = i + 1
    return np.concatenate(out) if out else points.copy()


def _perfect(points: np.ndarray) -> np.ndarray | None:
    """A "P" slider: chords of the circular arc through three points (None if they are
    collinear), as few as osu! uses, since the ball runs along the chords."""
    a, b, c = points
    d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    if abs(d) < 1e-3:
        return None
    aa, bb, cc = a @ a, b @ b, c @ c
    centre = np.array(
        [
            (aa * (b[1] - c[1]) + bb * (c[1] - a[1]) + cc * (a[1] - b[1])) / d,
            (aa * (c[0] - b[0]) + bb * (a[0] - c[0]) + cc * (b[0] - a[0])) / d,
        ]
    )
    radius = float(np.linalg.norm(a - centre))
    theta_start = math.atan2(a[1] - centre[1], a[0] - centre[0])
    theta_end = math.atan2(c[1] - centre[1], c[0] - centre[0])
    while theta_end < theta_start:
        theta_end += 2 * math.pi
    direction = 1.0
    theta_range = theta_end - theta_start
    # Go the other way round when b is not on the arc from a to c counter-clockwise.
    ortho = np.array([c[1] - a[1], -(c[0] - a[0])])
    if ortho @ (b - a) < 0:
        direction = -1.0
        theta_range = 2 * math.pi - theta_range
    # as many chords as keep each within 0.1 px of the arc (PathApproximator, from stable)
    n = 2 if 2 * radius <= 0.1 else max(2, int(math.ceil(theta_range / (2 * math.acos(1 - 0.1 / radius)))))
    theta = theta_start + direction * np.linspace(0.0, theta_range, n)
    return np.column_stack([centre[0] + radius * np.cos(theta), centre[1] + radius * np.sin(theta)])


def _catmull(points: np.ndarray) -> np.ndarray:
    """A "C" slider: Catmull-Rom through the points, 50 samples per segment (osu!)."""
    out = []
    t = np.linspace(0.0, 1.0, CATMULL_DETAIL + 1)[:, None]
    for i in range(len(points) - 1):
        v1 = points[i - 1] if i > 0 else points[i]
        v2 = points[i]
        v3 = points[i + 1] if i + 1 < len(points) else 2 * v2 - v1
        v4 = points[i + 2] if i + 2 < len(points) else 2 * v3 - v2
        t2, t3 = t * t, t * t * t
        out.append(
            0.5
            * (
                2 * v2
                + (-v1 + v3) * t
                + (2 * v1 - 5 * v2 + 4 * v3 - v4) * t2
                + (-v1 + 3 * v2 - 3 * v3 + v4) * t3
            )
        )
    return np.concatenate(out) if out else points.copy()


def slider_path(kind: str, points: np.ndarray, length_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Polyline (N, 2) and cumulative distance (N,) of a slider path of exactly ``length_px``.

    Like osu!, the computed curve is cut at the mapped length, or its last segment is
    extended in a straight line when the curve is shorter; a length of 0 (or none) keeps
    the curve's own.  A perfect curve through three collinear points is the straight path
    through them ("osu-stable special-cased colinear perfect curves to a linear path",
    lazer ConvertHitObjectParser), not a Bezier, which would not reach a middle point
    that lies beyond the end.
    """
    points = np.asarray(points, dtype=np.float64)
    if kind == "L":
        poly = points
    elif kind == "C":
        poly = _catmull(points)
    elif kind == "P" and len(points) == 3:
        poly = _perfect(points)
        if poly is None:
            poly = points
    else:
        poly = _multi_bezier(points)
    keep = np.concatenate([[True], np.any(np.diff(poly, axis=0) != 0, axis=1)])
    poly = poly[keep]
    if len(poly) == 1:
        return poly.copy(), np.zeros(1)
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    if length_px <= 0:  # no length given: the curve's own (lazer ConvertHitObjectParser: length 0 -> null)
        return poly, dist
    if dist[-1] >= length_px:
        cut = int(np.searchsorted(dist, length_px, side="left"))
        frac = (length_px - dist[cut - 1]) / (dist[cut] - dist[cut - 1])
        end = poly[cut - 1] + frac * (poly[cut] - poly[cut - 1])
        poly = np.vstack([poly[:cut], end])
        dist = np.concatenate([dist[:cut], [length_px]])
    else:
        direction = (poly[-1] - poly[-2]) / seg[-1]
        poly = np.vstack([poly, poly[-1] + direction * (length_px - dist[-1])])
        dist = np.concatenate([dist, [length_px]])
    return poly, dist


def float32_path_length(poly: np.ndarray) -> float:
    """The path's length as stable measures it: each chord's length in float32, summed.

    Stable times a slider by walking these float32 chord lengths, so a slider mapped to
    last exactly 225 ms can end at 224.99998 ms and be floored to 224: its last tick then
    comes 1 ms earlier, which decides whether a frame 1 ms before it counts.
    """
    return float(float32_chord_lengths(poly).sum())


def float32_chord_lengths(poly: np.ndarray) -> np.ndarray:
    """Each chord's length computed in float32 (as stable does), returned as float64."""
    d = np.diff(poly.astype(np.float32), axis=0)
    return np.sqrt((d * d).sum(axis=1, dtype=np.float32), dtype=np.float32).astype(np.float64)


def stable_ball_path(poly: np.ndarray, start_ms: float, span_ms: float, spans: int, chords: np.ndarray | None = None):
    """The slider ball's path as stable's judge times it: every chord of every span, in
    the order the ball runs them, with start and end times truncated to whole ms.

    Each chord takes its float32 length over the slider velocity; the running time is
    kept in float64 but each chord's ends are truncated (danser-go's stable slider path,
    objects/slider.go).  Between its two times the ball moves linearly along the chord,
    so on a fast slider it can sit up to one ms of travel away from where exact arc
    length puts it; the follow-circle tests in real replays go with these positions.
    ``chords``: the float32 chord lengths when already known.
    Returns (t1, t2, a, b): (k,) int64 times and (k, 2) chord ends.
    """
    seg = float32_chord_lengths(poly) if chords is None else chords
    total = float(seg.sum())
    if total <= 0 or span_ms <= 0 or spans < 1:
        head = poly[:1]
        return np.array([int(start_ms)]), np.array([int(start_ms)]), head.copy(), head.copy()
    dur = seg * (span_ms / total)  # a chord's duration: its length over the velocity
    a, b = poly[:-1], poly[1:]
    if spans > 1:  # the ball runs odd spans backwards
        dur = np.concatenate([dur[::-1] if s % 2 else dur for s in range(spans)])
        a = np.concatenate([poly[:0:-1] if s % 2 else poly[:-1] for s in range(spans)])
        b = np.concatenate([poly[-2::-1] if s % 2 else poly[1:] for s in range(spans)])
    ends = float(start_ms) + np.cumsum(dur)  # the running time, chord by chord
    return np.floor(ends - dur).astype(np.int64), np.floor(ends).astype(np.int64), a, b


def path_distance_at(elapsed_ms: float, span_ms: float, spans: int, length_px: float) -> float:
    """Distance along the path of a slider's ball ``elapsed_ms`` after its start.

    The ball runs forward on even spans and back on odd ones; before the start and
    after the end it rests at the head and at the final position.
    """
    if span_ms <= 0:
        return 0.0
    elapsed = min(max(elapsed_ms, 0.0), span_ms * spans)
    span = min(int(elapsed // span_ms), spans - 1)
    progress = (elapsed - span * span_ms) / span_ms
    return (1.0 - progress if span % 2 else progress) * length_px


def _point_at(poly: np.ndarray, dist: np.ndarray, d: np.ndarray) -> np.ndarray:
    d = np.clip(d, 0.0, dist[-1])
    return np.column_stack([np.interp(d, dist, poly[:, 0]), np.interp(d, dist, poly[:, 1])])


def _curve_kind(curve: slider_curve.Curve) -> str:
    if isinstance(curve, slider_curve.Linear):
        return "L"
    if isinstance(curve, slider_curve.Perfect):
        return "P"
    if isinstance(curve, slider_curve.Catmull):
        return "C"
    return "B"


# --------------------------------------------------------------------------- beatmap
@dataclass(frozen=True)
class Beatmap:
    """A beatmap as arrays, for one set of mods.

    Object tables (length ``n``): ``kind`` (CIRCLE/SLIDER/SPINNER), ``start_ms``/``end_ms``
    (map time), ``x``/``y`` (stacked, modded head position in osu!px), ``end_x``/``end_y``
    (where the object ends), ``stack_height``, ``new_combo``, ``combo_number`` and
    ``slider_index`` (row in the slider tables or -1).

    Slider tables (length ``n_sliders``): ``path_start`` offsets into ``path_xy``/``path_dist``
    (stacked, modded polyline and cumulative arc length), ``length_px``, ``spans``,
    ``span_ms``, ``event_start`` offsets into the score-event tables ``ev_time``/``ev_kind``/
    ``ev_x``/``ev_y`` (ticks, repeats and the legacy last tick, in judging order).
    """

    path: str
    md5: str
    title: str
    artist: str
    version: str
    creator: str
    format_version: int
    mods: int
    cs: float
    ar: float
    od: float
    hp: float
    radius: float
    hit_window_300: int
    hit_window_100: int
    hit_window_50: int
    preempt_ms: int
    fade_in_ms: float
    clock_rate: float
    stack_leniency: float
    kind: np.ndarray
    start_ms: np.ndarray
    end_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    end_x: np.ndarray
    end_y: np.ndarray
    stack_height: np.ndarray
    new_combo: np.ndarray
    combo_number: np.ndarray
    slider_index: np.ndarray
    path_start: np.ndarray
    path_xy: np.ndarray
    path_dist: np.ndarray
    length_px: np.ndarray
    spans: np.ndarray
    span_ms: np.ndarray
    event_start: np.ndarray
    ev_time: np.ndarray
    ev_kind: np.ndarray
    ev_x: np.ndarray
    ev_y: np.ndarray

    @property
    def n_objects(self) -> int:
        return int(self.kind.shape[0])

    @property
    def hit_windows(self) -> tuple[int, int, int]:
        return self.hit_window_300, self.hit_window_100, self.hit_window_50

    @property
    def frame_offset_ms(self) -> int:
        """What to add to a replay's frame times to put them on this map's clock.  Maps
        before format v5 are played 24 ms later than their file says
        (:data:`EARLY_VERSION_TIMING_OFFSET_MS`), and osu! moves a replay's frames with
        them: lazer's LegacyScoreDecoder starts the frame clock at ``beatmapOffset`` ("as
        this is baked into hitobject timing we also need to apply this to replay frame
        timing"), and LegacyScoreEncoder takes it off again when writing an .osr."""
        return timing_offset_ms(self.format_version)

    def map_times(self, replay) -> np.ndarray:
        """``replay``'s frame times (as its .osr stores them) on this map's clock, int64."""
        return np.asarray(replay.t_ms, np.int64) + self.frame_offset_ms

    def file_times(self, t_ms) -> np.ndarray:
        """Frame times on this map's clock as an .osr stores them (see :attr:`frame_offset_ms`)."""
        return np.asarray(t_ms, np.int64) - self.frame_offset_ms

    @property
    def display_name(self) -> str:
        return f"{self.artist} - {self.title} [{self.version}]"

    @property
    def duration_ms(self) -> float:
        return float(self.end_ms.max()) if self.n_objects else 0.0

    def slider_path_of(self, obj: int) -> tuple[np.ndarray, np.ndarray]:
        """Polyline and cumulative distance of object ``obj`` (a slider)."""
        s = int(self.slider_index[obj])
        a, b = self.path_start[s], self.path_start[s + 1]
        return self.path_xy[a:b], self.path_dist[a:b]

    def slider_events_of(self, obj: int) -> slice:
        s = int(self.slider_index[obj])
        return slice(int(self.event_start[s]), int(self.event_start[s + 1]))

    def ball_position(self, obj: int, t_ms: float) -> tuple[float, float]:
        """Slider ball position at map time ``t_ms`` (clamped to the slider's span)."""
        s = int(self.slider_index[obj])
        poly, dist = self.slider_path_of(obj)
        d = path_distance_at(t_ms - float(self.start_ms[obj]), float(self.span_ms[s]), int(self.spans[s]), float(dist[-1]))
        return float(np.interp(d, dist, poly[:, 0])), float(np.interp(d, dist, poly[:, 1]))

    def mirrored(self) -> "Beatmap":
        """The map upside down (y -> 384 - y), difficulty unchanged: what HR does to the
        geometry.  Used to undo HR in training data and to augment it with mirrored maps."""
        path_xy = self.path_xy.copy()
        path_xy[:, 1] = PLAYFIELD_HEIGHT - path_xy[:, 1]
        flip = lambda a: _frozen(PLAYFIELD_HEIGHT - a)  # noqa: E731
        return replace(self, y=flip(self.y), end_y=flip(self.end_y), ev_y=flip(self.ev_y), path_xy=_frozen(path_xy))

    def with_mods(self, mods: int) -> "Beatmap":
        """The same map under other mods (recomputes difficulty, stacking and the HR flip)."""
        return load_beatmap(self.path, mods=mods)


# What lazer's decoder assumes for a value a .osu leaves out (BeatmapInfo.StackLeniency 0.7;
# IBeatmapDifficultyInfo DEFAULT_DIFFICULTY 5, SliderMultiplier 1, SliderTickRate 1; a missing
# ApproachRate takes the OverallDifficulty, which slider does itself).
DECODER_DEFAULTS = {
    "General": {"StackLeniency": "0.7"},
    "Difficulty": {"HPDrainRate": "5", "CircleSize": "5", "OverallDifficulty": "5", "SliderMultiplier": "1",
                   "SliderTickRate": "1"},
}


def _trunc(field: str) -> str:
    """A number as osu! keeps it where it reads an integer: truncated toward zero (lazer
    ConvertHitObjectParser ``(int)Parsing.ParseDouble``; osu!stream's ``(int)decimal.Parse``)."""
    try:
        return str(int(float(field)))
    except (ValueError, OverflowError):
        return field  # slider names the bad field


def _timing_time(line: str) -> float:
    try:
        return float(line.split(",", 1)[0])
    except ValueError:
        return math.inf


def _hit_object_line(line: str) -> str:
    """One [HitObjects] line in the form ``slider`` parses, read as osu!'s decoder reads it:
    decimal times and control points truncated, an unknown curve letter a Catmull curve,
    a perfect curve through three collinear points a straight one, and a slider length
    that is missing, zero or negative the curve's own (0 here: see :func:`slider_path`)."""
    f = line.split(",")
    if len(f) < 4:
        return line
    f[2] = _trunc(f[2])
    try:
        kind = int(float(f[3]))
    except ValueError:
        return line
    if kind & 2 and len(f) >= 7:
        letter, *points = f[5].split("|")
        points = [":".join(_trunc(c) for c in p.split(":")) for p in points]
        if letter not in ("B", "L", "C", "P"):
            letter = "C"  # lazer convertPathType: default -> CATMULL
        if letter == "P" and len(points) == 2:
            try:
                (x0, y0), (x1, y1), (x2, y2) = [(int(float(f[0])), int(float(f[1])))] + [
                    tuple(int(c) for c in p.split(":")) for p in points]
                if (y1 - y0) * (x2 - x0) - (x1 - x0) * (y2 - y0) == 0:
                    letter = "L"
            except ValueError:
                pass
        f[5] = "|".join([letter, *points])
        if len(f) == 7:
            f.append("0")
        else:
            try:
                f[7] = "0" if not float(f[7]) > 0 else f[7]
            except ValueError:
                pass
    elif kind & 8 and len(f) >= 6:
        f[5] = _trunc(f[5])
    return ",".join(f)


def decoder_text(text: str) -> str:
    """``text`` with its timing points and hit objects as osu!'s decoders read them, in
    the forms ``slider`` accepts.

    Timing points are looked up in time order, whatever the order of their lines
    (danser-go Timings.FinalizePoints sorts them, stably; lazer's ControlPointInfo keeps
    sorted lists), so their lines are sorted by time here, equal times in file order.
    Hit object lines: see :func:`_hit_object_line`.  A [General] or [Difficulty] value
    the file leaves out takes lazer's default (:data:`DECODER_DEFAULTS`; slider's own
    would be 0 for StackLeniency and 1.4 for SliderMultiplier, or a refusal).  Sections,
    comments and every other line are left as they are.
    """
    out: list[str] = []
    timing: list[str] = []
    section = ""
    header_at: dict[str, int] = {}
    seen: dict[str, set] = {name: set() for name in DECODER_DEFAULTS}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            out.extend(sorted(timing, key=_timing_time))
            timing = []
            section = stripped[1:-1]
            header_at.setdefault(section, len(out))
        elif section == "TimingPoints" and stripped and not stripped.startswith("//"):
            timing.append(line)
            continue
        elif section == "HitObjects" and stripped and not stripped.startswith("//"):
            line = _hit_object_line(stripped)
        elif section in seen and ":" in stripped:
            seen[section].add(stripped.partition(":")[0].strip())
        out.append(line)
    out.extend(sorted(timing, key=_timing_time))
    for name in sorted(DECODER_DEFAULTS, key=lambda k: -header_at.get(k, -1)):  # later sections first
        missing = [f"{key}: {value}" for key, value in DECODER_DEFAULTS[name].items() if key not in seen[name]]
        if missing and name in header_at:
            out[header_at[name] + 1:header_at[name] + 1] = missing
        elif missing:
            out.extend([f"[{name}]", *missing])
    return "\n".join(out) + "\n"


def _parse(path: Path, raw: bytes) -> slider.Beatmap:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BeatmapError(f"{path}: not a text .osu file") from None
    if not text.lstrip().startswith("osu file format"):
        raise BeatmapError(f"{path}: not an .osu file (missing 'osu file format' header)")
    problem = check_bounds(text)
    if problem:
        kind = "malformed beatmap" if "is not a number" in problem else "refused"
        raise BeatmapError(f"{path}: {kind}: {problem}")
    try:
        with np.errstate(all="ignore"):  # slider's own numpy warnings: errors are raised, not printed
            return slider.Beatmap.parse(decoder_text(text))
    except Exception as e:  # slider raises bare ValueError/KeyError with the bad line
        raise BeatmapError(f"{path}: malformed beatmap ({e})") from None


def _bad_number(field: str, limit: float) -> str | None:
    """Why ``field`` is not a number osu!'s Parsing.ParseDouble accepts within
    +-``limit`` (None: it is one)."""
    try:
        v = float(field)
    except ValueError:
        return "is not a number"
    if not math.isfinite(v):
        return "is not a finite number"
    return None if abs(v) <= limit else f"is beyond +-{limit:,}"


def check_bounds(text: str) -> str | None:
    """What makes ``text`` too big or out of osu!'s ranges to load (None: nothing), checked
    before the text reaches ``slider``, so that a hostile file costs one line instead of a
    hang, a MemoryError or an overflow deep inside the library.  The limits and their
    sources are in :mod:`osu_env.rules`."""
    section = ""
    n_objects = 0
    lo, hi = rules.DIFFICULTY_RANGE
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section == "Difficulty" and ":" in line:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key in ("HPDrainRate", "CircleSize", "OverallDifficulty", "ApproachRate", "SliderMultiplier", "SliderTickRate"):
                bad = _bad_number(value, rules.MAX_PARSE_VALUE)
                if bad:
                    return f"{key} {value!r} {bad}"
                if key not in ("SliderMultiplier", "SliderTickRate") and not lo <= float(value) <= hi:
                    return f"{key} {value!r} is outside osu!'s {lo:g}..{hi:g}"
        elif section == "TimingPoints":
            fields = line.split(",")
            for name, field in zip(("time", "beat length"), fields[:2] if len(fields) >= 2 else []):
                bad = _bad_number(field, rules.MAX_PARSE_VALUE)
                if bad:
                    return f"timing point {line[:60]!r}: its {name} {bad}"
        elif section == "HitObjects":
            n_objects += 1
            if n_objects > rules.MAX_HIT_OBJECTS:
                return f"more than {rules.MAX_HIT_OBJECTS:,} hit objects"
            problem = _check_hit_object(line.split(","))
            if problem:
                return f"hit object {n_objects} ({line[:60]!r}): {problem}"
    return None


def _check_hit_object(f: list[str]) -> str | None:
    if len(f) < 4:
        return None  # slider reports the malformed line itself
    for name, field, limit in (("x", f[0], rules.MAX_COORDINATE_VALUE), ("y", f[1], rules.MAX_COORDINATE_VALUE),
                               ("time", f[2], rules.MAX_PARSE_VALUE), ("type", f[3], rules.MAX_PARSE_VALUE)):
        bad = _bad_number(field, limit)
        if bad:
            return f"{name} {field!r} {bad}"
    kind = int(float(f[3]))
    if kind & 2 and len(f) >= 8:  # slider: x,y,time,type,sound,curve,slides,length
        points = f[5].split("|")[1:]
        if len(points) > rules.MAX_SLIDER_POINTS:
            return f"{len(points):,} control points, more than {rules.MAX_SLIDER_POINTS:,}"
        for p in points:
            xy = p.split(":")
            bad = next((b for b in (_bad_number(c, rules.MAX_COORDINATE_VALUE) for c in xy) if b), None) if len(xy) == 2 else None
            if bad:
                return f"control point {p!r} {bad}"
        bad = _bad_number(f[6], rules.MAX_PARSE_VALUE)
        if bad:
            return f"slides {f[6]!r} {bad}"
        slides = float(f[6])
        if slides != int(slides) or not 1 <= slides <= rules.MAX_SLIDER_REPEATS:
            return f"slides {f[6]!r}: a slider runs 1 to {rules.MAX_SLIDER_REPEATS:,} times"
        bad = _bad_number(f[7], rules.MAX_COORDINATE_VALUE)
        if bad:
            return f"length {f[7]!r} {bad}"
    elif kind & 8 and len(f) >= 6:
        bad = _bad_number(f[5], rules.MAX_PARSE_VALUE)
        if bad:
            return f"spinner end time {f[5]!r} {bad}"
    return None


def load_beatmap(path: str | Path, mods: int = 0) -> Beatmap:
    """Load a ``.osu`` file for osu!standard under ``mods`` (osu!'s bit field).

    Raises :class:`BeatmapError` naming the file for anything a player could hand us:
    a missing file, a non-.osu file, a malformed line, another game mode, no hit objects.
    """
    path = Path(path)
    raw = read_input(path, BeatmapError, rules.MAX_BEATMAP_BYTES)
    bm = _parse(path, raw)
    md5 = hashlib.md5(raw).hexdigest()
    mode = int(getattr(bm, "mode", 0))
    if mode != 0:
        names = {1: "osu!taiko", 2: "osu!catch", 3: "osu!mania"}
        raise BeatmapError(f"{path}: beatmap is for {names.get(mode, f'mode {mode}')}, not osu!standard")
    # In time order, equal times in file order: "Objects may be out of order *only* if a user
    # has manually edited an .osu file. Unfortunately there are ranked maps in this state"
    # (lazer LegacyBeatmapDecoder, a stable OrderBy; danser-go sort.SliceStable).
    objects = sorted(bm._hit_objects, key=lambda ob: ob.time)
    if not objects:
        raise BeatmapError(f"{path}: beatmap has no hit objects")
    return _build(bm, objects, str(path), md5, int(mods))


def _timing_table(points: list) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(file time ms, beat length ms, slider-velocity multiplier) arrays over the timing
    points, in time order (see :func:`decoder_text`); None without a positive beat length.
    An inherited point takes the beat length of the last uninherited one before it, or of
    the first one when it comes before them all (as lazer's TimingPointAt does); its
    velocity is 100 / -beat length, clamped to 0.1..10 (stable's float32 clamp of -beat
    length to 10..1000, danser-go TimingPoint.GetRatio)."""
    first = next((tp for tp in points if tp.parent is None and tp.ms_per_beat > 0), None)
    if first is None:
        return None
    times, beats, svs, beat = [], [], [], float(first.ms_per_beat)
    for tp in points:
        if tp.parent is None and tp.ms_per_beat > 0:
            beat, sv = float(tp.ms_per_beat), 1.0
        else:
            sv = float(np.clip(-100.0 / tp.ms_per_beat, 0.1, 10.0)) if tp.ms_per_beat < 0 else 1.0
        times.append(tp.offset.total_seconds() * 1000.0)
        beats.append(beat)
        svs.append(sv)
    return np.array(times), np.array(beats), np.array(svs)


def _beat_at(timing: tuple[np.ndarray, np.ndarray, np.ndarray], time) -> tuple[float, float]:
    """(ms per beat, slider-velocity multiplier) for a slider starting at file time
    ``time``: the last timing point at or before it (the first when it comes before them all)."""
    times, beats, svs = timing
    k = max(0, int(np.searchsorted(times, time.total_seconds() * 1000.0, side="right")) - 1)
    return float(beats[k]), float(svs[k])


def _build(bm: slider.Beatmap, objects: list, path: str, md5: str, mods: int) -> Beatmap:
    try:
        return _build_tables(bm, objects, path, md5, mods)
    except PathTooLong as e:
        raise BeatmapError(f"{path}: refused: {e}") from None


def _build_tables(bm: slider.Beatmap, objects: list, path: str, md5: str, mods: int) -> Beatmap:
    fmt = int(bm.format_version)
    cs, ar, od, hp = rules.apply_mods_to_difficulty(
        float(bm.circle_size), float(bm.approach_rate), float(bm.overall_difficulty), float(bm.hp_drain_rate), mods
    )
    radius = rules.circle_radius(cs)
    preempt = rules.preempt_ms(ar)
    w300, w100, w50 = rules.hit_windows(od)
    offset = timing_offset_ms(fmt)
    slider_multiplier = min(max(float(bm.slider_multiplier), rules.SLIDER_MULTIPLIER_RANGE[0]), rules.SLIDER_MULTIPLIER_RANGE[1])
    tick_rate = min(max(float(bm.slider_tick_rate), rules.SLIDER_TICK_RATE_RANGE[0]), rules.SLIDER_TICK_RATE_RANGE[1])
    n_events = n_points = 0
    timing = _timing_table(bm.timing_points)

    n = len(objects)
    kind = np.empty(n, np.int8)
    start = np.empty(n)
    end = np.empty(n)
    pos = np.empty((n, 2))
    new_combo = np.zeros(n, bool)
    slider_index = np.full(n, -1, np.int32)
    paths, lengths, spans, span_ms, events = [], [], [], [], []

    for i, ob in enumerate(objects):
        t0 = ob.time.total_seconds() * 1000.0 + offset
        start[i] = round(t0)
        pos[i] = (float(ob.position.x), float(ob.position.y))
        new_combo[i] = bool(ob.new_combo)
        if isinstance(ob, slider.beatmap.Slider):
            kind[i] = SLIDER
            slider_index[i] = len(paths)
            pts = np.array([(p.x, p.y) for p in ob.curve.points], dtype=np.float64)
            poly, dist = slider_path(_curve_kind(ob.curve), pts, max(float(ob.length), 0.0))
            n_points += len(poly)
            if n_points > rules.MAX_PATH_POINTS:
                raise PathTooLong(f"its slider paths flatten to more than {rules.MAX_PATH_POINTS:,} points")
            paths.append((poly, dist))
            repeat = max(int(ob.repeat), 1)
            if timing is None:
                raise BeatmapError(f"{path}: malformed beatmap: sliders but no timing point with a positive beat length")
            beat_ms, sv = _beat_at(timing, ob.time)
            px_per_beat = BASE_SCORING_DISTANCE * slider_multiplier * sv
            velocity = px_per_beat / beat_ms  # osu!px per ms, > 0: beat > 0, sv >= 0.1, multiplier >= 0.4
            span = float32_path_length(poly) / velocity
            lengths.append(float(dist[-1]))
            spans.append(repeat)
            span_ms.append(span)
            end[i] = start[i] + repeat * span
            tick_mult = 1.0 / sv if fmt < 8 else 1.0
            tick_distance = px_per_beat / tick_rate * tick_mult
            n_events += repeat * (1 + (float(dist[-1]) / tick_distance if tick_distance > 0 else 0.0))
            if n_events > rules.MAX_SCORE_EVENTS:
                raise BeatmapError(f"{path}: refused: its sliders imply more than {rules.MAX_SCORE_EVENTS:,} ticks and repeats")
            events.append(_slider_events(start[i], span, repeat, float(dist[-1]), velocity, tick_distance))
        elif isinstance(ob, slider.beatmap.Spinner):
            kind[i] = SPINNER
            # a spinner that ends before it starts lasts 0 ms (lazer: Math.Max(0, end - start))
            end[i] = max(start[i], round(ob.end_time.total_seconds() * 1000.0 + offset))
            pos[i] = rules.SPINNER_CENTRE
        else:
            kind[i] = CIRCLE
            end[i] = start[i]

    if not np.isfinite(end).all() or end.max() - start.min() > rules.MAX_MAP_DURATION_MS:
        raise BeatmapError(f"{path}: refused: its objects span more than {rules.MAX_MAP_DURATION_MS // 3_600_000} hours")
    # Where each object ends (for stacking): a slider ends at its head after an even span count.
    one_span_end = pos.copy()
    end_pos = pos.copy()
    for i in np.flatnonzero(kind == SLIDER):
        poly = paths[slider_index[i]][0]
        one_span_end[i] = poly[-1]
        if spans[slider_index[i]] % 2 == 1:
            end_pos[i] = poly[-1]
    threshold = preempt * float(bm.stack_leniency)
    if fmt >= 6:
        height = _stack_heights(kind, start, end, pos, end_pos, threshold)
    else:
        height = _stack_heights_old(kind, start, end, pos, one_span_end, threshold)

    # HR mirrors the playfield vertically; the stack offset stays up-left (lazer's order).
    flip = bool(mods & rules.Mods.HardRock)
    stack_offset = -height[:, None] * radius / 10.0

    def place(xy: np.ndarray, obj_height_offset: np.ndarray) -> np.ndarray:
        xy = xy.copy()
        if flip:
            xy[..., 1] = rules.PLAYFIELD_H - xy[..., 1]
        return xy + obj_height_offset

    spinner = kind == SPINNER
    stack_offset[spinner] = 0.0
    head = place(pos, stack_offset)
    head[spinner] = rules.SPINNER_CENTRE
    tail = place(end_pos, stack_offset)
    tail[spinner] = rules.SPINNER_CENTRE

    path_start = [0]
    path_xy, path_dist = [], []
    ev_start = [0]
    ev_time, ev_kind, ev_xy = [], [], []
    for i in np.flatnonzero(kind == SLIDER):
        s = slider_index[i]
        poly, dist = paths[s]
        poly = place(poly, stack_offset[i])
        path_xy.append(poly)
        path_dist.append(dist)
        path_start.append(path_start[-1] + len(poly))
        times, kinds, ds = events[s]
        ev_time.append(times)
        ev_kind.append(kinds)
        ev_xy.append(_point_at(poly, dist, ds))
        ev_start.append(ev_start[-1] + len(times))

    combo_number = np.zeros(n, np.int32)
    c = 0
    for i in range(n):
        c = 1 if (new_combo[i] or i == 0 or kind[i] == SPINNER or (i > 0 and kind[i - 1] == SPINNER)) else c + 1
        combo_number[i] = c

    cat = lambda parts, shape, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)  # noqa: E731
    ev_xy_all = cat(ev_xy, (0, 2), np.float64)
    return Beatmap(
        path=path,
        md5=md5,
        title=str(bm.title),
        artist=str(bm.artist),
        version=str(bm.version),
        creator=str(bm.creator),
        format_version=fmt,
        mods=mods,
        cs=cs,
        ar=ar,
        od=od,
        hp=hp,
        radius=radius,
        hit_window_300=w300,
        hit_window_100=w100,
        hit_window_50=w50,
        preempt_ms=preempt,
        fade_in_ms=rules.fade_in_ms(preempt),
        clock_rate=rules.clock_rate(mods),
        stack_leniency=float(bm.stack_leniency),
        kind=_frozen(kind),
        start_ms=_frozen(start),
        end_ms=_frozen(end),
        x=_frozen(head[:, 0]),
        y=_frozen(head[:, 1]),
        end_x=_frozen(tail[:, 0]),
        end_y=_frozen(tail[:, 1]),
        stack_height=_frozen(height),
        new_combo=_frozen(new_combo),
        combo_number=_frozen(combo_number),
        slider_index=_frozen(slider_index),
        path_start=_frozen(np.array(path_start, np.int64)),
        path_xy=_frozen(cat(path_xy, (0, 2), np.float64)),
        path_dist=_frozen(cat(path_dist, (0,), np.float64)),
        length_px=_frozen(np.array(lengths, np.float64)),
        spans=_frozen(np.array(spans, np.int32)),
        span_ms=_frozen(np.array(span_ms, np.float64)),
        event_start=_frozen(np.array(ev_start, np.int64)),
        ev_time=_frozen(cat(ev_time, (0,), np.int64)),
        ev_kind=_frozen(cat(ev_kind, (0,), np.int8)),
        ev_x=_frozen(ev_xy_all[:, 0]),
        ev_y=_frozen(ev_xy_all[:, 1]),
    )


def _span_ticks(length: float, velocity: float, tick_distance: float) -> tuple[list[float], list[float]]:
    """Where a forward and a reversed span's ticks are, as distances from the point each
    span starts at.

    Stable walks the track once, carrying the distance since the last tick across span
    ends (danser-go objects/slider.go SetTiming, its port of stable's scoring points): a
    tick within 10 ms of a span's end is dropped, and then "there was no 'last' scoring
    point at the end", so the carry starts again from zero.  A forward span's ticks are
    ``tick_distance`` apart from the head; a reversed span's mirror them (lazer's nested
    ticks, the same) unless the forward span dropped one, when they are counted from the
    tail instead.  The walk repeats every two spans, so one forward span decides it."""
    if not (tick_distance > 0 and length > 0):
        return [], []
    min_from_end = velocity * 10
    forward, d = [], tick_distance
    while d <= length and d < length - min_from_end:
        forward.append(d)
        d += tick_distance
    dropped = d <= length  # the walk reached a tick within 10 ms of the end
    return forward, (forward if dropped else [length - x for x in reversed(forward)])


def _slider_events(start: float, span_ms: float, spans: int, length: float, velocity: float, tick_distance: float):
    """Ticks, repeats and the legacy last tick of one slider, in time order.

    Follows osu.Game/Rulesets/Objects/SliderEventGenerator.cs: ticks every
    ``tick_distance`` along the path but none within 10 ms of a span end (on reversed
    spans see :func:`_span_ticks`); a repeat at every span end but the last; then the legacy last tick at
    ``max(start + duration/2, end - 36)`` which stable scores in place of the tail.
    Times are truncated to integer ms as stable's judge sees them.  Returns
    (times, kinds, path distances).
    """
    times, kinds, ds = [], [], []
    forward, backward = _span_ticks(length, velocity, tick_distance)
    for span in range(spans):
        span_start = start + span * span_ms
        reverse = span % 2 == 1
        for x in backward if reverse else forward:  # x: along the span, from where it starts
            times.append(int(span_start + x / length * span_ms))
            kinds.append(EVENT_TICK)
            ds.append(length - x if reverse else x)
        if span < spans - 1:
            times.append(int(span_start + span_ms))
            kinds.append(EVENT_REPEAT)
            ds.append(0.0 if reverse else length)
    duration = span_ms * spans
    end = start + duration
    times.append(max(int(start) + int(duration) // 2, int(end) - rules.SLIDER_TAIL_LENIENCY_MS))
    kinds.append(EVENT_TAIL)
    ds.append(path_distance_at(times[-1] - start, span_ms, spans, length))  # where the ball is then
    return np.array(times, np.int64), np.array(kinds, np.int8), np.array(ds, np.float64)


def _stack_heights(kind, start, end, pos, end_pos, threshold) -> np.ndarray:
    """Stack heights for format v6+ (R/Beatmaps/OsuBeatmapProcessor.cs applyStacking)."""
    n = len(kind)
    height = np.zeros(n, np.int32)
    close = lambda a, b: math.hypot(a[0] - b[0], a[1] - b[1]) < rules.STACK_DISTANCE_PX  # noqa: E731
    for i in range(n - 1, 0, -1):
        if height[i] != 0 or kind[i] == SPINNER:
            continue
        obj_i = i
        if kind[i] == CIRCLE:
            for m in range(i - 1, -1, -1):
                if kind[m] == SPINNER:
                    continue
                if int(start[obj_i]) - int(end[m]) > threshold:
                    break
                if kind[m] == SLIDER and close(end_pos[m], pos[obj_i]):
                    offset = height[obj_i] - height[m] + 1
                    for j in range(m + 1, i + 1):
                        if close(end_pos[m], pos[j]):
                            height[j] -= offset
                    break
                if close(pos[m], pos[obj_i]):
                    height[m] = height[obj_i] + 1
                    obj_i = m
        elif kind[i] == SLIDER:
            for m in range(i - 1, -1, -1):
                if kind[m] == SPINNER:
                    continue
                if start[obj_i] - start[m] > threshold:
                    break
                if close(end_pos[m], pos[obj_i]):
                    height[m] = height[obj_i] + 1
                    obj_i = m
    return height


def _stack_heights_old(kind, start, end, pos, one_span_end, threshold) -> np.ndarray:
    """Stack heights for format v5 and older (OsuBeatmapProcessor.applyStackingOld)."""
    n = len(kind)
    height = np.zeros(n, np.int32)
    close = lambda a, b: math.hypot(a[0] - b[0], a[1] - b[1]) < rules.STACK_DISTANCE_PX  # noqa: E731
    for i in range(n):
        if height[i] != 0 and kind[i] != SLIDER:
            continue
        start_time = end[i]
        slider_stack = 0
        for j in range(i + 1, n):
            if start[j] - threshold > start_time:
                break
            if close(pos[j], pos[i]):
                height[i] += 1
                start_time = end[j]
            elif kind[i] == SLIDER and close(pos[j], one_span_end[i]):
                slider_stack += 1
                height[j] -= slider_stack
                start_time = end[j]
    return height
