"""Draw a play the way osu! shows it, with pygame: a window, or frames for GIF/MP4.

Everything drawn comes from a :class:`~osu_env.env.Play` (the map, the judge's state and
the recorded frames), so a human ``.osr`` and an agent's play are drawn by the same code:
:func:`replay_frames` steps a replay through a ``Play`` and draws it at the video's rate.

Hot path notes: slider bodies are drawn once per slider onto their own surface and
blitted; text (combo numbers, bursts, HUD digits) is rendered once per string and cached.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import rules
from .beatmap import CIRCLE, SLIDER, SPINNER, Beatmap
from .errors import OsuInputError
from .replay import Replay

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

BACKGROUND = (18, 18, 26)
PLAYFIELD_EDGE = (40, 40, 56)
COMBO_COLOURS = ((255, 102, 170), (102, 204, 255), (255, 204, 85), (136, 238, 136))
WHITE = (255, 255, 255)
CURSOR = (255, 220, 80)
BURST_COLOURS = {300: (102, 204, 255), 100: (136, 238, 136), 50: (255, 204, 85), 0: (255, 60, 60)}
BURST_MS = 400
FADE_OUT_MS = 150
TRAIL_FRAMES = 12
SPINNER_RADIUS_PX = 170  # osu!px, the spinner's drawn size at full


class Renderer:
    """Draws one beatmap's play at a given size; ``window=True`` opens a pygame window."""

    def __init__(self, beatmap: Beatmap, size: tuple[int, int] = (640, 480), window: bool = False):
        import pygame

        self.pg = pygame
        pygame.font.init()
        self.size = (int(size[0]), int(size[1]))
        self.window = window
        if window:
            pygame.display.init()
            self.screen = pygame.display.set_mode(self.size)
            pygame.display.set_caption("osu-imitation")
            self.clock = pygame.time.Clock()
        else:
            self.screen = pygame.Surface(self.size)
        w, h = self.size
        # osu!'s playfield: 512x384 osu!px scaled to 80% of the window height, centred
        self.scale = min(w / 640.0, h / 480.0)
        self.ox = (w - 512 * self.scale) / 2
        self.oy = (h - 384 * self.scale) / 2 + 8 * self.scale
        self.font = pygame.font.Font(None, max(12, int(30 * self.scale)))
        self.small = pygame.font.Font(None, max(10, int(22 * self.scale)))
        self._text: dict = {}
        self.reset(beatmap)

    def reset(self, beatmap: Beatmap) -> None:
        self.bm = beatmap
        self.r = beatmap.radius * self.scale
        self._bodies: dict[int, tuple] = {}
        self.end_cummax = np.maximum.accumulate(beatmap.end_ms)  # sorted, for the visible range
        self.hidden = bool(beatmap.mods & rules.Mods.Hidden)
        self.colour = [COMBO_COLOURS[c % len(COMBO_COLOURS)] for c in np.cumsum(beatmap.new_combo.astype(int)) - 1]

    # ---------------------------------------------------------------- helpers
    def px(self, x: float, y: float) -> tuple[int, int]:
        """Screen pixel of an osu!px position."""
        return int(round(self.ox + x * self.scale)), int(round(self.oy + y * self.scale))

    def text(self, s: str, colour=WHITE, small: bool = False):
        key = (s, colour, small)
        surf = self._text.get(key)
        if surf is None:
            surf = (self.small if small else self.font).render(s, True, colour)
            if len(self._text) > 4096:
                self._text.clear()
            self._text[key] = surf
        return surf

    def _blit_centred(self, surf, centre) -> None:
        self.screen.blit(surf, (centre[0] - surf.get_width() // 2, centre[1] - surf.get_height() // 2))

    def _body(self, i: int):
        """Pre-drawn slider body surface and its top-left corner (drawn once per slider)."""
        got = self._bodies.get(i)
        if got is not None:
            return got
        pg = self.pg
        poly, dist = self.bm.slider_path_of(i)
        pts = np.array([self.px(x, y) for x, y in poly], float)
        # resample evenly so the body is smooth without drawing thousands of discs
        step = max(self.r / 4, 1.0)
        d = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
        ds = np.arange(0, d[-1] + step, step) if d[-1] > 0 else np.zeros(1)
        xs, ys = np.interp(ds, d, pts[:, 0]), np.interp(ds, d, pts[:, 1])
        r = int(self.r)
        lo = (int(xs.min()) - r - 2, int(ys.min()) - r - 2)
        surf = pg.Surface((int(xs.max()) - lo[0] + r + 3, int(ys.max()) - lo[1] + r + 3), pg.SRCALPHA)
        colour = self.colour[i]
        for x, y in zip(xs, ys):
            pg.draw.circle(surf, WHITE, (int(x) - lo[0], int(y) - lo[1]), r)
        inner = (colour[0] // 3, colour[1] // 3, colour[2] // 3)
        for x, y in zip(xs, ys):
            pg.draw.circle(surf, inner, (int(x) - lo[0], int(y) - lo[1]), max(r - max(2, r // 8), 1))
        if len(self._bodies) > 64:
            self._bodies.clear()
        self._bodies[i] = (surf, lo)
        return surf, lo

    # ---------------------------------------------------------------- drawing
    def draw_play(self, play) -> None:
        """Draw ``play`` (a :class:`~osu_env.env.Play`) at its last frame."""
        if play.frames:
            t = play.frames[-1][0]
            trail = play.frames[-TRAIL_FRAMES:]
        else:
            t = play.t_ms
            trail = [(t, play.x, play.y, 0)]
        self.draw(t, play.judge, trail, play.info)

    def draw(self, t: float, judge, trail: list, info: dict) -> None:
        pg = self.pg
        s = self.screen
        bm = self.bm
        s.fill(BACKGROUND)
        a, b = self.px(0, 0), self.px(512, 384)
        pg.draw.rect(s, PLAYFIELD_EDGE, (a[0], a[1], b[0] - a[0], b[1] - a[1]), 1)

        start, end = bm.start_ms, bm.end_ms
        lo = int(np.searchsorted(self.end_cummax, t - BURST_MS - FADE_OUT_MS, "left"))
        hi = int(np.searchsorted(start, t + bm.preempt_ms, "right"))
        bursts = []
        for i in range(hi - 1, lo - 1, -1):  # later objects underneath
            if start[i] - bm.preempt_ms > t:
                continue
            done = judge.done[i]
            if done:
                if t - judge.judged_at[i] < BURST_MS:
                    bursts.append(i)
                if t - judge.judged_at[i] > FADE_OUT_MS:
                    continue
            k = bm.kind[i]
            if k == CIRCLE:
                if not done:
                    self._circle(i, t)
            elif k == SLIDER:
                if t <= end[i] + FADE_OUT_MS and not (done and judge.result[i] >= 0 and t > end[i]):
                    self._slider(i, t, judge)
            elif k == SPINNER and start[i] - 300 <= t <= end[i]:
                self._spinner(i, t, judge)
        for i in bursts:
            v = judge.result[i]
            label = "X" if v == 0 else str(v)
            pos = self.px(bm.end_x[i], bm.end_y[i]) if bm.kind[i] != SPINNER else self.px(*rules.SPINNER_CENTRE)
            self._blit_centred(self.text(label, BURST_COLOURS.get(v, WHITE)), pos)
        self._cursor(trail)
        self._hud(t, info)

    def _fade(self, colour, i: int, t: float):
        """Colour faded in over osu!'s fade-in time (blended toward the background)."""
        bm = self.bm
        a = min(1.0, max(0.0, (t - (bm.start_ms[i] - bm.preempt_ms)) / max(bm.fade_in_ms, 1.0)))
        if self.hidden:  # HD: fade out over the last 70% of the approach (R/Mods/OsuModHidden)
            out_start = bm.start_ms[i] - bm.preempt_ms * 0.7
            a = min(a, max(0.0, 1 - (t - out_start) / (bm.preempt_ms * 0.7))) if t > out_start else a
        return tuple(int(BACKGROUND[c] + (colour[c] - BACKGROUND[c]) * a) for c in range(3))

    def _hit_circle(self, i: int, t: float, pos) -> None:
        pg = self.pg
        r = int(self.r)
        pg.draw.circle(self.screen, self._fade(self.colour[i], i, t), pos, r)
        pg.draw.circle(self.screen, self._fade(WHITE, i, t), pos, r, max(2, r // 8))
        self._blit_centred(self.text(str(int(self.bm.combo_number[i])), self._fade(WHITE, i, t)), pos)
        if t < self.bm.start_ms[i] and not self.hidden:
            ar = r * (1 + 3 * (self.bm.start_ms[i] - t) / self.bm.preempt_ms)
            pg.draw.circle(self.screen, self._fade(self.colour[i], i, t), pos, int(ar), max(2, r // 10))

    def _circle(self, i: int, t: float) -> None:
        self._hit_circle(i, t, self.px(self.bm.x[i], self.bm.y[i]))

    def _slider(self, i: int, t: float, judge) -> None:
        pg = self.pg
        bm = self.bm
        surf, lo = self._body(i)
        self.screen.blit(surf, lo)
        sidx = int(bm.slider_index[i])
        spans, span_ms = int(bm.spans[sidx]), float(bm.span_ms[sidx])
        poly, _ = bm.slider_path_of(i)
        if spans > 1:  # reverse arrows where the ball will still turn
            elapsed = max(0.0, t - bm.start_ms[i])
            done_spans = int(elapsed // span_ms) if span_ms > 0 else spans
            for span in range(done_spans, spans - 1):
                at_end = span % 2 == 0
                p, q = (poly[-1], poly[-2]) if at_end else (poly[0], poly[1])
                self._arrow(p, q)
        state = judge.sl[i]
        if not state.start_hit:
            self._hit_circle(i, t, self.px(bm.x[i], bm.y[i]))
        if bm.start_ms[i] <= t <= bm.end_ms[i]:
            ball = self.px(*bm.ball_position(i, t))
            pg.draw.circle(self.screen, WHITE, ball, int(self.r * 0.8), 2)
            if state.sliding:
                pg.draw.circle(self.screen, (255, 180, 60), ball, int(self.r * rules.FOLLOW_RADIUS_FACTOR), 2)

    def _arrow(self, p, q) -> None:
        v = np.asarray(q, float) - np.asarray(p, float)
        n = np.hypot(*v)
        if n == 0:
            return
        v = v / n * self.bm.radius * 0.5
        tip, base = np.asarray(p) + v, np.asarray(p) - v
        side = np.array([-v[1], v[0]]) * 0.8
        pts = [self.px(*tip), self.px(*(base + side)), self.px(*(base - side))]
        self.pg.draw.polygon(self.screen, WHITE, pts)

    def _spinner(self, i: int, t: float, judge) -> None:
        pg = self.pg
        bm = self.bm
        centre = self.px(*rules.SPINNER_CENTRE)
        frac_left = min(1.0, max(0.0, (bm.end_ms[i] - t) / max(bm.end_ms[i] - bm.start_ms[i], 1.0)))
        r = int(SPINNER_RADIUS_PX * self.scale * max(frac_left, 0.05))
        pg.draw.circle(self.screen, (200, 200, 220), centre, int(SPINNER_RADIUS_PX * self.scale), 2)
        pg.draw.circle(self.screen, (120, 160, 255), centre, max(r, 2), 3)
        state = judge.sp[i]
        need = max(state.requirement, 1)
        progress = min(1.0, state.scoring_count / need)
        if progress > 0:
            box = pg.Rect(0, 0, 2 * int(SPINNER_RADIUS_PX * self.scale) + 12, 2 * int(SPINNER_RADIUS_PX * self.scale) + 12)
            box.center = centre
            pg.draw.arc(self.screen, (102, 238, 136), box, np.pi / 2, np.pi / 2 + 2 * np.pi * progress, 5)
        rpm = abs(state.velocity) * 60000 / (2 * np.pi)
        self._blit_centred(self.text(f"{rpm:4.0f} rpm", small=True), (centre[0], centre[1] + int(SPINNER_RADIUS_PX * self.scale) + 18))

    def _cursor(self, trail: list) -> None:
        pg = self.pg
        n = len(trail)
        for j, (_, x, y, _) in enumerate(trail):
            f = (j + 1) / n
            colour = tuple(int(BACKGROUND[c] + (CURSOR[c] - BACKGROUND[c]) * f * 0.6) for c in range(3))
            pg.draw.circle(self.screen, colour, self.px(x, y), max(2, int(4 * self.scale * f)))
        _, x, y, keys = trail[-1]
        pg.draw.circle(self.screen, CURSOR, self.px(x, y), max(3, int(7 * self.scale)))
        w, h = self.size
        for k, bit in enumerate((rules.M1, rules.M2)):
            box = pg.Rect(w - int(34 * self.scale), h // 2 - int(30 * self.scale) + k * int(34 * self.scale), int(28 * self.scale), int(28 * self.scale))
            pg.draw.rect(self.screen, CURSOR if keys & bit else PLAYFIELD_EDGE, box, 0 if keys & bit else 2)

    def _hud(self, t: float, info: dict) -> None:
        pg = self.pg
        w, h = self.size
        bm = self.bm
        if bm.n_objects:
            first, last = float(bm.start_ms[0]), float(bm.end_ms.max())
            p = min(1.0, max(0.0, (t - first) / max(last - first, 1.0)))
            pg.draw.rect(self.screen, PLAYFIELD_EDGE, (0, 0, w, max(3, int(5 * self.scale))))
            pg.draw.rect(self.screen, (102, 204, 255), (0, 0, int(w * p), max(3, int(5 * self.scale))))
        score = self.text(f"{info.get('score', 0):08d}")
        self.screen.blit(score, (w - score.get_width() - 8, int(8 * self.scale)))
        acc = self.text(f"{info.get('accuracy', 100.0):6.2f}%", small=True)
        self.screen.blit(acc, (w - acc.get_width() - 8, int(8 * self.scale) + score.get_height()))
        combo = self.text(f"{info.get('combo', 0)}x")
        self.screen.blit(combo, (8, h - combo.get_height() - 6))

    # ---------------------------------------------------------------- output
    def to_array(self) -> np.ndarray:
        """The frame as an ``(H, W, 3)`` uint8 array."""
        w, h = self.size
        # tobytes writes rows in order, so no transpose copy (surfarray's is ~5x slower)
        return np.frombuffer(self.pg.image.tobytes(self.screen, "RGB"), np.uint8).reshape(h, w, 3)

    def present(self, fps: int) -> None:
        self.pg.event.pump()
        self.pg.display.flip()
        self.clock.tick(fps)

    def close(self) -> None:
        if self.window:
            self.pg.display.quit()


def replay_frames(beatmap: Beatmap, replay: Replay, *, fps: float = 60.0, size=(640, 480),
                  start_ms: float | None = None, duration_ms: float | None = None, renderer: Renderer | None = None):
    """Yield ``(H, W, 3)`` frames of ``replay`` on ``beatmap`` at ``fps`` video frames per
    second of real time (DT plays faster, HT slower), judged as it goes.

    ``start_ms``/``duration_ms`` (map time) pick a section; by default the whole play.
    """
    from .env import Play

    if replay.n_frames == 0:
        raise OsuInputError(f"{replay.path or 'replay'}: has no frames to draw")
    times = beatmap.map_times(replay)
    clock = video_clock(beatmap, replay, fps, start_ms, duration_ms)
    play = Play(beatmap, frame_times_ms=times, game_version=replay.game_version or 10**8)
    renderer = renderer or Renderer(beatmap, size=size)
    xs, ys, ks = replay.x.tolist(), replay.y.tolist(), replay.keys.tolist()
    for t in clock:
        while not play.done and play.t_ms <= t:
            f = play.i
            play.advance(xs[f], ys[f], ks[f])
        info = play.info
        trail = play.frames[-TRAIL_FRAMES:] or [(t, xs[0], ys[0], 0)]
        renderer.draw(t, play.judge, trail, info)
        yield renderer.to_array()


GIF_MIN_DELAY_CS = 2  # browsers play a delay under 2 cs as 10 cs; GIF delays are whole cs


def gif_delay_cs(fps: float) -> int:
    """The GIF frame delay nearest ``1 / fps``: whole centiseconds, at least
    :data:`GIF_MIN_DELAY_CS`."""
    return max(GIF_MIN_DELAY_CS, round(100.0 / fps))


def gif_fps(fps: float) -> float:
    """The frame rate nearest ``fps`` that a GIF can hold (so 60 fps becomes 50)."""
    return 100.0 / gif_delay_cs(fps)


def video_clock(beatmap: Beatmap, replay: Replay, fps: float, start_ms: float | None = None,
                duration_ms: float | None = None) -> np.ndarray:
    """The map times :func:`replay_frames` draws: ``fps`` frames per second of real time
    over the section asked for (by default the whole play); its length is the frame count."""
    times = beatmap.map_times(replay)
    t0 = float(times[0]) if start_ms is None else float(start_ms)
    t1 = float(times[-1]) if duration_ms is None else min(float(times[-1]), t0 + float(duration_ms))
    if t0 > t1:
        raise OsuInputError(f"{replay.path or 'replay'}: the play ends at {times[-1] / 1000:.1f} s, before the start asked for ({t0 / 1000:.1f} s)")
    dt = 1000.0 / fps * beatmap.clock_rate
    return np.arange(t0, t1 + dt / 2, dt)


def write_video(frames, out: str | Path, fps: float = 60.0) -> int:
    """Write frames to ``.mp4`` (ffmpeg via imageio) or ``.gif``; returns the frame count.
    A GIF is written with a delay of ``100 / fps`` whole centiseconds: pass a rate from
    :func:`gif_fps`, or the clip plays at another speed than asked."""
    import imageio.v2 as imageio

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise OsuInputError(f"{out}: can write .mp4 or .gif, not {suffix or 'a file without extension'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if suffix == ".gif":
        with imageio.get_writer(out, mode="I", duration=10.0 * gif_delay_cs(fps), loop=0) as w:
            for frame in frames:
                w.append_data(frame)
                n += 1
    else:
        with imageio.get_writer(out, fps=fps, codec="libx264", quality=7, macro_block_size=16, ffmpeg_log_level="error") as w:
            for frame in frames:
                w.append_data(frame)
                n += 1
    return n
