"""osu!standard playfield: beatmaps, replays, osu!stable's judge, the gymnasium env.

Importing the package registers the env as ``osu_env/Osu-v0``.
"""
from pathlib import Path

from gymnasium.envs.registration import register

DEMO_MAP = Path(__file__).resolve().parent / "demo" / "tour.osu"  # the bundled demo map

register(id="osu_env/Osu-v0", entry_point="osu_env.env:OsuEnv")
