"""A player's osu! folder as data: maps indexed by md5, replays paired with their maps.

osu! names a replay's map only by the md5 of the ``.osu`` file, so pairing is: hash every
``.osu`` under the maps folder (recursively, as ``Songs/<set>/<diff>.osu``), read every
``.osr`` header, and match.  Files that cannot be used are skipped with the reason and
reported; one bad file never costs the others.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from . import rules
from .errors import OsuInputError
from .replay import Replay, load_replay
from .rules import Mods

NOT_HUMAN_MODS = Mods.Relax | Mods.Autopilot | Mods.Autoplay
# Folder names that say who played (``replays/<category>/...``), as in ../shared/data.
CATEGORIES = ("human", "auto", "autopilot", "relax", "stolen", "timewarp")


@dataclass(frozen=True)
class Pair:
    replay_path: Path
    map_path: Path
    replay: Replay


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def index_maps(folder: str | Path, progress: bool = True) -> dict[str, Path]:
    """md5 -> path of every ``.osu`` under ``folder`` (recursively)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OsuInputError(f"{folder}: no such folder of maps")
    index: dict[str, Path] = {}
    for path in tqdm(sorted(folder.rglob("*.osu")), desc="indexing maps", unit="map", disable=not progress):
        try:
            if path.stat().st_size > rules.MAX_BEATMAP_BYTES:
                continue  # too large to load (rules.MAX_BEATMAP_BYTES): never read it whole
            index.setdefault(hashlib.md5(path.read_bytes()).hexdigest(), path)
        except OSError:
            continue  # unreadable: no replay can be paired with it anyway
    return index


def category(replay_path: Path, replays_root: Path, mods: int) -> str:
    """Who played: the first folder under ``replays_root`` when it is one of
    :data:`CATEGORIES`, else what the mods say (Auto, Autopilot, Relax), else human."""
    parts = replay_path.relative_to(replays_root).parts[:-1]
    if parts and parts[0].lower() in CATEGORIES:
        return parts[0].lower()
    for mod, name in ((Mods.Autoplay, "auto"), (Mods.Autopilot, "autopilot"), (Mods.Relax, "relax")):
        if mods & mod:
            return name
    return "human"


def pair_replays(maps: str | Path, replays: str | Path, progress: bool = True,
                 assisted: bool = False) -> tuple[list[Pair], list[Skipped]]:
    """Pair every ``.osr`` under ``replays`` with its map under ``maps``.

    Skipped, with the reason: unreadable or truncated replays, other game modes,
    replays whose map is not in ``maps`` and, unless ``assisted``, plays where the
    game aimed or clicked (Relax, Autopilot, Auto).
    """
    replays = Path(replays)
    if not replays.is_dir():
        raise OsuInputError(f"{replays}: no such folder of replays")
    index = index_maps(maps, progress)
    pairs, skipped = [], []
    for path in tqdm(sorted(replays.rglob("*.osr")), desc="reading replays", unit="replay", disable=not progress):
        try:
            rp = load_replay(path)
        except OsuInputError as e:
            skipped.append(Skipped(path, str(e).removeprefix(f"{path}: ")))
            continue
        if rp.mods & NOT_HUMAN_MODS and not assisted:
            skipped.append(Skipped(path, f"played with {rp.mod_names}: the game aimed or pressed for the player"))
        elif rp.beatmap_md5 not in index:
            skipped.append(Skipped(path, f"no map with md5 {rp.beatmap_md5} under {maps}"))
        else:
            pairs.append(Pair(path, index[rp.beatmap_md5], rp))
    return pairs, skipped
