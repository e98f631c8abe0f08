"""Errors a player can act on: each message names the file and what is wrong with it."""


class OsuInputError(Exception):
    """Bad input (a map, a replay, an argument); the CLI prints it as one line."""


class BeatmapError(OsuInputError):
    """A ``.osu`` file that cannot be used: missing, malformed, wrong mode, empty."""


class ReplayError(OsuInputError):
    """A ``.osr`` file that cannot be used: missing, truncated, wrong mode, wrong map."""
