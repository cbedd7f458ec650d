"""A moto server (the local AWS stand-in) with the few fixes this project needs.

Why a launcher of our own instead of ``moto_server``: moto 5 has gaps that
would otherwise force us to weaken the module or the tests.  Each patch below
is small, applied only inside this process, and named after the gap it fills:

* ``serialise_requests``: moto's threaded server does not make DynamoDB
  conditional writes atomic, so concurrent claims could both "win".  Real
  DynamoDB is linearizable per item; we serialise requests with one lock.
* ``evaluate_bucket_policy_conditions``: moto treats every policy statement
  that has a ``Condition`` as unconditional, so a TLS-only Deny blocks every
  object call.  We evaluate conditions, with ``aws:SecureTransport=true``
  because the stand-in plays AWS behind TLS.
* ``delete_marker_dispose``: emptying a versioned bucket fails on
  ``FakeDeleteMarker`` (no ``dispose``).
* ``delete_model_package_group``: moto lacks ``DeleteModelPackageGroup``,
  which ``terraform destroy`` calls.
* ``lambda_dead_letter_config``: moto accepts a Lambda ``DeadLetterConfig`` but
  neither stores nor returns it, so every plan would show a diff.

Usage as a library::

    with MotoServer() as moto:
        s3 = moto.client("s3")

or from a shell: ``python -m tools.moto_server --port 5000``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


# --------------------------------------------------------------------------- patches


def evaluate_bucket_policy_conditions() -> None:
    """Make policy statements with a Condition apply only when the condition holds."""
    from moto.iam import access_control

    statement_cls = access_control.IAMPolicyStatement
    permission = access_control.PermissionResult
    original = statement_cls.is_action_permitted
    tls_context = {"aws:securetransport": "true"}

    def condition_holds(condition: dict[str, dict[str, Any]]) -> bool:
        for operator, pairs in condition.items():
            op = operator.removesuffix("IfExists")
            for key, expected in pairs.items():
                actual = tls_context.get(key.lower())
                wanted = [str(v).lower() for v in (expected if isinstance(expected, list) else [expected])]
                if actual is None:
                    if operator.endswith("IfExists"):
                        continue
                    return False
                if op in {"Bool", "StringEquals", "StringEqualsIgnoreCase"}:
                    if actual.lower() not in wanted:
                        return False
                elif op in {"StringNotEquals", "StringNotEqualsIgnoreCase"}:
                    if actual.lower() in wanted:
                        return False
                else:  # an operator we do not model: the statement does not apply
                    return False
        return True

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        condition = self._statement.get("Condition")
        if condition and incoming_condition_values is None:
            if not condition_holds(condition):
                return permission.NEUTRAL
            unconditional = statement_cls({k: v for k, v in self._statement.items() if k != "Condition"})
            return original(unconditional, action, resource, principal, incoming_condition_values)
        return original(self, action, resource, principal, incoming_condition_values)

    statement_cls.is_action_permitted = is_action_permitted


def delete_marker_dispose() -> None:
    """Give delete markers the no-op ``dispose`` that bucket emptying calls."""
    from moto.s3 import models

    if not hasattr(models.FakeDeleteMarker, "dispose"):
        models.FakeDeleteMarker.dispose = lambda self, garbage=False: None


def delete_model_package_group() -> None:
    """Add ``DeleteModelPackageGroup`` to moto's SageMaker backend and responses."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker import models, responses

    def backend_delete(self, model_package_group_name: str) -> None:
        group = self.describe_model_package_group(model_package_group_name)
        self.model_package_groups.pop(group.model_package_group_name, None)

    def response_delete(self):
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    models.SageMakerModelBackend.delete_model_package_group = backend_delete
    responses.SageMakerResponse.delete_model_package_group = response_delete


def lambda_dead_letter_config() -> None:
    """Store and return Lambda ``DeadLetterConfig`` (moto drops it)."""
    from moto.awslambda import models

    fn_cls = models.LambdaFunction
    if getattr(fn_cls, "_lsr_dlq_patched", False):
        return
    original_init = fn_cls.__init__
    original_get = fn_cls.get_configuration
    original_update = fn_cls.update_configuration

    def __init__(self, account_id, spec, *args, **kwargs):
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = spec.get("DeadLetterConfig") or {}

    def get_configuration(self, *args, **kwargs):
        config = original_get(self, *args, **kwargs)
        if getattr(self, "dead_letter_config", None):
            config["DeadLetterConfig"] = self.dead_letter_config
        return config

    def update_configuration(self, config_updates):
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"] or {}
        if "TracingConfig" in config_updates:
            self.tracing_config = config_updates["TracingConfig"]
        return original_update(self, config_updates)

    fn_cls.__init__ = __init__
    fn_cls.get_configuration = get_configuration
    fn_cls.update_configuration = update_configuration
    fn_cls._lsr_dlq_patched = True


def serialise_requests(app: Any) -> Any:
    """Wrap a WSGI app so that one request runs at a time."""
    lock = threading.Lock()

    def locked_app(environ, start_response):
        with lock:
            # Materialise the body inside the lock: moto builds it lazily.
            return list(app(environ, start_response))

    return locked_app


def apply_patches() -> None:
    evaluate_bucket_policy_conditions()
    delete_marker_dispose()
    delete_model_package_group()
    lambda_dead_letter_config()


def serve(host: str, port: int) -> None:
    """Run the patched moto server in this process (blocks)."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ.setdefault("MOTO_PORT", str(port))
    apply_patches()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        serialise_requests(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


# --------------------------------------------------------------------------- launcher


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class MotoServer:
    """A patched moto server in a child process on a free loopback port."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.endpoint = f"http://{self.host}:{self.port}"
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout: float = 60.0) -> MotoServer:
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "PYTHONPATH": str(REPO_ROOT)}
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tools.moto_server", "--host", self.host, "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self._proc.returncode} (log: {self.log_path})"
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._proc = None

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def env(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Environment variables that point AWS SDKs at this server."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self, service: str, region: str = DEFAULT_REGION) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
        )

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
