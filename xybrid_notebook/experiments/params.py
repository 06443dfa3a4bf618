"""Experiment settings: every sweep parameter declared once, its checks, and llama-bench's list and range syntax.

`SweepConfig`'s fields are the parameters, in column order, with llama-bench's
defaults; `OPTIONS` gives each its llama-bench flags, help text and reader, from
which the magics build their options. `expand` turns parameters (each one value or
a list) into checked configurations before anything runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..backends import canonical_name
from ..backends.base import LlmBackend
from ..backends.llama_cpp_bench import check_kv_type
from ..errors import InvalidInput
from ..model_sources import resolve_source
from ..models import model_id_for, validate_model_file

LLAMA_CPP = "llama-cpp"
NUMERIC = ("threads", "n_prompt", "n_gen", "depth", "n_batch", "n_ubatch")


@dataclass(frozen=True)
class SweepConfig:
    """One combination of settings; `model` is a resolved path, `backend` a name or a loaded backend."""

    backend: Any = LLAMA_CPP
    model: Optional[Path] = None
    threads: Optional[int] = None
    n_prompt: int = 512
    n_gen: int = 128
    depth: int = 0
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: Optional[bool] = None
    type_k: str = "f16"
    type_v: str = "f16"

    @property
    def backend_label(self) -> str:
        """The backend's name, whether given by name or as an object."""
        if isinstance(self.backend, LlmBackend):
            return self.backend.label()
        return canonical_name(str(self.backend))

    @property
    def model_label(self) -> str:
        """The model's short name."""
        if isinstance(self.backend, LlmBackend) and self.model is None:
            return self.backend.model_id()
        return model_id_for(self.model) if self.model is not None else ""

    @property
    def runs_llama_bench(self) -> bool:
        """True when the backend is llama.cpp, which runs llama-bench's own tests."""
        return self.backend_label == LLAMA_CPP

    def n_ctx(self) -> int:
        """The context llama-bench creates for this test: n_prompt + n_gen + depth."""
        return self.n_prompt + self.n_gen + self.depth

    def value(self, name: str) -> Any:
        """A parameter as tables show it: backend and model by name, everything else as it is."""
        if name == "backend":
            return self.backend_label
        if name == "model":
            return self.model_label
        return getattr(self, name)

    def key(self, name: str) -> Any:
        """A parameter as comparisons need it: a backend object by identity."""
        value = getattr(self, name)
        return id(value) if isinstance(value, LlmBackend) else value


#: Every parameter a sweep can vary, in column order.
PARAMETERS = tuple(f.name for f in dataclasses.fields(SweepConfig))
#: llama-bench's defaults (threads None: every core this process may use).
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(SweepConfig)}
#: What a streaming backend (mistral.rs, a server, a scripted one) can vary.
STREAMING_VARIES = frozenset({"backend", "model", "n_prompt", "n_gen"})


# -- llama-bench's list and range syntax -----------------------------------------------------------
_RANGE = re.compile(r"^(-?\d+)-(\d+)([+*])(\d+)$|^(-?\d+)-(\d+)$")


def parse_int_list(text: str) -> list[int]:
    """llama-bench's syntax: `1,2,4`, `16-512*2` (multiply), `0-1024+256` (step), `1-4` (step 1)."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        try:
            if match is None:
                values.append(int(part))
                continue
        except ValueError:
            raise InvalidInput(f"cannot read {part!r}: write a number, a list (1,2) or a range (16-512*2)") from None
        first, last, op, step = match.group(1, 2, 3, 4) if match.group(1) else (*match.group(5, 6), "+", "1")
        values.extend(_range_values(int(first), int(last), op, int(step), part))
    return values


def _range_values(first: int, last: int, op: str, step: int, text: str) -> Iterator[int]:
    if last < first or (op == "*" and (step < 2 or first < 1)) or (op == "+" and step < 1):
        raise InvalidInput(f"the range {text!r} is empty or never ends: write first-last*factor or first-last+step")
    value = first
    while value <= last:
        yield value
        value = value * step if op == "*" else value + step


#: Flash attention as the user writes it -> the setting (None: llama.cpp chooses).
FLASH_ATTN_WORDS: dict[str, Optional[bool]] = {"0": False, "off": False, "1": True, "on": True, "auto": None}


def parse_flash_attn(text: str) -> list[Optional[bool]]:
    """`0,1`, `on,off,auto` -> False, True, None."""
    try:
        return [FLASH_ATTN_WORDS[part.strip().lower()] for part in text.split(",")]
    except KeyError as exc:
        raise InvalidInput(f"flash_attn: cannot read {exc.args[0]!r}: write 0, 1, on, off or auto") from None


def flash_attn_label(value: Optional[bool]) -> str:
    """llama-bench's spelling in tables: 0, 1 or auto."""
    return "auto" if value is None else str(int(value))


def parse_names(text: str) -> list[str]:
    """`a, b` -> ["a", "b"] (empty parts dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class ParameterOption:
    """A parameter as a command-line option: llama-bench's flags, the help line, and how its text is read."""

    name: str
    flags: tuple[str, ...]
    help: str
    read: Callable[[str], list[Any]]


OPTIONS = (
    ParameterOption(
        "model",
        ("-m", "--model"),
        "catalog names or .gguf paths, comma-separated (default: the loaded model)",
        parse_names,
    ),
    ParameterOption("backend", ("--backend",), "backends, comma-separated (default: llama-cpp)", parse_names),
    ParameterOption("threads", ("-t", "--threads"), "threads: 1,2 or 1-8*2 (default: every core)", parse_int_list),
    ParameterOption(
        "n_prompt", ("-p", "--n-prompt"), "prompt tokens of the pp test: 512 or 16-512*2 (default 512)", parse_int_list
    ),
    ParameterOption("n_gen", ("-n", "--n-gen"), "generated tokens of the tg test (default 128)", parse_int_list),
    ParameterOption("depth", ("-d", "--n-depth"), "tokens already in the KV cache: 0,1024 (default 0)", parse_int_list),
    ParameterOption("n_batch", ("-b", "--batch-size"), "logical batch size (default 2048)", parse_int_list),
    ParameterOption("n_ubatch", ("-ub", "--ubatch-size"), "physical batch size (default 512)", parse_int_list),
    ParameterOption(
        "flash_attn", ("-fa", "--flash-attn"), "flash attention: 0, 1 or auto (default auto)", parse_flash_attn
    ),
    ParameterOption(
        "type_k", ("-ctk", "--cache-type-k"), "KV cache type of K: f16, q8_0, ... (default f16)", parse_names
    ),
    ParameterOption("type_v", ("-ctv", "--cache-type-v"), "KV cache type of V (default f16)", parse_names),
)


def read_options(texts: dict[str, Optional[str]]) -> dict[str, list[Any]]:
    """The parameters given as option text (name -> text or None), read with each one's syntax."""
    return {o.name: o.read(text) for o in OPTIONS if (text := texts.get(o.name)) is not None}


# -- checks ----------------------------------------------------------------------------------------
def require_count(name: str, value: Any, minimum: int) -> None:
    """One line naming `name` unless `value` is a whole number >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _check_value(name: str, value: Any) -> None:
    """One line naming the parameter for a value no configuration may have."""
    if name == "threads" and value is not None:
        require_count("threads", value, 1)
    elif name in ("n_prompt", "n_gen", "depth"):
        require_count(name, value, 0)
    elif name in ("n_batch", "n_ubatch"):
        require_count(name, value, 1)
    elif name in ("type_k", "type_v"):
        check_kv_type(value, name)
    elif name == "flash_attn" and value not in (None, True, False):
        raise InvalidInput(f"flash_attn must be True, False or None (auto), got {value!r}")


def _as_list(name: str, value: Any) -> list[Any]:
    values = list(value) if isinstance(value, (list, tuple, range)) else [value]
    if not values:
        raise InvalidInput(f"{name} has no values: give one value or a list")
    return values


def _resolve_models(values: list[Any], backends: list[Any]) -> list[Optional[Path]]:
    if values == [None] and all(isinstance(b, LlmBackend) for b in backends):
        return [None]  # the loaded backends' own models
    return [resolve_source(v) for v in values]


def expand(params: dict[str, Any]) -> list[SweepConfig]:
    """Every combination of the parameters (each one value or a list), checked before anything runs."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(f"unknown sweep parameter {unknown[0]!r}: choose from {', '.join(PARAMETERS)}")
    lists = {name: _as_list(name, params.get(name, DEFAULTS[name])) for name in PARAMETERS}
    for name, values in lists.items():
        for value in values:
            _check_value(name, value)
    lists["model"] = _resolve_models(lists["model"], lists["backend"])
    configs = [SweepConfig(**dict(zip(PARAMETERS, combo))) for combo in itertools.product(*lists.values())]
    for config in configs:
        if config.n_prompt == 0 and config.n_gen == 0:
            raise InvalidInput("n_prompt and n_gen are both 0: give at least one test a size")
        _check_backend_can_vary(config)
        _check_context(config)
    return configs


def _check_backend_can_vary(config: SweepConfig) -> None:
    if config.runs_llama_bench:
        return
    for name in PARAMETERS:
        if name not in STREAMING_VARIES and getattr(config, name) != DEFAULTS[name]:
            raise InvalidInput(
                f"{name}: {config.backend_label} cannot vary it (only llama-cpp runs llama-bench's tests): "
                f"leave {name} at its default"
            )


def trained_context(config: SweepConfig) -> Optional[int]:
    """The context the configuration's model was trained for (the loaded backend's, for a backend object)."""
    if isinstance(config.backend, LlmBackend) and config.model is None:
        return config.backend.context_length()
    if config.model is None:
        return None
    return validate_model_file(config.model).trained_context_length


def _check_context(config: SweepConfig) -> None:
    n_ctx = trained_context(config)
    if n_ctx is not None and config.n_ctx() > n_ctx:
        raise InvalidInput(
            f"depth: depth {config.depth} + n_prompt {config.n_prompt} + n_gen {config.n_gen} = {config.n_ctx()} "
            f"tokens is beyond the model's context of {n_ctx}"
        )


# -- labels ----------------------------------------------------------------------------------------
def swept_parameters(configs: Sequence[SweepConfig]) -> list[str]:
    """The parameters that take more than one value across the configurations."""
    return [name for name in PARAMETERS if len({c.key(name) for c in configs}) > 1]


def config_label(
    config: SweepConfig, other: Optional[SweepConfig] = None, names: Optional[Sequence[str]] = None
) -> str:
    """The settings that tell `config` apart from `other` (or the given `names`), as `k=v, ...`."""
    if names is None:
        names = [n for n in PARAMETERS if other is None or config.key(n) != other.key(n)]
    return ", ".join(f"{n}={config.value(n)}" for n in names) or "same settings"
