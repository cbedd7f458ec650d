"""A real Label Studio server (SQLite, loopback) for tests, the demo and manual runs.

Why a launcher of our own: bootstrap.py and the end-to-end tests must talk to
the same Label Studio the users run (``label-studio==1.23.2`` from the venv),
not to a mock whose behaviour we would have to guess.  Starting it correctly
has a few traps that this module handles once:

* the admin user and its API token come from env vars read at ``start`` time
  (``LABEL_STUDIO_USERNAME`` / ``_PASSWORD`` / ``_USER_TOKEN``); the token must
  be > 5 characters and fit DRF's 40-character token column;
* legacy tokens (``Authorization: Token ...``) are off for new organisations
  unless ``--enable-legacy-api-token`` is given when the org is created;
* Label Studio silently moves to the next port when the requested one is busy,
  so we read the port it really bound from its log instead of trusting ours;
* ``SSRF_PROTECTION_ENABLED`` (default on) refuses loopback webhook targets and
  loopback S3 endpoints (the moto server); it is read once at process start,
  so tests that need both behaviours need two servers;
* the S3 storages run boto3 *inside* the Label Studio process, so AWS
  credentials (fake ones for moto) have to be in its environment;
* with an ``s3_endpoint`` outside ``S3_TRUSTED_STORAGE_DOMAINS`` Label Studio
  replaces every storage error by "Debugging info is not available ..."; a
  loopback IP has the empty domain, so we append ``,`` (an empty entry) to the
  default list to keep moto's real reasons ("Cannot find bucket ...");
* Sentry is on by default and retries against sentry.io (no internet here):
  ``SENTRY_DSN`` / ``FRONTEND_SENTRY_DSN`` are set empty;
* migrating a fresh SQLite database takes ~50 s of the ~65 s start on 2 cores,
  so we migrate once into a user-less template database (cached per Label
  Studio version under ``~/.cache``; ``LSR_LABEL_STUDIO_CACHE`` overrides the
  folder, ``0`` disables it) and copy it into each new data dir.

Usage::

    with LabelStudioServer(extra_env=moto.env()) as ls:
        client = LabelStudio(base_url=ls.url, api_key=ls.api_key)

or from a shell: ``python -m tools.label_studio_server`` (prints URL and key, runs until Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tools.moto_server import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_USERNAME = "admin@example.com"
DEFAULT_PASSWORD = "admin-password-123"
# Legacy DRF token: at most 40 characters; "lsr" marks it as ours in logs.
TOKEN_LENGTH = 40
PORT_PATTERNS = (
    re.compile(r"Starting development server at https?://[^:/]+:(\d+)/"),
    re.compile(r"Trying to start at (\d+)"),
)


DB_NAME = "label_studio.sqlite3"
# Label Studio 1.23.2's default list (core/settings/base.py) plus "" (IP / loopback endpoints).
TRUSTED_S3_DOMAINS = (
    "amazonaws.com,scw.cloud,yandexcloud.net,digitaloceanspaces.com,orange-business.com,"
    "computecanada.ca,cloudflarestorage.com,wasabisys.com,oracle.com,amazon.com,appdomain.cloud,"
)


def cache_dir() -> Path | None:
    """Where the migrated template database lives; None when caching is disabled."""
    configured = os.environ.get("LSR_LABEL_STUDIO_CACHE")
    if configured == "0":
        return None
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "label-studio-sagemaker-retrain"


def label_studio_version() -> str:
    from importlib.metadata import version

    return version("label-studio")


def migrate_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_DB": "sqlite",
        "DJANGO_SETTINGS_MODULE": "label_studio.core.settings.label_studio",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LATEST_VERSION_CHECK": "false",
    }


def template_database(timeout: float = 300.0) -> Path | None:
    """A migrated, user-less SQLite database for this Label Studio version (built once, then cached).

    Users must not be in the template: Label Studio only applies
    ``LABEL_STUDIO_USER_TOKEN`` when it creates the user.
    """
    folder = cache_dir()
    if folder is None:
        return None
    target = folder / f"label-studio-{label_studio_version()}.sqlite3"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    import label_studio

    manage = Path(label_studio.__file__).parent / "manage.py"
    with tempfile.TemporaryDirectory(dir=folder) as work:
        result = subprocess.run(
            [sys.executable, str(manage), "migrate", "--no-color", "-v", "0"],
            env=migrate_env(Path(work)),
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise RuntimeError(f"Label Studio migrate failed (code {result.returncode}):\n{tail}")
        os.replace(Path(work) / DB_NAME, target)  # atomic: concurrent builders both succeed
    return target


def make_token() -> str:
    """A fixed-format legacy API token: ``lsr`` + 37 hex characters (40 in all)."""
    return "lsr" + secrets.token_hex(TOKEN_LENGTH)[: TOKEN_LENGTH - 3]


def label_studio_executable() -> str:
    """The ``label-studio`` script of the running interpreter's venv (not whatever is on PATH)."""
    candidate = Path(sys.executable).parent / "label-studio"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("label-studio")
    if not found:
        raise RuntimeError(f"label-studio is not installed next to {sys.executable} nor on PATH")
    return found


def bound_port(log_text: str) -> int | None:
    """The port Label Studio reports it bound (the last report wins), or None if not yet logged."""
    port = None
    for line in log_text.splitlines():
        for pattern in PORT_PATTERNS:
            match = pattern.search(line)
            if match:
                port = int(match.group(1))
    return port


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` returns HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


class LabelStudioServer:
    """One Label Studio server in a child process, SQLite in a temp data dir, on loopback.

    ``ssrf_protection`` defaults to off so webhooks and S3 endpoints on loopback work;
    ``extra_env`` is added to the child's environment (e.g. ``MotoServer.env()``).
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        log_path: Path | None = None,
        api_key: str | None = None,
        ssrf_protection: bool = False,
        extra_env: dict[str, str] | None = None,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        self.host = "127.0.0.1"
        self.requested_port = port or free_port(self.host)
        self.port: int | None = None
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="label-studio-"))
        self.log_path = Path(log_path) if log_path else self.data_dir / "label-studio.log"
        self.api_key = api_key or make_token()
        self.username = username
        self.password = password
        self.ssrf_protection = ssrf_protection
        self.extra_env = dict(extra_env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("Label Studio is not running")
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The child's environment: ours, plus Label Studio's settings, plus ``extra_env``."""
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_DB": "sqlite",
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "LABEL_STUDIO_USERNAME": self.username,
            "LABEL_STUDIO_PASSWORD": self.password,
            "LABEL_STUDIO_USER_TOKEN": self.api_key,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LATEST_VERSION_CHECK": "false",
            "SSRF_PROTECTION_ENABLED": "true" if self.ssrf_protection else "false",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "S3_TRUSTED_STORAGE_DOMAINS": TRUSTED_S3_DOMAINS,
            **self.extra_env,
        }

    def command(self) -> list[str]:
        return [
            label_studio_executable(),
            "start",
            "--no-browser",
            "--internal-host",
            self.host,
            "--port",
            str(self.requested_port),
            "--enable-legacy-api-token",
            "--log-level",
            "WARNING",
        ]

    def start(self, timeout: float = 180.0) -> LabelStudioServer:
        """Start the server and wait until /health answers; raise with the log tail otherwise."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.seed_database()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            self.command(),
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.data_dir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise RuntimeError(f"Label Studio exited with code {code}; log tail:\n{self.log_tail()}")
            port = bound_port(self.log_text())
            if port and answers(f"http://{self.host}:{port}/health"):
                self.port = port
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"Label Studio did not answer /health within {timeout:.0f}s (log {self.log_path}); "
            f"log tail:\n{self.log_tail()}"
        )

    def seed_database(self) -> None:
        """Copy the migrated template into a new data dir (an existing database is kept)."""
        db = self.data_dir / DB_NAME
        if db.exists():
            return
        template = template_database()
        if template is not None:
            shutil.copyfile(template, db)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the server (its own process only) and close the log."""
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None
        self.port = None

    def cleanup(self) -> None:
        """Stop and remove the data dir when we created it (keeps a caller-given one)."""
        self.stop()
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop; a temp data dir we created ourselves is removed (pass ``data_dir`` to keep it)."""
        self.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--ssrf-protection", action="store_true")
    args = parser.parse_args(argv)
    server = LabelStudioServer(
        port=args.port, data_dir=args.data_dir, api_key=args.api_key, ssrf_protection=args.ssrf_protection
    )
    with server:
        print(f"LABEL_STUDIO_URL={server.url}")
        print(f"LABEL_STUDIO_API_KEY={server.api_key}")
        print(f"log: {server.log_path}  data: {server.data_dir}", flush=True)
        try:
            while server._proc and server._proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
