from __future__ import annotations

import pytest
from pydantic import ValidationError

from eventwire.settings import Settings
from eventwire_edge.settings import EdgeSettings
from eventwire_worker.settings import WorkerSettings


def test_open_webui_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@broker:5672/vh")
    monkeypatch.setenv("WEBUI_SECRET_KEY", "s3cret")
    monkeypatch.setenv("WEBSOCKET_EVENT_CALLER_TIMEOUT", "12.5")
    monkeypatch.setenv("ENABLE_FORWARD_USER_INFO_HEADERS", "true")
    monkeypatch.setenv("EVENTWIRE_MAX_PAYLOAD_BYTES", "2048")
    s = WorkerSettings()
    assert s.amqp_url == "amqp://u:p@broker:5672/vh"
    assert s.secret == "s3cret"
    assert s.event_caller_timeout == 12.5
    assert s.forward_user_info_headers is True
    assert s.max_payload_bytes == 2048
    assert "s3cret" not in repr(s)


def test_defaults() -> None:
    s = Settings()
    assert s.event_caller_timeout == 300
    assert s.max_payload_bytes == 1024 * 1024
    assert not s.uses_memory_bus
    assert Settings(amqp_url="memory://").uses_memory_bus


@pytest.mark.parametrize(
    "bad", [{"event_caller_timeout": 0}, {"namespace": "has space"}, {"max_payload_bytes": -1}]
)
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("edge.example.org", False),
    ],
)
def test_dev_login_is_off_by_default_and_knows_loopback_hosts(host: str, loopback: bool) -> None:
    assert EdgeSettings().dev_login is False
    assert EdgeSettings(host=host).host_is_loopback is loopback


def test_each_process_reads_only_its_own_knobs() -> None:
    core = set(Settings.model_fields)
    edge = set(EdgeSettings.model_fields) - core
    worker = set(WorkerSettings.model_fields) - core
    assert {"host", "port", "dev_login", "client_event_rate"} <= edge
    assert {"plugins_dir", "worker_concurrency", "drain_grace"} <= worker
    assert not (edge & worker)
    assert not ({"host", "plugins_dir", "loop", "usage_timeout"} & core)


def test_amqp_url_lists_the_nodes_of_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://a:5672/, amqp://b:5672/ ,amqp://c:5672/")
    s = Settings()
    assert s.amqp_urls == ["amqp://a:5672/", "amqp://b:5672/", "amqp://c:5672/"]
    assert s.quorum_node_queues  # auto: several brokers
    assert not Settings(amqp_url="amqp://a/").quorum_node_queues
    assert Settings(amqp_url="amqp://a/", node_queue_type="quorum").quorum_node_queues
    assert not Settings(amqp_url=s.amqp_url, node_queue_type="classic").quorum_node_queues


@pytest.mark.parametrize(
    "url", ["", " , ", "memory://a,amqp://b/", "http://broker/", "amqp://a/,redis://b"]
)
def test_bad_broker_lists_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        Settings(amqp_url=url)
