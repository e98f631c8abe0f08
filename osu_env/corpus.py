"""Judge a folder of real replays against the counts osu! recorded in them.

Used by ``scripts/judge_corpus.py`` (the report) and by the test that holds the judge to
osu!'s own verdicts on ``../shared/data``.  The data folder is found from the
``OSU_IMITATION_DATA`` environment variable, defaulting to ``../shared/data``.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from .beatmap import load_beatmap
from .errors import OsuInputError
from .judge import judge
from .replay import load_replay

COUNT_KEYS = ("n300", "n100", "n50", "nmiss")


def data_dir() -> Path:
    """Where the shared real data lives (``OSU_IMITATION_DATA`` or ``../shared/data``)."""
    return Path(os.environ.get("OSU_IMITATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@dataclass
class CorpusRow:
    replay: str
    category: str
    player: str
    mods: int
    game: tuple[int, int, int, int]
    ours: tuple[int, int, int, int] | None
    game_combo: int
    ours_combo: int | None
    error: str | None = None

    @property
    def exact(self) -> bool:
        return self.ours == self.game


def judge_manifest(root: Path | None = None, categories=("human",)) -> list[CorpusRow]:
    """Judge every replay of ``categories`` in ``root/manifest.csv`` that carries a verdict.

    Rows whose four recorded counts are all zero (osu! stored no verdict) are skipped.
    A replay we cannot judge is kept as a row with ``error`` set, never dropped.
    """
    root = Path(root or data_dir())
    rows = []
    with open(root / "manifest.csv", newline="") as f:
        for m in csv.DictReader(f):
            if m["category"] not in categories:
                continue
            game = tuple(int(m[k]) for k in COUNT_KEYS)
            if sum(game) == 0:
                continue
            row = CorpusRow(m["replay_file"], m["category"], m["player"], int(m["mods"]), game, None, int(m["max_combo"]), None)
            try:
                rp = load_replay(root / m["replay_file"])
                bm = load_beatmap(root / m["map_file"], mods=rp.mods)
                res = judge(bm, rp)
                row.ours, row.ours_combo = res.counts, res.max_combo
            except OsuInputError as e:
                row.error = str(e)
            rows.append(row)
    return rows


def summarize(rows: list[CorpusRow]) -> dict:
    """Exact-match rate and per-class count error (sum |ours - game| / sum game)."""
    judged = [r for r in rows if r.ours is not None]
    total_game = sum(sum(r.game) for r in judged)
    per_class = [sum(abs(r.ours[k] - r.game[k]) for r in judged) for k in range(4)]
    return {
        "replays": len(rows),
        "judged": len(judged),
        "exact": sum(r.exact for r in judged),
        "max_combo_exact": sum(r.ours_combo == r.game_combo for r in judged),
        "exact_rate": sum(r.exact for r in judged) / len(rows) if rows else 0.0,
        "per_class_abs_error": dict(zip(COUNT_KEYS, per_class)),
        "per_class_error_rate": sum(per_class) / total_game if total_game else 0.0,
        "objects": total_game,
    }
