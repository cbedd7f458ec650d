"""Delete one pipeline execution's scratch prefix, and nothing else.

Why a script: the pipeline's last step removes s3://<bucket>/<runs_prefix><execution-id>/ (channels, stats)
so scratch data does not pile up; the bucket's lifecycle rule is only the backstop. A bug in the arguments
must never be able to delete images, annotations or models, so the prefix is rebuilt from its parts and
checked to be exactly one execution folder directly under the scratch root.

    python cleanup.py --bucket B --scratch-root runs/ --execution-id ID [--dry-run]
    python cleanup.py --scratch-root runs/ --uri s3://B/runs/ID/ [--dry-run]

Runs in the SageMaker scikit-learn container (Python 3.9, boto3, stdlib only).
Exit codes: 0 deleted (or nothing to delete), 1 S3 reported errors, 2 refused (bad or unsafe arguments).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")  # SageMaker execution ids are lowercase alphanumerics
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BATCH = 1000  # DeleteObjects accepts at most 1000 keys per call


class Refused(Exception):
    """The arguments do not name exactly one execution folder under the scratch root."""


def check_scratch_root(root: str) -> str:
    """The scratch root must be a non-empty relative prefix of plain segments ending with '/'."""
    if not root or not root.endswith("/") or root.startswith("/"):
        raise Refused(
            f"scratch root {root!r} must be a non-empty prefix like 'runs/' (ends with '/', no leading '/')"
        )
    for part in root[:-1].split("/"):
        if not _SEGMENT.match(part):
            raise Refused(f"scratch root {root!r} has an unsafe segment {part!r}")
    return root


def execution_prefix(scratch_root: str, execution_id: str) -> str:
    """<scratch_root><execution_id>/ after checking both; the only kind of prefix this script deletes."""
    root = check_scratch_root(scratch_root)
    if not _SEGMENT.match(execution_id or "") or execution_id in (".", ".."):
        raise Refused(
            f"execution id {execution_id!r} must be one path segment of letters, digits, '.', '_', '-', '='"
        )
    return f"{root}{execution_id}/"


def parse_uri(uri: str, scratch_root: str) -> tuple[str, str]:
    """(bucket, prefix) from s3://bucket/<scratch_root><id>/ ; refuses anything else."""
    match = re.match(r"^s3://([^/]+)/(.*)$", uri or "")
    if not match:
        raise Refused(f"{uri!r} is not an s3://bucket/prefix URI")
    bucket, key = match.group(1), match.group(2)
    root = check_scratch_root(scratch_root)
    if not key.startswith(root):
        raise Refused(f"{uri!r} is outside the scratch root s3://{bucket}/{root}")
    rest = key[len(root) :].rstrip("/")
    if "/" in rest:
        raise Refused(f"{uri!r} is not one execution folder directly under {root}")
    return check_bucket(bucket), execution_prefix(root, rest)


def check_bucket(bucket: str) -> str:
    if not _BUCKET.match(bucket or ""):
        raise Refused(f"{bucket!r} is not a valid bucket name")
    return bucket


def delete_prefix(client: Any, bucket: str, prefix: str, dry_run: bool = False) -> tuple[int, list[dict]]:
    """Delete every object (current versions) under prefix; returns (deleted count, S3 errors)."""
    deleted = 0
    errors: list[dict] = []
    batch: list[dict[str, str]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].startswith(prefix):  # belt and braces: S3 never does this, a mock might
                continue
            batch.append({"Key": obj["Key"]})
            if len(batch) == BATCH:
                deleted += _flush(client, bucket, batch, errors, dry_run)
                batch = []
    if batch:
        deleted += _flush(client, bucket, batch, errors, dry_run)
    return deleted, errors


def _flush(client: Any, bucket: str, batch: list[dict[str, str]], errors: list[dict], dry_run: bool) -> int:
    if dry_run:
        for item in batch:
            print(f"would delete s3://{bucket}/{item['Key']}")
        return len(batch)
    response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    failed = response.get("Errors", [])
    errors.extend(failed)
    return len(batch) - len(failed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Delete one pipeline execution's scratch prefix.")
    parser.add_argument("--bucket", help="bucket name (with --execution-id)")
    parser.add_argument("--scratch-root", required=True, help="the pipeline's scratch root, e.g. runs/")
    parser.add_argument("--execution-id", help="pipeline execution id (one path segment)")
    parser.add_argument("--uri", help="alternative: s3://bucket/<scratch-root><execution-id>/")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    parser.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests against a moto server
    return parser


def resolve_target(args: argparse.Namespace) -> tuple[str, str]:
    """(bucket, prefix) from either form of the command line."""
    if args.uri:
        if args.bucket or args.execution_id:
            raise Refused("give either --uri or --bucket with --execution-id, not both")
        return parse_uri(args.uri, args.scratch_root)
    if not args.bucket or not args.execution_id:
        raise Refused("need --bucket and --execution-id (or --uri)")
    return check_bucket(args.bucket), execution_prefix(args.scratch_root, args.execution_id)


def main(argv: list[str] | None = None, client: Any = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        bucket, prefix = resolve_target(args)
    except Refused as err:
        print(f"cleanup: REFUSED: {err}", file=sys.stderr)
        return 2
    if client is None:
        import boto3  # lazy: argument checks and tests need no AWS

        client = boto3.client("s3", endpoint_url=args.endpoint_url)
    deleted, errors = delete_prefix(client, bucket, prefix, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"cleanup: {verb} {deleted} object(s) under s3://{bucket}/{prefix}", file=sys.stderr)
    for error in errors[:20]:
        print(
            f"cleanup: error {error.get('Code')}: {error.get('Key')}: {error.get('Message')}", file=sys.stderr
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
