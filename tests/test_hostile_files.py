"""Hostile and broken files: bounded parsing, the decompression-bomb guard, and a seeded
mutation fuzzer over real files whose every case must end in valid JSON or one line."""
from __future__ import annotations

import functools
import json
import lzma
import os
import random
import resource
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.dataset import build_from_folders
from osu_env.beatmap import load_beatmap
from osu_env.errors import BeatmapError, ReplayError
from osu_env.replay import load_replay

REPO = Path(__file__).resolve().parents[1]
CASE_TIMEOUT_S = 60
CASE_MEMORY_BYTES = 3 * 2**30


def _skip_string(raw: bytes, off: int) -> int:
    """The offset after an .osr string at ``off``: 0x0b, a ULEB128 length, the bytes (or 0x00)."""
    if raw[off] != 0x0B:
        return off + 1
    off += 1
    n, shift = 0, 0
    while True:
        b = raw[off]
        off += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return off + n


def _frame_stream_span(raw: bytes) -> tuple[int, int]:
    """(offset of the frame stream's length field, stream length) in an .osr."""
    off = 1 + 4
    for _ in range(3):  # beatmap md5, player, replay md5
        off = _skip_string(raw, off)
    off += 6 * 2 + 4 + 2 + 1 + 4  # counts, score, combo, perfect, mods
    off = _skip_string(raw, off) + 8  # life bar graph, timestamp
    return off, struct.unpack("<i", raw[off:off + 4])[0]


@functools.lru_cache(maxsize=None)
def _bomb_stream(inflated_bytes: int) -> bytes:
    comp = lzma.LZMACompressor(format=lzma.FORMAT_ALONE, preset=1)  # fast; ~150 KB for 1 GiB either way
    chunk = b"16|100|100|0," * 80_000
    return b"".join(comp.compress(chunk) for _ in range(inflated_bytes // len(chunk))) + comp.flush()


def make_bomb(real_osr: bytes, inflated_bytes: int = 2**30) -> bytes:
    """A real replay whose frame stream is replaced by one that inflates to ~1 GiB."""
    off, n = _frame_stream_span(real_osr)
    data = _bomb_stream(inflated_bytes)
    return real_osr[:off] + struct.pack("<i", len(data)) + data + real_osr[off + 4 + n:]


def _map_with_slider(text: str, slides: int, length: float) -> str:
    head, _, objects = text.partition("[HitObjects]")
    line = f"256,192,{1000},2,0,B|300:200|400:100,{slides},{length}"
    return head + "[HitObjects]\r\n" + line + "\r\n" + objects.lstrip("\r\n")


def test_the_bomb_is_refused_at_once(shared_data, tmp_path):
    real = sorted((shared_data / "replays" / "human").glob("*.osr"))[0]
    bomb = tmp_path / "bomb.osr"
    bomb.write_bytes(make_bomb(real.read_bytes()))
    assert bomb.stat().st_size < 400_000
    t0 = time.perf_counter()
    with pytest.raises(ReplayError, match="bomb.osr: refused: its frame stream inflates past 64 MiB"):
        load_replay(bomb)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("edit, message", [
    (lambda t: _map_with_slider(t, 65536, 1e9), "slides '65536': a slider runs 1 to 9,000 times"),
    (lambda t: _map_with_slider(t, 0, 100), "slides '0'"),
    (lambda t: _map_with_slider(t, 2, float("nan")), "length 'nan' is not a finite number"),
    (lambda t: t.replace("CircleSize:", "CircleSize:1000", 1).replace("CircleSize:1000", "CircleSize:1000\r\n//", 1),
     "CircleSize '1000.*' is outside osu!'s 0..10"),
    (lambda t: t.replace("[HitObjects]\r\n", "[HitObjects]\r\n" + "9" * 40 + ",1,1000,1,0\r\n", 1), "x '9999.*beyond"),
    (lambda t: t.replace("[HitObjects]\r\n", "[HitObjects]\r\n256,192,1e400,1,0\r\n", 1), "time '1e400' is not a finite"),
])
def test_out_of_range_maps_are_refused_with_the_reason(tmp_path, edit, message):
    from osu_env import DEMO_MAP

    text = DEMO_MAP.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace("\n", "\r\n")
    path = tmp_path / "bad.osu"
    path.write_text(edit(text), newline="")
    with pytest.raises(BeatmapError, match="bad.osu: refused: .*" + message):
        load_beatmap(path)


def test_work_limits_refuse_a_map_of_millions_of_ticks(tmp_path):
    from osu_env import DEMO_MAP

    text = DEMO_MAP.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace("\n", "\r\n")
    text = text.replace("SliderTickRate:", "SliderTickRate:8\r\n//", 1)
    head, _, _ = text.partition("[HitObjects]")
    lines = [f"256,192,{1000 + i},2,0,L|256:300,9000,131072" for i in range(3)]
    path = tmp_path / "ticks.osu"
    path.write_text(head + "[HitObjects]\r\n" + "\r\n".join(lines) + "\r\n", newline="")
    t0 = time.perf_counter()
    with pytest.raises(BeatmapError, match="ticks.osu: refused: .*more than 2,000,000 ticks and repeats"):
        load_beatmap(path)
    assert time.perf_counter() - t0 < 5


def test_dataset_over_hostile_files_keeps_every_good_pair(shared_data, tmp_path):
    maps, replays = tmp_path / "Songs", tmp_path / "Replays"
    maps.mkdir()
    replays.mkdir()
    good = [p for p in sorted((shared_data / "replays" / "human").glob("abraker*.osr"))][:3]
    md5s = {load_replay(p).beatmap_md5 for p in good}
    for md5 in md5s:
        (maps / f"{md5}.osu").write_bytes((shared_data / "maps" / f"{md5}.osu").read_bytes())
    for p in good:
        (replays / p.name).write_bytes(p.read_bytes())
    (replays / "bomb.osr").write_bytes(make_bomb(good[0].read_bytes()))
    (replays / "cut.osr").write_bytes(good[0].read_bytes()[:300])
    # a replay of a map whose slider repeats 65,536 times
    text = (maps / f"{load_replay(good[0]).beatmap_md5}.osu").read_bytes().decode("utf-8-sig")
    hostile = _map_with_slider(text, 65536, 1e9).encode()
    (maps / "hostile.osu").write_bytes(hostile)
    import hashlib
    from dataclasses import replace

    from osu_env.replay import save_replay

    save_replay(replace(load_replay(good[0]), beatmap_md5=hashlib.md5(hostile).hexdigest()), replays / "on-hostile.osr")
    meta, skipped = build_from_folders(maps, replays, tmp_path / "ds", progress=False)
    assert sorted(Path(e["replay"]).name for e in meta["episodes"]) == sorted(p.name for p in good)
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"bomb.osr", "cut.osr", "on-hostile.osr"}
    assert "decompression bomb" in reasons["bomb.osr"]
    assert "9,000" in reasons["on-hostile.osr"] and "hostile.osu" in reasons["on-hostile.osr"]


# ---------------------------------------------------------------- the fuzzer
NASTY = ["", "nan", "inf", "-inf", "-1", "0", "1e30", "-1e30", "99999999999999999999999", "65536", "abc", "1e400",
         "3.5", "2147483648", "|", ":", "B|1:1", "-0"]


def _mutate_osu(text: str, rng: random.Random) -> str:
    lines = text.split("\r\n")
    op = rng.choice(["field", "field", "field", "delete", "truncate", "duplicate", "difficulty", "slider"])
    body = [i for i, l in enumerate(lines) if "," in l or ":" in l]
    i = rng.choice(body)
    if op == "field":
        sep = "," if "," in lines[i] else ":"
        fields = lines[i].split(sep)
        fields[rng.randrange(len(fields))] = rng.choice(NASTY)
        lines[i] = sep.join(fields)
    elif op == "delete":
        for _ in range(rng.randint(1, 20)):
            del lines[rng.randrange(len(lines))]
    elif op == "truncate":
        return text[: rng.randrange(len(text))]
    elif op == "duplicate":
        lines[i:i] = [lines[i]] * rng.randint(1, 500)
    elif op == "difficulty":
        for j, l in enumerate(lines):
            if l.split(":")[0] in ("CircleSize", "OverallDifficulty", "ApproachRate", "HPDrainRate", "SliderMultiplier",
                                   "SliderTickRate"):
                lines[j] = l.split(":")[0] + ":" + rng.choice(NASTY + ["1000", "1e30", "-5", "0.0001"])
    else:
        sliders = [j for j, l in enumerate(lines) if l.count(",") >= 7 and "|" in l]
        if sliders:
            j = rng.choice(sliders)
            f = lines[j].split(",")
            f[6], f[7] = rng.choice(["65536", "9000", "0", "-3", "1"]), rng.choice(["1e9", "131072", "-5", "0", "nan"])
            lines[j] = ",".join(f)
    return "\r\n".join(lines)


def _mutate_osr(raw: bytes, rng: random.Random) -> bytes:
    op = rng.choice(["truncate", "flip", "flip_stream", "int", "bomb"])
    b = bytearray(raw)
    if op == "truncate":
        return bytes(b[: rng.randrange(len(b))])
    if op == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    off, n = _frame_stream_span(raw)
    if op == "flip_stream":
        for _ in range(rng.randint(1, 8)):
            b[off + 4 + rng.randrange(max(n, 1))] = rng.randrange(256)
        return bytes(b)
    if op == "int":
        b[off:off + 4] = struct.pack("<i", rng.choice([-1, 0, 2**31 - 1, n * 3, n // 2]))
        return bytes(b)
    return make_bomb(raw)


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (CASE_MEMORY_BYTES, CASE_MEMORY_BYTES))


def _judge(map_path: Path, replay_path: Path) -> tuple[int, str, str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "agents.cli", "judge", "--map", str(map_path), "--replay", str(replay_path),
                        "--json", "--force"], capture_output=True, text=True, timeout=CASE_TIMEOUT_S, env=env,
                       preexec_fn=_limits)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0


@pytest.mark.parametrize("seed", [0])
def test_mutation_fuzz_ends_in_json_or_one_line(shared_data, tmp_path, seed):
    """A seeded fuzzer over real maps and replays: every case exits 0 with one JSON object,
    or non-zero with one line on stderr; no traceback, hang or memory kill."""
    rng = random.Random(seed)
    human = sorted((shared_data / "replays" / "human").glob("*.osr"))
    cases = []
    for k in range(160):
        rp = rng.choice(human)
        md5 = load_replay(rp).beatmap_md5
        map_path, replay_path = shared_data / "maps" / f"{md5}.osu", rp
        if k % 2 == 0:
            map_path = tmp_path / f"case{k}.osu"
            text = (shared_data / "maps" / f"{md5}.osu").read_bytes().decode("utf-8-sig")
            map_path.write_text(_mutate_osu(text, rng), newline="")
        else:
            replay_path = tmp_path / f"case{k}.osr"
            replay_path.write_bytes(_mutate_osr(rp.read_bytes(), rng))
        cases.append((map_path, replay_path))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: _judge(*c), cases))
    bad = []
    for (m, r), (rc, out, err, _) in zip(cases, results):
        if rc == 0:
            try:
                ok = isinstance(json.loads(out), dict) and err.strip() == ""
            except json.JSONDecodeError:
                ok = False
        else:
            ok = rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and "MemoryError" not in err
        if not ok:
            bad.append((m.name, r.name, rc, err.strip()[-300:]))
    assert not bad, bad
