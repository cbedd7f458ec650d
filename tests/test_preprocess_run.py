"""End-to-end behaviour of preprocessing/preprocess.py on captured Label Studio storage objects and edge cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import load_processing_script

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "ls_storage"
LABELS = "Beak,Head,Wing,Body"


pp = load_processing_script("preprocess")


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """The captured tasks' images (sizes from capture_meta.json), laid out by S3 key."""
    root = tmp_path / "images"
    meta = json.loads((FIXTURES / "capture_meta.json").read_text())
    for item in meta["images"]:
        path = root / item["key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (item["width"], item["height"]), (90, 140, 200)).save(path)
    return root


def run(annotations: Path, output: Path, *extra: str, images: Path | None = None, ratio: float = 0.2) -> int:
    argv = ["--annotations", str(annotations), "--output", str(output), "--labels", LABELS]
    argv += ["--validation-ratio", str(ratio), "--workers", "1", *extra]
    if images is not None:
        argv += ["--images", str(images)]
    return pp.main(argv)


def read_manifest(path: Path) -> list[dict]:
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["task_id"])


def read_stats(output: Path) -> dict:
    return json.loads((output / "stats.json").read_text())


def mask_counts(path: Path) -> dict[int, int]:
    values, n = np.unique(np.asarray(Image.open(path)), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, n, strict=True)}


def task_doc(task_id: int, image: str, annotations: list[dict]) -> dict:
    """A task-format storage object like Label Studio writes (only the fields the script reads)."""
    return {"id": task_id, "data": {"image": image}, "annotations": annotations}


def annotation(ann_id: int, result: list, updated: str = "2025-01-01T00:00:00Z", **extra) -> dict:
    return {"id": ann_id, "result": result, "updated_at": updated, "created_at": updated, **extra}


def polygon(label: str, points: list, width: int, height: int) -> dict:
    return {
        "type": "polygonlabels",
        "original_width": width,
        "original_height": height,
        "value": {"points": points, "polygonlabels": [label]},
    }


SQUARE = [[0, 0], [50, 0], [50, 50], [0, 50]]


def write_tasks(folder: Path, docs: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (folder / f"{doc['id']}.json").write_text(json.dumps(doc))
    return folder


# ---------------------------------------------------------------------------------------------- captured fixtures


@pytest.mark.parametrize("layout", ["annotation_format", "task_format"])
def test_captured_storage_objects_both_layouts(layout, images, tmp_path):
    out = tmp_path / "out"
    assert run(FIXTURES / layout, out, images=images, ratio=0.0) == 0
    rows = read_manifest(out / "manifest.jsonl")
    # task 1: ground truth (annotation 2) beats the newer annotation 3; task 2: latest non-cancelled (5);
    # task 3: its only annotation; task 4: cancelled only -> skipped
    assert [(r["task_id"], r["annotation_id"]) for r in rows] == [(1, 2), (2, 5), (3, 7)]
    # two tasks use a file named bird-1.jpg: basenames stay unique per task
    assert len({Path(r["image"]).name for r in rows}) == 3
    for row in rows:
        assert Path(row["image"]).stem == Path(row["mask"]).stem
        assert Image.open(out / row["image"]).format == "JPEG"
        mask = Image.open(out / row["mask"])
        assert mask.mode == "L" and mask.size == Image.open(out / row["image"]).size
    # task 1, ground truth: Body (class 4) triangle (0,0),(64,0),(0,48) -> per row r: ceil(64*(1-(r+.5)/48) - .5)
    expected = sum(int(np.ceil(64 * (1 - (r + 0.5) / 48) - 0.5)) for r in range(48))
    assert mask_counts(out / rows[0]["mask"]) == {0: 64 * 48 - expected, 4: expected}
    # task 2 (PNG source, 40x30): Wing square 25..75% = 20 x 15 px; Body clipped to y 80..100% = 40 x 6 px
    assert mask_counts(out / rows[1]["mask"]) == {0: 1200 - 300 - 240, 3: 300, 4: 240}
    # task 3: brush disk radius 10 at (20, 20): Body
    disk = sum(1 for y in range(48) for x in range(64) if (x + 0.5 - 20) ** 2 + (y + 0.5 - 20) ** 2 <= 100)
    assert mask_counts(out / rows[2]["mask"]) == {0: 64 * 48 - disk, 4: disk}
    stats = read_stats(out)
    assert stats["num_training_samples"] == 3 and stats["num_validation_samples"] == 0
    reasons = " | ".join(s["reason"] for s in stats["skipped"])
    for expected_reason in ("cancelled", "unknown label 'Tail'", "2 points", "clipped"):
        assert expected_reason in reasons
    assert stats["pixels_per_class"]["Wing"] == 300
    assert (out / "stats" / f"stats-{stats['shard']['name']}.json").is_file()


def test_annotations_of_one_task_across_files_and_layouts(images, tmp_path):
    """Mixing both layouts in one folder: the per-task choice is made across all objects."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for src in (FIXTURES / "annotation_format").iterdir():
        (mixed / src.name).write_bytes(src.read_bytes())
    (mixed / "1.json").write_bytes((FIXTURES / "task_format" / "1.json").read_bytes())
    out = tmp_path / "out"
    assert run(mixed, out, images=images) == 0
    rows = read_manifest(out / "manifest.jsonl")
    assert [(r["task_id"], r["annotation_id"]) for r in rows] == [(1, 2), (2, 5), (3, 7)]


def test_cli_with_two_processes_matches_one(images, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(FIXTURES / "task_format", one, images=images) == 0
    cmd = [
        sys.executable,
        str(ROOT / "preprocessing" / "preprocess.py"),
        "--annotations",
        str(FIXTURES / "task_format"),
    ]
    cmd += ["--output", str(two), "--labels", LABELS, "--images", str(images), "--workers", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "preprocess: 3 training" in proc.stderr or "training +" in proc.stderr
    assert read_manifest(one / "manifest.jsonl") == read_manifest(two / "manifest.jsonl")
    for row in read_manifest(one / "manifest.jsonl"):
        assert (one / row["mask"]).read_bytes() == (two / row["mask"]).read_bytes()
        assert (one / row["image"]).read_bytes() == (two / row["image"]).read_bytes()


# ---------------------------------------------------------------------------------------------- selection


def test_ground_truth_then_latest_not_cancelled(tmp_path):
    img = tmp_path / "img" / "a.jpg"
    img.parent.mkdir()
    Image.new("RGB", (10, 10)).save(img)
    url = "s3://b/a.jpg"
    docs = [
        task_doc(
            1,
            url,
            [
                annotation(10, [polygon("Beak", SQUARE, 10, 10)], "2025-01-01T00:00:00Z"),
                annotation(11, [polygon("Head", SQUARE, 10, 10)], "2025-01-03T00:00:00.5Z"),
                annotation(12, [polygon("Wing", SQUARE, 10, 10)], "2025-01-04T00:00:00Z", was_cancelled=True),
                annotation(13, [polygon("Body", SQUARE, 10, 10)], "2025-01-02T00:00:00+00:00"),
            ],
        ),
        task_doc(
            2,
            url,
            [
                annotation(20, [polygon("Beak", SQUARE, 10, 10)], "2025-01-01T00:00:00Z", ground_truth=True),
                annotation(21, [polygon("Head", SQUARE, 10, 10)], "2025-06-01T00:00:00Z"),
            ],
        ),
        # 01:00+02:00 is 23:00 the day before in UTC: older than annotation 30
        task_doc(
            3,
            url,
            [
                annotation(30, [polygon("Beak", SQUARE, 10, 10)], "2025-01-01T00:00:00Z"),
                annotation(31, [polygon("Head", SQUARE, 10, 10)], "2025-01-01T01:00:00+02:00"),
            ],
        ),
    ]
    out = tmp_path / "out"
    assert run(write_tasks(tmp_path / "ann", docs), out, images=tmp_path / "img") == 0
    chosen = {r["task_id"]: r["annotation_id"] for r in read_manifest(out / "manifest.jsonl")}
    assert chosen == {1: 11, 2: 20, 3: 30}
    assert read_stats(out)["counts"]["superseded"] == 4


# ---------------------------------------------------------------------------------------------- images


def exif_jpeg(path: Path, raw: Image.Image, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw.save(path, format="JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("frame", ["upright", "raw"])
def test_exif_rotated_jpeg_is_written_upright_and_aligned(tmp_path, frame):
    # raw 40x20 with orientation 6 (shown turned 90 degrees clockwise): upright is 20x40.
    raw = Image.new("RGB", (40, 20), (0, 0, 255))
    raw.paste((255, 0, 0), (0, 10, 10, 20))  # raw bottom-left = upright top-left 10x10
    (tmp_path / "img").mkdir()
    exif_jpeg(tmp_path / "img" / "turned.jpg", raw, 6)
    if frame == "upright":  # what Label Studio records: the browser shows the image EXIF-turned
        region = polygon("Head", [[0, 0], [50, 0], [50, 25], [0, 25]], 20, 40)
    else:  # sizes of the raw frame: the percentages refer to the raw pixels
        region = polygon("Head", [[0, 50], [25, 50], [25, 100], [0, 100]], 40, 20)
    docs = [task_doc(5, "s3://b/turned.jpg", [annotation(1, [region])])]
    out = tmp_path / "out"
    assert run(write_tasks(tmp_path / "ann", docs), out, images=tmp_path / "img") == 0
    row = read_manifest(out / "manifest.jsonl")[0]
    image = Image.open(out / row["image"])
    assert image.size == (20, 40)
    assert image.getexif().get(0x0112, 1) == 1
    mask = np.asarray(Image.open(out / row["mask"]))
    assert mask.shape == (40, 20)
    assert mask_counts(out / row["mask"]) == {0: 800 - 100, 2: 100}
    assert mask[:10, :10].min() == 2
    pixels = np.asarray(image.convert("RGB")).astype(int)
    assert pixels[mask == 2][:, 0].mean() > 200 and pixels[mask == 0][:, 2].mean() > 200


def test_jpeg_without_orientation_is_copied_byte_for_byte_and_png_is_converted(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (16, 8), (10, 200, 30)).save(tmp_path / "img" / "a.jpg", quality=70)
    Image.new("RGBA", (16, 8), (10, 200, 30, 128)).save(tmp_path / "img" / "b.png")
    docs = [
        task_doc(1, "s3://b/a.jpg", [annotation(1, [polygon("Beak", SQUARE, 16, 8)])]),
        task_doc(2, "s3://b/b.png", [annotation(2, [polygon("Beak", SQUARE, 16, 8)])]),
    ]
    out = tmp_path / "out"
    assert run(write_tasks(tmp_path / "ann", docs), out, images=tmp_path / "img", ratio=0.0) == 0
    rows = read_manifest(out / "manifest.jsonl")
    assert (out / rows[0]["image"]).read_bytes() == (tmp_path / "img" / "a.jpg").read_bytes()
    converted = Image.open(out / rows[1]["image"])
    assert converted.format == "JPEG" and converted.mode == "RGB" and converted.size == (16, 8)
    assert rows[1]["image"] == "train/2-b.jpg" and rows[1]["mask"] == "train_annotation/2-b.png"


# ---------------------------------------------------------------------------------------------- malformed input


def test_malformed_inputs_are_reported_never_fatal(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "img" / "ok.jpg")
    (tmp_path / "img" / "broken.jpg").write_bytes(b"not an image")
    ann = tmp_path / "ann"
    good = polygon("Beak", SQUARE, 10, 10)
    truncated_brush = {"type": "brushlabels", "original_width": 10, "original_height": 10}
    truncated_brush["value"] = {"format": "rle", "rle": [0, 0, 1, 144, 32], "brushlabels": ["Wing"]}
    docs = [
        task_doc(1, "s3://b/ok.jpg", [annotation(1, [good])]),
        task_doc(2, "s3://b/ok.jpg", [annotation(2, [])]),  # empty result
        task_doc(3, "s3://b/missing.jpg", [annotation(3, [good])]),
        task_doc(4, "s3://b/broken.jpg", [annotation(4, [good])]),
        task_doc(5, "s3://b/ok.jpg", [annotation(5, [polygon("Beak", [[1, "x"], [2, 3], [4, 5]], 10, 10)])]),
        task_doc(
            6, "s3://b/ok.jpg", [annotation(6, [truncated_brush, {"type": "rectanglelabels", "value": {}}])]
        ),
        task_doc(7, "s3://b/ok.jpg", [annotation(7, ["not a dict", good, {"type": "choices", "value": {}}])]),
        task_doc(8, "https://example.com/x.jpg", [annotation(8, [good])]),
        {"id": 9, "annotations": [annotation(9, [good])]},  # no data/image
        task_doc(10, "s3://b/ok.jpg", [annotation(10, [polygon("Beak", [[1, 1], [1, 1], [1, 1]], 10, 10)])]),
    ]
    write_tasks(ann, docs)
    (ann / "garbage.json").write_text("{not json")
    (ann / "list.json").write_text("[1, 2]")
    (ann / "other.json").write_text('{"hello": "world"}')
    (ann / "binary").write_bytes(b"\xff\xfe\x00")
    out = tmp_path / "out"
    assert run(ann, out, images=tmp_path / "img", ratio=0.0) == 0
    assert {r["task_id"] for r in read_manifest(out / "manifest.jsonl")} == {1, 7}
    stats = read_stats(out)
    by_source: dict[str, str] = {}
    for item in stats["skipped"]:
        by_source[item["source"]] = by_source.get(item["source"], "") + item["reason"] + "; "
    text = json.dumps(stats["skipped"])
    for needle in (
        "garbage.json",
        "list.json",
        "other.json",
        "binary",
        "annotation result is empty",
        "missing.jpg not found",
        "broken.jpg",
        "points are not a list",
        "truncated",
        "unsupported type 'rectanglelabels'",
        "result is not an object",
        "x.jpg",
        "no image URL",
        "no pixel centre",
        "no usable regions",
    ):
        assert needle in text, needle
    assert "choices" not in text  # non-region results are not noise in the report
    assert stats["num_training_samples"] == 2


def test_zero_usable_samples_fails_and_says_why(tmp_path, capsys):
    docs = [task_doc(1, "s3://b/a.jpg", [annotation(1, [], was_cancelled=True)])]
    rc = run(write_tasks(tmp_path / "ann", docs), tmp_path / "out", images=tmp_path)
    assert rc == 1
    err = capsys.readouterr().err
    assert "no usable training samples" in err and "cancelled" in err


def test_bad_command_line_is_a_clear_error(tmp_path, capsys):
    assert pp.main(["--annotations", str(tmp_path), "--output", str(tmp_path / "o"), "--labels", "A,,B"]) == 2
    assert (
        pp.main(["--annotations", str(tmp_path / "nope"), "--output", str(tmp_path / "o"), "--labels", "A"])
        == 2
    )
    assert "not a directory" in capsys.readouterr().err


def test_refuses_to_mix_with_an_earlier_run(images, tmp_path):
    out = tmp_path / "out"
    assert run(FIXTURES / "task_format", out, images=images) == 0
    assert run(FIXTURES / "task_format", out, images=images) == 2
    assert run(FIXTURES / "task_format", out, "--overwrite", images=images) == 0


# ---------------------------------------------------------------------------------------------- split and shards


def tiny_dataset(tmp_path: Path, task_ids: range) -> tuple[Path, Path]:
    img = tmp_path / "img"
    img.mkdir(exist_ok=True)
    Image.new("RGB", (4, 4)).save(img / "t.jpg")
    docs = [task_doc(t, "s3://b/t.jpg", [annotation(t, [polygon("Wing", SQUARE, 4, 4)])]) for t in task_ids]
    return write_tasks(tmp_path / "ann", docs), img


def splits(output: Path, manifest: str = "manifest.jsonl") -> dict[int, str]:
    return {r["task_id"]: r["split"] for r in read_manifest(output / manifest)}


def test_split_is_stable_when_tasks_are_added_and_ratio_holds(tmp_path):
    ann, img = tiny_dataset(tmp_path, range(1, 301))
    assert run(ann, tmp_path / "a", images=img) == 0
    first = splits(tmp_path / "a")
    tiny_dataset(tmp_path, range(301, 401))
    assert run(ann, tmp_path / "b", images=img) == 0
    second = splits(tmp_path / "b")
    assert {t: second[t] for t in first} == first
    share = sum(s == "validation" for s in second.values()) / len(second)
    assert abs(share - 0.2) < 4 * (0.2 * 0.8 / len(second)) ** 0.5
    stats = read_stats(tmp_path / "b")
    assert stats["num_validation_samples"] == sum(s == "validation" for s in second.values())
    assert all((tmp_path / "b" / f"{s}_annotation" / f"{t}-t.png").is_file() for t, s in second.items())


def output_files(output: Path) -> dict[str, bytes]:
    return {
        p.relative_to(output).as_posix(): p.read_bytes()
        for channel in pp.CHANNELS
        for p in (output / channel).iterdir()
    }


def test_task_shards_are_disjoint_and_union_equals_whole_run(tmp_path):
    ann, img = tiny_dataset(tmp_path, range(1, 61))
    # add several annotations of one task in separate per-annotation objects: shards must still agree
    for ann_id, updated in ((1000, "2030-01-01T00:00:00Z"), (1001, "2020-01-01T00:00:00Z")):
        doc = annotation(ann_id, [polygon("Body", SQUARE, 4, 4)], updated)
        doc["task"] = {"id": 7, "data": {"image": "s3://b/t.jpg"}}
        (ann / str(ann_id)).write_text(json.dumps(doc))
    assert run(ann, tmp_path / "whole", images=img) == 0
    whole = output_files(tmp_path / "whole")
    union: dict[str, bytes] = {}
    for index in range(3):
        out = tmp_path / f"shard{index}"
        shard = [
            "--shard-by",
            "task",
            "--shard-index",
            str(index),
            "--shard-count",
            "3",
            "--shard-name",
            f"h{index}",
        ]
        assert run(ann, out, *shard, images=img) == 0
        files = output_files(out)
        assert files and not set(files) & set(union)
        union.update(files)
        assert not (out / "stats.json").exists() and (out / "stats" / f"stats-h{index}.json").is_file()
        assert (out / "manifest" / f"manifest-h{index}.jsonl").is_file()
        (tmp_path / "all-stats").mkdir(exist_ok=True)
        (tmp_path / "all-stats" / f"stats-h{index}.json").write_bytes(
            (out / "stats" / f"stats-h{index}.json").read_bytes()
        )
    assert union == whole
    assert pp.main(["--merge-stats", str(tmp_path / "all-stats"), "--output", str(tmp_path / "merged")]) == 0
    merged, single = read_stats(tmp_path / "merged"), read_stats(tmp_path / "whole")
    for key in ("num_training_samples", "num_validation_samples", "pixels_per_class", "labels"):
        assert merged[key] == single[key], key
    assert merged["num_training_samples"] + merged["num_validation_samples"] == 60


def test_input_shards_union_equals_whole_run(tmp_path):
    """ShardedByS3Key: each instance gets some objects; with one object per task the shards are disjoint."""
    ann, img = tiny_dataset(tmp_path, range(1, 21))
    assert run(ann, tmp_path / "whole", images=img) == 0
    union: dict[str, bytes] = {}
    files = sorted(ann.iterdir())
    for index in range(2):
        part = tmp_path / f"part{index}"
        part.mkdir()
        for path in files[index::2]:
            (part / path.name).write_bytes(path.read_bytes())
        out = tmp_path / f"out{index}"
        assert run(part, out, "--shard-count", "2", "--shard-index", str(index), images=img) == 0
        shard_files = output_files(out)
        assert not set(shard_files) & set(union)
        union.update(shard_files)
    assert union == output_files(tmp_path / "whole")


def test_shard_identity_from_sagemaker_resource_config(tmp_path):
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    args = pp.build_parser().parse_args(
        ["--output", "x", "--resource-config", str(config), "--shard-by", "task"]
    )
    plan = pp.plan_shard(args)
    assert (plan.name, plan.index, plan.count, plan.by_task) == ("algo-2", 1, 2, True)


def test_merge_stats_fails_on_zero_total(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    empty = pp.empty_stats(("A",))
    empty["skipped"] = [{"source": "x", "reason": "task 1: annotation was cancelled (skipped)"}]
    (tmp_path / "s" / "stats-a.json").write_text(json.dumps(empty))
    assert pp.main(["--merge-stats", str(tmp_path / "s"), "--output", str(tmp_path / "o")]) == 1
    assert "cancelled" in capsys.readouterr().err
    assert pp.main(["--merge-stats", str(tmp_path / "none"), "--output", str(tmp_path / "o")]) == 2


def test_merge_stats_fails_without_validation_samples(tmp_path, capsys):
    """Training needs a validation channel; an all-train split must fail before the training job."""
    (tmp_path / "s").mkdir()
    train_only = pp.empty_stats(("A",))
    train_only["num_training_samples"] = 16
    (tmp_path / "s" / "stats-a.json").write_text(json.dumps(train_only))
    assert pp.main(["--merge-stats", str(tmp_path / "s"), "--output", str(tmp_path / "o")]) == 1
    assert "no validation samples" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- S3 mode


def test_images_fetched_from_s3_when_no_images_dir(tmp_path, monkeypatch):
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    meta = json.loads((FIXTURES / "capture_meta.json").read_text())
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=meta["image_bucket"])
        for item in meta["images"][:2]:  # the third image is missing from the bucket
            body = tmp_path / "body"
            Image.new("RGB", (item["width"], item["height"])).save(body, format="JPEG")
            s3.put_object(Bucket=meta["image_bucket"], Key=item["key"], Body=body.read_bytes())
        out = tmp_path / "out"
        assert run(FIXTURES / "task_format", out, "--download-concurrency", "2") == 0
    rows = read_manifest(out / "manifest.jsonl")
    assert [r["task_id"] for r in rows] == [1, 2]
    assert "cannot download s3://lsr-bucket/images/sub/bird-1.jpg" in json.dumps(read_stats(out)["skipped"])
    assert not any(Path(p).name.startswith("lsr-images-") for p in os.listdir(out))


SCOPE_TASKS = {  # task id -> (image URL, allowed under --images-s3-uri s3://lsr-bucket/images/)
    1: ("s3://lsr-bucket/images/bird-1.jpg", True),
    2: ("s3://lsr-bucket/images/sub/bird-2.jpg", True),
    3: ("s3://lsr-bucket/secrets/bird-3.jpg", False),  # same bucket, other prefix
    4: ("s3://lsr-bucket/images-private/bird-4.jpg", False),  # shares the prefix string, not the folder
    5: ("s3://other-bucket/images/bird-5.jpg", False),  # same prefix, other bucket
    6: ("s3://lsr-bucket/images/../secrets/bird-3.jpg", False),  # dot segments are refused
}


def scope_dataset(tmp_path: Path) -> Path:
    docs = [
        task_doc(task_id, url, [annotation(100 + task_id, [polygon("Beak", SQUARE, 16, 12)])])
        for task_id, (url, _) in SCOPE_TASKS.items()
    ]
    return write_tasks(tmp_path / "ann", docs)


def assert_scoped(out: Path) -> None:
    rows = read_manifest(out / "manifest.jsonl")
    assert [r["task_id"] for r in rows] == [t for t, (_, ok) in SCOPE_TASKS.items() if ok]
    skipped = read_stats(out)["skipped"]
    for task_id, (url, ok) in SCOPE_TASKS.items():
        if not ok:
            reason = f"task {task_id}: image {url} is outside --images-s3-uri s3://lsr-bucket/images/ (not fetched)"
            assert reason in [s["reason"] for s in skipped], (task_id, skipped)
    assert len(skipped) == sum(not ok for _, ok in SCOPE_TASKS.values())


@pytest.fixture
def fake_aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_images_s3_uri_confines_downloads_to_its_prefix(tmp_path, fake_aws, monkeypatch):
    """Without --images only objects under --images-s3-uri are fetched; others are skipped, never requested."""
    from moto import mock_aws

    annotations = scope_dataset(tmp_path)
    requested: list[tuple[str, str]] = []
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        body = tmp_path / "body.jpg"
        Image.new("RGB", (16, 12), (200, 100, 50)).save(body, format="JPEG")
        for bucket in ("lsr-bucket", "other-bucket"):
            s3.create_bucket(Bucket=bucket)
        # Every image exists and the credentials can read all of them: only the scope keeps 3-6 out.
        for url, _ in SCOPE_TASKS.values():
            bucket, key = pp.parse_s3_url(url)
            s3.put_object(Bucket=bucket, Key=key, Body=body.read_bytes())
        real_init = pp.S3Fetcher.__init__

        def recording_init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            download = self.client.download_file

            def record(bucket, key, local):
                requested.append((bucket, key))
                return download(bucket, key, local)

            self.client.download_file = record

        monkeypatch.setattr(pp.S3Fetcher, "__init__", recording_init)
        out = tmp_path / "out"
        argv = ("--images-s3-uri", "s3://lsr-bucket/images", "--download-concurrency", "3")
        assert run(annotations, out, *argv) == 0
    assert sorted(requested) == [("lsr-bucket", "images/bird-1.jpg"), ("lsr-bucket", "images/sub/bird-2.jpg")]
    assert_scoped(out)
    # The fetched images are the bucket's bytes (a JPEG without EXIF turn is copied as is).
    rows = read_manifest(out / "manifest.jsonl")
    assert (out / rows[0]["image"]).read_bytes() == body.read_bytes()


def test_images_s3_uri_applies_with_a_local_images_folder(tmp_path):
    """--images DIR plus --images-s3-uri: s3:// URLs outside the scope are skipped even if the file is there."""
    annotations = scope_dataset(tmp_path)
    root = tmp_path / "mirror"  # the images prefix mounted locally (prefix taken from --images-s3-uri)
    for url, _ in SCOPE_TASKS.values():
        path = root / pp.parse_s3_url(url)[1].removeprefix("images/")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 12)).save(path, format="JPEG")
    out = tmp_path / "out"
    assert run(annotations, out, "--images-s3-uri", "s3://lsr-bucket/images/", images=root) == 0
    assert_scoped(out)
    # Without the scope the same local run renders every task it finds a file for, but never reads outside
    # --images (task 6's "images/../secrets/..." would resolve to tmp_path/secrets/, which exists).
    out_all = tmp_path / "out-all"
    assert run(annotations, out_all, "--images-prefix", "images/", images=root) == 0
    assert [r["task_id"] for r in read_manifest(out_all / "manifest.jsonl")] == [1, 2, 3, 4, 5]
    assert (tmp_path / "secrets" / "bird-3.jpg").is_file()
    [note] = read_stats(out_all)["skipped"]
    assert note["reason"] == f"task 6: image {SCOPE_TASKS[6][0]} has a '..' segment (not read)"


@pytest.mark.parametrize(
    "uri", ["lsr-bucket/images/", "s3://", "s3:///images/", "s3://b/images//x/", "s3://lsr-bucket/../x/"]
)
def test_bad_images_s3_uri_is_a_usage_error(tmp_path, capsys, uri):
    annotations = scope_dataset(tmp_path)
    out = tmp_path / "out"
    assert run(annotations, out, "--images-s3-uri", uri) == 2
    assert "--images-s3-uri" in capsys.readouterr().err
    assert not out.exists()


def test_images_scope_parsing():
    assert pp.parse_images_scope("s3://lsr-bucket/images") == pp.ImagesScope("lsr-bucket", "images/")
    assert pp.parse_images_scope("s3://lsr-bucket/") == pp.ImagesScope("lsr-bucket", "")
    assert pp.parse_images_scope("s3://lsr-bucket") == pp.ImagesScope("lsr-bucket", "")
    whole_bucket = pp.ImagesScope("lsr-bucket", "")
    assert whole_bucket.refusal("s3://lsr-bucket/any/key.jpg") is None
    assert "outside" in whole_bucket.refusal("s3://other/any/key.jpg")
