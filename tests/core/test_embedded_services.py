"""The embedded servers of a checkout: where commands beside `make run` find their addresses and key."""

import pytest

from core.embedded_services import (
    EmbeddedServicesMissing,
    embedded_services_read,
    embedded_services_start,
    embedded_services_stop,
)


def test_a_checkout_on_its_embedded_servers_has_a_random_key_of_its_own_that_the_next_start_keeps(tmp_path):
    data_dir = tmp_path / "data"
    try:
        urls = embedded_services_start(data_dir)
        found = embedded_services_read(data_dir)
        key = found["SECRET_KEY"]
        assert found["DATABASE_URL"] == urls["DATABASE_URL"] and found["REDIS_URL"] == urls["REDIS_URL"]
        assert len(key) >= 50 and key != "dev-only-insecure-key-change-me"
        assert (data_dir / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only

        embedded_services_start(data_dir)  # as the next `make run` or `make test` does: the servers and key reused
        assert embedded_services_read(data_dir)["SECRET_KEY"] == key
    finally:
        embedded_services_stop(data_dir)
    with pytest.raises(EmbeddedServicesMissing):  # stopped, a command is told to start them, not given a key
        embedded_services_read(data_dir)
