"""What a load test is asked to do, checked before any process starts: levels, workload, SLOs, where the load goes.

Everything here is plain data that travels as JSON to the Locust process tree
(`LoadSpec.to_json`). Bad input is one line (`InvalidInput`) naming the argument.

Secrets never travel as JSON: `to_json` and `repr` show secret headers as `***`
(`redact.is_secret_header`). The load processes fill them in from their own
environment (`request_headers`): the key of `api_key_env`, read at each request, and
headers given by hand, which the kernel passes in `SECRET_HEADERS_ENV` to the
environment of the process tree it starts.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional, Union
from urllib.parse import urlparse

from ..errors import InvalidInput
from ..redact import MASK, is_secret_header, redact_headers, secret_values

LevelKind = Literal["concurrency", "rate"]
#: What `--slo` accepts: the per-request figure each key bounds.
SLO_KEYS = {
    "ttft": "time to first token",
    "tt2t": "time to second token",
    "itl_p99": "the request's own p99 gap",
    "tpot": "time per output token after the first",
    "e2e": "end-to-end latency",
}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*$")
DEFAULT_IN_FLIGHT_CAP = 32
#: The environment variable through which the kernel hands secret headers to its load processes.
SECRET_HEADERS_ENV = "XYBRID_LOAD_SECRET_HEADERS"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: How every refused-key line starts.
REFUSED = "the server refused"


@dataclass(frozen=True)
class Level:
    """One load level: `concurrency` users in a closed loop, or Poisson arrivals at `rate` req/s (capped in flight)."""

    kind: LevelKind
    value: float
    in_flight_cap: int

    @property
    def users(self) -> int:
        """Locust users this level runs: the concurrency, or the cap on requests in flight."""
        return int(self.value) if self.kind == "concurrency" else self.in_flight_cap

    @property
    def label(self) -> str:
        """`c=4` or `2 req/s`."""
        return f"c={int(self.value)}" if self.kind == "concurrency" else f"{self.value:g} req/s"


@dataclass(frozen=True)
class TokenCount:
    """A token count per request: fixed (`low == high`) or uniform between `low` and `high`."""

    low: int
    high: int

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class LoadSpec:
    """A whole load test: the target, the levels, how long each runs, the workload, and the process layout."""

    url: str
    levels: tuple[Level, ...]
    model: str = ""
    api: Literal["chat", "completions"] = "chat"
    duration_s: Optional[float] = None
    requests: Optional[int] = None
    warmup: Optional[int] = None
    prompt_tokens: TokenCount = TokenCount(128, 128)
    output_tokens: TokenCount = TokenCount(64, 64)
    shared_prefix: int = 0
    ignore_eos: bool = True
    seed: int = 0
    workers: int = 0
    master_bind: Optional[str] = None
    timeout_s: float = 300.0
    headers: Mapping[str, str] = field(default_factory=dict)
    slo: Mapping[str, float] = field(default_factory=dict)
    server_pid: Optional[int] = None
    #: W3C trace id (32 hex digits) when telemetry is on: every request sends `traceparent` under it.
    trace_id: str = ""
    #: The environment variable holding the API key (sent as `Authorization: Bearer`), read by each load process.
    api_key_env: Optional[str] = None

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={redact_headers(value) if name == 'headers' else value!r}" for name, value in vars(self).items()
        )
        return f"LoadSpec({fields})"

    def secret_headers(self) -> dict[str, str]:
        """The headers given by hand whose values are secret (they travel only in the processes' environment)."""
        return {name: value for name, value in self.headers.items() if is_secret_header(name) and value != MASK}

    def secrets(self) -> list[str]:
        """Every secret value this spec sends (hand-given headers and the key), for hiding them in text."""
        return secret_values(request_headers(self))

    def key_words(self) -> str:
        """How the credential is given, in words that never hold it: `the key in $VAR`, `the Authorization header`,
        or "" when none is."""
        if self.api_key_env:
            return f"the key in ${self.api_key_env}"
        named = [name for name in self.headers if is_secret_header(name)]
        return f"the {'/'.join(named)} header" if named else ""

    def refused(self, detail: str) -> str:
        """The one line for a server that refused the credential (or wants one): it names where the key comes from."""
        words = self.key_words()
        if not words:
            return f"{REFUSED} the request: it wants a key ({detail}); give api_key_env=VAR (--api-key-env VAR)"
        return f"{REFUSED} {words} ({detail})"

    def requests_for(self, level: Level) -> Optional[int]:
        """Measured requests a level waits for (None: it runs for `duration_s`); default 4 per user, at least 8."""
        if self.requests is not None:
            return self.requests
        if self.duration_s is not None:
            return None
        return max(8, 4 * level.users) if level.kind == "concurrency" else max(8, math.ceil(4 * level.value))

    def warmup_for(self, level: Level) -> int:
        """Warm-up requests of a level (the first by start time; excluded): default one per user of a closed loop."""
        if self.warmup is not None:
            return self.warmup
        return level.users if level.kind == "concurrency" else 1

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the load process and for exports: secret headers are `***`."""
        data = asdict(self)
        data["headers"] = redact_headers(self.headers)
        data["slo"] = dict(self.slo)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadSpec:
        """The inverse of `to_json`."""
        values = dict(data)
        values["levels"] = tuple(Level(**level) for level in values["levels"])
        values["prompt_tokens"] = TokenCount(**values["prompt_tokens"])
        values["output_tokens"] = TokenCount(**values["output_tokens"])
        return cls(**values)


def request_headers(spec: LoadSpec, environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The headers to send: the spec's, secret ones filled in from the environment, and the key of `api_key_env`.

    In the kernel the spec holds the real values; in a load process its secret headers are
    `***` and come from `SECRET_HEADERS_ENV`. A secret no environment supplies is not sent.
    """
    env = os.environ if environ is None else environ
    try:
        hidden = json.loads(env.get(SECRET_HEADERS_ENV) or "{}")
    except ValueError:
        hidden = {}
    headers = {}
    for name, value in spec.headers.items():
        if value == MASK:
            if isinstance(hidden, dict) and isinstance(hidden.get(name), str):
                headers[name] = hidden[name]
        else:
            headers[name] = value
    if spec.api_key_env and env.get(spec.api_key_env):
        headers = {name: value for name, value in headers.items() if name.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {env[spec.api_key_env]}"
    return headers


def check_api_key_env(name: Optional[str]) -> Optional[str]:
    """None, or the name of a set, non-empty environment variable (its value is never read into any message)."""
    if name is None:
        return None
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise InvalidInput(f"api_key_env: give the name of an environment variable (e.g. MY_API_KEY), not {name!r}")
    if not os.environ.get(name):
        raise InvalidInput(f"api_key_env: the environment variable {name} is empty or unset: export the API key")
    return name


def check_headers(headers: Optional[Mapping[str, str]]) -> dict[str, str]:
    """Headers as a dict of strings; one line (naming the header, never its value) otherwise."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInput(f"headers: give a dict of header names to values, not {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name.strip():
            raise InvalidInput(f"headers: {str(name)!r} must be a header name with a text value")
        if value == MASK:
            raise InvalidInput(f"headers: {name!r} holds {MASK}, a redacted value: give the real one (or api_key_env)")
    return dict(headers)


def check_url(url: object) -> str:
    """An http(s) base URL without a trailing slash, ending in `/v1` (added when missing)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("url: give the server's base URL, e.g. http://127.0.0.1:8080/v1")
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(f"url: {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8080/v1")
    base = url.strip().rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _numbers(values: Union[str, float, Sequence[float], None], name: str) -> list[float]:
    if values is None:
        return []
    if isinstance(values, str):
        try:
            return [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InvalidInput(f"{name}: {values!r} is not a comma-separated list of numbers") from None
    if isinstance(values, (int, float)):
        return [float(values)]
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: {values!r} is not a list of numbers") from None


def build_levels(
    concurrency: Union[str, int, Sequence[int], None],
    rate: Union[str, float, Sequence[float], None],
    in_flight_cap: int = DEFAULT_IN_FLIGHT_CAP,
) -> tuple[Level, ...]:
    """Levels from a concurrency list (closed loop) or a rate list (open loop); exactly one of them."""
    users, rates = _numbers(concurrency, "concurrency"), _numbers(rate, "rate")
    if bool(users) == bool(rates):
        raise InvalidInput("give either concurrency (e.g. 1,2,4,8) or rate (requests/s, e.g. 0.5,1,2), not both")
    if isinstance(in_flight_cap, bool) or not isinstance(in_flight_cap, int) or in_flight_cap < 1:
        raise InvalidInput(f"max_in_flight: must be a whole number ≥ 1, not {in_flight_cap!r}")
    for value in users:
        if value < 1 or value != int(value):
            raise InvalidInput(f"concurrency: each level must be a whole number ≥ 1, not {value:g}")
    for value in rates:
        if not value > 0 or math.isinf(value):
            raise InvalidInput(f"rate: each level must be a number of requests per second > 0, not {value:g}")
    if users:
        return tuple(Level("concurrency", value, int(value)) for value in users)
    return tuple(Level("rate", value, in_flight_cap) for value in rates)


def parse_token_count(value: Union[str, int, TokenCount], name: str) -> TokenCount:
    """`128` (fixed) or `96-160` (uniform) tokens per request."""
    if isinstance(value, TokenCount):
        return value
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if isinstance(value, bool) or not match:
        raise InvalidInput(f"{name}: give a token count (128) or a range (96-160), not {value!r}")
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    if low < 1 or high < low:
        raise InvalidInput(f"{name}: a count must be ≥ 1 and a range low-high with low ≤ high, not {text!r}")
    return TokenCount(low, high)


def parse_duration_ms(text: str, name: str) -> float:
    """`500ms`, `0.5s` or `500` (milliseconds) as milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInput(f"{name}: {text!r} is not a duration such as 500ms or 2s")
    value = float(match.group(1))
    return value * 1000.0 if match.group(2) == "s" else value


def parse_slo(slo: Union[str, Mapping[str, Union[str, float]], None]) -> dict[str, float]:
    """`ttft=500ms,itl_p99=80ms` (or a dict) as {key: milliseconds}; keys from `SLO_KEYS`."""
    if slo is None or slo == "":
        return {}
    if isinstance(slo, str):
        pairs: list[tuple[str, Union[str, float]]] = []
        for part in slo.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise InvalidInput(f"slo: {part.strip()!r} is not KEY=DURATION (e.g. ttft=500ms,itl_p99=80ms)")
            pairs.append((key.strip(), value.strip()))
    else:
        pairs = list(slo.items())
    bounds: dict[str, float] = {}
    for name, bound in pairs:
        if name not in SLO_KEYS:
            raise InvalidInput(f"slo: unknown key {name!r}; known: {', '.join(SLO_KEYS)}")
        ms = parse_duration_ms(bound, f"slo {name}") if isinstance(bound, str) else float(bound)
        if not ms > 0:
            raise InvalidInput(f"slo {name}: the bound must be > 0, not {bound!r}")
        bounds[name] = ms
    return bounds


def check_positive(value: Optional[float], name: str, whole: bool = False) -> Optional[float]:
    """None, or a number > 0 (a whole number if `whole`); else one line."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise InvalidInput(f"{name}: must be a number > 0, not {value!r}")
    if whole and value != int(value):
        raise InvalidInput(f"{name}: must be a whole number ≥ 1, not {value!r}")
    return value


def check_master_bind(bind: Optional[str]) -> Optional[str]:
    """`HOST:PORT` for Locust's master to listen on, or None."""
    if bind is None:
        return None
    host, sep, port = str(bind).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"master_bind: give HOST:PORT (e.g. 0.0.0.0:5557), not {bind!r}")
    return f"{host}:{port}"


def check_workers(workers: object) -> int:
    """Local worker processes: 0 (users run in the load process itself) or more."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidInput(f"workers: must be a whole number ≥ 0, not {workers!r}")
    return workers
