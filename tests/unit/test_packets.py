from __future__ import annotations

import pytest

from eventwire.errors import EventValidationError
from eventwire_edge.packets import ChannelEvent, JoinChannels, Usage, UserJoin, parse


def test_open_webui_payloads_parse() -> None:
    assert parse(UserJoin, {"auth": {"token": "t"}}).auth.token == "t"
    assert parse(JoinChannels, {"auth": {"token": "t"}}).channel_ids is None
    event = parse(ChannelEvent, {"channel_id": "c", "data": {"type": "typing", "data": {}}})
    assert (event.channel_id, event.message_id, event.data.type) == ("c", None, "typing")
    assert parse(Usage, {"model": "llama3", "action": "chat", "chat_id": "x"}).model == "llama3"


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (UserJoin, {}, "auth"),
        (UserJoin, {"auth": {}}, "auth.token"),
        (ChannelEvent, {"channel_id": "c", "data": {}}, "data.type"),
        (ChannelEvent, {"channel_id": 5, "data": {"type": "typing"}}, "channel_id"),
        (Usage, None, "payload"),
        (JoinChannels, {"channel_ids": "team"}, "channel_ids"),
    ],
)
def test_malformed_payloads_name_the_field(model: type, data: object, field: str) -> None:
    with pytest.raises(EventValidationError, match=f"^{field}:"):
        parse(model, data)
