"""preprocessing/cleanup.py deletes exactly one execution's scratch prefix and refuses everything else."""

from __future__ import annotations

import pytest

from tests.conftest import load_processing_script

cleanup = load_processing_script("cleanup")

BUCKET = "lsr-test-bucket"
KEYS = [
    "runs/exec1/train/a.jpg",
    "runs/exec1/stats/stats-algo-1.json",
    "runs/exec10/train/b.jpg",  # shares the string prefix "runs/exec1" but is another execution
    "runs/other/x",
    "images/a.jpg",
    "annotations/1",
    "models/exec1/model.tar.gz",
]


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for key in KEYS:
            client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        for i in range(5):
            client.put_object(Bucket=BUCKET, Key=f"runs/exec1/validation/{i}.jpg", Body=b"x")
        monkeypatch.setattr(cleanup, "BATCH", 2)  # several DeleteObjects batches without 1000s of objects
        yield client


def remaining(client) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_deletes_only_the_execution_folder(s3):
    assert (
        cleanup.main(["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", "exec1"], client=s3)
        == 0
    )
    assert remaining(s3) == set(KEYS) - {"runs/exec1/train/a.jpg", "runs/exec1/stats/stats-algo-1.json"}


def test_uri_form_and_dry_run(s3, capsys):
    argv = ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}/runs/exec1/", "--dry-run"]
    assert cleanup.main(argv, client=s3) == 0
    assert len(remaining(s3)) == len(KEYS) + 5
    assert "would delete 7" in capsys.readouterr().err
    assert cleanup.main(argv[:-1], client=s3) == 0
    assert not any(k.startswith("runs/exec1/") for k in remaining(s3))


def test_nothing_to_delete_is_fine(s3):
    assert (
        cleanup.main(["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", "nope"], client=s3)
        == 0
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", ""],
        ["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", ".."],
        ["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", "a/b"],
        ["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", "*"],
        ["--bucket", BUCKET, "--scratch-root", "", "--execution-id", "exec1"],
        ["--bucket", BUCKET, "--scratch-root", "/", "--execution-id", "exec1"],
        ["--bucket", BUCKET, "--scratch-root", "runs", "--execution-id", "exec1"],
        ["--bucket", BUCKET, "--scratch-root", "../runs/", "--execution-id", "exec1"],
        ["--bucket", "Bad_Bucket", "--scratch-root", "runs/", "--execution-id", "exec1"],
        ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}/images/"],
        ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}/runs/"],
        ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}/runs/exec1/train/"],
        ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}/models/exec1/"],
        ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}"],
        ["--scratch-root", "runs/", "--uri", f"s3://{BUCKET}/runs/exec1/", "--bucket", BUCKET],
        ["--scratch-root", "runs/", "--bucket", BUCKET],
    ],
)
def test_refuses_anything_but_one_execution_folder(s3, argv, capsys):
    assert cleanup.main(argv, client=s3) == 2
    assert "REFUSED" in capsys.readouterr().err
    assert len(remaining(s3)) == len(KEYS) + 5


def test_s3_errors_give_a_non_zero_exit(s3):
    class Failing:
        def get_paginator(self, name):
            return s3.get_paginator(name)

        def delete_objects(self, Bucket, Delete):
            return {
                "Errors": [
                    {"Key": o["Key"], "Code": "AccessDenied", "Message": "no"} for o in Delete["Objects"]
                ]
            }

    assert (
        cleanup.main(
            ["--bucket", BUCKET, "--scratch-root", "runs/", "--execution-id", "exec1"], client=Failing()
        )
        == 1
    )
