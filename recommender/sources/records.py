"""What every source shares: tidying text, arXiv ids, and a polite HTTP client."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

from recommender.sources import SourceError, SourceTimeout

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_VERSION = re.compile(r"^(?P<id>.+?)v(?P<version>\d+)$")
ARXIV_ID = re.compile(r"^(\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})$")


def tidy(text: str | None) -> str:
    """One line of text as people read it: control characters dropped, line breaks and runs of spaces made one space."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def split_version(arxiv_id: str) -> tuple[str, int | None]:
    """``"2401.01234v2"`` -> ``("2401.01234", 2)``; an id without a version -> ``(id, None)``."""
    found = _VERSION.match(arxiv_id.strip())
    return (found["id"], int(found["version"])) if found else (arxiv_id.strip(), None)


def abstract_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


class PoliteClient:
    """An httpx client that waits ``min_interval`` seconds between requests (arXiv asks for one request every
    three seconds), sends a descriptive User-Agent, and on ``503``/``429`` with ``Retry-After`` waits as told
    (at most ``max_retry_wait`` seconds, ``max_retries`` times) before asking again."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        min_interval: float = 3.0,
        max_retries: int = 5,
        max_retry_wait: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = httpx.Client(headers={"User-Agent": user_agent}, timeout=timeout, follow_redirects=True, transport=transport)
        self.min_interval, self.max_retries, self.max_retry_wait, self.sleep = min_interval, max_retries, max_retry_wait, sleep
        self.requests = 0
        self.waited = 0.0  # seconds spent in pauses (between requests and after Retry-After)
        self._last = float("-inf")

    def get(self, url: str, params: dict | None = None) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            self._pause(self.min_interval - (time.monotonic() - self._last))
            try:
                response = self.client.get(url, params=params)
            except httpx.TimeoutException as exc:
                raise SourceTimeout(f"{url}: no answer within {self.client.timeout.read} seconds ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise SourceError(f"{url}: cannot be reached ({exc})") from exc
            finally:
                self._last = time.monotonic()
                self.requests += 1
            if response.status_code in (429, 503) and attempt < self.max_retries:
                self._pause(min(_retry_after(response), self.max_retry_wait))
                continue
            if response.status_code >= 400:
                raise SourceError(f"{url}: the server answered {response.status_code} {response.reason_phrase}")
            return response
        raise SourceError(f"{url}: still busy after {self.max_retries} retries")  # pragma: no cover - the loop returns or raises

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)
            self.waited += seconds

    def close(self) -> None:
        self.client.close()


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asked us to wait (``Retry-After`` in seconds; 10 when it did not say or said a date)."""
    raw = response.headers.get("Retry-After", "")
    return float(raw) if raw.strip().isdigit() else 10.0
