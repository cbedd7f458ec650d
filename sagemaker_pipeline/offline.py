"""Run the SageMaker SDK hermetically: no AWS call, no user configuration, nothing on stdout.

Rendering a definition needs no AWS at all, but the SDK reaches out on its own:

* ``import sagemaker`` builds a default JumpStart ``Session`` (resolves credentials -> may query the EC2
  instance metadata service or an ECS credentials endpoint) and loads the SDK config files
  (/etc/xdg/sagemaker/config.yaml, ~/.config/sagemaker/config.yaml, or any S3 URI they point to) whose
  defaults would leak into the rendered JSON; it logs that to **stdout**.
* A ``Session`` creates boto3 clients and, for some code paths, calls STS/S3 (default bucket, account id).
* ``Estimator.fit`` (and other public calls) send a telemetry HTTPS GET; the only opt-out is a value in a
  non-empty SDK config, and a non-empty config is re-validated against the SDK's JSON schema on every
  lookup (~0.4 s each, ~80 lookups per render), so the sender is swapped for a no-op instead.

So the SDK is imported and used only inside :func:`offline_sdk`, which pins the environment (empty config
files, fake static credentials, no profile, metadata service disabled) and quiets its logging, and steps are
built on :func:`offline_session`, whose boto session hands out clients that raise on any use. If a future
SDK version starts calling AWS while rendering, the build fails loudly instead of silently needing network.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from sagemaker.workflow.pipeline_context import PipelineSession

# Set while the SDK is imported and used; restored afterwards so the caller's process is left as it was.
OFFLINE_ENV: dict[str, str] = {
    "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": os.devnull,  # an empty YAML file: "no SDK defaults"
    "SAGEMAKER_USER_CONFIG_OVERRIDE": os.devnull,
    "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_ACCESS_KEY_ID": "offline-build",  # static credentials end the provider chain before any network
    "AWS_SECRET_ACCESS_KEY": "offline-build",
    "AWS_EC2_METADATA_DISABLED": "true",
}
DROPPED_ENV: tuple[str, ...] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "AWS_ENDPOINT_URL_S3",
)
_SDK_LOGGERS = ("sagemaker", "sagemaker.config", "sagemaker_core", "botocore", "boto3")


class OfflineViolation(RuntimeError):
    """The SDK tried to talk to AWS while rendering; rendering must be offline."""


class _RefusingClient:
    """Stands in for every boto3 client/resource: any attribute access is an attempted AWS call."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> NoReturn:
        raise OfflineViolation(
            f"the SageMaker SDK tried to use AWS ({self._service}.{name}) while rendering the pipeline "
            "definition; rendering must stay offline (pin a different SDK or pass explicit values)"
        )


class _OfflineBotoSession:
    """The part of boto3.Session the SDK touches when a Session is built: a region and client factories."""

    def __init__(self, region: str) -> None:
        self.region_name = region

    def client(self, service_name: str, *args: object, **kwargs: object) -> _RefusingClient:
        return _RefusingClient(service_name)

    def resource(self, service_name: str, *args: object, **kwargs: object) -> _RefusingClient:
        return _RefusingClient(service_name)


@contextlib.contextmanager
def offline_sdk() -> Iterator[None]:
    """Pin the environment and logging for importing and using the SDK; restore both on exit.

    Also replaces the SDK's telemetry sender with a no-op for the duration (see module docstring).
    """
    saved_env = dict(os.environ)
    saved_levels = {name: logging.getLogger(name).level for name in _SDK_LOGGERS}
    os.environ.update(OFFLINE_ENV)
    for name in DROPPED_ENV:
        os.environ.pop(name, None)
    _route_sdk_logs_to_stderr()
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # "Running within a PipelineSession ...", the v2 deprecation notice: expected, not actionable.
            warnings.simplefilter("ignore")
            with _no_telemetry():
                yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _no_telemetry() -> Iterator[None]:
    """Swap sagemaker.telemetry.telemetry_logging._send_telemetry_request for a no-op, then restore it.

    The decorator looks the sender up as a module global at call time, so swapping the attribute is enough.
    """
    from sagemaker.telemetry import telemetry_logging

    original = telemetry_logging._send_telemetry_request
    telemetry_logging._send_telemetry_request = _skip_telemetry
    try:
        yield
    finally:
        telemetry_logging._send_telemetry_request = original


def _skip_telemetry(*args: object, **kwargs: object) -> None:
    """Rendering is offline: no telemetry request."""


def _route_sdk_logs_to_stderr() -> None:
    """Give the "sagemaker" logger a stderr handler before the SDK adds its own stdout one.

    sagemaker.config.config_utils attaches a *stdout* handler to "sagemaker.config" only when neither it nor
    "sagemaker" has handlers, so one stderr handler here keeps stdout for build.py's own output.
    """
    logger = logging.getLogger("sagemaker")
    if not any(getattr(handler, "_lsr_offline", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._lsr_offline = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def offline_session(region: str, bucket: str) -> PipelineSession:
    """A PipelineSession for ``region`` that cannot reach AWS and ignores every SDK config file.

    Call inside :func:`offline_sdk`: the Session then "loads" the SDK config from the empty override files
    and ends up with ``{}``, which short-circuits every config lookup. (Passing a non-empty config instead
    costs a JSON-schema validation of ~0.4 s on each of the lookups.) ``default_bucket`` is set so no code
    path needs STS to name one.
    """
    if any(os.environ.get(name) != value for name, value in OFFLINE_ENV.items()):
        raise RuntimeError("offline_session() must be called inside offline_sdk()")
    from sagemaker.workflow.pipeline_context import PipelineSession

    session = PipelineSession(
        boto_session=_OfflineBotoSession(region),
        sagemaker_client=_RefusingClient("sagemaker"),
        default_bucket=bucket,
    )
    if session.sagemaker_config:
        raise RuntimeError(f"the SDK loaded a config despite offline_sdk(): {session.sagemaker_config}")
    return session
