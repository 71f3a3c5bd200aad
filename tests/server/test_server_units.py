"""The pure parts of the server package: URL redaction for the banner, access-log fields, the connection cap."""

from __future__ import annotations

from wardgate.server.access import MAX_FIELD, field
from wardgate.server.banner import redact
from wardgate.server.fds import BACKLOG, FD_HEADROOM, connection_cap
from wardgate.server.run import log_config


def test_redact_hides_a_password_in_the_user_part_or_the_query() -> None:
    assert redact("postgresql://wg:s3cret@db:5432/wg") == "postgresql://wg:***@db:5432/wg"
    assert redact("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert (
        redact("postgresql://db/wg?sslmode=require&password=s3cret")
        == "postgresql://db/wg?sslmode=require&password=***"
    )


def test_redact_leaves_a_url_without_a_password_as_written() -> None:
    for url in (
        "sqlite:////var/lib/wardgate/wardgate.db",
        "sqlite:///wardgate.db",
        "redis://r:6379/0",
        "unix:///r.sock",
    ):
        assert redact(url) == url


def test_access_log_fields_are_bounded_and_quoted_when_a_client_chose_odd_characters() -> None:
    assert field("gpt-4o-mini") == "gpt-4o-mini"
    assert field(None) == field("") == "-"
    assert field('a b"\nc') == '"a b\\"\\nc"'
    assert len(field("m" * 10_000)) == MAX_FIELD


def test_the_connection_cap_leaves_room_for_one_upstream_connection_each() -> None:
    assert connection_cap(10_000, 1 << 20) == 10_000
    assert connection_cap(10_000, 20_000) == (20_000 - FD_HEADROOM) // 2
    assert connection_cap(10_000, 1024) == 16
    assert FD_HEADROOM > BACKLOG  # a whole backlog accepted at once still finds descriptors


def test_the_access_log_is_written_whatever_the_log_level_when_it_is_on() -> None:
    assert log_config("error", True)["loggers"]["wardgate.access"]["level"] == "INFO"
    assert log_config("debug", False)["loggers"]["wardgate"]["level"] == "DEBUG"
