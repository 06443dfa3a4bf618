"""The prompts of a load test: distinct texts of a chosen token count, counted with the server's own tokenizer.

A seeded corpus of plain words is tokenized once; each prompt is a window of it
(`shared_prefix` tokens common to all, the rest from a different place per prompt)
turned back into text. Counting uses the server's `/tokenize` and `/detokenize`
where it has them (llama-server), else the local model's vocabulary (llama.cpp,
vocab only), and `Workload.counted_by` says which. The server's own prompt count
(usage) is recorded per request too: a chat template adds its tokens.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidInput
from .spec import LoadSpec, request_headers

_WORDS = [
    "time",
    "year",
    "people",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "community",
    "name",
    "president",
    "team",
    "minute",
    "idea",
    "kid",
    "body",
    "information",
    "back",
    "parent",
    "face",
    "others",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
    "river",
    "garden",
    "letter",
    "engine",
    "market",
]
MAX_PROMPTS = 512

Tokenize = Callable[[str], list[int]]
Detokenize = Callable[[list[int]], str]


@dataclass(frozen=True)
class Workload:
    """The prompts (texts) and what counted their tokens."""

    prompts: list[str]
    counted_by: str


def server_tokenizer(
    base_url: str, headers: Optional[dict[str, str]] = None, refused: Optional[Callable[[str], str]] = None
) -> Optional[tuple[Tokenize, Detokenize]]:
    """llama-server's `/tokenize` and `/detokenize` at the server root, or None if it has none.

    HTTP 401/403 there is `InvalidInput`: `refused(detail)` (a line that must not hold a key), if given."""
    import httpx

    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    client = httpx.Client(timeout=30.0, headers=headers or {})
    try:
        probe = client.post(f"{root}/tokenize", json={"content": "hello"})
        if probe.status_code in (401, 403):
            client.close()
            detail = f"HTTP {probe.status_code} from {root}/tokenize"
            raise InvalidInput(refused(detail) if refused else f"the server refused the request ({detail})")
        if probe.status_code != 200 or "tokens" not in probe.json():
            client.close()
            return None
    except (httpx.HTTPError, ValueError):
        client.close()
        return None

    def tokenize(text: str) -> list[int]:
        return [int(t) for t in client.post(f"{root}/tokenize", json={"content": text}).json()["tokens"]]

    def detokenize(tokens: list[int]) -> str:
        return str(client.post(f"{root}/detokenize", json={"tokens": tokens}).json()["content"])

    return tokenize, detokenize


def local_tokenizer(model_path: str) -> tuple[Tokenize, Detokenize]:
    """A local GGUF's vocabulary through llama.cpp (vocab only: no weights are loaded)."""
    from ..backends.llama_cpp import import_llama_cpp

    llama = import_llama_cpp().Llama(model_path=model_path, vocab_only=True, verbose=False)

    def tokenize(text: str) -> list[int]:
        return list(llama.tokenize(text.encode(), add_bos=False, special=False))

    def detokenize(tokens: list[int]) -> str:
        return bytes(llama.detokenize(tokens)).decode(errors="ignore")

    return tokenize, detokenize


def pool_size(spec: LoadSpec) -> int:
    """Distinct prompts to make: every request of the test its own, up to `MAX_PROMPTS`."""
    total = 0
    for level in spec.levels:
        wanted = spec.requests_for(level)
        total += (wanted if wanted is not None else 64) + spec.warmup_for(level) + level.users
    return max(8, min(MAX_PROMPTS, total))


def build_workload(
    spec: LoadSpec, tokenizer: tuple[Tokenize, Detokenize], counted_by: str, count: Optional[int] = None
) -> Workload:
    """`count` prompts of `spec.prompt_tokens` tokens each, the first `spec.shared_prefix` of them shared."""
    tokenize, detokenize = tokenizer
    rng = random.Random(spec.seed)
    count = count or pool_size(spec)
    low, high = spec.prompt_tokens.low, spec.prompt_tokens.high
    if spec.shared_prefix >= low:
        raise InvalidInput(f"shared_prefix: {spec.shared_prefix} must be fewer than the prompt's {low} tokens")
    corpus = _corpus_tokens(tokenize, rng, spec.shared_prefix + high * count)
    prefix = corpus[: spec.shared_prefix]
    prefix_text = detokenize(prefix) if prefix else ""
    prompts = []
    for index in range(count):  # windows that never overlap: no two prompts alike
        start = spec.shared_prefix + index * high
        length = rng.randint(low, high) - spec.shared_prefix
        prompts.append(prefix_text + detokenize(corpus[start : start + length]))
    return Workload(prompts, counted_by)


def _corpus_tokens(tokenize: Tokenize, rng: random.Random, at_least: int) -> list[int]:
    tokens: list[int] = []
    while len(tokens) < at_least:
        words = max(64, at_least - len(tokens))
        tokens.extend(tokenize(" " + " ".join(rng.choice(_WORDS) for _ in range(words))))
    return tokens


def resolve_tokenizer(spec: LoadSpec, local_model: Optional[str]) -> tuple[tuple[Tokenize, Detokenize], str]:
    """The server's tokenizer if it has one, else the local model's; and words saying which."""
    found = server_tokenizer(spec.url, request_headers(spec), spec.refused)
    if found is not None:
        return found, "the server's /tokenize"
    from ..models import resolve_model

    path = str(resolve_model(local_model)) if local_model else str(resolve_model())
    return local_tokenizer(
        path
    ), f"the local model's tokenizer ({path.rsplit('/', 1)[-1]}; the server has no /tokenize)"
