"""What every source shares: tidying text, arXiv ids, and a polite HTTP client."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from recommender.sources import SourceError, SourceTimeout

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_VERSION = re.compile(r"^(?P<id>.+?)v(?P<version>\d+)$")
ARXIV_ID = re.compile(r"^(\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})$", re.ASCII)
_OLD_STYLE = re.compile(r"^([a-z]+(?:-[a-z]+)*)(\.[a-z]{2})?/(\d{7})$", re.ASCII | re.IGNORECASE)


def tidy(text: str | None) -> str:
    """One line of text as people read it: control characters dropped, line breaks and runs of spaces made one space."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def split_version(arxiv_id: str) -> tuple[str, int | None]:
    """``"2401.01234v2"`` -> ``("2401.01234", 2)``; an id without a version -> ``(id, None)``. Only ASCII digits make a
    version (a version past 32767 is left to the record check to refuse)."""
    found = _VERSION.match(arxiv_id.strip())
    if found and found["version"].isascii() and len(found["version"]) <= 9:
        return found["id"], int(found["version"])
    return arxiv_id.strip(), None


def arxiv_id_normalised(raw: str) -> str | None:
    """An arXiv id (without version) in the one spelling the catalogue keeps: old-style archives in lower case and
    their subject class in upper case (``HEP-TH/9901001`` -> ``hep-th/9901001``, ``math.gt/0309136`` ->
    ``math.GT/0309136``); None for anything that is not an arXiv id in ASCII."""
    text = raw.strip()
    if (old := _OLD_STYLE.match(text)) is not None:
        archive, subject, number = old.groups()
        text = f"{archive.lower()}{subject.upper() if subject else ''}/{number}"
    return text if ARXIV_ID.match(text) else None


def abstract_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


MAX_ANSWER_BYTES = 16 * 2**20  # an OAI page of 1,000 records is about 5 MB; nothing a source sends may be larger
MAX_REDIRECTS = 3
_PACE_LOCK = threading.Lock()
_NEXT_SLOT: dict[str, float] = {}  # host -> the earliest monotonic time its next request may start (this process)


@dataclass(frozen=True)
class Answer:
    """A source's whole answer, read within the client's limits."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self):
        return json.loads(self.content)


class PoliteClient:
    """An httpx client for outside sources that nothing they answer can hold up or flood:

    - one pace per host for the whole process (arXiv asks for one request every three seconds, and the harvest and a
      reader's paste share it): ``min_interval`` seconds between the starts of two requests to one host;
    - each request answered in whole within ``timeout`` seconds (connecting, every read and the last byte: a server
      that trickles a byte at a time is cut off), and the client's requests all within ``deadline`` seconds;
    - at most ``max_bytes`` read, as sent and as inflated (a gzip bomb stops at the limit);
    - redirects followed only to the same scheme, host and port, at most MAX_REDIRECTS;
    - on ``503``/``429`` with ``Retry-After`` a wait as told (at most ``max_retry_wait`` seconds, ``max_retries`` times).

    Every failure is a :class:`SourceError` (:class:`SourceTimeout` for time) that says what happened."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        min_interval: float = 3.0,
        max_retries: int = 5,
        max_retry_wait: float = 600.0,
        max_bytes: int = MAX_ANSWER_BYTES,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = httpx.Client(headers={"User-Agent": user_agent}, timeout=timeout, follow_redirects=False, transport=transport)
        self.timeout, self.min_interval, self.max_bytes = timeout, min_interval, max_bytes
        self.max_retries, self.max_retry_wait, self.sleep = max_retries, max_retry_wait, sleep
        self.ends_at = time.monotonic() + deadline if deadline is not None else float("inf")
        self.requests = 0
        self.waited = 0.0  # seconds spent in pauses (between requests and after Retry-After)
        self.on_wait: Callable[[], object] | None = None  # called before each pause (a harvest stamps its heartbeat)

    def get(self, url: str, params: dict | None = None) -> Answer:
        for attempt in range(self.max_retries + 1):
            self._pace(url)
            answer = self._fetch(url, params)
            if answer.status_code in (429, 503) and attempt < self.max_retries:
                self._pause(min(_retry_after(answer), self.max_retry_wait))
                continue
            if answer.status_code >= 400:
                raise SourceError(f"{url}: the server answered {answer.status_code} {answer.reason_phrase}")
            return answer
        raise SourceError(f"{url}: still busy after {self.max_retries} retries")  # pragma: no cover - the loop returns or raises

    def _fetch(self, url: str, params: dict | None) -> Answer:
        """One request, its redirects (same origin only) and its whole body, by the request's deadline."""
        deadline = min(time.monotonic() + self.timeout, self.ends_at)
        origin = httpx.URL(url)
        target, query = origin, params
        for _ in range(MAX_REDIRECTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceTimeout(f"{url}: no answer within {self.timeout:g} seconds")
            try:
                with self.client.stream("GET", target, params=query, timeout=min(self.timeout, left)) as response:
                    self.requests += 1
                    if response.is_redirect:
                        location = response.headers.get("Location", "")
                        target, query = _same_origin(origin, response.url.join(location), url), None
                        continue
                    content = self._body(response, url, deadline)
                    return Answer(response.status_code, response.reason_phrase, response.headers, content, str(response.url))
            except httpx.TimeoutException as exc:
                raise SourceTimeout(f"{url}: no answer within {self.timeout:g} seconds ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise SourceError(f"{url}: cannot be reached or read ({exc})") from exc
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _body(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            raise SourceError(f"{url}: the answer is {int(declared):,} bytes, more than the {self.max_bytes:,} we read")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes or response.num_bytes_downloaded > self.max_bytes:
                raise SourceError(f"{url}: the answer is larger than the {self.max_bytes:,} bytes we read (as sent or inflated)")
            if time.monotonic() > deadline:
                raise SourceTimeout(f"{url}: the whole answer did not arrive within {self.timeout:g} seconds")
            chunks.append(chunk)
        return b"".join(chunks)

    def _pace(self, url: str) -> None:
        """Wait for this host's next free slot (shared by every client of the process) and take it."""
        host = httpx.URL(url).netloc.decode("ascii", "replace")
        with _PACE_LOCK:
            now = time.monotonic()
            start = max(now, _NEXT_SLOT.get(host, float("-inf")))
            if start > self.ends_at:
                raise SourceTimeout(f"{url}: no request slot before this run's deadline")
            _NEXT_SLOT[host] = start + self.min_interval
        self._pause(start - now)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            if time.monotonic() + seconds > self.ends_at:
                raise SourceTimeout(f"waiting {seconds:.0f} s more would pass this run's deadline")
            if self.on_wait is not None:
                self.on_wait()
            self.sleep(seconds)
            self.waited += seconds

    def close(self) -> None:
        self.client.close()


def _same_origin(origin: httpx.URL, target: httpx.URL, url: str) -> httpx.URL:
    if (target.scheme, target.host, target.port) != (origin.scheme, origin.host, origin.port):
        raise SourceError(f"{url}: redirected to another host ({target.scheme}://{target.host}), which we do not follow")
    return target


def _retry_after(response: Answer) -> float:
    """Seconds the server asked us to wait (``Retry-After`` in ASCII digits; 10 when it did not say or said a date)."""
    raw = response.headers.get("Retry-After", "").strip()
    return float(raw) if raw.isascii() and raw.isdigit() else 10.0
