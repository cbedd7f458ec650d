"""bootstrap.py against a real Label Studio (session fixture) and the moto S3 server.

Each test uses its own project title and bucket so the tests do not depend on order.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

import bootstrap
from tools.label_studio_server import LabelStudioServer
from tools.moto_server import MotoServer, free_port

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-" + uuid.uuid4().hex
SECRET_KEY = "secret-" + uuid.uuid4().hex
IMAGES = ["bird-1.jpg", "bird-2.png", "nested/bird-3.JPEG"]


# --------------------------------------------------------------------------- helpers


def make_bucket(moto: MotoServer) -> str:
    """A bucket with three images and one non-image under images/ (the regex must skip it)."""
    name = f"lsr-{uuid.uuid4().hex[:12]}"
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=name)
    for image in IMAGES:
        s3.put_object(Bucket=name, Key=f"images/{image}", Body=b"\xff\xd8 not really a jpeg")
    s3.put_object(Bucket=name, Key="images/README.txt", Body=b"not an image")
    return name


def outputs(bucket: str, url: str = "http://127.0.0.1:9/webhook", **overrides: Any) -> dict[str, Any]:
    values = {
        "webhook_url": url,
        "webhook_headers": {"X-Webhook-Token": TOKEN},
        "bucket_name": bucket,
        "images_prefix": "images/",
        "annotations_prefix": "annotations/",
        "labels": ["Beak", "Wing", "Body"],
        "region": "us-east-1",
        **overrides,
    }
    sensitive = {"webhook_headers"}
    return {k: {"value": v, "sensitive": k in sensitive, "type": "dynamic"} for k, v in values.items()}


def write_outputs(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(json.dumps(values))
    return path


def run_bootstrap(
    capsys: pytest.CaptureFixture[str],
    ls: LabelStudioServer,
    moto: MotoServer,
    outputs_file: Path,
    *extra: str,
    api_key: str | None = None,
    url: str | None = None,
    s3_endpoint: bool = True,
) -> tuple[int, str, str]:
    """bootstrap.main in-process; asserts that no secret ever reaches stdout or stderr."""
    argv = ["--url", url or ls.url, "--api-key", api_key or ls.api_key, "--outputs-json", str(outputs_file)]
    argv += ["--aws-access-key-id", "testing", "--aws-secret-access-key", SECRET_KEY]
    if s3_endpoint:
        argv += ["--s3-endpoint", moto.endpoint]
    code = bootstrap.main([*argv, *extra])
    out, err = capsys.readouterr()
    for secret in (TOKEN, SECRET_KEY, ls.api_key, api_key or ls.api_key):
        assert secret not in out + err
    return code, out, err


def actions(stdout: str) -> dict[str, str]:
    """{object: result} from the printed table (columns are separated by two or more spaces)."""
    rows = [re.split(r"\s{2,}", line) for line in stdout.splitlines() if "  " in line]
    return {cells[0]: cells[2] for cells in rows[1:] if len(cells) >= 3}


def client_for(ls: LabelStudioServer) -> LabelStudio:
    return LabelStudio(base_url=ls.url, api_key=ls.api_key)


def project_named(client: LabelStudio, title: str) -> list[Any]:
    return [p for p in client.projects.list() if p.title == title]


def state(client: LabelStudio, title: str) -> dict[str, Any]:
    """Everything bootstrap manages for one project, as plain data."""
    (project,) = project_named(client, title)
    hooks = [h for h in client.webhooks.list(project=str(project.id)) if h.project == project.id]
    return {
        "project": project.id,
        "label_config": client.projects.get(project.id).label_config,
        "sources": [(s.id, s.bucket, s.prefix) for s in client.import_storage.s3.list(project=project.id)],
        "targets": [(s.id, s.bucket, s.prefix) for s in client.export_storage.s3.list(project=project.id)],
        "webhooks": [(h.id, h.url, dict(h.headers or {}), sorted(h.actions or [])) for h in hooks],
        "tasks": sorted(t.data["image"] for t in client.tasks.list(project=project.id, resolve_uri=False)),
    }


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return make_bucket(moto_server)


@pytest.fixture
def title() -> str:
    return f"Birds {uuid.uuid4().hex[:8]}"


class Receiver:
    """A webhook target on loopback that records every POST (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.put({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# --------------------------------------------------------------------------- unit


def test_label_config_round_trips_labels_for_each_tool() -> None:
    labels = ["Beak", 'Wing "left"', "Tail & feathers"]
    config = bootstrap.label_config(labels, ["polygon", "brush"])
    assert bootstrap.config_labels(config) == {"polygon": labels, "brush": labels}
    assert "<PolygonLabels" in config and 'toName="image"' in config and 'value="$image"' in config
    assert bootstrap.config_labels(bootstrap.label_config(labels, ["brush"])) == {"brush": labels}


def test_labels_differ_ignores_order_but_not_tools_or_names() -> None:
    assert not bootstrap.labels_differ({"polygon": ["a", "b"]}, {"polygon": ["b", "a"]})
    assert bootstrap.labels_differ({"polygon": ["a"]}, {"polygon": ["a", "b"]})
    assert bootstrap.labels_differ({"polygon": ["a"]}, {"brush": ["a"]})


def test_tools_flag_parses_and_rejects() -> None:
    assert bootstrap.parse_tools("brush, polygon,brush") == ["brush", "polygon"]
    with pytest.raises(Exception, match="choose from polygon, brush"):
        bootstrap.parse_tools("bbox")


def test_outputs_accept_terraform_json_and_plain_maps(tmp_path: Path) -> None:
    wrapped = bootstrap.read_outputs_file(write_outputs(tmp_path / "a.json", outputs("b")))
    plain = bootstrap.read_outputs_file(
        write_outputs(tmp_path / "b.json", {k: v["value"] for k, v in outputs("b").items()})
    )
    assert wrapped == plain
    parsed = bootstrap.parse_outputs(wrapped)
    assert parsed.webhook_headers == {"X-Webhook-Token": TOKEN} and parsed.region == "us-east-1"


def test_missing_outputs_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = outputs("b")
    del values["region"], values["labels"]
    path = write_outputs(tmp_path / "o.json", values)
    code = bootstrap.main(["--url", "http://127.0.0.1:1", "--api-key", "k", "--outputs-json", str(path)])
    assert code == bootstrap.EXIT_USAGE
    assert "lack labels, region" in capsys.readouterr().err


def test_terraform_dir_reads_applied_outputs_through_tools_terraform(tmp_path: Path) -> None:
    """A real (provider-less) Terraform root applied offline: sensitive outputs come back whole."""
    from tools import terraform

    values = {k: v["value"] for k, v in outputs("b").items()}
    lines = []
    for name, value in values.items():
        sensitive = "\n  sensitive = true" if name == "webhook_headers" else ""
        lines.append(
            f'output "{name}" {{\n  value = jsondecode({json.dumps(json.dumps(value))}){sensitive}\n}}\n'
        )
    (tmp_path / "main.tf").write_text("\n".join(lines))
    terraform.init(tmp_path)
    terraform.apply(tmp_path)
    parsed = bootstrap.parse_outputs(bootstrap.terraform_outputs(tmp_path))
    assert parsed.webhook_headers == {"X-Webhook-Token": TOKEN}
    assert parsed.webhook_url == values["webhook_url"]
    assert list(parsed.labels) == values["labels"]


def test_credential_fingerprint_changes_with_any_part_and_hides_the_secret() -> None:
    a = bootstrap.AwsCredentials("AKIA1", "s1", None).fingerprint()
    assert a != bootstrap.AwsCredentials("AKIA1", "s2", None).fingerprint()
    assert a != bootstrap.AwsCredentials("AKIA1", "s1", "t").fingerprint()
    assert "s1" not in a and len(a) == 12
    assert bootstrap.AwsCredentials().fingerprint() == "none"


# --------------------------------------------------------------------------- against Label Studio


def test_first_run_creates_everything_and_reruns_change_nothing(
    label_studio: LabelStudioServer, moto_server: MotoServer, bucket: str, title: str, tmp_path: Path
) -> None:
    """The real CLI (subprocess), URL/key from env, AWS keys from the standard env vars."""
    path = write_outputs(tmp_path / "outputs.json", outputs(bucket))
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.api_key,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": "session-" + SECRET_KEY,
    }
    cmd = [sys.executable, "bootstrap.py", "--outputs-json", str(path), "--project-title", title]
    cmd += ["--s3-endpoint", moto_server.endpoint]
    runs = [subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True) for _ in range(3)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert TOKEN not in run.stdout + run.stderr and SECRET_KEY not in run.stdout + run.stderr
    first, second, third = (actions(r.stdout) for r in runs)
    assert first == {
        "project": "created",
        "source storage": "created",
        "target storage": "created",
        "source sync": "synced",
        "webhook": "created",
    }
    unchanged = {**first, "project": "unchanged", "source storage": "unchanged"}
    unchanged.update({"target storage": "unchanged", "webhook": "unchanged"})
    assert second == unchanged and third == unchanged

    client = client_for(label_studio)
    assert len(project_named(client, title)) == 1
    got = state(client, title)
    assert [s[1:] for s in got["sources"]] == [(bucket, "images")]
    assert [s[1:] for s in got["targets"]] == [(bucket, "annotations")]
    (hook,) = got["webhooks"]
    assert hook[1] == "http://127.0.0.1:9/webhook"
    assert hook[2] == {"X-Webhook-Token": TOKEN, bootstrap.MARKER_HEADER: bootstrap.MARKER_VALUE}
    assert hook[3] == ["ANNOTATIONS_CREATED", "ANNOTATION_CREATED"]
    # one task per image; README.txt is skipped by the regex; re-syncs add nothing
    assert got["tasks"] == sorted(f"s3://{bucket}/images/{image}" for image in IMAGES)
    assert "3 tasks" in runs[2].stdout and "+0 new" in runs[2].stdout


def test_dry_run_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    bucket: str,
    title: str,
    tmp_path: Path,
) -> None:
    path = write_outputs(tmp_path / "o.json", outputs(bucket))
    code, out, _ = run_bootstrap(
        capsys, label_studio, moto_server, path, "--project-title", title, "--dry-run"
    )
    assert code == 0
    assert "Dry run, nothing changed" in out
    assert actions(out) == {
        "project": "create",
        "source storage": "create",
        "target storage": "create",
        "webhook": "create",
    }
    assert project_named(client_for(label_studio), title) == []


def test_personal_access_token_works_like_the_legacy_token(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    bucket: str,
    title: str,
    tmp_path: Path,
) -> None:
    """A PAT (JWT refresh token) instead of the legacy token: the SDK picks Bearer auth itself."""
    pat = client_for(label_studio).tokens.create().token
    assert pat.count(".") == 2  # a JWT, not a legacy token
    path = write_outputs(tmp_path / "o.json", outputs(bucket))
    code, out, err = run_bootstrap(
        capsys, label_studio, moto_server, path, "--project-title", title, "--dry-run", api_key=pat
    )
    assert code == 0, err
    assert actions(out)["project"] == "create"


def test_changed_webhook_url_or_header_updates_the_one_webhook(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    bucket: str,
    title: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.json"
    args = ("--project-title", title)
    write_outputs(path, outputs(bucket, url="http://127.0.0.1:9/old"))
    assert run_bootstrap(capsys, label_studio, moto_server, path, *args)[0] == 0
    client = client_for(label_studio)
    before = state(client, title)
    project = before["project"]
    # someone else's webhook (no marker) and a stale copy of ours must be told apart
    foreign = client.webhooks.create(
        project=project, url="http://127.0.0.1:9/foreign", actions=["TASKS_CREATED"]
    )
    stale = client.webhooks.create(
        project=project,
        url="http://127.0.0.1:9/older",
        actions=["ANNOTATION_CREATED"],
        headers={bootstrap.MARKER_HEADER: bootstrap.MARKER_VALUE},
    )

    write_outputs(path, outputs(bucket, url="http://127.0.0.1:9/new"))
    code, out, _ = run_bootstrap(capsys, label_studio, moto_server, path, *args)
    assert code == 0
    assert actions(out)["webhook"] == "updated" and actions(out)["stale webhook"] == "deleted"
    assert "was http://127.0.0.1:9/old" in out
    after = state(client, title)
    ours = [h for h in after["webhooks"] if h[0] != foreign.id]
    assert [h[:2] for h in ours] == [(before["webhooks"][0][0], "http://127.0.0.1:9/new")]
    assert stale.id not in [h[0] for h in after["webhooks"]]
    assert foreign.id in [h[0] for h in after["webhooks"]]

    rotated = {"X-Webhook-Token": TOKEN + "-rotated"}
    write_outputs(path, outputs(bucket, url="http://127.0.0.1:9/new", webhook_headers=rotated))
    code, out, _ = run_bootstrap(capsys, label_studio, moto_server, path, *args)
    assert code == 0 and actions(out)["webhook"] == "updated"
    (hook,) = [h for h in state(client, title)["webhooks"] if h[0] != foreign.id]
    assert hook[2]["X-Webhook-Token"] == TOKEN + "-rotated"
    assert hook[3] == ["ANNOTATIONS_CREATED", "ANNOTATION_CREATED"]  # PATCH kept the actions

    # an actions-only drift (someone edited the webhook in the UI) is repaired too
    client.webhooks.update(hook[0], actions=["ANNOTATION_UPDATED"])
    code, out, _ = run_bootstrap(capsys, label_studio, moto_server, path, *args)
    assert code == 0 and actions(out)["webhook"] == "updated"
    (hook,) = [h for h in state(client, title)["webhooks"] if h[0] != foreign.id]
    assert hook[3] == ["ANNOTATIONS_CREATED", "ANNOTATION_CREATED"]


def test_changed_labels_are_refused_without_update_labels(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    bucket: str,
    title: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.json"
    args = ("--project-title", title)
    write_outputs(path, outputs(bucket))
    assert run_bootstrap(capsys, label_studio, moto_server, path, *args)[0] == 0
    client = client_for(label_studio)
    config_before = state(client, title)["label_config"]

    write_outputs(path, outputs(bucket, labels=["Beak", "Wing", "Body", "Tail"]))
    code, out, err = run_bootstrap(capsys, label_studio, moto_server, path, *args)
    assert code == bootstrap.EXIT_LABELS_DIFFER
    assert "labels differ" in err and "Tail" in err and "--update-labels" in err
    assert state(client, title)["label_config"] == config_before

    code, out, _ = run_bootstrap(capsys, label_studio, moto_server, path, *args, "--update-labels")
    assert code == 0 and actions(out)["project"] == "updated"
    labels = bootstrap.config_labels(state(client, title)["label_config"])
    assert labels == {"polygon": ["Beak", "Wing", "Body", "Tail"]}

    # the same labels with another tool set is a difference as well
    code, _, err = run_bootstrap(capsys, label_studio, moto_server, path, *args, "--tools", "polygon,brush")
    assert code == bootstrap.EXIT_LABELS_DIFFER and "brush" in err


def test_annotation_reaches_the_webhook_and_the_target_storage(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    bucket: str,
    title: str,
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    path = write_outputs(tmp_path / "o.json", outputs(bucket, url=receiver.url))
    assert run_bootstrap(capsys, label_studio, moto_server, path, "--project-title", title)[0] == 0
    client = client_for(label_studio)
    project = state(client, title)["project"]
    task = next(iter(client.tasks.list(project=project, resolve_uri=False)))
    region = {
        "from_name": "polygon",
        "to_name": "image",
        "type": "polygonlabels",
        "original_width": 64,
        "original_height": 48,
        "value": {"points": [[10, 10], [60, 10], [35, 60]], "polygonlabels": ["Beak"]},
    }
    annotation = client.annotations.create(id=task.id, result=[region], was_cancelled=False)

    delivery = receiver.next()
    assert delivery["path"] == "/webhook"
    assert delivery["headers"]["X-Webhook-Token"] == TOKEN
    assert delivery["body"]["action"] == "ANNOTATION_CREATED"
    assert delivery["body"]["annotation"]["id"] == annotation.id
    assert delivery["body"]["project"]["id"] == project

    s3 = moto_server.client("s3")
    deadline = time.monotonic() + 10
    keys: list[str] = []
    while time.monotonic() < deadline and not keys:
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="annotations/").get("Contents", [])
        ]
        time.sleep(0.2)
    assert keys == [f"annotations/{annotation.id}"]
    written = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert written["result"][0]["value"]["polygonlabels"] == ["Beak"]
    assert written["task"]["data"]["image"] == task.data["image"]


# --------------------------------------------------------------------------- error paths


def test_unreachable_server(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    path = write_outputs(tmp_path / "o.json", outputs("any-bucket"))
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run_bootstrap(capsys, label_studio, moto_server, path, url=url)
    assert code == bootstrap.EXIT_UNREACHABLE
    assert f"Label Studio at {url} is unreachable" in err


def test_bad_token(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    path = write_outputs(tmp_path / "o.json", outputs("any-bucket"))
    code, _, err = run_bootstrap(capsys, label_studio, moto_server, path, api_key="0" * 40)
    assert code == bootstrap.EXIT_AUTH
    assert "rejected the API key (HTTP 401)" in err


def test_nonexistent_bucket_fails_storage_validation(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    title: str,
    tmp_path: Path,
) -> None:
    path = write_outputs(tmp_path / "o.json", outputs("lsr-no-such-bucket"))
    code, _, err = run_bootstrap(capsys, label_studio, moto_server, path, "--project-title", title)
    assert code == bootstrap.EXIT_STORAGE
    assert "source storage s3://lsr-no-such-bucket/images failed Label Studio's validation" in err
    assert "Cannot find bucket lsr-no-such-bucket" in err
    (project,) = project_named(client_for(label_studio), title)
    assert list(client_for(label_studio).import_storage.s3.list(project=project.id)) == []


def test_empty_images_prefix_is_explained(
    capsys: pytest.CaptureFixture[str],
    label_studio: LabelStudioServer,
    moto_server: MotoServer,
    title: str,
    tmp_path: Path,
) -> None:
    name = f"lsr-empty-{uuid.uuid4().hex[:8]}"
    moto_server.client("s3").create_bucket(Bucket=name)
    path = write_outputs(tmp_path / "o.json", outputs(name))
    code, _, err = run_bootstrap(capsys, label_studio, moto_server, path, "--project-title", title)
    assert code == bootstrap.EXIT_STORAGE
    assert "needs at least one object under the images prefix" in err


def test_hidden_storage_errors_name_the_setting() -> None:
    """Label Studio hides S3 errors for endpoints outside S3_TRUSTED_STORAGE_DOMAINS: say so."""

    class Refusing:
        def validate(self, **kwargs: Any) -> None:
            error = RuntimeError("400")
            error.status_code = 400  # type: ignore[attr-defined]
            error.body = {"detail": "Debugging info is not available for s3 endpoints on domain: ."}  # type: ignore[attr-defined]
            raise error

    config = {"bucket": "b", "prefix": "images", "s3_endpoint": "http://minio.internal:9000"}
    with pytest.raises(bootstrap.BootstrapError) as caught:
        bootstrap.validate_storage(Refusing(), "target", 1, config, {})
    assert caught.value.code == bootstrap.EXIT_STORAGE
    assert "S3_TRUSTED_STORAGE_DOMAINS" in str(caught.value) and "http://minio.internal:9000" in str(
        caught.value
    )


@pytest.fixture(scope="module")
def guarded_label_studio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second Label Studio with SSRF protection ON (the setting is read once at start).

    Its boto3 reaches moto through AWS_ENDPOINT_URL, so storages work without an explicit
    (loopback, hence refused) s3_endpoint and the webhook check is reached.
    """
    server = LabelStudioServer(
        data_dir=tmp_path_factory.mktemp("ls-ssrf"), ssrf_protection=True, extra_env=moto_server.env()
    )
    with server:
        yield server


def test_ssrf_protection_refuses_a_loopback_webhook(
    capsys: pytest.CaptureFixture[str],
    guarded_label_studio: LabelStudioServer,
    moto_server: MotoServer,
    bucket: str,
    tmp_path: Path,
) -> None:
    path = write_outputs(tmp_path / "o.json", outputs(bucket, url="http://127.0.0.1:9/webhook"))
    code, _, err = run_bootstrap(capsys, guarded_label_studio, moto_server, path, s3_endpoint=False)
    assert code == bootstrap.EXIT_WEBHOOK_REFUSED
    assert "refused the webhook URL http://127.0.0.1:9/webhook" in err
    assert "SSRF_PROTECTION_ENABLED=false" in err

    code, _, err = run_bootstrap(capsys, guarded_label_studio, moto_server, path, "--project-title", "other")
    assert code == bootstrap.EXIT_STORAGE
    assert "SSRF protection refuses private/loopback S3 endpoints" in err
