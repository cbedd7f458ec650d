"""Register the Label Studio side of the retrain loop from Terraform's outputs.

    python bootstrap.py --url URL --api-key KEY --terraform-dir terraform/examples/complete

Creates or updates, idempotently: the project (label config from the Terraform
``labels``), an S3 source storage on the images prefix (then syncs it), an S3
target storage on the annotations prefix, and the ANNOTATION_CREATED webhook to
the API Gateway URL with the ``webhook_headers`` token header.  Prints one line
per object (created / updated / unchanged / deleted).  ``--dry-run`` only reads.

Why a script and not Terraform: Label Studio has no Terraform provider, and its
webhook token lives in Terraform state anyway.  See README.md, "bootstrap.py".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TITLE = "Bird Segmentation"
IMAGE_REGEX = r"(?i).*\.(jpe?g|png|gif|bmp|webp|tiff?)$"
PRESIGN_TTL_MINUTES = 15
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED")
# Marker header on webhooks this script manages: lets a later run find and re-point or remove
# them when the Terraform webhook_url changes, without touching webhooks someone else made.
MARKER_HEADER = "X-Label-Studio-Retrain"
MARKER_VALUE = "bootstrap.py"
SOURCE_TITLE = "retrain: images (managed by bootstrap.py)"
TARGET_TITLE = "retrain: annotations (managed by bootstrap.py)"
REQUIRED_OUTPUTS = (
    "webhook_url",
    "webhook_headers",
    "bucket_name",
    "images_prefix",
    "annotations_prefix",
    "labels",
    "region",
)
TOOLS = {"polygon": "PolygonLabels", "brush": "BrushLabels"}
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45")

# Exit codes (documented in README.md, "bootstrap.py").
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_STORAGE = 5
EXIT_WEBHOOK_REFUSED = 6
EXIT_LABELS_DIFFER = 7


class BootstrapError(Exception):
    """A failure with a message for the user and the exit code that names its kind."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Outputs:
    """The Terraform outputs bootstrap needs (the token stays in ``webhook_headers``; never print it)."""

    webhook_url: str
    webhook_headers: dict[str, str]
    bucket: str
    images_prefix: str
    annotations_prefix: str
    labels: list[str]
    region: str


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    def fingerprint(self) -> str:
        """A short one-way digest, stored in the storage description to detect rotated keys.

        Label Studio never returns stored keys, so without it a re-run could not tell
        "unchanged" from "keys rotated" and would have to rewrite the storages every time.
        """
        if not self.access_key_id:
            return "none"
        raw = "\0".join([self.access_key_id, self.secret_access_key or "", self.session_token or ""])
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    def as_storage_fields(self) -> dict[str, str]:
        if not self.access_key_id:
            return {}  # Label Studio then uses its own AWS credential chain
        fields = {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key or "",
        }
        if self.session_token:
            fields["aws_session_token"] = self.session_token
        return fields


@dataclass
class Row:
    kind: str
    name: str
    action: str
    detail: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, kind: str, name: str, action: str, detail: str = "") -> None:
        self.rows.append(Row(kind, name, action, detail))

    def render(self, dry_run: bool) -> str:
        header = Row("object", "name", "would be" if dry_run else "result", "detail")
        rows = [header, *self.rows]
        widths = [max(len(getattr(r, a)) for r in rows) for a in ("kind", "name", "action")]
        lines = []
        for r in rows:
            cells = [r.kind.ljust(widths[0]), r.name.ljust(widths[1]), r.action.ljust(widths[2]), r.detail]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)


# --------------------------------------------------------------------------- outputs


def unwrap_outputs(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept ``terraform output -json`` ({name: {"value": ...}}) or a plain {name: value} map."""
    if raw and all(isinstance(v, dict) and "value" in v for v in raw.values()):
        return {name: item["value"] for name, item in raw.items()}
    return raw


def read_outputs_file(path: Path) -> dict[str, Any]:
    try:
        return unwrap_outputs(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise BootstrapError(f"cannot read Terraform outputs from {path}: {exc}", EXIT_USAGE) from exc


def terraform_outputs(directory: Path) -> dict[str, Any]:
    """Outputs of an applied config, via tools/terraform.py (CLI config, mirror) when available.

    Falls back to plain ``terraform output -json`` so the script also works when copied alone.
    """
    try:
        from tools import terraform
    except ImportError:
        terraform = None
    if terraform is not None:
        try:
            return terraform.outputs(directory)
        except Exception as exc:  # TerraformError, TerraformToolError: both explain themselves
            raise BootstrapError(f"cannot read Terraform outputs in {directory}: {exc}", EXIT_USAGE) from exc
    cmd = ["terraform", f"-chdir={directory}", "output", "-json"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise BootstrapError(f"terraform output failed in {directory}: {detail.strip()}", EXIT_USAGE) from exc
    return unwrap_outputs(json.loads(done.stdout or "{}"))


def parse_outputs(values: dict[str, Any]) -> Outputs:
    missing = [name for name in REQUIRED_OUTPUTS if values.get(name) in (None, "")]
    if missing:
        raise BootstrapError(
            f"Terraform outputs lack {', '.join(missing)} (was the configuration applied?)", EXIT_USAGE
        )
    headers = values["webhook_headers"]
    labels = values["labels"]
    if not isinstance(headers, dict) or not headers:
        raise BootstrapError("Terraform output webhook_headers must be a non-empty map", EXIT_USAGE)
    if not isinstance(labels, list) or not labels:
        raise BootstrapError("Terraform output labels must be a non-empty list", EXIT_USAGE)
    return Outputs(
        webhook_url=str(values["webhook_url"]),
        webhook_headers={str(k): str(v) for k, v in headers.items()},
        bucket=str(values["bucket_name"]),
        images_prefix=str(values["images_prefix"]),
        annotations_prefix=str(values["annotations_prefix"]),
        labels=[str(label) for label in labels],
        region=str(values["region"]),
    )


def load_outputs(args: argparse.Namespace) -> Outputs:
    if args.outputs_json:
        return parse_outputs(read_outputs_file(Path(args.outputs_json)))
    return parse_outputs(terraform_outputs(Path(args.terraform_dir)))


# --------------------------------------------------------------------------- label config


def label_config(labels: Sequence[str], tools: Sequence[str]) -> str:
    """The project's labeling interface: one image, one labels control per tool, same label list.

    Built with ElementTree so label names with quotes or ``&`` stay valid XML.
    """
    view = ET.Element("View")
    ET.SubElement(view, "Image", name="image", value="$image", zoom="true", zoomControl="true")
    for tool in tools:
        control = ET.SubElement(view, TOOLS[tool], name=tool, toName="image")
        if tool == "polygon":
            control.set("strokeWidth", "3")
            control.set("pointSize", "small")
        for i, label in enumerate(labels):
            ET.SubElement(control, "Label", value=label, background=PALETTE[i % len(PALETTE)])
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def config_labels(config: str) -> dict[str, list[str]]:
    """{tool: labels} for the polygon/brush controls in a label config (what we compare)."""
    try:
        root = ET.fromstring(config or "<View/>")
    except ET.ParseError:
        return {}
    found: dict[str, list[str]] = {}
    for tool, tag in TOOLS.items():
        for control in root.iter(tag):
            found.setdefault(tool, []).extend(x.get("value", "") for x in control.iter("Label"))
    return found


def labels_differ(current: dict[str, list[str]], wanted: dict[str, list[str]]) -> bool:
    """Same tools with the same label sets (order and colours are cosmetic)."""
    return {t: sorted(v) for t, v in current.items()} != {t: sorted(v) for t, v in wanted.items()}


def describe_labels(labels: dict[str, list[str]]) -> str:
    return "; ".join(f"{tool}: {', '.join(v)}" for tool, v in sorted(labels.items())) or "none"


# --------------------------------------------------------------------------- Label Studio


def api_error_text(exc: Exception) -> str:
    """The server's reason from an SDK ApiError body (validation messages live there)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        detail = body.get("validation_errors") or body.get("detail") or body.get("exc_info") or body
        return json.dumps(detail, sort_keys=True) if not isinstance(detail, str) else detail
    return str(body if body is not None else exc)


def status_of(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None)


def connect(url: str, api_key: str) -> Any:
    """An SDK client whose server answers and accepts the key (legacy token or personal access token)."""
    import httpx
    from label_studio_sdk import LabelStudio

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise BootstrapError(f"Label Studio at {url} is unreachable: {exc}", EXIT_UNREACHABLE) from exc
    try:
        client = LabelStudio(base_url=url, api_key=api_key, timeout=60)
        client.users.whoami()
    except Exception as exc:
        if status_of(exc) in (401, 403) or "token" in str(exc).lower():
            raise BootstrapError(
                f"Label Studio at {url} rejected the API key (HTTP {status_of(exc) or '?'}): "
                "check LABEL_STUDIO_API_KEY; legacy tokens also need legacy tokens enabled "
                "for the organization",
                EXIT_AUTH,
            ) from exc
        raise BootstrapError(f"Label Studio at {url} failed: {exc}", EXIT_UNREACHABLE) from exc
    return client


def call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call; turn its ApiError into a BootstrapError that says what we were doing."""
    try:
        return fn(*args, **kwargs)
    except BootstrapError:
        raise
    except Exception as exc:
        if status_of(exc) in (401, 403):
            raise BootstrapError(f"{what}: permission denied ({api_error_text(exc)})", EXIT_AUTH) from exc
        raise BootstrapError(f"{what} failed: {api_error_text(exc)}") from exc


def find_project(client: Any, title: str) -> Any | None:
    """The project with exactly this title (the API's title filter matches substrings)."""
    matches = [p for p in call("list projects", client.projects.list, title=title) if p.title == title]
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise BootstrapError(f"several projects are titled {title!r} (ids {ids}); rename all but one")
    return call("get project", client.projects.get, matches[0].id) if matches else None


def ensure_project(client: Any, args: argparse.Namespace, out: Outputs, report: Report) -> int | None:
    """Find or create the project; change its labels only with --update-labels. Returns its id."""
    wanted_config = label_config(out.labels, args.tools)
    wanted = config_labels(wanted_config)
    project = find_project(client, args.project_title)
    if project is None:
        if args.dry_run:
            report.add("project", args.project_title, "create", describe_labels(wanted))
            return None
        project = call(
            "create project",
            client.projects.create,
            title=args.project_title,
            label_config=wanted_config,
            description="Annotations retrain a SageMaker model (label-studio-sagemaker-retrain).",
        )
        report.add("project", f"{args.project_title} (#{project.id})", "created", describe_labels(wanted))
        return project.id
    name = f"{args.project_title} (#{project.id})"
    current = config_labels(project.label_config or "")
    if not labels_differ(current, wanted):
        report.add("project", name, "unchanged")
        return project.id
    difference = f"Label Studio has [{describe_labels(current)}], Terraform wants [{describe_labels(wanted)}]"
    if not args.update_labels:
        raise BootstrapError(
            f"project {name} labels differ: {difference}. Re-run with --update-labels to replace "
            "the label config (Label Studio refuses if existing annotations use a removed label).",
            EXIT_LABELS_DIFFER,
        )
    if not args.dry_run:
        call(
            f"update labels of project {name}", client.projects.update, project.id, label_config=wanted_config
        )
    report.add("project", name, "update" if args.dry_run else "updated", difference)
    return project.id


# --------------------------------------------------------------------------- storages


def storage_prefix(prefix: str) -> str:
    """Label Studio joins prefix and key with '/' itself: 'annotations/' would write 'annotations//1'."""
    return prefix.rstrip("/")


def source_config(out: Outputs, args: argparse.Namespace, creds: AwsCredentials) -> dict[str, Any]:
    return {
        "title": SOURCE_TITLE,
        "description": f"credentials {creds.fingerprint()}",
        "bucket": out.bucket,
        "prefix": storage_prefix(out.images_prefix),
        "regex_filter": IMAGE_REGEX,
        "use_blob_urls": True,
        "presign": True,
        "presign_ttl": PRESIGN_TTL_MINUTES,
        "recursive_scan": True,
        "region_name": out.region,
        "s3_endpoint": args.s3_endpoint or "",
    }


def target_config(out: Outputs, args: argparse.Namespace, creds: AwsCredentials) -> dict[str, Any]:
    return {
        "title": TARGET_TITLE,
        "description": f"credentials {creds.fingerprint()}",
        "bucket": out.bucket,
        "prefix": storage_prefix(out.annotations_prefix),
        "can_delete_objects": True,
        "region_name": out.region,
        "s3_endpoint": args.s3_endpoint or "",
    }


def sdk_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The SDK spells the endpoint ``s3endpoint`` (it sends ``s3_endpoint``)."""
    fields = dict(config)
    fields["s3endpoint"] = fields.pop("s3_endpoint")
    return fields


def storage_matches(storage: Any, config: dict[str, Any]) -> bool:
    """Every field we manage has our value (credentials are compared through the description)."""
    fields = sdk_fields(config)
    return all((getattr(storage, key, None) or "") == (value or "") for key, value in fields.items())


def find_storage(storages: Sequence[Any], config: dict[str, Any]) -> Any | None:
    """Ours by title; else one on the same bucket and prefix (made by hand, adopted)."""
    for storage in storages:
        if storage.title == config["title"]:
            return storage
    for storage in storages:
        if storage.bucket == config["bucket"] and (storage.prefix or "").rstrip("/") == config["prefix"]:
            return storage
    return None


def is_ssrf_refusal(reason: str) -> bool:
    """Label Studio's SSRF guard messages (SsrfBlockedUrlError), in 1.23: HTTP 403."""
    return "reserved network address" in reason or "was not allowed" in reason


def storage_hint(kind: str, reason: str, config: dict[str, Any]) -> str:
    """What to do about the usual validation failures (Label Studio's text alone is terse)."""
    if is_ssrf_refusal(reason):
        return (
            " (Label Studio's SSRF protection refuses private/loopback S3 endpoints: set "
            "SSRF_PROTECTION_ENABLED=false on the Label Studio server for a local endpoint)"
        )
    if "Debugging info is not available" in reason:
        return (
            f" (Label Studio hides the reason for endpoints outside S3_TRUSTED_STORAGE_DOMAINS; add "
            f"the domain of {config.get('s3_endpoint')} there, or read the Label Studio server log)"
        )
    if kind == "source" and "not found" in reason:
        return " (the source storage needs at least one object under the images prefix: upload images first)"
    return ""


def validate_storage(
    api: Any, kind: str, project_id: int, config: dict[str, Any], fields: dict[str, Any]
) -> None:
    """Label Studio's validate call: it tries the bucket from the server and says why it cannot."""
    try:
        api.validate(project=project_id, **sdk_fields(config), **fields)
    except Exception as exc:
        where = f"s3://{config['bucket']}/{config['prefix']}"
        reason = api_error_text(exc)
        raise BootstrapError(
            f"{kind} storage {where} failed Label Studio's validation: {reason}{storage_hint(kind, reason, config)}",
            EXIT_STORAGE,
        ) from exc


def ensure_storage(
    api: Any, kind: str, project_id: int | None, config: dict[str, Any], creds: AwsCredentials, args: Any
) -> tuple[Any | None, Row]:
    """Create or update one S3 storage (full configuration), validating it first."""
    where = f"s3://{config['bucket']}/{config['prefix']}/"
    existing = None
    if project_id is not None:
        existing = find_storage(call(f"list {kind} storages", api.list, project=project_id), config)
    if existing is not None and storage_matches(existing, config):
        return existing, Row(f"{kind} storage", f"{where} (#{existing.id})", "unchanged")
    action = "create" if existing is None else "update"
    if args.dry_run:
        return existing, Row(f"{kind} storage", where, action)
    fields = creds.as_storage_fields()
    validate_storage(api, kind, project_id, config, {**fields, **({"id": existing.id} if existing else {})})
    if existing is None:
        storage = call(
            f"create {kind} storage", api.create, project=project_id, **sdk_fields(config), **fields
        )
    else:
        storage = call(f"update {kind} storage", api.update, existing.id, **sdk_fields(config), **fields)
    return storage, Row(f"{kind} storage", f"{where} (#{storage.id})", f"{action}d")


def sync_source(client: Any, project_id: int, storage: Any, report: Report) -> None:
    """Sync the source storage (idempotent: Label Studio links each object once)."""
    before = call("count tasks", client.projects.get, project_id).task_number or 0
    synced = call("sync source storage", client.import_storage.s3.sync, storage.id)
    after = call("count tasks", client.projects.get, project_id).task_number or 0
    status = getattr(synced, "status", None)
    status_text = getattr(status, "value", status) or "done"
    if status_text == "failed":
        info = getattr(synced, "traceback", None) or getattr(synced, "meta", "")
        raise BootstrapError(f"source storage sync failed: {info}", EXIT_STORAGE)
    report.add("source sync", f"{after} tasks", "synced", f"+{after - before} new, status {status_text}")


# --------------------------------------------------------------------------- webhook


def webhook_config(out: Outputs) -> dict[str, Any]:
    """The full webhook configuration, always sent whole: PATCH without ``actions`` clears them."""
    return {
        "url": out.webhook_url,
        "actions": list(WEBHOOK_ACTIONS),
        "headers": {**out.webhook_headers, MARKER_HEADER: MARKER_VALUE},
        "send_payload": True,
        "send_for_all_actions": False,
        "is_active": True,
    }


def webhook_matches(hook: Any, config: dict[str, Any]) -> bool:
    return (
        hook.url == config["url"]
        and sorted(hook.actions or []) == sorted(config["actions"])
        and dict(hook.headers or {}) == config["headers"]
        and bool(hook.send_payload) == config["send_payload"]
        and bool(hook.send_for_all_actions) == config["send_for_all_actions"]
        and bool(hook.is_active) == config["is_active"]
    )


def is_ours(hook: Any) -> bool:
    return (hook.headers or {}).get(MARKER_HEADER) == MARKER_VALUE


def webhook_refused(exc: Exception, url: str) -> BootstrapError:
    reason = api_error_text(exc)
    if status_of(exc) in (400, 403) and (is_ssrf_refusal(reason) or "url" in reason.lower()):
        return BootstrapError(
            f"Label Studio refused the webhook URL {url}: {reason}. Its SSRF protection rejects "
            "private and loopback addresses; for a local target set SSRF_PROTECTION_ENABLED=false "
            "on the Label Studio server (never in production).",
            EXIT_WEBHOOK_REFUSED,
        )
    return BootstrapError(f"saving the webhook {url} failed: {reason}")


def plan_webhooks(hooks: Sequence[Any], url: str) -> tuple[Any | None, list[Any]]:
    """(the one to keep: same URL, else one of ours at an old URL; our other webhooks, to delete)."""
    keep = next((h for h in hooks if h.url == url), None) or next((h for h in hooks if is_ours(h)), None)
    stale = [h for h in hooks if h is not keep and is_ours(h)]
    return keep, stale


def ensure_webhook(client: Any, project_id: int | None, out: Outputs, dry_run: bool, report: Report) -> None:
    config = webhook_config(out)
    hooks = [] if project_id is None else call("list webhooks", client.webhooks.list, project=str(project_id))
    hooks = [h for h in hooks if h.project == project_id]  # the filter is ours to trust, not the caller's
    keep, stale = plan_webhooks(hooks, out.webhook_url)
    if keep is not None and webhook_matches(keep, config):
        report.add("webhook", f"{out.webhook_url} (#{keep.id})", "unchanged")
    else:
        action = "create" if keep is None else "update"
        detail = "" if keep is None or keep.url == out.webhook_url else f"was {keep.url}"
        if not dry_run:
            try:
                if keep is None:
                    keep = client.webhooks.create(project=project_id, **config)
                else:
                    client.webhooks.update(keep.id, **config)
            except Exception as exc:
                raise webhook_refused(exc, out.webhook_url) from exc
        name = out.webhook_url + (f" (#{keep.id})" if keep is not None else "")
        report.add("webhook", name, action if dry_run else f"{action}d", detail)
    for hook in stale:
        if not dry_run:
            call(f"delete stale webhook #{hook.id}", client.webhooks.delete, hook.id)
        report.add("stale webhook", f"{hook.url} (#{hook.id})", "delete" if dry_run else "deleted")


# --------------------------------------------------------------------------- main


def parse_tools(value: str) -> list[str]:
    tools = [t.strip().lower() for t in value.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if not tools or unknown:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TOOLS)} (comma-separated), got {value!r}")
    return list(dict.fromkeys(tools))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL"), help="env LABEL_STUDIO_URL")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("LABEL_STUDIO_API_KEY"),
        help="legacy token or personal access token; env LABEL_STUDIO_API_KEY",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--terraform-dir", default="terraform/examples/complete", help="applied Terraform root"
    )
    source.add_argument("--outputs-json", help="a `terraform output -json` file instead of --terraform-dir")
    parser.add_argument("--project-title", default=DEFAULT_TITLE)
    parser.add_argument(
        "--tools",
        type=parse_tools,
        default=["polygon"],
        help="labeling tools: polygon, brush or polygon,brush",
    )
    parser.add_argument("--update-labels", action="store_true", help="replace an existing project's labels")
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint URL for both storages (e.g. MinIO)")
    parser.add_argument("--aws-access-key-id", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    parser.add_argument("--aws-secret-access-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    parser.add_argument("--aws-session-token", default=os.environ.get("AWS_SESSION_TOKEN"))
    parser.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    args = parser.parse_args(argv)
    if not args.url or not args.api_key:
        parser.error("--url and --api-key (or LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY) are required")
    return args


def run(args: argparse.Namespace) -> Report:
    out = load_outputs(args)
    creds = AwsCredentials(args.aws_access_key_id, args.aws_secret_access_key, args.aws_session_token)
    client = connect(args.url, args.api_key)
    report = Report()
    project_id = ensure_project(client, args, out, report)
    source, row = ensure_storage(
        client.import_storage.s3, "source", project_id, source_config(out, args, creds), creds, args
    )
    report.rows.append(row)
    _, row = ensure_storage(
        client.export_storage.s3, "target", project_id, target_config(out, args, creds), creds, args
    )
    report.rows.append(row)
    if not args.dry_run:
        sync_source(client, project_id, source, report)
    ensure_webhook(client, project_id, out, args.dry_run, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BootstrapError as exc:
        print(f"bootstrap: error: {exc}", file=sys.stderr)
        return exc.code
    print(("Dry run, nothing changed:\n" if args.dry_run else "") + report.render(args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
