"""The embedded servers of a checkout: where commands beside `make run` find their addresses and key."""

import subprocess
import sys

import pytest
from django.conf import settings

from core.embedded_services import (
    EmbeddedServicesMissing,
    checkout_services_read,
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


def test_a_second_terminal_reaches_what_a_live_make_run_serves_with_and_not_after_it_stops(tmp_path):
    served = {
        "DATABASE_URL": "postgres://postgres@db.example:5432/shop",
        "REDIS_URL": "redis://cache.example:6379/0",
        "SITE_URL": "http://127.0.0.1:8204",
        "SECRET_KEY": "the-run-key",
        "PATH": "/usr/bin",  # not recorded: only what the app reads
    }
    # A process of its own plays `make run`: the record lives as long as it does.
    recorder = (
        "import sys, time; from pathlib import Path; from core.embedded_services import run_record_write; "
        f"run_record_write({served!r}, Path({str(tmp_path)!r})); print('recorded', flush=True); time.sleep(60)"
    )
    make_run = subprocess.Popen([sys.executable, "-c", recorder], stdout=subprocess.PIPE, text=True)
    try:
        assert make_run.stdout.readline().strip() == "recorded"
        found = checkout_services_read(tmp_path)
        assert found == {name: served[name] for name in ("DATABASE_URL", "REDIS_URL", "SITE_URL", "SECRET_KEY")}
        assert (tmp_path / "running.json").stat().st_mode & 0o077 == 0  # it holds a key
    finally:
        make_run.kill()
        make_run.wait()
    with pytest.raises(EmbeddedServicesMissing):  # stopped, and no embedded servers: told to start them
        checkout_services_read(tmp_path)


@pytest.mark.parametrize(
    ("arguments", "site_url"),
    [
        (["PORT=8204"], "http://127.0.0.1:8204"),
        (["PORT=8204", "SITE_URL=https://track.example"], "https://track.example"),
    ],
)
def test_make_run_prints_and_serves_its_links_on_its_own_port_unless_site_url_is_set(arguments, site_url):
    # `make -n` prints the commands `make run` would run, without running them.
    commands = subprocess.run(
        ["make", "-n", "run", *arguments], capture_output=True, text=True, check=True, cwd=settings.BASE_DIR
    ).stdout

    assert f"seed_demo --base-url {site_url}" in commands
    assert f"SITE_URL={site_url} " in commands and "core.embedded_services serve -- " in commands
