"""Errors a player can act on: each message names the file and what is wrong with it."""
from pathlib import Path


class OsuInputError(Exception):
    """Bad input (a map, a replay, an argument); the CLI prints it as one line."""


class BeatmapError(OsuInputError):
    """A ``.osu`` file that cannot be used: missing, malformed, wrong mode, empty."""


class ReplayError(OsuInputError):
    """A ``.osr`` file that cannot be used: missing, truncated, wrong mode, wrong map."""


class WrongBeatmapError(ReplayError):
    """A replay judged against a map whose md5 is not the one it was played on."""


def read_input(path: Path, error: type[OsuInputError], max_bytes: int | None = None) -> bytes:
    """The bytes of a file the user named, or ``error`` saying which file and why not
    (also when it is larger than ``max_bytes``, read no further than that)."""
    try:
        with open(path, "rb") as f:
            raw = f.read() if max_bytes is None else f.read(max_bytes + 1)
        if max_bytes is not None and len(raw) > max_bytes:
            raise error(f"{path}: refused: larger than {max_bytes // 2**20} MiB")
        return raw
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None


class AgentError(OsuInputError):
    """An agent that cannot be made: unknown name, missing or unreadable checkpoint."""


def first_line(e: BaseException) -> str:
    """An exception's message cut to its first line, for a one-line error about it."""
    return (str(e).strip().splitlines() or [""])[0]
