"""evaluate's summary: the counts and the mean hit error pooled over every map's presses."""
import numpy as np

from agents.baselines import Humanized
from agents.evaluate import evaluate, format_table
from agents.runner import play
from osu_env import DEMO_MAP
from osu_env.beatmap import load_beatmap


def test_the_mean_hit_error_is_every_press_of_every_map_pooled(tmp_path):
    """The demo map and its first six objects: the overall mean is the mean of all their
    hit errors together, not the mean of the two maps' means; the table shows it signed."""
    text = DEMO_MAP.read_text()
    head, objects = text.split("[HitObjects]")
    short = tmp_path / "short.osu"
    short.write_text(head + "[HitObjects]\n" + "\n".join(objects.strip().splitlines()[:6]) + "\n")
    maps = [load_beatmap(DEMO_MAP), load_beatmap(short)]
    scores, summary = evaluate(Humanized(), maps, seed=3, progress=False)
    errors = [play(Humanized(), bm, seed=3).result.hit_error_ms for bm in maps]
    errors = [e[~np.isnan(e)] for e in errors]
    assert len(errors[0]) != len(errors[1]) and errors[0].mean() != errors[1].mean()
    assert [s.hit_error_mean_ms for s in scores] == [float(e.mean()) for e in errors]
    assert summary["hit_error_mean_ms"] == float(np.concatenate(errors).mean())
    assert summary["n300"] + summary["n100"] + summary["n50"] + summary["nmiss"] == summary["objects"]
    assert f"{summary['hit_error_mean_ms']:+6.1f}" in format_table("humanized", scores, summary).splitlines()[-1]


def test_a_map_with_nothing_to_press_has_no_mean_hit_error(tmp_path):
    """A spinner alone: no press is timed, so the mean is None (JSON null), shown as '-'."""
    text = DEMO_MAP.read_text()
    head, objects = text.split("[HitObjects]")
    spinner = [line for line in objects.strip().splitlines() if int(line.split(",")[3]) & 8]
    only = tmp_path / "spinner.osu"
    only.write_text(head + "[HitObjects]\n" + spinner[0] + "\n")
    scores, summary = evaluate(Humanized(), [load_beatmap(only)], seed=0, progress=False)
    assert scores[0].hit_error_mean_ms is None and summary["hit_error_mean_ms"] is None
    assert format_table("humanized", scores, summary).splitlines()[-1].split()[-2] == "-"
