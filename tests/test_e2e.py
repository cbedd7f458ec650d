"""End to end: the whole loop of `make demo`, headless, with assertions on every hand-off.

Real parts only: a moto server for AWS, a real Label Studio, the Terraform
example applied against moto, the deployed Lambda zip behind the local
gateway, and the pipeline's preprocessing step run as its processing job would.
"""

from __future__ import annotations

import json
import socket
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from demo import DemoOptions, DemoResult, run_demo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(DemoOptions(workdir=tmp_path_factory.mktemp("e2e"), images=36, quiet=True))


def pixels_inside(points: list[tuple[float, float]], width: int, height: int) -> np.ndarray:
    """Even-odd test of every pixel centre against one polygon (pixel coordinates).

    Written here, independently of preprocess.py, from the rule the README states:
    a pixel belongs to a polygon when its centre lies inside it.
    """
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = xs + 0.5, ys + 0.5
    inside = np.zeros((height, width), dtype=bool)
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        if y1 == y2:
            continue
        crosses = (cy >= min(y1, y2)) & (cy < max(y1, y2))
        x_at = x1 + (cy - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (cx < x_at)
    return inside


def expected_mask(regions: list[dict], labels: list[str]) -> np.ndarray:
    """The mask the submitted regions describe: background 0, label i at i + 1, later regions on top."""
    width, height = regions[0]["original_width"], regions[0]["original_height"]
    mask = np.zeros((height, width), dtype=np.uint8)
    for region in regions:
        label = region["value"]["polygonlabels"][0]
        points = [(x * width / 100, y * height / 100) for x, y in region["value"]["points"]]
        mask[pixels_inside(points, width, height)] = labels.index(label) + 1
    return mask


def test_exactly_one_execution_when_the_threshold_is_crossed(demo_run: DemoResult) -> None:
    counts = demo_run.executions_after_each_annotation
    assert len(counts) == demo_run.threshold == 16
    assert counts[:-1] == [0] * (demo_run.threshold - 1), "an execution started before the threshold"
    assert counts[-1] == 1
    assert demo_run.execution_parameters["AnnotationCount"] == str(demo_run.threshold)
    assert demo_run.execution_parameters["LabelStudioProjectId"].isdigit()


def test_duplicate_delivery_starts_nothing(demo_run: DemoResult) -> None:
    assert demo_run.duplicate_response["status"] == 200
    assert demo_run.executions_after_duplicate == 1


def test_annotations_during_a_run_start_one_follow_up_when_it_ends(demo_run: DemoResult) -> None:
    assert demo_run.executions_during_run == [1] * demo_run.threshold, "a run started while one was in flight"
    assert demo_run.completion_response["status"] == "started"
    assert demo_run.executions_after_completion == 2
    assert demo_run.follow_up_arn not in ("", demo_run.execution_arn)
    assert demo_run.follow_up_parameters["AnnotationCount"] == str(2 * demo_run.threshold)


def test_masks_from_label_studio_output_match_submitted_polygons(demo_run: DemoResult) -> None:
    labels = demo_run.outputs["labels"]
    root = demo_run.preprocess_output
    manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == len(demo_run.submitted) == 2 * demo_run.threshold
    stats = json.loads((root / "stats.json").read_text())
    assert stats["num_training_samples"] + stats["num_validation_samples"] == len(demo_run.submitted)
    assert stats["skipped"] == []
    assert {int(sample["task_id"]) for sample in manifest} == set(demo_run.submitted)
    for sample in manifest:
        mask = np.asarray(Image.open(root / sample["mask"]))
        expected = expected_mask(demo_run.submitted[int(sample["task_id"])], labels)
        assert mask.shape == expected.shape
        assert Counter(mask.ravel().tolist()) == Counter(expected.ravel().tolist()), sample["mask"]
        assert set(np.unique(mask)) == set(range(len(labels) + 1)), "every part should be present"


def test_preview_and_summary_artifacts(demo_run: DemoResult) -> None:
    preview = Image.open(demo_run.preview)
    assert preview.width >= 4 * 100
    assert set(demo_run.timings) >= {
        "build and terraform apply against moto",
        "run the preprocessing step locally",
    }


def test_everything_is_stopped_afterwards(demo_run: DemoResult) -> None:
    for url in (demo_run.label_studio_url, demo_run.moto_endpoint, demo_run.gateway_url):
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        with socket.socket() as sock:
            assert sock.connect_ex((host, int(port))) != 0, f"{url} still answers"
