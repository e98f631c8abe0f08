"""osu!standard playfield: beatmaps, replays, osu!stable's judge, the gymnasium env.

Importing the package registers the env as ``osu_env/Osu-v0``.
"""
from gymnasium.envs.registration import register

register(id="osu_env/Osu-v0", entry_point="osu_env.env:OsuEnv")
