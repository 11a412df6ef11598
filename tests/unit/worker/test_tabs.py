"""The worker's direct path to Open WebUI's tabs: Open WebUI's call timeouts, and emitters
shaped like Open WebUI's (the routing itself: tests/integration/test_openwebui_direct.py)."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire.client import Eventwire
from eventwire.protocol import DirectRoute
from eventwire.settings import Settings
from eventwire_worker.tabs import DirectTabs, call_timeout


@pytest.mark.parametrize(
    ("event", "owui", "expected"),
    [
        ({"type": "confirmation", "data": {}}, None, 300.0),  # Open WebUI: no limit of its own
        ({"type": "confirmation", "data": {}}, 30, 30.0),  # WEBSOCKET_EVENT_CALLER_TIMEOUT
        ({"type": "request:user_input", "data": {}}, None, 120.0),  # its default timeout_ms
        ({"type": "request:user_input", "data": {"timeout_ms": 1000}}, None, 60.0),  # floor
        ({"type": "request:elicitation", "data": {"timeout_ms": 10**7}}, None, 240.0),  # cap
        ({"type": "request:user_input", "data": {"timeout_ms": True}}, 90, 90.0),
        ({"type": "confirmation", "data": {"tool_call": {"name": "x"}}}, None, 120.0),
    ],
)
def test_open_webuis_timeout_rule_within_the_workers(
    event: dict[str, Any], owui: float | None, expected: float
) -> None:
    assert call_timeout(event, owui, default=300.0) == expected


def test_the_emitters_first_closure_cell_is_request_info_as_in_open_webui() -> None:
    request_info = {"user_id": "alice", "chat_id": "c1", "message_id": "m1"}

    async def via_relay(_event: dict[str, Any]) -> None:
        return None

    tabs = DirectTabs(Eventwire(Settings(amqp_url="memory://closure")), 300.0)
    emit = tabs.emitter(request_info, DirectRoute(room="user:alice"), via_relay)
    assert emit.__closure__ is not None
    assert emit.__closure__[0].cell_contents["chat_id"] == "c1"
