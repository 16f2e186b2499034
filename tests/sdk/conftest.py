"""The Python SDK is tested from its source tree against a live server, as an advertiser would use it."""

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener, urlopen

import pytest
from django.utils import timezone

from referrals.models import Click

SDK_SOURCE = Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"
if str(SDK_SOURCE) not in sys.path:
    sys.path.insert(0, str(SDK_SOURCE))

from affitrack import Client  # noqa: E402

from referrals.services import postback_token_rotate, signing_secret_rotate  # noqa: E402
from tests.reliability.conftest import ROOT, _free_port  # noqa: E402


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


@pytest.fixture
def visit_link(live_server):
    """A visitor opening a tracking link on the live server; returns the click id from the redirect."""
    opener = build_opener(_NoRedirect)
    # A visitor's browser: Python-urllib's own user agent would be screened as a bot.
    opener.addheaders = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")]

    def visit(code: str) -> str:
        try:
            opener.open(f"{live_server.url}/c/{code}")
        except HTTPError as answer:  # urllib raises it for the 302 it was told not to follow
            assert answer.code == 302 and "atc_" in answer.headers["Set-Cookie"]
            click_id = parse_qs(urlsplit(answer.headers["Location"]).query)["cid"][0]
            # The visitor shops for a few minutes: a purchase 10 s after its click is held as fraud.
            Click.objects.filter(click_id=click_id).update(created_at=timezone.now() - timedelta(minutes=3))
            return click_id
        raise AssertionError("the tracking link did not redirect")

    return visit


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def sdk(live_server, acme_key, sleeps):
    """Acme's client; it records the waits between retries instead of sleeping them."""
    return Client(live_server.url, acme_key, timeout=10, sleep=sleeps.append)


@pytest.fixture
def globex_sdk(live_server, globex_key):
    return Client(live_server.url, globex_key)


@pytest.fixture
def postback_token(acme):
    return postback_token_rotate(advertiser=acme)


@pytest.fixture
def signing_secret(acme):
    return signing_secret_rotate(advertiser=acme)


@pytest.fixture(scope="module")
def server_without_database():
    """The app under gunicorn, as production runs it, on a PostgreSQL port where nothing listens: its own outage
    path answers every API request 503 with Retry-After. Yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_free_port()}/affitrack",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--no-control-socket", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while web.poll() is None and time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        web.kill()
        raise AssertionError("gunicorn did not start")
    yield f"http://127.0.0.1:{port}"
    web.terminate()
    web.wait()


@pytest.fixture
def outage_for_a_moment(live_server):
    """A real HTTP server in front of the live server: the first `outages` requests get the 503 with Retry-After
    the app answers while its database is away (for one second here), the others pass through to the app."""
    servers = []

    def start(outages: int):
        requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if len(requests) < outages:
                    status, headers = 503, {"Content-Type": "application/json", "Retry-After": "1"}
                    answer = b'{"error": {"code": "unavailable", "message": "PostgreSQL is away.", "fields": {}}}'
                else:
                    forward = {name: value for name, value in self.headers.items() if name.lower() != "host"}
                    url = live_server.url + self.path
                    passed = Request(url, data=body or None, headers=forward, method=self.command)  # noqa: S310
                    try:
                        with urlopen(passed) as response:  # noqa: S310 - the live server's http URL
                            status, headers, answer = response.status, dict(response.headers), response.read()
                    except HTTPError as error:
                        status, headers, answer = error.code, dict(error.headers), error.read()
                key = self.headers.get("Idempotency-Key")
                requests.append({"method": self.command, "path": self.path, "key": key, "body": body, "status": status})
                self.send_response(status)
                for name in ("Content-Type", "Retry-After", "Idempotent-Replayed"):
                    if name in headers:
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_any

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        server.url, server.requests = f"http://127.0.0.1:{server.server_port}", requests
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
