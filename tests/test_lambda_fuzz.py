"""Fuzz the webhook Lambda: arbitrary bodies, headers and event shapes never raise and never 5xx."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import WEBHOOK_TOKEN, LambdaStack, ls_webhook

pytestmark = pytest.mark.integration

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Bodies close to the real thing: a captured delivery with fields replaced by arbitrary JSON.
near_miss_bodies = st.builds(
    lambda action, field, value: {
        **ls_webhook("annotation_created_1"),
        "action": action,
        "project": {**ls_webhook("annotation_created_1")["project"], field: value},
    },
    st.sampled_from(["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED"]),
    st.sampled_from(["id", "total_annotations_number", "title"]),
    json_values | st.integers(min_value=-(10**20), max_value=10**20),
)
bodies = st.one_of(
    json_values.map(json.dumps),
    near_miss_bodies.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()),
)
header_sets = st.one_of(
    st.just({"x-webhook-token": WEBHOOK_TOKEN}),
    st.dictionaries(
        st.sampled_from(["x-webhook-token", "X-Webhook-Token", "content-type"]) | st.text(max_size=8),
        st.text(max_size=40) | st.just(WEBHOOK_TOKEN),
        max_size=3,
    ),
)


def wrap(stack: LambdaStack, shape: str, body: str, headers: dict[str, str], b64: bool) -> Any:
    if shape == "direct":
        try:
            return json.loads(body)
        except ValueError:
            return body
    event = (
        stack.http_event(body, headers, b64=b64)
        if shape == "v2"
        else stack.rest_event(body, headers, b64=b64)
    )
    if shape == "garbled":
        event.update(headers=[headers], multiValueHeaders={"x-webhook-token": "not-a-list"}, body=None)
    return event


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies,
    headers=header_sets,
    shape=st.sampled_from(["v2", "v1", "direct", "garbled"]),
    b64=st.booleans(),
)
def test_never_raises_nor_5xx(
    lambda_stack: LambdaStack, body: str, headers: dict, shape: str, b64: bool
) -> None:
    module = lambda_stack.modules[0] if lambda_stack.modules else lambda_stack.load()
    response = module.lambda_handler(wrap(lambda_stack, shape, body, headers, b64), None)
    assert isinstance(response, dict)
    if "statusCode" in response:
        assert 200 <= response["statusCode"] < 500, response
        assert WEBHOOK_TOKEN not in response.get("body", "")
