"""A local stand-in for the module's API Gateway: HTTP in, payload-2.0 event to the deployed handler.

Why: moto stores the Lambda and the HTTP API but can neither serve the API's
URL nor invoke the function (no Docker).  So the demo and the end-to-end test
run the *deployed* artifact here: the zip that ``build.py`` wrote (the same
bytes Terraform uploaded, checked against the function's ``CodeSha256``), with
the handler name and environment read back from the emulator, and the AWS SDK
inside pointed at the emulator.  Label Studio's webhook is re-pointed to this
endpoint.

Run as a child process (its environment becomes the function's)::

    python -m tools.local_gateway --function-name NAME --zip build/webhook_lambda.zip \\
        --aws-endpoint http://127.0.0.1:5000 --port 8081

Every request/response pair is appended as one JSON line to ``--record`` so
callers can replay a delivery or count what the function answered.  The same
port also answers Lambda's Invoke API (``POST /2015-03-31/functions/NAME/invocations``),
so a boto3 ``lambda`` client pointed here can deliver the EventBridge events that
moto cannot.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

INVOKE_PATH = re.compile(r"/2015-03-31/functions/[^/]+/invocations")


def http_api_event(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for one request."""
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def load_handler(zip_path: Path, handler_spec: str) -> Any:
    """Unpack the deployment zip and import ``module.function`` from it, as Lambda does."""
    target = Path(tempfile.mkdtemp(prefix="lambda-task-"))
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    sys.path.insert(0, str(target))
    module_name, function_name = handler_spec.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), function_name)


def function_configuration(function_name: str, aws_endpoint: str) -> dict[str, Any]:
    import boto3

    client = boto3.client("lambda", endpoint_url=aws_endpoint)
    return client.get_function_configuration(FunctionName=function_name)


def code_sha256(zip_path: Path) -> str:
    return base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()


def make_request_handler(handler: Any, record: Path | None) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class GatewayRequest(BaseHTTPRequestHandler):
        def _invoke(self) -> None:
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "POST" and INVOKE_PATH.fullmatch(path):
                self._lambda_invoke(body)
                return
            event = http_api_event(self.command, path, query, dict(self.headers.items()), body)
            context = type("Context", (), {"aws_request_id": event["requestContext"]["requestId"]})()
            result = handler(event, context)
            status = int(result.get("statusCode", 200))
            payload = (result.get("body") or "").encode()
            self.send_response(status)
            for key, value in (result.get("headers") or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            if record:
                line = {"request": {"path": path, "headers": event["headers"], "body": event["body"]}}
                line["response"] = {"status": status, "body": payload.decode(errors="replace")}
                with lock, record.open("a") as out:
                    out.write(json.dumps(line, sort_keys=True) + "\n")

        def _lambda_invoke(self, body: bytes) -> None:
            """Lambda's Invoke API (what EventBridge uses): the body is the event, the reply the result."""
            try:
                payload = json.dumps(handler(json.loads(body or b"{}"), None)).encode()
                error = None
            except Exception as exc:  # as Lambda reports an unhandled error: 200 + X-Amz-Function-Error
                payload = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}).encode()
                error = "Unhandled"
            self.send_response(200)
            if error:
                self.send_header("X-Amz-Function-Error", error)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = _invoke
        do_GET = _invoke

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("gateway: " + fmt % args + "\n")

    return GatewayRequest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--zip", type=Path, required=True)
    parser.add_argument("--aws-endpoint", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path)
    args = parser.parse_args(argv)

    config = function_configuration(args.function_name, args.aws_endpoint)
    if config.get("CodeSha256") != code_sha256(args.zip):
        print(f"error: {args.zip} is not the code deployed as {args.function_name}", file=sys.stderr)
        return 1
    os.environ.update(config.get("Environment", {}).get("Variables", {}))
    os.environ["AWS_ENDPOINT_URL"] = args.aws_endpoint
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = args.function_name
    handler = load_handler(args.zip, config["Handler"])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_request_handler(handler, args.record))
    print(f"gateway listening on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
