from __future__ import annotations

import pytest

from eventwire.auth import Identity
from eventwire.errors import ConfigurationError
from eventwire_edge.authorizer import ClaimsAuthorizer, load_authorizer

ALICE = Identity(id="alice")
ADMIN = Identity(id="root", role="admin")


async def test_the_channels_claim_decides() -> None:
    auth = ClaimsAuthorizer()
    claims = {"id": "alice", "channels": ["team", "", 7, "ops"]}
    assert set(await auth.channels(ALICE, claims)) == {"team", "ops"}
    assert await auth.may_join(ALICE, claims, "team")
    assert not await auth.may_join(ALICE, claims, "secret")
    assert not await auth.may_join(ALICE, {"id": "alice", "channels": "team"}, "team")


async def test_admins_may_join_any_channel() -> None:
    auth = ClaimsAuthorizer()
    assert await auth.may_join(ADMIN, {"id": "root"}, "anything")
    assert list(await auth.channels(ADMIN, {"id": "root"})) == []


class Everyone:
    async def channels(self, who: Identity, claims: object) -> list[str]:
        return ["lobby"]

    async def may_join(self, who: Identity, claims: object, channel_id: str) -> bool:
        return True


def test_a_deployment_names_its_own() -> None:
    assert isinstance(load_authorizer(""), ClaimsAuthorizer)
    assert isinstance(load_authorizer(f"{__name__}:Everyone"), Everyone)


@pytest.mark.parametrize(
    "path", ["no-colon", "no.such.module:x", f"{__name__}:Missing", "os:getcwd"]
)
def test_bad_authorizer_paths_are_configuration_errors(path: str) -> None:
    with pytest.raises(ConfigurationError):
        load_authorizer(path)
