"""Turn Label Studio target-storage objects into the channels of SageMaker's built-in semantic segmentation.

Runs the same locally and in the SageMaker scikit-learn processing container (Python 3.9, numpy, Pillow,
boto3, stdlib only; keep the syntax 3.9-compatible). See README.md, "Preprocessing", for the full contract.

    python preprocess.py --annotations DIR --output DIR --labels Beak,Head,Wing,Body \\
        --validation-ratio 0.2 [--images DIR] [--images-s3-uri s3://BUCKET/PREFIX/]
    python preprocess.py --merge-stats DIR --output DIR      # sum per-shard stats into OUTPUT/stats.json

Two passes keep memory flat: pass 1 parses every storage object once and keeps, per task, only the key of
the annotation that wins (ground truth, else latest non-cancelled); pass 2 renders the winners in a bounded
process pool, streaming the manifest to disk. Nothing ever holds more than a few images at a time.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import functools
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import struct
import sys
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:  # Pillow ships in the sklearn 1.2-1 image (via multi-model-server); say so clearly if it ever does not.
    from PIL import Image
except ImportError:  # pragma: no cover - exercised only in a broken container
    sys.stderr.write("preprocess.py needs Pillow: run `python -m pip install pillow` before this script\n")
    raise

BACKGROUND = 0
IGNORE = 255
MAX_LABELS = 254  # 0 is background, 255 is the algorithm's ignore value
BRUSH_ALPHA_THRESHOLD = 128  # brush pixels with alpha >= this belong to the region
CHANNELS = ("train", "train_annotation", "validation", "validation_annotation")
RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
JPEG_FORMATS = ("JPEG", "MPO")  # MPO is a JPEG with extra frames appended; decoders read the first frame
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the Pillow transpose that makes the image upright (same table as ImageOps.exif_transpose)
_TRANSPOSE = getattr(Image, "Transpose", Image)  # Pillow >= 9.1 has the enum; older ones the module constants
_NEAREST = getattr(Image, "Resampling", Image).NEAREST
UPRIGHT_TRANSPOSE = {
    2: _TRANSPOSE.FLIP_LEFT_RIGHT,
    3: _TRANSPOSE.ROTATE_180,
    4: _TRANSPOSE.FLIP_TOP_BOTTOM,
    5: _TRANSPOSE.TRANSPOSE,
    6: _TRANSPOSE.ROTATE_270,
    7: _TRANSPOSE.TRANSVERSE,
    8: _TRANSPOSE.ROTATE_90,
}


class UsageError(Exception):
    """Bad command line or input that makes the whole run pointless; main() turns it into exit code 2."""


# --------------------------------------------------------------------------------------------------------------
# Brush RLE (Label Studio's format, from thi-ng/rle-pack)
# --------------------------------------------------------------------------------------------------------------


class _BitReader:
    """Reads big-endian bit fields at arbitrary offsets; fields are at most 32 bits.

    Like the reference decoder, a field cut short by the end of the stream reads as the bits that are there;
    a field with no bits left is an error.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data + b"\0\0\0\0\0"  # padding so a read near the end can take 5 bytes
        self.nbits = len(data) * 8
        self.pos = 0

    def read(self, size: int) -> int:
        if self.pos >= self.nbits:
            raise ValueError("brush RLE is truncated")
        byte = self.pos >> 3
        chunk = int.from_bytes(self.data[byte : byte + 5], "big")
        value = (chunk >> (40 - (self.pos & 7) - size)) & ((1 << size) - 1)
        missing = self.pos + size - self.nbits
        self.pos += size
        return value >> missing if missing > 0 else value


def _words_at(data: bytes, positions: np.ndarray, word_size: int) -> np.ndarray:
    """Values of the word_size-bit (<= 8) words starting at the given bit positions, all at once.

    A word cut short by the end of the stream is read as the bits that are there (the reference's behaviour),
    one with none left is an error.
    """
    nbits = len(data) * 8
    if len(positions) and int(positions.max()) >= nbits:
        raise ValueError("brush RLE is truncated")
    padded = np.frombuffer(data + b"\0", dtype=np.uint8)
    pairs = (padded[:-1].astype(np.uint16) << 8) | padded[1:]  # 16-bit window at every byte
    values = (pairs[positions >> 3] >> (16 - word_size - (positions & 7)).astype(np.uint16)) & (
        (1 << word_size) - 1
    )
    missing = positions + word_size - nbits
    cut = missing > 0
    if cut.any():
        values[cut] >>= missing[cut].astype(np.uint16)
    return values.astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _header_tables(word_size: int, rle_sizes: tuple[int, ...]) -> tuple[int, np.ndarray, np.ndarray]:
    """Everything about a run header as a function of the H = 3 + max(rle_sizes) bits starting at it.

    Returns (H, stride table, info table): for every H-bit value, the distance to the next header (header +
    payload), and length << 6 | header size << 1 | is literal. Built once per parameter set (2^H <= 512k).
    """
    hbits = 3 + max(rle_sizes)
    h = np.arange(1 << hbits, dtype=np.int64)
    top = h >> (hbits - 3)
    size = np.asarray(rle_sizes, dtype=np.int64)[top & 3]
    length = 1 + ((h >> (hbits - 3 - size)) & ((1 << size) - 1))
    literal = top < 4
    stride = 3 + size + word_size * np.where(literal, length, 1)
    info = (length << 6) | ((3 + size) << 1) | literal
    return hbits, stride.astype(np.int32), info


def _headers_at(windows: np.ndarray, positions: np.ndarray, hbits: int) -> np.ndarray:
    """The hbits bits starting at each bit position, from the (int64) 32-bit window at every byte."""
    return (windows[positions >> 3] >> ((32 - hbits) - (positions & 7))) & ((1 << hbits) - 1)


def decode_brush_rle(rle: Iterable[int] | bytes) -> np.ndarray:
    """Decode Label Studio brush RLE into the flat uint8 RGBA array, identical to
    label_studio_sdk.converter.brush.decode_rle but without its per-bit Python string.

    The run headers form a chain (each header's position depends on the previous one); see _parse_runs for
    how it is walked. All word values are gathered with numpy afterwards.
    """
    data = bytes(rle)
    reader = _BitReader(data)
    num = reader.read(32)
    word_size = reader.read(5) + 1
    if word_size > 8:
        raise ValueError(f"brush RLE word size {word_size} does not fit uint8")
    rle_sizes = [reader.read(4) + 1 for _ in range(4)]
    lengths, literal, payload = _parse_runs(data, reader, num, word_size, rle_sizes)
    return _expand_runs(data, num, word_size, lengths, literal, payload)


_UNIFORM_AFTER = 6  # consecutive equal strides before the walk tries a vectorised jump
_LOOKAHEAD = 64  # look-ahead of a jump beyond the previous stretch's length, in runs; then it doubles


def _parse_runs(
    data: bytes, reader: _BitReader, num: int, word_size: int, rle_sizes: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk the run headers: arrays of (length, is literal, payload bit position) per run.

    1. The chain start -> start + stride -> ... is walked in Python, one table lookup on the header bits per
       run (read from a 32-bit window per byte).
    2. Where the stride stays the same for a while (the SDK encoder writes a coloured stroke as one 14-bit
       literal run per value; repeat runs with the same length field size all have the same stride too), the
       rest of the stretch is checked with numpy at positions pos + k * stride, doubling the look-ahead, and
       emitted at once. So the Python loop runs per stretch, not per run.
    3. Lengths and payload positions are looked up with numpy for all runs, summed to stop at the declared
       number of values; the last few bytes, where a header may be cut short, go through the careful reader.
    """
    hbits, stride_table, info_table = _header_tables(word_size, tuple(rle_sizes))
    nbits = reader.nbits
    start = reader.pos
    safe_end = nbits - hbits + 1  # a whole header fits at positions below this
    padded = np.frombuffer(data + bytes(4), dtype=np.uint8).astype(np.int64)
    windows = (padded[:-3] << 24) | (padded[1:-2] << 16) | (padded[2:-1] << 8) | padded[3:]
    window_at, stride_of = memoryview(windows), memoryview(stride_table)
    top, field = 32 - hbits, (1 << hbits) - 1

    singles: list[int] = []  # chain positions walked one by one
    jumps: list[tuple[int, int, int, int]] = []  # (len(singles) then, first position, stride, count)
    add = singles.append
    pos, previous, same, guess = start, -1, 0, _LOOKAHEAD
    while pos < safe_end:
        step = stride_of[(window_at[pos >> 3] >> (top - (pos & 7))) & field]
        if step == previous:
            same += 1
            if same >= _UNIFORM_AFTER:
                count = _uniform_count(windows, stride_table, hbits, pos, step, safe_end, guess)
                jumps.append((len(singles), pos, step, count))
                guess = count + _LOOKAHEAD
                pos += count * step
                previous, same = -1, 0
                continue
        else:
            previous, same = step, 0
        add(pos)
        pos += step

    positions = _chain_positions(singles, jumps)
    info = info_table[_headers_at(windows, positions, hbits)]
    lengths = info >> 6
    literal = (info & 1).astype(bool)
    payload = positions + ((info >> 1) & 31)
    if num == 0:  # the reference reads no run at all
        return lengths[:0], literal[:0], payload[:0]
    done = np.cumsum(lengths)
    if len(done) and done[-1] >= num:  # the declared size is reached inside the safe part
        last_run = int(np.searchsorted(done, num))  # first run after which i >= num
        if literal[last_run] and done[last_run] > num:
            raise ValueError("brush RLE literal run overruns the declared size")
        stop = last_run + 1
        return lengths[:stop], literal[:stop], payload[:stop]

    i = int(done[-1]) if len(done) else 0
    tail: list[tuple[int, int, int]] = []
    while i < num:
        reader.pos = pos
        head = reader.read(3)  # 1 bit repeat flag + 2 bits length-size selector
        length = 1 + reader.read(rle_sizes[head & 3])
        is_literal = not head >> 2
        pos = reader.pos
        tail.append((length, is_literal, pos))
        if is_literal:
            if i + length > num:
                raise ValueError("brush RLE literal run overruns the declared size")
            pos += word_size * length
        else:
            pos += word_size
        i += length
    table = np.array(tail, dtype=np.int64).reshape(-1, 3)
    return (
        np.concatenate([lengths, table[:, 0]]),
        np.concatenate([literal, table[:, 1].astype(bool)]),
        np.concatenate([payload, table[:, 2]]),
    )


def _uniform_count(
    windows: np.ndarray, stride_table: np.ndarray, hbits: int, pos: int, step: int, end: int, ahead: int
) -> int:
    """How many chain links from bit `pos` on (stride `step` there) keep that stride, below bit `end`.

    Looks `ahead` links at once first (the caller guesses from the previous stretch), then twice as many.
    """
    count = 0
    while True:
        links = min(ahead, (end - 1 - pos) // step + 1)
        at = np.arange(pos, pos + links * step, step, dtype=np.int64)
        same = stride_table[_headers_at(windows, at, hbits)] == step
        first_change = int(same.argmin())
        if not same[first_change]:
            return count + first_change
        count += links
        pos += links * step
        if pos >= end:
            return count
        ahead *= 2


def _chain_positions(singles: list[int], jumps: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Merge the one-by-one chain positions and the uniform stretches, in chain order."""
    single_array = np.array(singles, dtype=np.int64)
    if not jumps:
        return single_array
    parts, taken = [], 0
    for index, first, step, count in jumps:
        parts.append(single_array[taken:index])
        parts.append(np.arange(first, first + count * step, step, dtype=np.int64))
        taken = index
    parts.append(single_array[taken:])
    return np.concatenate(parts)


def _expand_runs(
    data: bytes,
    num: int,
    word_size: int,
    run_len: np.ndarray,
    run_lit: np.ndarray,
    payload: np.ndarray,
) -> np.ndarray:
    """Turn the parsed runs into the output array: one 'unit' per repeated run or per literal word."""
    units_per_run = np.where(run_lit, run_len, 1)
    if len(units_per_run) and int(units_per_run.max()) == 1:  # no literal run longer than one value
        unit_pos, unit_count = payload, run_len
    else:
        first_unit = np.cumsum(units_per_run) - units_per_run
        # unit u of run r sits at payload[r] + word_size * (u - first_unit[r]); a repeat run has one unit
        unit_pos = np.repeat(payload - word_size * first_unit, units_per_run) + word_size * np.arange(
            int(units_per_run.sum())
        )
        unit_count = np.repeat(np.where(run_lit, 1, run_len), units_per_run)
    values = _words_at(data, np.asarray(unit_pos, dtype=np.int64), word_size)
    out = np.repeat(values, unit_count)
    if len(out) < num:  # cannot happen for a well-formed stream; keep the reference's zero fill
        out = np.concatenate([out, np.zeros(num - len(out), dtype=np.uint8)])
    return out[:num]  # the reference clamps a final repeated run that overshoots


def mask_from_brush(rle: Iterable[int], width: int, height: int) -> np.ndarray:
    """Boolean (height, width) mask of a brush region: its alpha channel at or above the threshold."""
    flat = decode_brush_rle(rle)
    if flat.size != width * height * 4:
        raise ValueError(f"brush RLE holds {flat.size} values, expected {width}x{height}x4")
    return flat.reshape(height, width, 4)[:, :, 3] >= BRUSH_ALPHA_THRESHOLD


# --------------------------------------------------------------------------------------------------------------
# Polygons
# --------------------------------------------------------------------------------------------------------------


def rasterize_polygon(points: np.ndarray, width: int, height: int) -> tuple[int, int, np.ndarray] | None:
    """Pixels of a polygon, as (row0, col0, boolean block) covering its bounding box, or None if empty.

    Rule (exact, independent of the Pillow version): pixel (row r, column c) is inside when its centre
    (c + 0.5, r + 0.5) is inside the polygon by the even-odd rule, with half-open edges: a centre exactly on
    a left or top edge is inside, on a right or bottom edge outside. So polygons that share an edge never both
    claim a pixel and a rectangle from x0 to x1 covers exactly x1 - x0 columns when x0, x1 are whole numbers.
    `points` are pixel coordinates (x, y) in the continuous frame where the image spans [0, W] x [0, H].
    """
    x0s, y0s = points[:, 0], points[:, 1]
    x1s, y1s = np.roll(x0s, -1), np.roll(y0s, -1)
    row0 = max(0, int(np.floor(y0s.min() - 0.5)))
    row1 = min(height, int(np.ceil(y0s.max() + 0.5)))
    col0 = max(0, int(np.floor(x0s.min() - 0.5)))
    col1 = min(width, int(np.ceil(x0s.max() + 0.5)))
    if row1 <= row0 or col1 <= col0:
        return None
    centres = np.arange(row0, row1, dtype=np.float64)[:, None] + 0.5
    lo, hi = np.minimum(y0s, y1s), np.maximum(y0s, y1s)
    crosses = (lo <= centres) & (centres < hi)  # (rows, edges); horizontal edges never cross
    rows, edges = np.nonzero(crosses)
    if rows.size == 0:
        return None
    yc = centres[rows, 0]
    dy = y1s[edges] - y0s[edges]
    x_at = x0s[edges] + (yc - y0s[edges]) * (x1s[edges] - x0s[edges]) / dy
    # a crossing toggles every pixel whose centre is at or right of it: columns >= ceil(x - 0.5)
    cols = np.clip(np.ceil(x_at - 0.5).astype(np.int64), col0, col1) - col0
    span = col1 - col0 + 1
    toggles = np.bincount(rows * span + cols, minlength=(row1 - row0) * span).reshape(row1 - row0, span)
    inside = np.cumsum(toggles.astype(np.uint8), axis=1, dtype=np.uint8)[:, :-1] & 1
    return row0, col0, inside.astype(bool)


def percent_points_to_pixels(points: Any, width: int, height: int) -> tuple[np.ndarray, int]:
    """Label Studio polygon points (percent of the image) -> pixel coordinates; also how many were clipped."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0,))
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        raise ValueError("points are not a list of [x, y] numbers")
    clipped = int(np.count_nonzero((arr < 0) | (arr > 100)))
    arr = np.clip(arr, 0.0, 100.0)
    return arr * np.array([width / 100.0, height / 100.0]), clipped


def mask_from_polygons(polygons: list[tuple[np.ndarray, int]], width: int, height: int) -> np.ndarray:
    """Class-index mask from (pixel points, class) pairs drawn in order, later on top."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for points, value in polygons:
        paint_polygon(mask, points, value)
    return mask


def paint_polygon(mask: np.ndarray, points: np.ndarray, value: int) -> None:
    """Set the polygon's pixels of `mask` to `value` in place."""
    hit = rasterize_polygon(points, mask.shape[1], mask.shape[0])
    if hit is not None:
        row0, col0, block = hit
        mask[row0 : row0 + block.shape[0], col0 : col0 + block.shape[1]][block] = value


# --------------------------------------------------------------------------------------------------------------
# Reading Label Studio target storage
# --------------------------------------------------------------------------------------------------------------

NO_TIME = -1e300  # sorts before every real timestamp (and, unlike -inf, round-trips through SQLite)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE
)


def parse_timestamp(text: Any) -> float:
    """Seconds since the epoch of a Label Studio ISO timestamp; NO_TIME when missing or unreadable.

    Hand-parsed because Python 3.9's fromisoformat rejects 'Z' and fractional digits other than 3 or 6.
    """
    match = _TIMESTAMP.match(str(text or "").strip())
    if not match:
        return NO_TIME
    year, month, day, hour, minute, second, frac, zone = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    seconds += float("0." + frac) if frac else 0.0
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def iter_storage_records(doc: Any) -> Iterator[tuple[dict, dict]]:
    """(task, annotation) pairs from one storage object, whatever layout Label Studio used.

    - one annotation per object: the annotation, with its task nested under "task";
    - one task per object (``<task_id>.json``): the task, with an "annotations" list;
    - a JSON list of tasks (Label Studio's JSON export), accepted for convenience.
    """
    if isinstance(doc, list):
        for item in doc:
            yield from iter_storage_records(item)
        return
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if isinstance(doc.get("annotations"), list):
        task = {k: v for k, v in doc.items() if k not in ("annotations", "predictions", "drafts")}
        for annotation in doc["annotations"]:
            if isinstance(annotation, dict):
                yield task, annotation
        return
    if isinstance(doc.get("task"), dict) and "result" in doc:
        yield doc["task"], doc
        return
    raise ValueError("neither a Label Studio task (with 'annotations') nor an annotation (with 'task')")


def load_storage_object(path: Path) -> Any:
    """Parse one storage object; Label Studio writes UTF-8 JSON without an extension for annotations."""
    with open(path, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


@dataclass(frozen=True)
class Candidate:
    """One annotation's index record: pass 1 offers it to the on-disk index, pass 2 renders the winners."""

    rank: tuple[int, float, float, int]  # (ground truth, updated, created, annotation id): larger wins
    task_id: int
    annotation_id: int
    source: str  # storage object path relative to --annotations
    position: int  # index of the (task, annotation) pair inside that object
    image_url: str


def annotation_rank(annotation: dict) -> tuple[int, float, float, int]:
    """Order of preference among one task's annotations: ground truth first, then most recently updated."""
    updated = parse_timestamp(annotation.get("updated_at"))
    created = parse_timestamp(annotation.get("created_at"))
    return (
        1 if annotation.get("ground_truth") else 0,
        max(updated, created),
        created,
        _as_int(annotation.get("id")),
    )


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def task_image_url(task: dict) -> str | None:
    """The image of a task: data['image'] if present, else the first string that looks like an image URL."""
    data = task.get("data") or {}
    if isinstance(data.get("image"), str):
        return data["image"]
    for value in data.values():
        if isinstance(value, str) and re.match(r"^(s3://|https?://|/data/)", value):
            return value
    return None


# --------------------------------------------------------------------------------------------------------------
# Split and shards
# --------------------------------------------------------------------------------------------------------------


def task_fraction(task_id: int, salt: str = "") -> float:
    """A number in [0, 1) fixed by the task id alone, so a task's split and shard never change."""
    digest = hashlib.sha256(f"{salt}{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_for_task(task_id: int, validation_ratio: float) -> str:
    """'validation' for about validation_ratio of the tasks, else 'train'; stable across runs and shards."""
    return "validation" if task_fraction(task_id) < validation_ratio else "train"


def shard_for_task(task_id: int, shard_count: int) -> int:
    """Which shard renders a task when sharding by task (independent of the split hash)."""
    return int(task_fraction(task_id, salt="shard:") * shard_count)


@dataclass(frozen=True)
class ShardPlan:
    """Who this process is in a multi-instance job and which tasks it renders."""

    name: str  # unique per instance; names the per-shard stats/manifest files
    index: int
    count: int
    by_task: bool  # True: render only tasks whose shard_for_task == index

    @property
    def multi(self) -> bool:
        return self.count > 1

    def owns(self, task_id: int) -> bool:
        return not self.by_task or shard_for_task(task_id, self.count) == self.index


def read_resource_config(path: str) -> tuple[str, list[str]] | None:
    """(current_host, hosts) from SageMaker's resourceconfig.json, or None outside SageMaker."""
    try:
        with open(path) as handle:
            config = json.load(handle)
        return str(config["current_host"]), [str(h) for h in config["hosts"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def plan_shard(args: argparse.Namespace) -> ShardPlan:
    """Combine --shard-* flags with SageMaker's resourceconfig.json (flags win)."""
    found = read_resource_config(args.resource_config)
    host, hosts = found if found else (socket.gethostname(), [])
    count = args.shard_count or max(1, len(hosts))
    if args.shard_index is not None:
        index = args.shard_index
    else:
        index = sorted(hosts).index(host) if host in hosts else 0
    if not 0 <= index < count:
        raise UsageError(f"--shard-index {index} is not within --shard-count {count}")
    name = args.shard_name or (host if found else f"shard-{index}")
    if not re.match(r"^[A-Za-z0-9._-]+$", name):
        raise UsageError(f"shard name {name!r} must be letters, digits, '.', '_' or '-'")
    return ShardPlan(name=name, index=index, count=count, by_task=args.shard_by == "task")


# --------------------------------------------------------------------------------------------------------------
# Pass 1: index
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything that was skipped or repaired, with where and why (goes to stats.json)."""

    skipped: list[dict[str, str]] = field(default_factory=list)

    def add(self, source: str, reason: str) -> None:
        self.skipped.append({"source": source, "reason": reason})


def iter_storage_objects(root: Path) -> Iterator[Path]:
    """Every regular file under root in a stable order, except hidden ones (S3/SageMaker markers, editor
    files). A generator over os.walk, so listing 100k objects holds one folder's names at a time."""
    if not root.is_dir():
        raise UsageError(f"--annotations {root} is not a directory")
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():
                yield path


class CandidateIndex:
    """The winning annotation per task, kept in an on-disk SQLite table (stdlib) rather than a dict.

    Why: choosing per task needs to see every annotation of the task, which may be spread over many objects;
    an on-disk index keeps memory flat however many annotations there are. Rank columns compare
    lexicographically (ground truth, updated, created, annotation id), larger wins.
    """

    def __init__(self, folder: str) -> None:
        self.db = sqlite3.connect(os.path.join(folder, "index.sqlite3"))
        self.db.execute(
            "CREATE TABLE candidates (task_id INTEGER PRIMARY KEY, gt INTEGER, updated REAL, created REAL,"
            " annotation_id INTEGER, source TEXT, position INTEGER, image_url TEXT)"
        )
        self.considered = 0

    def offer(self, candidate: Candidate) -> None:
        """Insert, or replace the task's current winner when this one ranks higher."""
        self.considered += 1
        gt, updated, created, ann_id = candidate.rank
        row = (candidate.task_id, gt, updated, created, ann_id, candidate.source, candidate.position)
        self.db.execute(
            "INSERT INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(task_id) DO UPDATE SET"
            " gt = excluded.gt, updated = excluded.updated, created = excluded.created,"
            " annotation_id = excluded.annotation_id, source = excluded.source, position = excluded.position,"
            " image_url = excluded.image_url"
            " WHERE (excluded.gt, excluded.updated, excluded.created, excluded.annotation_id)"
            " > (gt, updated, created, annotation_id)",
            (*row, candidate.image_url),
        )

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])

    def winners(self) -> Iterator[Candidate]:
        """Winners in storage-object order (consecutive jobs often share a file), streamed from disk."""
        query = (
            "SELECT gt, updated, created, annotation_id, task_id, source, position, image_url"
            " FROM candidates ORDER BY source, position"
        )
        for gt, updated, created, ann_id, task_id, source, position, url in self.db.execute(query):
            yield Candidate((gt, updated, created, ann_id), task_id, ann_id, source, position, url)

    def close(self) -> None:
        self.db.close()


def build_index(root: Path, plan: ShardPlan, report: Report, index: CandidateIndex) -> dict[str, int]:
    """Pass 1: offer every usable annotation to the index; returns counts of what was seen."""
    counts = {"storage_objects": 0, "annotations": 0, "cancelled": 0, "superseded": 0, "other_shard": 0}
    for path in iter_storage_objects(root):
        source = path.relative_to(root).as_posix()
        counts["storage_objects"] += 1
        try:
            records = list(iter_storage_records(load_storage_object(path)))
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            report.add(source, f"unreadable storage object: {err}")
            continue
        for position, (task, annotation) in enumerate(records):
            counts["annotations"] += 1
            candidate = _candidate(counts, report, plan, source, position, task, annotation)
            if candidate is not None:
                index.offer(candidate)
    index.db.commit()
    counts["superseded"] = index.considered - len(index)
    return counts


def _candidate(
    counts: dict[str, int],
    report: Report,
    plan: ShardPlan,
    source: str,
    position: int,
    task: dict,
    annotation: dict,
) -> Candidate | None:
    """The index record of an annotation, or None when it cannot compete (reported or counted)."""
    where = f"{source} (annotation {annotation.get('id')})"
    task_id = _as_int(task.get("id", annotation.get("task")))
    if task_id < 0:
        report.add(where, "annotation has no task id")
        return None
    if not plan.owns(task_id):
        counts["other_shard"] += 1
        return None
    if annotation.get("was_cancelled"):
        counts["cancelled"] += 1
        report.add(where, f"task {task_id}: annotation was cancelled (skipped)")
        return None
    url = task_image_url(task) or ""
    return Candidate(
        annotation_rank(annotation), task_id, _as_int(annotation.get("id")), source, position, url
    )


# --------------------------------------------------------------------------------------------------------------
# Pass 2: render one sample (runs in worker processes)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Run-wide settings a worker needs; small and picklable."""

    annotations: str
    output: str
    labels: tuple[str, ...]
    images: str | None
    images_prefix: str
    images_scope: ImagesScope | None = None


@dataclass(frozen=True)
class ImagesScope:
    """--images-s3-uri: the only S3 location task images may come from (bucket, key prefix ending in / or "")."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def refusal(self, url: str) -> str | None:
        """None when ``url`` is an s3:// object under the scope, else why it is not fetched.

        Keys with "." or ".." segments are refused too: S3 does not resolve them, but an HTTP layer in
        between might, and no legitimate image key needs them.
        """
        try:
            bucket, key = parse_s3_url(url)
        except ValueError:
            return f"image {url!r} is not an s3:// object URL (only {self.uri} is allowed)"
        segments = key.split("/")
        if bucket != self.bucket or not key.startswith(self.prefix) or {".", ".."} & set(segments):
            return f"image {url} is outside --images-s3-uri {self.uri} (not fetched)"
        return None


def parse_images_scope(uri: str) -> ImagesScope:
    """s3://bucket/ or s3://bucket/prefix[/] -> ImagesScope (the prefix always ends with /); UsageError else."""
    # Bucket: DNS-style names, plus the legacy us-east-1 characters (upper case, underscore).
    match = re.match(r"^s3://([A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9])(?:/(.*))?$", uri or "")
    prefix = (match.group(2) or "") if match else ""
    if not match or prefix.startswith("/") or "//" in prefix or {".", ".."} & set(prefix.split("/")):
        raise UsageError(f"--images-s3-uri must be s3://BUCKET/ or s3://BUCKET/PREFIX/, got {uri!r}")
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # s3://b/images must not admit s3://b/images-private/...
    return ImagesScope(match.group(1), prefix)


@dataclass(frozen=True)
class Job:
    """One task to render."""

    candidate: Candidate
    split: str
    local_image: str | None = None  # already downloaded (S3 mode) or resolved path
    fetch_error: str | None = None


@dataclass
class Outcome:
    """What a worker sends back: a manifest row or a reason, plus region-level notes and pixel counts."""

    manifest: dict[str, Any] | None
    notes: list[dict[str, str]]
    pixels: list[int] | None = None  # np.bincount(mask, minlength=256)


_FILE_CACHE: dict[str, Any] = {}


def _cached_storage_object(path: str) -> Any:
    """Single-entry cache: consecutive jobs often come from the same (multi-task) export file."""
    if path not in _FILE_CACHE:
        _FILE_CACHE.clear()
        _FILE_CACHE[path] = load_storage_object(Path(path))
    return _FILE_CACHE[path]


def render_job(settings: Settings, job: Job) -> Outcome:
    """Worker entry point: never raises, so one bad task cannot stop the run."""
    cand = job.candidate
    where = f"{cand.source} (annotation {cand.annotation_id})"
    notes: list[dict[str, str]] = []
    try:
        return _render(settings, job, notes)
    except Exception as err:  # anything unexpected about one sample is reported, not fatal
        notes.append({"source": where, "reason": f"task {cand.task_id}: {type(err).__name__}: {err}"})
        return Outcome(None, notes)
    finally:
        if job.local_image and settings.images is None:  # our own download: remove it
            with contextlib.suppress(OSError):
                os.unlink(job.local_image)


class SkipSample(Exception):
    """The sample cannot be produced; the message says why."""


def _load_annotation(settings: Settings, cand: Candidate) -> dict:
    """Re-read the winning annotation chosen in pass 1 (pass 1 kept only where it is)."""
    doc = _cached_storage_object(os.path.join(settings.annotations, cand.source))
    return list(iter_storage_records(doc))[cand.position][1]


def _render(settings: Settings, job: Job, notes: list[dict[str, str]]) -> Outcome:
    cand = job.candidate
    where = f"{cand.source} (annotation {cand.annotation_id})"
    try:
        annotation = _load_annotation(settings, cand)
        results = annotation.get("result") or []
        if not isinstance(results, list) or not results:
            raise SkipSample("annotation result is empty")
        if job.fetch_error:
            raise SkipSample(job.fetch_error)
        image_path = job.local_image or resolve_local_image(cand.image_url, settings)
        with Image.open(image_path) as image:
            raw_size = image.size
            orientation = _orientation(image)
            upright = _upright_size(raw_size, orientation)
            mask, drawn = draw_regions(results, settings.labels, raw_size, upright, orientation, where, notes)
            if drawn == 0:
                raise SkipSample("no usable regions")
            stem = f"{cand.task_id}-{_safe_stem(cand.image_url)}"
            image_rel = f"{job.split}/{stem}.jpg"
            mask_rel = f"{job.split}_annotation/{stem}.png"
            write_image(image, image_path, orientation, Path(settings.output) / image_rel)
        write_mask(mask, Path(settings.output) / mask_rel)
    except (SkipSample, OSError, ValueError) as err:
        reason = str(err) if isinstance(err, SkipSample) else f"{type(err).__name__}: {err}"
        notes.append({"source": where, "reason": f"task {cand.task_id}: {reason}"})
        return Outcome(None, notes)
    row = {
        "task_id": cand.task_id,
        "annotation_id": cand.annotation_id,
        "split": job.split,
        "image": image_rel,
        "mask": mask_rel,
    }
    return Outcome(row, notes, class_pixel_counts(mask, len(settings.labels)))


def class_pixel_counts(mask: np.ndarray, num_labels: int) -> list[int]:
    """Pixels per class value (a 256-list); only background, the labels and 255 can occur.

    One count_nonzero per class is ~4x faster than np.bincount on uint8 (which widens to intp first).
    """
    counts = [0] * 256
    for value in (*range(num_labels + 1), IGNORE):
        counts[value] = int(np.count_nonzero(mask == value))
    return counts


def _safe_stem(url: str) -> str:
    """File-name-safe stem of the image URL's basename (the task id prefix makes it unique)."""
    base = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:100] or "image"


def _orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # corrupt EXIF must not lose the sample; treat as upright
        return 1
    return value if value in UPRIGHT_TRANSPOSE else 1


def _upright_size(raw_size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (raw_size[1], raw_size[0]) if orientation in (5, 6, 7, 8) else raw_size


def resolve_local_image(url: str, settings: Settings) -> str:
    """Local file of a task image under --images.

    s3://bucket/key is looked up as IMAGES/<key without --images-prefix>, then IMAGES/<key>, then with leading
    folders dropped one at a time (so IMAGES may be the bucket root or the mounted images prefix).
    """
    if not url:
        raise SkipSample("task has no image URL in its data")
    if settings.images_scope is not None and url.startswith("s3://"):
        refusal = settings.images_scope.refusal(url)
        if refusal:
            raise SkipSample(refusal)
    if settings.images is None:
        raise SkipSample(f"image {url} is not an s3:// URL and --images was not given")
    key = _s3_key(url) if url.startswith("s3://") else url.split("?", 1)[0].lstrip("/")
    if ".." in key.split("/"):  # would resolve outside IMAGES
        raise SkipSample(f"image {url} has a '..' segment (not read)")
    root = Path(settings.images)
    candidates = []
    if settings.images_prefix and key.startswith(settings.images_prefix):
        candidates.append(key[len(settings.images_prefix) :])
    parts = key.split("/")
    candidates += ["/".join(parts[i:]) for i in range(len(parts))]
    for rel in candidates:
        path = root / rel
        if rel and path.is_file():
            return str(path)
    raise SkipSample(f"image {url} not found under {root}")


def _s3_key(url: str) -> str:
    rest = url[len("s3://") :]
    return rest.split("/", 1)[1] if "/" in rest else ""


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URL; ValueError otherwise."""
    match = re.match(r"^s3://([^/]+)/(.+)$", url or "")
    if not match:
        raise ValueError(f"not an s3://bucket/key URL: {url!r}")
    return match.group(1), match.group(2)


def draw_regions(
    results: list[Any],
    labels: tuple[str, ...],
    raw_size: tuple[int, int],
    upright: tuple[int, int],
    orientation: int,
    where: str,
    notes: list[dict[str, str]],
) -> tuple[np.ndarray, int]:
    """Class mask in the upright frame from the annotation's results, in order; returns (mask, regions drawn)."""
    width, height = upright
    mask = np.zeros((height, width), dtype=np.uint8)
    drawn = 0
    for number, result in enumerate(results):
        ident = f"{where} region {number}"
        try:
            if _draw_region(mask, result, labels, raw_size, orientation, ident, notes):
                drawn += 1
        except (ValueError, TypeError, KeyError) as err:
            notes.append({"source": ident, "reason": f"region skipped: {err}"})
    return mask, drawn


def _region_label(result: dict, kind: str, labels: tuple[str, ...], ident: str, notes: list) -> int | None:
    names = (result.get("value") or {}).get(kind) or []
    if not isinstance(names, list) or not names:
        notes.append({"source": ident, "reason": "region skipped: no label"})
        return None
    known = [n for n in names if n in labels]
    if not known:
        notes.append({"source": ident, "reason": f"region skipped: unknown label {names[0]!r}"})
        return None
    if len(names) > 1:
        notes.append({"source": ident, "reason": f"repaired: several labels {names}, used {known[0]!r}"})
    return labels.index(known[0]) + 1


def _annotated_frame(result: dict, raw_size: tuple[int, int], orientation: int) -> bool:
    """True when the region was annotated on the raw (not EXIF-turned) pixels.

    Label Studio shows the image the way the browser does, i.e. EXIF-turned, and records that frame's
    size as original_width/height. Only when those match the raw size instead (and the two differ) do we
    treat the region as raw-frame and turn it with the image.
    """
    size = (_as_int(result.get("original_width")), _as_int(result.get("original_height")))
    upright = _upright_size(raw_size, orientation)
    return size == raw_size and raw_size != upright


def _draw_region(
    mask: np.ndarray,
    result: Any,
    labels: tuple[str, ...],
    raw_size: tuple[int, int],
    orientation: int,
    ident: str,
    notes: list[dict[str, str]],
) -> bool:
    """Paint one result onto the upright mask; False (with a note) when it is skipped."""
    if not isinstance(result, dict):
        raise ValueError("result is not an object")
    kind = str(result.get("type", "")).lower()
    if kind not in ("polygonlabels", "brushlabels"):
        if kind.endswith("labels"):
            notes.append({"source": ident, "reason": f"region skipped: unsupported type {kind!r}"})
        return False
    value = _region_label(result, kind, labels, ident, notes)
    if value is None:
        return False
    raw_frame = _annotated_frame(result, raw_size, orientation)
    frame_w, frame_h = raw_size if raw_frame else (mask.shape[1], mask.shape[0])
    if kind == "polygonlabels":
        region = _polygon_region(result, frame_w, frame_h, ident, notes)
    else:
        region = _brush_region(result, frame_w, frame_h, ident, notes)
    if region is None:
        return False
    row0, col0, block = _to_upright(region, raw_size, orientation) if raw_frame else region
    mask[row0 : row0 + block.shape[0], col0 : col0 + block.shape[1]][block] = value
    return True


Region = tuple  # (row0, col0, boolean block): a region's pixels within its bounding box


def _polygon_region(result: dict, width: int, height: int, ident: str, notes: list) -> Region | None:
    points = (result.get("value") or {}).get("points")
    if not isinstance(points, list) or len(points) < 3:
        count = len(points) if isinstance(points, list) else 0
        notes.append({"source": ident, "reason": f"region skipped: polygon with {count} points (needs 3)"})
        return None
    pixels, clipped = percent_points_to_pixels(points, width, height)
    if clipped:
        notes.append({"source": ident, "reason": f"repaired: {clipped} coordinates outside 0-100 clipped"})
    hit = rasterize_polygon(pixels, width, height)
    if hit is None or not hit[2].any():
        notes.append({"source": ident, "reason": "region skipped: polygon covers no pixel centre"})
        return None
    return hit


def _brush_region(result: dict, width: int, height: int, ident: str, notes: list) -> Region | None:
    value = result.get("value") or {}
    rle = value.get("rle")
    if not isinstance(rle, list) or not rle:
        notes.append({"source": ident, "reason": "region skipped: brush without RLE"})
        return None
    src_w = _as_int(result.get("original_width"))
    src_h = _as_int(result.get("original_height"))
    if src_w <= 0 or src_h <= 0:
        src_w, src_h = width, height
    region = mask_from_brush(rle, src_w, src_h)
    if (src_w, src_h) != (width, height):
        notes.append(
            {"source": ident, "reason": f"repaired: brush {src_w}x{src_h} resized to {width}x{height}"}
        )
        scaled = Image.fromarray(region.astype(np.uint8) * 255).resize((width, height), _NEAREST)
        region = np.asarray(scaled) >= BRUSH_ALPHA_THRESHOLD
    if not region.any():
        notes.append({"source": ident, "reason": "region skipped: empty brush"})
        return None
    return 0, 0, region


def _to_upright(region: Region, raw_size: tuple[int, int], orientation: int) -> Region:
    """Turn a raw-frame region exactly as the image is turned (the same Pillow transpose)."""
    row0, col0, block = region
    full = np.zeros((raw_size[1], raw_size[0]), dtype=np.uint8)
    full[row0 : row0 + block.shape[0], col0 : col0 + block.shape[1]] = block * np.uint8(255)
    turned = Image.fromarray(full).transpose(UPRIGHT_TRANSPOSE[orientation])
    return 0, 0, np.asarray(turned) > 0


def write_image(image: Image.Image, source: str, orientation: int, dest: Path) -> None:
    """JPEG output: a JPEG source that needs no turning is copied byte for byte; anything else is encoded."""
    if image.format in JPEG_FORMATS and orientation == 1:
        _atomic_copy(source, dest)
        return
    upright = image.transpose(UPRIGHT_TRANSPOSE[orientation]) if orientation != 1 else image
    if upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    buffer = io.BytesIO()
    upright.save(buffer, format="JPEG", quality=95)
    _atomic_write(dest, buffer.getvalue())


def write_mask(mask: np.ndarray, dest: Path) -> None:
    """Single-channel 8-bit PNG of class indices (see encode_png_gray8 for why not Pillow's encoder)."""
    _atomic_write(dest, encode_png_gray8(mask))


def encode_png_gray8(mask: np.ndarray) -> bytes:
    """Minimal PNG (8-bit greyscale, filter 0, zlib Z_RLE) for class masks.

    Masks are long runs of a few values; zlib's run-length strategy compresses them about as well as Pillow's
    default encoder at a fraction of the time (the PNG mask was the single largest cost per sample), and any
    PNG decoder reads it. Round-trip equality with Pillow's decoder is tested.
    """
    height, width = mask.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # leading 0 per row = filter type "None"
    rows[:, 1:] = mask
    compressor = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = compressor.compress(rows.tobytes()) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _atomic_write(dest: Path, payload: bytes) -> None:
    """Write via a temporary name so an interrupted run never leaves a half file under the final name."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, dest)


def _atomic_copy(source: str, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


# --------------------------------------------------------------------------------------------------------------
# S3 download (main process, bounded)
# --------------------------------------------------------------------------------------------------------------


class S3Fetcher:
    """Downloads task images to a scratch folder with a bounded thread pool (only this shard's images)."""

    def __init__(self, scratch: str, scope: ImagesScope | None = None) -> None:
        import boto3  # lazy: only S3 mode needs it
        from botocore.config import Config

        self.client = boto3.client("s3", config=Config(retries={"max_attempts": 8, "mode": "adaptive"}))
        self.scratch = scratch
        self.scope = scope
        self.counter = 0

    def __call__(self, job: Job) -> Job:
        url = job.candidate.image_url
        if not url:
            return job  # rendering reports "task has no image URL"
        if not url.startswith("s3://"):
            return Job(
                job.candidate,
                job.split,
                fetch_error=f"image {url!r} is not an s3:// URL and --images was not given",
            )
        refusal = self.scope.refusal(url) if self.scope else None
        if refusal:  # checked before any request: a task must not point the job at other objects
            return Job(job.candidate, job.split, fetch_error=refusal)
        try:
            bucket, key = parse_s3_url(url)
            suffix = os.path.splitext(key)[1][:10]
            local = os.path.join(self.scratch, f"{job.candidate.task_id}{suffix}")
            self.client.download_file(bucket, key, local)
        except Exception as err:  # botocore errors are many classes; all mean "this image is unavailable"
            return Job(job.candidate, job.split, fetch_error=f"cannot download {url}: {err}")
        return Job(job.candidate, job.split, local_image=local)


def prefetch(jobs: Iterable[Job], fetch: Callable[[Job], Job], concurrency: int) -> Iterator[Job]:
    """Apply fetch to jobs with at most `concurrency` in flight, yielding in order (bounded disk and memory)."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        window: deque[Future] = deque()
        for job in jobs:
            window.append(pool.submit(fetch, job))
            if len(window) >= concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


# --------------------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------------------


class Progress:
    """A line every few seconds on a terminal (processed / skipped / rate); silent otherwise."""

    def __init__(self, total: int, interval: float, stream: Any = None) -> None:
        self.total = total
        self.interval = interval
        self.stream = stream or sys.stderr
        self.enabled = interval > 0 and self.stream.isatty()
        self.start = self.last = time.monotonic()
        self.done = 0
        self.skipped = 0

    def tick(self, ok: bool) -> None:
        self.done += 1
        self.skipped += 0 if ok else 1
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self.stream.write(f"{self.line()}\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        return (
            f"processed {self.done}/{self.total}, written {self.done - self.skipped}, skipped {self.skipped}, "
            f"{self.done / elapsed:.1f} samples/s"
        )


def run_jobs(settings: Settings, jobs: Iterable[Job], workers: int) -> Iterator[Outcome]:
    """Render jobs in `workers` processes with a bounded number in flight (memory stays flat)."""
    if workers <= 1:
        for job in jobs:
            yield render_job(settings, job)
        return
    limit = workers * 2
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: set[Future] = set()
        for job in jobs:
            pending.add(pool.submit(render_job, settings, job))
            if len(pending) >= limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        for future in pending:
            yield future.result()


def prepare_output(output: Path, overwrite: bool) -> None:
    """Create the channel folders; refuse to mix with an earlier run's samples unless told to clear them."""
    for channel in CHANNELS:
        folder = output / channel
        if folder.is_dir() and any(folder.iterdir()):
            if not overwrite:
                raise UsageError(f"{folder} is not empty; use --overwrite to clear the channel folders")
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)


def empty_stats(labels: tuple[str, ...]) -> dict[str, Any]:
    return {
        "num_training_samples": 0,
        "num_validation_samples": 0,
        "labels": list(labels),
        "pixels_per_class": {name: 0 for name in ("background", *labels, "ignore")},
        "skipped": [],
        "counts": {},
    }


def add_pixels(stats: dict[str, Any], labels: tuple[str, ...], histogram: list[int]) -> None:
    names = ("background", *labels)
    for index, name in enumerate(names):
        stats["pixels_per_class"][name] += histogram[index]
    stats["pixels_per_class"]["ignore"] += histogram[IGNORE]


def stats_paths(output: Path, plan: ShardPlan) -> tuple[list[Path], list[Path]]:
    """(stats files, manifest files) for this shard.

    Every run writes OUTPUT/stats/stats-<shard>.json and OUTPUT/manifest/manifest-<shard>.jsonl, names no
    other instance uses, so the pipeline wiring and the merge step are the same for one or many instances.
    A single-instance run also writes OUTPUT/stats.json and OUTPUT/manifest.jsonl (with several instances
    those names would collide in the shared S3 output prefix).
    """
    stats = [output / "stats" / f"stats-{plan.name}.json"]
    manifests = [output / "manifest" / f"manifest-{plan.name}.jsonl"]
    if not plan.multi:
        stats.append(output / "stats.json")
        manifests.append(output / "manifest.jsonl")
    return stats, manifests


def preprocess(args: argparse.Namespace) -> int:
    """The whole run; returns the exit code."""
    labels = parse_labels(args.labels)
    args.images_scope = parse_images_scope(args.images_s3_uri) if args.images_s3_uri else None
    if not 0.0 <= args.validation_ratio < 1.0:
        raise UsageError("--validation-ratio must be in [0, 1)")
    plan = plan_shard(args)
    output = Path(args.output)
    report = Report()
    workdir = tempfile.mkdtemp(prefix="lsr-preprocess-")  # index and S3 downloads; never in OUTPUT
    index = CandidateIndex(workdir)
    try:
        counts = build_index(Path(args.annotations), plan, report, index)
        prepare_output(output, args.overwrite)
        return _render_all(args, labels, plan, output, report, index, counts, workdir)
    finally:
        index.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _render_all(
    args: argparse.Namespace,
    labels: tuple[str, ...],
    plan: ShardPlan,
    output: Path,
    report: Report,
    index: CandidateIndex,
    counts: dict[str, int],
    workdir: str,
) -> int:
    """Pass 2: render every winner, stream the manifest, write the stats; returns the exit code."""
    scope = args.images_scope
    images_prefix = args.images_prefix or (scope.prefix if scope else "")
    settings = Settings(str(Path(args.annotations)), str(output), labels, args.images, images_prefix, scope)
    total = len(index)
    jobs: Iterable[Job] = (Job(c, split_for_task(c.task_id, args.validation_ratio)) for c in index.winners())
    if args.images is None:
        scratch = os.path.join(workdir, "images")
        os.mkdir(scratch)
        jobs = prefetch(jobs, S3Fetcher(scratch, scope), args.download_concurrency)
    stats = empty_stats(labels)
    stats_files, manifest_files = stats_paths(output, plan)
    manifest_path = manifest_files[0]
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(total, args.progress_interval)
    with open(manifest_path, "w") as manifest:
        for outcome in run_jobs(settings, jobs, args.workers):
            _collect(outcome, stats, labels, report, manifest)
            progress.tick(outcome.manifest is not None)
    stats["skipped"] = report.skipped
    stats["counts"] = dict(counts, tasks=total, written=progress.done - progress.skipped)
    stats["shard"] = {"name": plan.name, "index": plan.index, "count": plan.count, "by_task": plan.by_task}
    for path in stats_files:
        write_json(path, stats)
    for path in manifest_files[1:]:
        _atomic_copy(str(manifest_path), path)
    print(summary_line(stats, progress), file=sys.stderr)
    return check_usable(stats, plan)


def _collect(outcome: Outcome, stats: dict, labels: tuple[str, ...], report: Report, manifest: Any) -> None:
    for note in outcome.notes:
        report.add(note["source"], note["reason"])
    if outcome.manifest is None:
        return
    manifest.write(json.dumps(outcome.manifest, sort_keys=True) + "\n")
    key = "num_training_samples" if outcome.manifest["split"] == "train" else "num_validation_samples"
    stats[key] += 1
    add_pixels(stats, labels, outcome.pixels or [0] * 256)


def summary_line(stats: dict, progress: Progress) -> str:
    return (
        f"preprocess: {stats['num_training_samples']} training + {stats['num_validation_samples']} validation "
        f"samples, {len(stats['skipped'])} skipped/repaired notes; {progress.line()}"
    )


def check_usable(stats: dict, plan: ShardPlan) -> int:
    """Exit code: a run (or a merged set of shards) without training samples must fail loudly."""
    if stats["num_training_samples"] > 0:
        if stats["num_validation_samples"] == 0:
            print("preprocess: warning: no validation samples", file=sys.stderr)
        return 0
    if plan.multi:  # one shard may legitimately be empty; the merge step checks the total
        print(
            f"preprocess: shard {plan.name} has no training samples; the merge step checks the total",
            file=sys.stderr,
        )
        return 0
    return fail_no_samples(stats)


def fail_no_samples(stats: dict) -> int:
    reasons: dict[str, int] = {}
    for item in stats["skipped"]:
        reason = re.sub(r"^task \d+: ", "", item["reason"])
        reasons[reason] = reasons.get(reason, 0) + 1
    top = (
        "; ".join(f"{n}x {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:10])
        or "nothing found"
    )
    print(
        f"preprocess: ERROR: no usable training samples ({stats['num_validation_samples']} validation). "
        f"Skipped: {top}",
        file=sys.stderr,
    )
    return 1


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def parse_labels(text: str) -> tuple[str, ...]:
    """--labels: comma-separated, in class-index order 1..N; duplicates and blanks are errors."""
    labels = tuple(part.strip() for part in (text or "").split(","))
    if not labels or any(not label for label in labels):
        raise UsageError("--labels must be a comma-separated list of non-empty names")
    if len(set(labels)) != len(labels):
        raise UsageError("--labels has duplicates")
    if len(labels) > MAX_LABELS:
        raise UsageError(f"at most {MAX_LABELS} labels fit an 8-bit mask with 0 and 255 reserved")
    return labels


# --------------------------------------------------------------------------------------------------------------
# Merge per-shard stats
# --------------------------------------------------------------------------------------------------------------


def merge_stats(source: Path, output: Path) -> int:
    """Sum every per-shard stats-*.json under source into OUTPUT/stats.json.

    Fails (exit 1) when the total has no training or no validation samples: training could not use it.
    """
    files = sorted(p for p in source.rglob("stats-*.json") if p.is_file())
    if not files:
        raise UsageError(f"no per-shard stats-*.json under {source}")
    merged: dict[str, Any] | None = None
    shards = []
    for path in files:
        part = json.loads(path.read_text())
        merged = merged or empty_stats(tuple(part["labels"]))
        if part["labels"] != merged["labels"]:
            raise UsageError(f"{path} has labels {part['labels']}, others {merged['labels']}")
        _merge_into(merged, part)
        shards.append(path.relative_to(source).as_posix())
    assert merged is not None
    merged["shards"] = shards
    write_json(output / "stats.json", merged)
    print(
        f"merge-stats: {len(files)} shard(s): {merged['num_training_samples']} training + "
        f"{merged['num_validation_samples']} validation samples",
        file=sys.stderr,
    )
    if merged["num_training_samples"] == 0:
        return fail_no_samples(merged)
    if merged["num_validation_samples"] == 0:
        # The built-in algorithm needs a validation channel, and the mIOU gate needs its metric: fail here,
        # with the reason, rather than in the training job with "No S3 objects found".
        print(
            "preprocess: ERROR: no validation samples (every usable task hashed to train): annotate more tasks "
            "or raise the ValidationRatio parameter",
            file=sys.stderr,
        )
        return 1
    return 0


def _merge_into(merged: dict[str, Any], part: dict[str, Any]) -> None:
    for key in ("num_training_samples", "num_validation_samples"):
        merged[key] += int(part.get(key, 0))
    for name, value in part.get("pixels_per_class", {}).items():
        merged["pixels_per_class"][name] = merged["pixels_per_class"].get(name, 0) + int(value)
    merged["skipped"].extend(part.get("skipped", []))
    for name, value in part.get("counts", {}).items():
        merged["counts"][name] = merged["counts"].get(name, 0) + int(value)


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", help="folder with Label Studio target-storage objects")
    parser.add_argument("--output", required=True, help="output folder (channels, manifest, stats)")
    parser.add_argument("--labels", help="comma-separated labels; class index = position + 1")
    parser.add_argument("--validation-ratio", type=float, default=0.2)
    parser.add_argument(
        "--images", help="local folder holding the s3:// images by key; default: fetch from S3"
    )
    parser.add_argument(
        "--images-prefix",
        default="",
        help="S3 key prefix that --images corresponds to (default: the prefix of --images-s3-uri)",
    )
    parser.add_argument(
        "--images-s3-uri",
        metavar="S3_URI",
        help="s3://BUCKET/PREFIX/: only images under it are used (fetched per shard when --images is not "
        "given); tasks whose image lies elsewhere are skipped and reported",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="render processes")
    parser.add_argument("--download-concurrency", type=int, default=16, help="parallel S3 downloads")
    parser.add_argument(
        "--shard-by",
        choices=("input", "task"),
        default="input",
        help="input: render every task in --annotations (single instance, or ShardedByS3Key input); "
        "task: every instance reads all annotations (FullyReplicated) and renders the tasks hashed to it",
    )
    parser.add_argument("--shard-index", type=int, help="override the index from resourceconfig.json")
    parser.add_argument("--shard-count", type=int, help="override the host count from resourceconfig.json")
    parser.add_argument("--shard-name", help="override the host name used in per-shard file names")
    parser.add_argument("--resource-config", default=RESOURCE_CONFIG, help=argparse.SUPPRESS)
    parser.add_argument("--progress-interval", type=float, default=5.0, help="seconds between progress lines")
    parser.add_argument("--overwrite", action="store_true", help="clear non-empty channel folders first")
    parser.add_argument(
        "--merge-stats", metavar="DIR", help="merge mode: sum DIR/**/stats-*.json into OUTPUT/stats.json"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.merge_stats:
            return merge_stats(Path(args.merge_stats), Path(args.output))
        if not args.annotations or not args.labels:
            raise UsageError("--annotations and --labels are required (unless --merge-stats)")
        if args.workers < 1 or args.download_concurrency < 1:
            raise UsageError("--workers and --download-concurrency must be >= 1")
        return preprocess(args)
    except UsageError as err:
        print(f"preprocess: ERROR: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
