"""Time circleguard's judgments on (map, replay) pairs; run by bench_judge.py in circleguard's own venv.

circleguard pins osrparse 6 and this project needs 7, so it never shares our
environment: bench_judge.py runs this file with the python of a venv that holds only
circleguard, feeding it JSON [[map, replay], ...] on stdin.  It prints JSON: for each
pair the seconds of one ``judgments`` call (replay and map parsed outside the timing,
as bench_judge does for ours), or null where circleguard could not judge it.
"""
import json
import sys
import time

from circleguard import KeylessCircleguard, ReplayPath
from slider import Beatmap


def main() -> None:
    cg = KeylessCircleguard()
    out = []
    for map_path, replay_path in json.load(sys.stdin):
        try:
            replay = ReplayPath(replay_path)
            cg.load(replay)
            beatmap = Beatmap.from_path(map_path)
            t0 = time.perf_counter()
            cg.judgments(replay, beatmap)
            out.append(time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - a file circleguard cannot read is reported as null, not fatal
            out.append(None)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
