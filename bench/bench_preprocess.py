"""Benchmark preprocessing/preprocess.py against a floor measured in the same run. Run by hand:

    .venv/bin/python bench/bench_preprocess.py                       # 1,000 1024x768 images, memory 1k/10k
    .venv/bin/python bench/bench_preprocess.py --images 200 --memory-sizes 500,5000 --brush-masks 3

Reports, as JSON on stdout (and a readable table on stderr):
- throughput (images/s) of preprocess.py with 1 and 2 worker processes, and of the floor: copying the JPEGs and
  encoding same-sized PNG masks with the same process count, nothing else; goal ratio >= 0.8;
- peak RSS of a preprocess.py run at two annotation counts (small images, 1 worker), goal: the larger within
  10% of the smaller;
- brush RLE decode time vs label_studio_sdk.converter.brush.decode_rle on the same masks, goal >= 20x, equal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "preprocessing" / "preprocess.py"
LABELS = ["Beak", "Head", "Wing", "Body"]


def load_preprocess():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.conftest import load_processing_script

    return load_processing_script("preprocess")


def make_photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A photo-like image (smooth gradient + noise) so JPEG sizes are realistic, not a flat colour."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], axis=-1)
    noise = rng.integers(0, 40, size=(height, width, 3))
    return Image.fromarray((base + noise).clip(0, 255).astype(np.uint8))


def four_polygons(rng: np.random.Generator, width: int, height: int) -> list[dict]:
    results = []
    for label in LABELS:
        cx, cy = rng.uniform(20, 80, size=2)
        n = int(rng.integers(5, 12))
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
        radius = rng.uniform(5, 20, size=n)
        points = [[float(cx + r * np.cos(a)), float(cy + r * np.sin(a))] for r, a in zip(radius, angles)]  # noqa: B905
        results.append(
            {
                "type": "polygonlabels",
                "original_width": width,
                "original_height": height,
                "value": {"points": points, "polygonlabels": [label]},
            }
        )
    return results


def make_dataset(root: Path, count: int, width: int, height: int, distinct_images: int) -> tuple[Path, Path]:
    """count task-format objects, four polygons each; images reuse `distinct_images` JPEG files by key."""
    rng = np.random.default_rng(0)
    ann, img = root / "annotations", root / "images"
    ann.mkdir(parents=True)
    img.mkdir(parents=True)
    for i in range(distinct_images):
        make_photo(rng, width, height).save(img / f"img{i}.jpg", quality=90)
    for task_id in range(1, count + 1):
        doc = {
            "id": task_id,
            "data": {"image": f"s3://bench/img{task_id % distinct_images}.jpg"},
            "annotations": [
                {"id": task_id, "result": four_polygons(rng, width, height), "updated_at": "2025-01-01"}
            ],
        }
        (ann / f"{task_id}.json").write_text(json.dumps(doc))
    return ann, img


def run_preprocess(ann: Path, img: Path, out: Path, workers: int) -> float:
    """Wall time of one CLI run (includes interpreter start-up, as in the container)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(SCRIPT), "--annotations", str(ann), "--output", str(out), "--images", str(img)]
    cmd += ["--labels", ",".join(LABELS), "--workers", str(workers), "--progress-interval", "0"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode())
    return elapsed


def _floor_one(job: tuple[str, str, str, bytes, tuple[int, int]]) -> None:
    """The floor's unit of work: copy one JPEG, encode one same-sized PNG mask."""
    src, dst_img, dst_mask, mask_bytes, shape = job
    shutil.copyfile(src, dst_img)
    mask = np.frombuffer(mask_bytes, dtype=np.uint8).reshape(shape)
    Image.fromarray(mask, mode="L").save(dst_mask, format="PNG")


def run_floor(img: Path, count: int, distinct: int, out: Path, workers: int, mask: np.ndarray) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    jobs = [
        (
            str(img / f"img{t % distinct}.jpg"),
            str(out / f"{t}.jpg"),
            str(out / f"{t}.png"),
            mask.tobytes(),
            mask.shape,
        )
        for t in range(1, count + 1)
    ]
    start = time.perf_counter()
    if workers == 1:
        for job in jobs:
            _floor_one(job)
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_floor_one, jobs, chunksize=8))
    return time.perf_counter() - start


def bench_throughput(work: Path, count: int, width: int, height: int, workers_list: list[int]) -> dict:
    ann, img = make_dataset(work / "tp", count, width, height, distinct_images=min(count, 50))
    # a representative mask for the floor: the one preprocess.py produces for the first task
    pp = load_preprocess()
    first = json.loads((ann / "1.json").read_text())["annotations"][0]["result"]
    polys = [
        (pp.percent_points_to_pixels(r["value"]["points"], width, height)[0], i + 1)
        for i, r in enumerate(first)
    ]
    mask = pp.mask_from_polygons(polys, width, height)
    rows = {}
    for workers in workers_list:
        t_pre = run_preprocess(ann, img, work / "out-pre", workers)
        t_floor = run_floor(img, count, min(count, 50), work / "out-floor", workers, mask)
        rows[str(workers)] = {
            "preprocess_images_per_s": round(count / t_pre, 1),
            "floor_images_per_s": round(count / t_floor, 1),
            "ratio_to_floor": round(t_floor / t_pre, 3),
        }
    shutil.rmtree(work / "tp", ignore_errors=True)
    return rows


PEAK_WRAPPER = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as done:
    code = done.code
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        sys.stderr.write("PEAK_KIB " + line.split()[1] + "\\n")
sys.exit(code)
"""


def peak_rss_kib(ann: Path, img: Path, out: Path) -> int:
    """Peak RSS of one single-process run, read from the process itself (VmHWM is reset by exec, unlike
    ru_maxrss, which would report the benchmark's own size inherited through fork)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", PEAK_WRAPPER, str(SCRIPT), "--annotations", str(ann), "--output", str(out)]
    cmd += ["--images", str(img), "--labels", ",".join(LABELS), "--workers", "1", "--progress-interval", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(proc.stderr.rsplit("PEAK_KIB ", 1)[1].split()[0])


def bench_memory(work: Path, sizes: list[int]) -> dict:
    rows = {}
    for count in sizes:
        ann, img = make_dataset(work / f"mem{count}", count, 64, 48, distinct_images=20)
        start = time.perf_counter()
        rss = peak_rss_kib(ann, img, work / f"out-mem{count}")
        rows[str(count)] = {
            "peak_rss_mib": round(rss / 1024, 1),
            "seconds": round(time.perf_counter() - start, 1),
        }
        shutil.rmtree(work / f"mem{count}", ignore_errors=True)
        shutil.rmtree(work / f"out-mem{count}", ignore_errors=True)
    small, large = rows[str(sizes[0])]["peak_rss_mib"], rows[str(sizes[-1])]["peak_rss_mib"]
    rows["growth"] = round(large / small - 1, 3)
    return rows


def brush_masks(masks: int, width: int, height: int) -> list[np.ndarray]:
    """Blob-shaped brush strokes (a few overlapping disks each)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for _ in range(masks):
        blob = np.zeros((height, width), dtype=bool)
        for _ in range(4):
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(30, 150)
            blob |= (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        out.append(blob)
    return out


def bench_brush(masks: int, width: int, height: int) -> dict:
    """Two RGBA encodings of the same strokes: grey (all channels = alpha, what the SDK's mask2rle writes)
    and coloured (label colour + alpha, as a browser canvas holds it), which needs literal runs."""
    from label_studio_sdk.converter.brush import decode_rle, encode_rle

    pp = load_preprocess()
    results = {}
    blobs = brush_masks(masks, width, height)
    for style in ("grey", "coloured"):
        rles = []
        for blob in blobs:
            rgba = np.zeros((height, width, 4), dtype=np.uint8)
            rgba[blob] = (255, 255, 255, 255) if style == "grey" else (220, 40, 90, 255)
            rles.append([int(v) for v in encode_rle(rgba.ravel())])
        start = time.perf_counter()
        reference = [decode_rle(r) for r in rles]
        t_ref = time.perf_counter() - start
        best = float("inf")
        for _ in range(3):  # best of three: the machine is shared
            start = time.perf_counter()
            ours = [pp.decode_brush_rle(r) for r in rles]
            best = min(best, time.perf_counter() - start)
        results[style] = {
            "masks": masks,
            "size": f"{width}x{height}",
            "rle_bytes_per_mask": int(sum(len(r) for r in rles) / masks),
            "reference_ms_per_mask": round(1000 * t_ref / masks, 1),
            "ours_ms_per_mask": round(1000 * best / masks, 2),
            "speedup": round(t_ref / best, 1),
            "identical": all(np.array_equal(a, b) for a, b in zip(reference, ours)),  # noqa: B905
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="images in the throughput run")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--workers", default="1,2", help="comma-separated process counts")
    parser.add_argument("--memory-sizes", default="1000,10000", help="annotation counts for peak memory")
    parser.add_argument("--brush-masks", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma-separated: throughput,memory,brush")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="bench-preprocess-"))
    results: dict = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        if "throughput" not in skip:
            workers = [int(w) for w in args.workers.split(",")]
            results["throughput"] = bench_throughput(work, args.images, args.width, args.height, workers)
            results["throughput"]["images"] = f"{args.images} x {args.width}x{args.height}, 4 polygons each"
        if "memory" not in skip:
            results["memory"] = bench_memory(work, [int(s) for s in args.memory_sizes.split(",")])
        if "brush" not in skip:
            results["brush"] = bench_brush(args.brush_masks, args.width, args.height)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
