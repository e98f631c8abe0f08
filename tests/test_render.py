"""The pygame renderer, headless: real pixels where the map and the replay say."""
from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"  # headless window for render_mode="human"

import imageio.v2 as imageio
import numpy as np
import pytest

from agents.baselines import Autoplay
from osu_env.beatmap import CIRCLE, SPINNER, load_beatmap
from agents.cli import main
from osu_env import DEMO_MAP
from osu_env.env import OsuEnv, Play
from osu_env.errors import OsuInputError
from osu_env.render import BACKGROUND, CURSOR, Renderer, write_video


@pytest.fixture(scope="module")
def demo():
    return load_beatmap(DEMO_MAP)


def _close(pixel, colour, tol=12):
    return all(abs(int(p) - int(c)) <= tol for p, c in zip(pixel, colour))


def test_circle_is_drawn_at_its_position_in_its_combo_colour(demo):
    r = Renderer(demo, size=(640, 480))
    i = int(np.flatnonzero(demo.kind == CIRCLE)[0])
    t = float(demo.start_ms[i]) - 50  # fully faded in, not yet hit
    play = Play(demo)
    r.draw(t, play.judge, [(t, 500.0, 380.0, 0)], play.info)
    img = r.to_array()
    assert img.shape == (480, 640, 3) and img.dtype == np.uint8
    cx, cy = r.px(demo.x[i], demo.y[i])
    inside = img[cy, cx + int(r.r * 0.6)]  # inside the circle, clear of the combo number
    assert _close(inside, r.colour[i]), (inside, r.colour[i])
    far = img[cy, cx + int(r.r * 5)] if cx + int(r.r * 5) < 640 else img[cy, cx - int(r.r * 5)]
    assert not _close(far, r.colour[i])


def test_cursor_is_drawn_where_the_replay_says(demo):
    replay = Autoplay().replay(demo)
    play = Play(demo, frame_times_ms=replay.t_ms)
    f = int(np.searchsorted(replay.t_ms, demo.start_ms[2] - 200))
    for j in range(f + 1):
        play.advance(replay.x[j], replay.y[j], int(replay.keys[j]))
    r = Renderer(demo, size=(640, 480))
    r.draw_play(play)
    img = r.to_array()
    x, y = r.px(replay.x[f], replay.y[f])
    assert _close(img[y, x], CURSOR), img[y, x]
    assert _close(img[5, 320], img[5, 320])  # HUD progress bar row exists
    assert not _close(img[y, x], BACKGROUND)


def test_spinner_progress_and_hud_show_in_rgb_array_mode(demo):
    env = OsuEnv(demo, render_mode="rgb_array")
    env.reset()
    spinner = int(np.flatnonzero(demo.kind == SPINNER)[0])
    agent = Autoplay()
    times = agent.reset(demo)
    env.reset(options={"frame_times_ms": times})
    while env.play.t_ms < demo.start_ms[spinner] + 1500:
        env.step(agent.act(None, env.play.t_ms))
    frame = env.render()
    assert frame.shape == (480, 640, 3)
    r = env._renderer
    centre = r.px(256, 192)
    ring = int(170 * r.scale) + 6  # the progress arc just outside the spinner's rim
    top = frame[centre[1] - ring - 2 : centre[1] - ring + 3, centre[0] - 3 : centre[0] + 4]
    assert (top[..., 1] > 200).any(), "spinner progress arc missing"
    env.close()


def test_human_render_mode_opens_a_window_headless(demo):
    env = OsuEnv(demo, render_mode="human")
    env.reset()
    for _ in range(3):
        env.step(np.zeros(4))
    env.close()


def test_render_command_writes_a_frame_of_a_real_map_and_a_gif(shared_data, tmp_path, capsys):
    import csv

    with open(shared_data / "manifest.csv", newline="") as f:
        row = next(m for m in csv.DictReader(f) if m["category"] == "human" and int(m["n_objects"]) > 200)
    png = tmp_path / "frame.png"
    assert main(["render", "--map", str(shared_data / row["map_file"]), "--replay", str(shared_data / row["replay_file"]),
                 "--out", str(png), "--start", "30"]) == 0
    img = imageio.imread(png)
    assert img.shape == (480, 640, 3) and img.std() > 5  # something drawn, not a blank screen
    gif = tmp_path / "clip.gif"
    assert main(["render", "--map", str(shared_data / row["map_file"]), "--replay", str(shared_data / row["replay_file"]),
                 "--out", str(gif), "--start", "30", "--duration", "1", "--fps", "20", "--size", "320x240"]) == 0
    frames = imageio.mimread(gif)
    assert len(frames) == 21 and frames[0].shape[:2] == (240, 320)
    assert "wrote" in capsys.readouterr().out


def test_render_command_defaults_to_the_demo_played_by_autoplay(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["render", "--out", "demo.gif", "--duration", "0.5", "--fps", "10", "--size", "160x120"]) == 0
    assert "demo.gif: 6 frames of osu-imitation - Demo Tour [Every Object] played by autoplay" in capsys.readouterr().out
    assert imageio.mimread(tmp_path / "demo.gif")[0].shape[:2] == (120, 160)  # (the GIF writer merges equal frames)


def test_render_bad_input_is_one_clear_line(tmp_path, capsys):
    assert main(["render", "--agent", "nope", "--out", str(tmp_path / "x.gif")]) == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err
    assert main(["render", "--out", str(tmp_path / "x.avi"), "--duration", "0.1"]) == 2
    assert "can write .mp4 or .gif" in capsys.readouterr().err
    assert main(["render", "--map", str(tmp_path / "missing.osu")]) == 2
    assert "missing.osu: no such file" in capsys.readouterr().err
    with pytest.raises(OsuInputError):
        write_video(iter([]), tmp_path / "x.webm")
