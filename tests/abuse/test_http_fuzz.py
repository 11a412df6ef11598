"""Every HTTP error is a JSON 4xx naming the problem (item 17), against a real edge process.

The cases the issue found (deep nesting, integers above 2^64, an over-long task id) by name,
then hypothesis posting arbitrary JSON (and not-JSON) bodies to every route.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.abuse.conftest import EdgeProcess
from tests.support.cluster import token

ROUTES = [
    "/api/chat/completions",
    "/api/chat/tools",
    "/api/chat/actions/summarize",
    "/api/tasks/stop/some-task",
    "/api/v1/chats/c1/messages/m1/event",
    "/api/dev/token",
]
# Routes that read their body (stop reads none; dev login is off: 403 before reading it).
BODY_ROUTES = [r for r in ROUTES if "/stop/" not in r and r != "/api/dev/token"]
AUTH = {"Authorization": f"Bearer {token('alice')}"}


def post(edge: EdgeProcess, path: str, body: bytes) -> requests.Response:
    return requests.post(
        edge.url + path,
        data=body,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )


def assert_json_4xx(response: requests.Response) -> Any:
    assert response.status_code < 500, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = response.json()
    if response.status_code >= 400:
        assert body["detail"]
    return body


@pytest.mark.parametrize("path", ROUTES)
def test_a_body_nested_too_deeply_is_a_422_naming_it(edge_process: EdgeProcess, path: str) -> None:
    for depth in (100, 100_000):  # under and over the JSON parser's own recursion limit
        body = '{"model": "m", "tool_id": "t", "name": "n", "type": "x", "data": ' + "[" * depth
        body += "]" * depth + "}"
        response = post(edge_process, path, body.encode())
        detail = assert_json_4xx(response)["detail"]
        if path in BODY_ROUTES:  # the others answer before reading the body
            assert response.status_code == 422
            assert "nested" in json.dumps(detail)


@pytest.mark.parametrize("path", ROUTES[:-1])
def test_integers_beyond_64_bits_are_a_422_naming_them(
    edge_process: EdgeProcess, path: str
) -> None:
    big = 2**64
    body = {"model": "m", "tool_id": "t", "name": "n", "type": "x", "data": {"n": big}}
    body["messages"] = [{"role": "user", "content": "hi", "n": big}]
    body["arguments"] = {"n": big}
    response = post(edge_process, path, json.dumps(body).encode())
    if path.startswith("/api/tasks/stop"):
        assert_json_4xx(response)  # the body is not read: the task is not found
        return
    assert response.status_code == 422
    assert "integer" in json.dumps(assert_json_4xx(response)["detail"])


def test_a_task_id_over_255_bytes_is_a_404_naming_it(edge_process: EdgeProcess) -> None:
    response = post(edge_process, "/api/tasks/stop/" + "t" * 300, b"{}")
    assert response.status_code == 404
    assert "bytes" in assert_json_4xx(response)["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/nowhere", 404), ("GET", "/api/chat/completions", 405)],
)
def test_unknown_routes_and_methods_answer_json(
    edge_process: EdgeProcess, method: str, path: str, status: int
) -> None:
    response = requests.request(method, edge_process.url + path, headers=AUTH, timeout=30)
    assert response.status_code == status
    assert_json_4xx(response)


# -- property-based: any body, any route -------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63),  # beyond what msgpack (the bus) can carry
    st.integers(max_value=-(2**63) - 1),
    st.floats(),  # NaN and Infinity too (written as Python's json writes them)
    st.text(max_size=50),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)
# Bodies shaped like the routes' forms (the fields each requires, of its type), with anything
# in the others, so bodies get past validation into what is built from them.
names = st.text(max_size=30)
forms = st.fixed_dictionaries(
    {"model": names, "tool_id": names, "name": names, "type": names},
    optional={
        key: values
        for key in ("messages", "arguments", "data", "session_id", "chat_id", "id", "stream", "x")
    },
)
bodies = st.one_of(
    values.map(lambda v: json.dumps(v).encode()),
    forms.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),  # not JSON, not even UTF-8
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(ROUTES), body=bodies)
def test_any_body_on_any_route_is_answered_below_500_in_json(
    edge_process: EdgeProcess, path: str, body: bytes
) -> None:
    assert_json_4xx(post(edge_process, path, body))


@settings(max_examples=100, deadline=None)
@given(task_id=st.one_of(st.text(min_size=1, max_size=30), st.text(min_size=240, max_size=400)))
def test_any_task_id_is_answered_below_500_in_json(edge_process: EdgeProcess, task_id: str) -> None:
    response = post(edge_process, "/api/tasks/stop/" + quote(task_id, safe=""), b"{}")
    assert_json_4xx(response)


def test_the_fuzzed_edge_logged_no_traceback(edge_process: EdgeProcess) -> None:
    """Runs last in this module: whatever the bodies above did, nothing escaped as a crash."""
    assert "Traceback" not in edge_process.stderr()
