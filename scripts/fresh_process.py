"""Compile time of the numba kernels, measured for the benchmarks: a snippet run in fresh
Python processes that share one empty numba cache (``NUMBA_CACHE_DIR``), so the first
run compiles and the later ones load what it wrote."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def printed_seconds(snippet: str, args: tuple = (), runs: int = 1) -> list[float]:
    """What ``snippet`` prints (one float) in each of ``runs`` fresh processes."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-c", snippet, *map(str, args)]
        return [float(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout) for _ in range(runs)]
