"""osu!stable's gameplay formulas and constants, in one place.

Every number here comes from the game's own rules; the comment beside each names
where it was read (see ``../shared/RULES.md`` for the collected sources).  Game
("map") time is used throughout: hit windows, preempt and replay frame times all live
in song time, so DT/HT only change the clock rate, never the judgement windows.
"""
from __future__ import annotations

import math
from enum import IntFlag

import numpy as np


class Mods(IntFlag):
    """osu!'s mod bit field, as stored in ``.osr`` headers."""

    NoFail = 1
    Easy = 2
    TouchDevice = 4
    Hidden = 8
    HardRock = 16
    SuddenDeath = 32
    DoubleTime = 64
    Relax = 128
    HalfTime = 256
    Nightcore = 512  # always set together with DoubleTime
    Flashlight = 1024
    Autoplay = 2048
    SpunOut = 4096
    Autopilot = 8192
    Perfect = 16384


# Keys in replay frames (wiki osr file format; circlecore utils.Key).  Only the two
# "mouse" bits matter for judging: K1 is always written together with M1, K2 with M2.
M1, M2, K1, K2, SMOKE = 1, 2, 4, 8, 16
KEY_MASK = M1 | M2

PLAYFIELD_W, PLAYFIELD_H = 512, 384
SPINNER_CENTRE = (256.0, 192.0)
# A 16:9 screen in osu!px, where a replay's cursor lives: the playfield is 80% of the screen's
# height (lazer's OsuPlayfieldAdjustmentContainer, playfield_size_adjust, after stable) and sits
# 8 osu!px below its centre (the storyboard offset (64, 56) of a 640 x 480 screen; 48 + 8), so
# the screen is 853.3 x 480 osu!px from (-170.7, -56).  The 121 human plays in ../shared/data
# reach exactly those edges; 4 have frames past them (other screens, or a sentinel frame).
SCREEN_X_PX = (256.0 - 240.0 * 16 / 9, 256.0 + 240.0 * 16 / 9)
SCREEN_Y_PX = (192.0 - 8.0 - 240.0, 192.0 - 8.0 + 240.0)

HITTABLE_RANGE_MS = 400  # a press further than this from an object is ignored (R/Scoring/OsuHitWindows MISS_WINDOW)
NOTELOCK_2B_TOLERANCE_MS = 3  # danser ruleset.go Tolerance2B
STACK_DISTANCE_PX = 3  # R/Beatmaps/OsuBeatmapProcessor.cs
# A replay frame that repeats the previous frame's integer time records a key change that
# came later within that millisecond; the game judged the press at that later time, so an
# early press on the window edge (-w) still counts and a late one (w - 1) stays inside.
# Measured, not from a source: the two such presses at a window edge in ../shared/data
# (reimei -20 ms -> 300, 1hope_whitecat +19 ms -> 300, both OD 10) fit any offset in
# (0, 1) and no other; lazer stores exact frame times and is left alone.  Read again against
# the public record (2026-12-03): stable's source is not public; the osu! wiki
# (Gameplay/Judgement/osu!, from it) says a live hit error is taken from the audio clock and
# rounded, so a key change within a millisecond can be judged on a fractional time the .osr,
# storing whole ms, does not keep.  That allows the rule but does not fix the offset, and
# applying it to every key-change frame, not only repeated times, breaks 32 of 118 replays
# here, so it stays measured and limited to repeated times.
SAME_MS_PRESS_OFFSET_MS = 0.5
FOLLOW_RADIUS_FACTOR = 2.4  # R/Objects/Drawables/DrawableSliderBall.cs FOLLOW_AREA
SLIDER_TAIL_LENIENCY_MS = 36  # R/Objects/Slider.cs TAIL_LENIENCY (legacy last tick)
GAMEFIELD_ROUNDING_ALLOWANCE = 1.00041  # stable's "broken gamefield rounding allowance"
SPINNER_MAX_VELOCITY = 0.05  # rad/ms, ~477 RPM (R/Replays/OsuAutoGenerator.cs)
SPUN_OUT_VELOCITY = 0.03  # rad/ms, ~287 RPM (wiki Spun Out)
STABLE_FRAME_MS = 1000.0 / 60.0  # danser spinner.go FrameTime
# Replays from clients before these versions used older rules.
# Object ends scored only on replay frames, not every ms between them (danser
# rcontroller.go's "HACK for older replays").  danser dates the change 20190506 and says
# of it "*I think*"; the public record that names it (ppy/osu-stable-issues#554, 2020) says
# "sometime in 2019", and that the replays it changed are those where notelock acts.
# Measured: ../shared/data pins it after 20190906 and no later than 20200325 (technical.osr,
# a notelock-heavy 2019-09-06 play, matches only with per-ms ends; a 2020-03-25 play only
# with ends on frames; no other replay tells the two apart).  An upper bound from the public
# record, weaker: ppy/osu-stable-issues#195 reports on 2019-10-30 that the stable of that day
# plays a 2017 replay with slider breaks it did not have (a reply puts it down to "a change
# to notelock", not named), as this change would, so it is taken to be in by then.  The
# middle of what remains, (20190906, 20191030], is taken.
NEW_OBJECT_END_HANDLING_VERSION = 20191003
NEW_SPINNER_SCORING_VERSION = 20190510  # post-2019-05-10 spinner thresholds (danser rcontroller.go)
# osu!lazer writes versions from 30000000 up into the .osr it exports (osu.Game
# LegacyScoreEncoder.LATEST_VERSION); those plays were judged by lazer's rules.
LAZER_FIRST_VERSION = 30000000

# ---------------------------------------------------------------- rules by .osu format version
# Nothing in ../shared/data is older than v9, so these follow the public decoders (lazer's
# LegacyBeatmapDecoder, LegacyScoreDecoder, ConvertHitObjectParser), each with a unit test
# on a tiny map in tests/test_format_versions.py:
# - before v5: objects are played 24 ms later than the file says, and a replay's frames on
#   such a map move with them (beatmap.EARLY_VERSION_TIMING_OFFSET_MS, Beatmap.frame_offset_ms);
#   an .osr we write stores them 24 ms earlier again, as LegacyScoreEncoder does;
# - before v6: the old stacking algorithm (beatmap._stack_heights_old);
# - before v8: slider ticks are spaced by beats whatever the inherited slider velocity
#   (tick distance x 1 / velocity, lazer's legacy TickDistanceMultiplier);
# - any version: a missing ApproachRate takes the OverallDifficulty (slider does this as
#   lazer does).
# How the decoders read any version's lines (beatmap.decoder_text and _build_tables, tests in
# tests/test_decoder_rules.py; none of it occurs in ../shared/data):
# - hit objects in time order, equal times in file order (LegacyBeatmapDecoder OrderBy:
#   "there are ranked maps in this state"); timing points likewise (danser-go
#   Timings.FinalizePoints), an inherited point before every uninherited one taking the
#   first one's beat length (lazer TimingPointAt);
# - positions, control points and times truncated to integers (ConvertHitObjectParser
#   "(int)Parsing.ParseDouble"; osu!stream's "(int)decimal.Parse" for times);
# - a slider length that is missing, zero or negative: the curve's own length
#   (ConvertHitObjectParser "length == 0 -> null"); an unknown curve letter: Catmull
#   (convertPathType's default); a perfect curve through three collinear points: the
#   straight path through them ("osu-stable special-cased colinear perfect curves");
# - a spinner ending before it starts lasts 0 ms (Math.Max(0, end - start));
# - stacking's time threshold is the whole-ms approach time x StackLeniency, as danser-go
#   has it (floor(Preempt x leniency), both in float64).  lazer multiplies its unfloored
#   approach time by the float32 leniency, so at AR 9 and 0.7 it reads 419.99999 where
#   danser reads 420, and the two part on two objects exactly 420 ms apart.  No map in
#   ../shared/data has such a pair (every stack is the same either way), so the
#   judge-oriented port is followed;
# - values a map leaves out take lazer's defaults (beatmap.DECODER_DEFAULTS): StackLeniency
#   0.7, HP/CS/OD 5, SliderMultiplier 1, SliderTickRate 1 (slider alone would stack nothing,
#   refuse the map, or read 1.4);
# - slider velocity from the clamped SliderMultiplier (SLIDER_MULTIPLIER_RANGE) and the
#   inherited point's 100 / -beat length clamped to 0.1..10 (danser-go GetRatio);
# - ticks on a reversed span: the mirror of the forward span's, unless the forward span
#   dropped a tick within 10 ms of its end, when they are counted from the tail
#   (beatmap._span_ticks, danser-go's port of stable's scoring-point walk).  lazer always
#   mirrors ("positioned identically to those in non-repeat spans"); the two differ only
#   when a slider is a little longer than a whole number of tick spacings, which no slider
#   in ../shared/data is (its tick times are the same either way), so the judge-oriented
#   port is followed.

# ---------------------------------------------------------------- bounds on hostile input
# Limits on the work one file can make us do, far above any real file (the largest in
# ../shared/data is given beside each), so a broken or hostile file costs one line, not
# all the machine's memory or a hang.
MAX_FRAME_TEXT_BYTES = 64 * 2**20  # inflated .osr frame text; a 30 min play at 1,000 Hz is ~45 MB (largest real: 0.85 MB)
MAX_REPLAY_FRAMES = 2_000_000  # 30 min at 1,000 Hz is 1.8M (largest real: 38,508)
MAX_BEATMAP_BYTES = 32 * 2**20  # an .osu file (largest real: 0.15 MB)
MAX_HIT_OBJECTS = 100_000  # (largest real: 3,141)
MAX_SLIDER_POINTS = 10_000  # control points of one slider (largest real: 68)
MAX_SCORE_EVENTS = 2_000_000  # slider ticks and repeats of a map (largest real: 2,124)
MAX_PATH_POINTS = 10_000_000  # flattened slider path points of a map (largest real: 23,466)
MAX_MAP_DURATION_MS = 3 * 3_600_000  # first object to last end: what the env's clock steps through (largest real: 0.14 h)
MAX_REPLAY_BYTES = 64 * 2**20  # an .osr file (largest real: 0.17 MB)
# osu!'s own parse limits (osu.Game/Beatmaps/Formats/Parsing.cs, ConvertHitObjectParser.cs):
MAX_COORDINATE_VALUE = 131_072  # positions and slider lengths
MAX_PARSE_VALUE = 2_147_483_647  # any other number (int.MaxValue); NaN and infinity are refused
MAX_SLIDER_REPEATS = 9000  # "Repeat count is way too high"
# [Difficulty] values: HP, CS, OD and AR are 0..10 (osu!'s editor range; the game's
# difficulty formulas are defined on it), so values outside are refused; slider multiplier
# and tick rate are clamped as lazer's LegacyBeatmapDecoder clamps them.
DIFFICULTY_RANGE = (0.0, 10.0)
SLIDER_MULTIPLIER_RANGE = (0.4, 3.6)
SLIDER_TICK_RATE_RANGE = (0.5, 8.0)


def difficulty_range(value: float, lo: float, mid: float, hi: float) -> float:
    """osu!'s DR(v, min, mid, max) (osu.Game/Beatmaps/IBeatmapDifficultyInfo.cs)."""
    if value > 5:
        return mid + (hi - mid) * (value - 5) / 5
    if value < 5:
        return mid + (mid - lo) * (value - 5) / 5
    return mid


def apply_mods_to_difficulty(cs: float, ar: float, od: float, hp: float, mods: int) -> tuple[float, float, float, float]:
    """CS/AR/OD/HP after HR (x1.3 CS, x1.4 others, capped at 10) or EZ (x0.5), each held
    in float32 as osu! holds it.

    Sources: osu.Game/Rulesets/Mods/ModHardRock.cs (1.3f, 1.4f, 10.0f), ModEasy.cs (0.5).
    DT/HT do not touch these: the judge runs in map time.

    Why float32: osu! keeps these four values as 32-bit floats (lazer's BeatmapDifficulty
    fields are ``float``, HR multiplies them by ``1.4f``; danser-go's DifficultyRate starts
    with ``float64(float32(diff))`` to do the same; circlecore's 50 window takes the same
    round-trip), and every window, approach time and spinner requirement is computed from
    that float32 value.  It decides whole milliseconds: OD 8.3 is 8.30000019 in float32,
    so its 50 window is floor(116.99999...) = 116 ms, not the 117 that exact decimals
    give, and AR 8.4 is 8.39999962, so its approach time is floor(690.00005) = 690 ms,
    not 689.
    """
    f = np.float32
    cs, ar, od, hp = f(cs), f(ar), f(od), f(hp)
    if mods & Mods.HardRock:
        cap = f(10.0)
        cs, ar, od, hp = min(cs * f(1.3), cap), min(ar * f(1.4), cap), min(od * f(1.4), cap), min(hp * f(1.4), cap)
    elif mods & Mods.Easy:
        cs, ar, od, hp = cs * f(0.5), ar * f(0.5), od * f(0.5), hp * f(0.5)
    return float(cs), float(ar), float(od), float(hp)


def circle_radius(cs: float) -> float:
    """Hit circle radius in osu!px: DR(CS, 54.4, 32, 9.6) x 1.00041 (danser difficulty.go; A3)."""
    return difficulty_range(cs, 54.4, 32.0, 9.6) * GAMEFIELD_ROUNDING_ALLOWANCE


def hit_windows(od: float) -> tuple[int, int, int]:
    """Half-widths of the 300/100/50 windows in ms, floored: a hit counts when
    ``|error| < window`` on integer ms (R/Scoring/OsuHitWindows.cs; danser GetResultForDelta)."""
    return (
        int(math.floor(difficulty_range(od, 80, 50, 20))),
        int(math.floor(difficulty_range(od, 140, 100, 60))),
        int(math.floor(difficulty_range(od, 200, 150, 100))),
    )


def preempt_ms(ar: float) -> int:
    """Approach time: DR(AR, 1800, 1200, 450) floored to whole ms (danser-go difficulty.go
    ``Preempt = math.Floor(PreemptU)``; lazer's OsuHitObject keeps the fraction).  Pass the
    float32 AR of :func:`apply_mods_to_difficulty`."""
    return int(difficulty_range(ar, 1800, 1200, 450))


def fade_in_ms(preempt: float) -> float:
    """Fade-in duration: 400 x min(1, preempt / 450) (R/Objects/OsuHitObject.cs TimeFadeIn)."""
    return 400.0 * min(1.0, preempt / 450.0)


def clock_rate(mods: int) -> float:
    """Real-time speed of the song: 1.5 for DT/NC, 0.75 for HT (danser BaseModSpeed)."""
    if mods & (Mods.DoubleTime | Mods.Nightcore):
        return 1.5
    if mods & Mods.HalfTime:
        return 0.75
    return 1.0


def spinner_max_acceleration(duration_ms):
    """How fast a spinner's rotation speed may change, rad/ms per ms: shorter spinners
    than 5 s allow more (A10; danser spinner.go processStable).  Takes a float or an array."""
    return 0.00008 + np.maximum(0.0, (5000.0 - duration_ms) / 1000.0 / 2000.0)


def spinner_requirement(duration_ms: float, od: float) -> int:
    """Half-turns needed to clear a spinner: floor(seconds x DR(OD, 3, 5, 7.5)) (A10)."""
    return int(duration_ms / 1000.0 * difficulty_range(od, 3, 5, 7.5))


def spinner_thresholds(requirement: int, old_scoring: bool) -> tuple[int, int, int]:
    """Half-turn counts needed for 300/100/50 (danser spinner.go getRequirement*).

    Replays before 2019-05-10 used req+2 / req+1 / req; later ones req+1 / req-1 / req//4.
    """
    if old_scoring:
        return requirement + 2, requirement + 1, requirement
    return requirement + 1, requirement - 1, requirement // 4


def slider_result(hit_parts: int, total_parts: int) -> int:
    """Stable slider judgement from the fraction of parts (head, ticks, repeats, tail) hit (A9)."""
    if hit_parts == total_parts:
        return 300
    if hit_parts * 2 >= total_parts:
        return 100
    if hit_parts > 0:
        return 50
    return 0


def accuracy_percent(n300, n100, n50, nmiss):
    """osu!stable accuracy over whole objects, in percent (A12); 100 before any object.

    Takes counts or numpy arrays of counts (one accuracy per play)."""
    total = n300 + n100 + n50 + nmiss
    if np.ndim(total) == 0:
        return 100.0 if total == 0 else 100.0 * (300 * n300 + 100 * n100 + 50 * n50) / (300 * total)
    return np.where(total > 0, 100.0 * (300 * n300 + 100 * n100 + 50 * n50) / (300 * np.maximum(total, 1)), 100.0)


def unstable_rate(errors_ms: np.ndarray) -> float:
    """10 x population std of hit errors in map ms (circlecore; wiki Unstable_rate)."""
    errors_ms = np.asarray(errors_ms, dtype=np.float64)
    if errors_ms.size == 0:
        return 0.0
    return float(10.0 * errors_ms.std())


MOD_ACRONYMS = {
    "NF": Mods.NoFail, "EZ": Mods.Easy, "TD": Mods.TouchDevice, "HD": Mods.Hidden,
    "HR": Mods.HardRock, "SD": Mods.SuddenDeath, "DT": Mods.DoubleTime, "RX": Mods.Relax,
    "HT": Mods.HalfTime, "NC": Mods.Nightcore | Mods.DoubleTime, "FL": Mods.Flashlight,
    "SO": Mods.SpunOut, "AP": Mods.Autopilot, "PF": Mods.Perfect | Mods.SuddenDeath,
}


# Pairs osu! refuses to select together (osu! wiki, Game modifier: each mod's
# "incompatible with"; lazer's OsuMod*.IncompatibleMods).
INCOMPATIBLE_MODS = (("EZ", "HR"), ("DT", "HT"), ("NF", "SD"), ("RX", "AP"), ("SO", "AP"))


def parse_mods(text: str | int | None) -> int:
    """Mods from osu!'s acronyms ("HDHR", "hd,dt", "NM") or a bit field; ValueError names a bad one."""
    if text is None:
        return 0
    if isinstance(text, int):
        return int(text)
    s = text.upper().replace(",", "").replace("+", "").replace(" ", "")
    if s in ("", "NM", "NOMOD"):
        return 0
    if s.isdigit():
        return int(s)
    if len(s) % 2:
        raise ValueError(f"mods {text!r}: expected two-letter acronyms such as HDHR")
    mods = 0
    for i in range(0, len(s), 2):
        acronym = s[i : i + 2]
        if acronym not in MOD_ACRONYMS:
            raise ValueError(f"mods {text!r}: unknown mod {acronym!r} (known: {' '.join(MOD_ACRONYMS)})")
        mods |= MOD_ACRONYMS[acronym]
    for a, b in INCOMPATIBLE_MODS:
        if mods & MOD_ACRONYMS[a] and mods & MOD_ACRONYMS[b]:
            raise ValueError(f"mods {text!r}: osu! does not allow {a} with {b}")
    return int(mods)


def score_difficulty_multiplier(hp: float, od: float, cs: float, n_objects: int, drain_s: float) -> int:
    """ScoreV1 difficulty multiplier (A12; danser scorev1.go), without the float32 quirks."""
    density = min(max(n_objects / max(drain_s, 1.0) * 8.0, 0.0), 16.0)
    return int(round((hp + od + cs + density) / 38.0 * 5.0))


def score_mod_multiplier(mods: int) -> float:
    """ScoreV1 mod multiplier (wiki Score multiplier): EZ/NF 0.5, HT 0.3, HR/HD 1.06, DT/FL 1.12, SO 0.9."""
    m = 1.0
    for flag, f in ((Mods.Easy, 0.5), (Mods.NoFail, 0.5), (Mods.HalfTime, 0.3), (Mods.HardRock, 1.06),
                    (Mods.Hidden, 1.06), (Mods.DoubleTime, 1.12), (Mods.Flashlight, 1.12), (Mods.SpunOut, 0.9)):
        if mods & flag:
            m *= f
    return m


def hit_score(value: int, combo_before: int, difficulty_multiplier: int, mod_multiplier: float) -> int:
    """ScoreV1 for one judgement of ``value`` (300/100/50) at ``combo_before`` (A12)."""
    return int(value + value * max(combo_before - 1, 0) * difficulty_multiplier * mod_multiplier / 25.0)
