"""The API client. Standard library only (urllib), so it drops into any advertiser's stack."""

from __future__ import annotations

import http.client
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, urlopen

from affitrack.errors import AffitrackError, APIConnectionError, Conflict, error_for_response, retry_after_seconds
from affitrack.models import Conversion, RequestLogEntry
from affitrack.postback import _text

DEFAULT_TIMEOUT = 10.0
USER_AGENT = "affitrack-python/1.0.0"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class Client:
    """`Client("https://track.example.com", "ak_...")`.

    Reads (GET) and writes that carry an Idempotency-Key are retried on
    connection errors, timeouts, 429 and 5xx, up to `max_retries` times with
    exponential backoff and jitter. A Retry-After (a 429's, a 503's) is waited
    for when it is at most `max_retry_wait` seconds; a longer one is raised at
    once. `convert` and `update_status` always send a key, generated when you
    give none, so a retry never records twice.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("An API key is required.")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}.")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, api_key='{self.api_key[:6]}...')"

    # -- conversions ---------------------------------------------------------------------------------------------

    def convert(
        self,
        *,
        type: str,
        external_id: str,
        amount: Decimal | str | int,
        click_id: str | None = None,
        referral_code: str | None = None,
        coupon: str | None = None,
        offer: str | None = None,
        currency: str | None = None,
        product_id: str | None = None,
        category: str | None = None,
        quantity: int | None = None,
        plan: str | None = None,
        subscription_id: str | None = None,
        source: str | None = None,
        occurred_at: datetime | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
        meta: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Conversion:
        """Report a purchase or subscription (`POST /v1/convert`).

        Attribution needs `click_id`, or `referral_code` with `offer`, or
        `coupon`. The answer's `created` is True for a new conversion (202),
        False when `external_id` was reported before (200, the first one).
        """
        body: dict[str, Any] = {"type": type, "external_id": external_id, "amount": _text(amount)}
        optional = {
            "click_id": click_id,
            "referral_code": referral_code,
            "coupon": coupon,
            "offer": offer,
            "currency": currency,
            "product_id": product_id,
            "category": category,
            "quantity": quantity,
            "plan": plan,
            "subscription_id": subscription_id,
            "source": source,
            "occurred_at": _text(occurred_at) if occurred_at is not None else None,
            "user_agent": user_agent,
            "ip": ip,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        if meta is not None:
            body["meta"] = dict(meta)
        status, data, headers = self._request(
            "POST", "/v1/convert", body=body, idempotency_key=idempotency_key or _new_key()
        )
        return Conversion.from_api(data, created=status == 202, replayed=_replayed(headers))

    def conversion(self, conversion_id: str | uuid.UUID) -> Conversion:
        """One conversion by its id (`GET /v1/conversions/{id}`); NotFound if it is not yours."""
        _, data, _ = self._request("GET", f"/v1/conversions/{quote(str(conversion_id), safe='')}")
        return Conversion.from_api(data)

    def conversions(self, *, page_size: int | None = None, **filters: Any) -> Iterator[Conversion]:
        """Every conversion matching `filters`, newest first, fetched page by page as you iterate.

        Filters: status (one or a list), type, offer, external_id, created_after,
        created_before, occurred_after, occurred_before (datetimes), sub1..sub5,
        ordering (created_at, occurred_at, amount; `-` for descending).
        """
        for row in self._pages("/v1/conversions", page_size=page_size, filters=filters):
            yield Conversion.from_api(row)

    def request_log(self, *, page_size: int | None = None, **filters: Any) -> Iterator[RequestLogEntry]:
        """Your refused, duplicate and unattributed ingestion requests, newest first.

        Filters: reason (one or a list), channel, created_after, created_before.
        """
        for row in self._pages("/v1/request-log", page_size=page_size, filters=filters):
            yield RequestLogEntry.from_api(row)

    def update_status(
        self,
        conversion_id: str | uuid.UUID | Conversion | None = None,
        status: str = "",
        remark: str = "",
        reason: str | None = None,
        *,
        external_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Conversion:
        """Accept or reject a conversion, by its id or (keyword `external_id=`) by your own order id.

        `status` is "accepted" or "rejected"; a rejection needs a `remark` (the
        publisher sees it) and may carry a `reason` slug (default
        `rejected_by_advertiser`). Rejecting an accepted conversion reverses its reward.
        """
        if isinstance(conversion_id, Conversion):
            conversion_id = conversion_id.id
        if (conversion_id is None) == (external_id is None):
            raise ValueError("Pass either a conversion id or external_id=, not both.")
        if status not in ("accepted", "rejected"):
            raise ValueError('status must be "accepted" or "rejected".')
        if conversion_id is not None:
            path = f"/v1/conversions/{quote(str(conversion_id), safe='')}/status"
        else:
            path = f"/v1/conversions/by-external-id/{quote(str(external_id), safe='')}/status"
        body: dict[str, Any] = {"status": status, "remark": remark}
        if reason is not None:
            body["reason"] = reason
        _, data, headers = self._request("POST", path, body=body, idempotency_key=idempotency_key or _new_key())
        return Conversion.from_api(data, replayed=_replayed(headers))

    # -- transport -----------------------------------------------------------------------------------------------

    def _pages(self, path: str, *, page_size: int | None, filters: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        query = _query({**filters, "page_size": page_size})
        target: str | None = f"{path}?{query}" if query else path
        while target:
            _, data, _ = self._request("GET", target)
            yield from data.get("results", [])
            following = data.get("next")
            # Follow the cursor on our own base URL: behind a proxy the server may name another host.
            target = _path_and_query(following) if following else None

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        # Encoded once: a retry must send the very same bytes, or the key would be "reused with another body".
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        retryable = method == "GET" or bool(idempotency_key)
        attempt = 0
        while True:
            try:
                return self._send(method, self.base_url + path, payload, headers)
            except AffitrackError as error:
                wait = self._retry_wait(error, attempt) if retryable and attempt < self.max_retries else None
                if wait is None:
                    raise
            attempt += 1
            self._sleep(wait)

    def _retry_wait(self, error: AffitrackError, attempt: int) -> float | None:
        """Seconds to wait before retrying after `error`, or None when it must not be retried."""
        in_flight = isinstance(error, Conflict) and error.code == "idempotency_key_in_flight"
        if not (isinstance(error, APIConnectionError) or error.status in _RETRY_STATUSES or in_flight):
            return None
        wait: float = self.backoff * (2.0**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        # The server says when to come back (a 429 over the rate, a 503 while its database or Redis is away).
        retry_after = retry_after_seconds(error.headers)
        if retry_after is not None:
            if retry_after > self.max_retry_wait:
                return None  # longer than we are willing to block: let the caller decide
            wait = max(wait, retry_after)
        return wait

    def _send(
        self, method: str, url: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        request = Request(url, data=payload, headers=headers, method=method)  # noqa: S310 - http(s) checked in __init__
        try:
            with urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, raw, answer_headers = response.status, response.read(), dict(response.headers.items())
        except HTTPError as error:
            raw = error.read()
            answer_headers = dict(error.headers.items()) if error.headers else {}
            raise error_for_response(error.code, _decode(raw), answer_headers) from None
        except (URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            raise APIConnectionError(f"Could not reach {url}: {reason}") from error
        return status, _decode(raw), answer_headers


def _new_key() -> str:
    return f"sdk-{uuid.uuid4().hex}"


def _replayed(headers: Mapping[str, str]) -> bool:
    return any(k.lower() == "idempotent-replayed" and v == "true" for k, v in headers.items())


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _query(params: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple | set | frozenset) else [value]
        pairs += [(name, _text(item)) for item in values]
    return urlencode(pairs)


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
