"""Sweeps: every combination of the given settings, run with warm-up and repetitions; results as DataFrames.

`sweep(threads=[1, 2], n_prompt=64, n_gen=32, repetitions=5)` runs each
configuration `warmup` times unrecorded, then `repetitions` times, and returns a
`SweepResult` (`to_pandas()`, CSV, JSON, llama-bench markdown and JSON).

On llama.cpp the tests are llama-bench's (see `backends/llama_bench_tests.py`):
pp decodes `n_prompt` synthetic tokens after `depth` cached ones, tg decodes
`n_gen` tokens one by one without a sampler; the sampler's own cost with the
configured sampling settings is measured apart (`sample_ms_per_token`). Other
backends are measured through their streaming API (`StreamingRunner`) and can
vary only `n_prompt` and `n_gen`. Every figure comes from `metrics.ChunkClock`.

Nothing here imports a UI library; live views subscribe through `on_progress`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol, Union

import numpy as np

from .backends import canonical_name, create_backend
from .backends.base import LlmBackend
from .backends.gguf_file import GgufFileBackend
from .backends.llama_bench_tests import KV_TYPES
from .errors import InvalidInput
from .metrics import NS_PER_MS, NS_PER_S, ChunkClock
from .models import model_id_for, resolve_model, validate_model_file
from .sweep_stats import Summary, summarize
from .types import GenerationConfig, GenerationOutput, LlmConfig

#: Every parameter a sweep can vary, in column order.
PARAMETERS = (
    "backend",
    "model",
    "threads",
    "n_prompt",
    "n_gen",
    "depth",
    "n_batch",
    "n_ubatch",
    "flash_attn",
    "type_k",
    "type_v",
)
#: llama-bench's defaults (threads None: every core this process may use).
DEFAULTS: dict[str, Any] = {
    "backend": "llama-cpp",
    "model": None,
    "threads": None,
    "n_prompt": 512,
    "n_gen": 128,
    "depth": 0,
    "n_batch": 2048,
    "n_ubatch": 512,
    "flash_attn": None,
    "type_k": "f16",
    "type_v": "f16",
}
#: What a streaming backend (mistral.rs, a server, a scripted one) can vary.
STREAMING_VARIES = frozenset({"backend", "model", "n_prompt", "n_gen"})
BackendSpec = Union[str, LlmBackend]
ClockFactory = Callable[[], ChunkClock]


# -- configurations ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepConfig:
    """One combination of settings; `model` is a resolved path, `backend` a name or a loaded backend."""

    backend: Any = "llama-cpp"
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

    def n_ctx(self) -> int:
        """The context llama-bench creates for this test: n_prompt + n_gen + depth."""
        return self.n_prompt + self.n_gen + self.depth


def _as_list(name: str, value: Any) -> list[Any]:
    values = list(value) if isinstance(value, (list, tuple, range)) else [value]
    if not values:
        raise InvalidInput(f"{name} has no values: give one value or a list")
    return values


def _require_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _check_value(name: str, value: Any) -> None:
    """One line naming the parameter for a value no configuration may have."""
    if name == "threads" and value is not None:
        _require_count("threads", value, 1)
    elif name in ("n_prompt", "n_gen", "depth"):
        _require_count(name, value, 0)
    elif name in ("n_batch", "n_ubatch"):
        _require_count(name, value, 1)
    elif name in ("type_k", "type_v") and value not in KV_TYPES:
        raise InvalidInput(f"{name}: unknown KV cache type {value!r}: choose one of {', '.join(KV_TYPES)}")
    elif name == "flash_attn" and value not in (None, True, False):
        raise InvalidInput(f"flash_attn must be True, False or None (auto), got {value!r}")


def _resolve_models(values: list[Any], backends: list[Any]) -> list[Optional[Path]]:
    if values == [None] and all(isinstance(b, LlmBackend) for b in backends):
        return [None]  # the loaded backends' own models
    return [resolve_model(v) for v in values]


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
    if _is_llama(config.backend):
        return
    for name in PARAMETERS:
        if name not in STREAMING_VARIES and getattr(config, name) != DEFAULTS[name]:
            raise InvalidInput(
                f"{name}: {config.backend_label} cannot vary it (only llama-cpp runs llama-bench's tests): "
                f"leave {name} at its default"
            )


def _trained_context(config: SweepConfig) -> Optional[int]:
    if isinstance(config.backend, LlmBackend) and config.model is None:
        return config.backend.context_length()
    if config.model is None:
        return None
    return validate_model_file(config.model).trained_context_length


def _check_context(config: SweepConfig) -> None:
    n_ctx = _trained_context(config)
    if n_ctx is not None and config.n_ctx() > n_ctx:
        raise InvalidInput(
            f"depth: depth {config.depth} + n_prompt {config.n_prompt} + n_gen {config.n_gen} = {config.n_ctx()} "
            f"tokens is beyond the model's context of {n_ctx}"
        )


def _is_llama(backend: Any) -> bool:
    if isinstance(backend, LlmBackend):
        return backend.name == "llama-cpp"
    return canonical_name(str(backend)) == "llama-cpp"


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


def parse_flash_attn(text: str) -> list[Optional[bool]]:
    """`0,1`, `on,off,auto` -> False, True, None."""
    names = {"0": False, "off": False, "1": True, "on": True, "auto": None}
    try:
        return [names[part.strip().lower()] for part in text.split(",")]
    except KeyError as exc:
        raise InvalidInput(f"flash_attn: cannot read {exc.args[0]!r}: write 0, 1, on, off or auto") from None


# -- measuring --------------------------------------------------------------------------------------
@dataclass
class Repetition:
    """The figures of one recorded repetition of one configuration."""

    pp_tps: Optional[float] = None
    tg_tps: Optional[float] = None
    ttft_ms: Optional[float] = None
    token_ms: list[float] = field(default_factory=list)
    sample_ms_per_token: Optional[float] = None

    @property
    def itl_p95_ms(self) -> Optional[float]:
        """p95 of this repetition's per-token decode times."""
        return float(np.percentile(self.token_ms, 95)) if self.token_ms else None


class Runner(Protocol):
    """Runs one repetition of a configuration; the sweep owns the loop, the clock and the statistics."""

    def run(self, config: SweepConfig, clock_factory: ClockFactory) -> Repetition: ...

    def threads_used(self, config: SweepConfig) -> Optional[int]: ...

    def close(self) -> None: ...


class LlamaBenchRunner:
    """llama-bench's pp and tg tests on llama.cpp's C API, plus the sampler's cost measured apart."""

    def __init__(self, model_path: Path, sampling: GenerationConfig, settings: Optional[dict[str, Any]] = None) -> None:
        from .backends.llama_bench_tests import LlamaBenchEngine

        self.engine = LlamaBenchEngine(model_path, settings)
        self.sampling = sampling

    def threads_used(self, config: SweepConfig) -> Optional[int]:
        """The sweep's threads, or every core this process may use."""
        from .backends.llama_cpp import default_thread_count

        return config.threads or default_thread_count()

    def _prepare(self, config: SweepConfig) -> None:
        from .backends.llama_bench_tests import ContextShape

        shape = ContextShape(
            max(config.n_ctx(), 16), config.n_batch, config.n_ubatch, config.flash_attn, config.type_k, config.type_v
        )
        self.engine.use_context(shape, self.threads_used(config) or 1)
        self.engine.clear()
        if config.depth:
            self.engine.fill(config.depth)

    def run(self, config: SweepConfig, clock_factory: ClockFactory) -> Repetition:
        """pp on a fresh cache after `depth` tokens, then tg the same way, then the sampler."""
        rep = Repetition()
        if config.n_prompt:
            self._prepare(config)
            clock = clock_factory()
            clock.start()
            self.engine.fill(config.n_prompt)
            clock.stamp(config.n_prompt)
            clock.stop()
            rep.ttft_ms = clock.offsets_ns[0] / NS_PER_MS
            rep.pp_tps = config.n_prompt / (clock.offsets_ns[0] / NS_PER_S)
        if config.n_gen:
            self._prepare(config)
            clock = clock_factory()
            clock.start()
            self.engine.generate(config.n_gen, clock.stamp)
            clock.stop()
            offsets = np.array(clock.offsets_ns, dtype=np.int64)
            rep.tg_tps = config.n_gen / (offsets[-1] / NS_PER_S)
            rep.token_ms = (np.diff(offsets, prepend=0) / NS_PER_MS).tolist()
            clock = clock_factory()
            clock.start()
            self.engine.sample(self.sampling, config.n_gen, clock.stamp)
            clock.stop()
            rep.sample_ms_per_token = clock.offsets_ns[-1] / NS_PER_MS / config.n_gen
        return rep

    def close(self) -> None:
        """Free the engine's model and context."""
        self.engine.close()


class StreamingRunner:
    """Any loaded backend through its streaming API: pp from TTFT, tg from the chunk times.

    One greedy generation per repetition on a cleared cache: the prompt is `n_prompt`
    words ("the the ..."; its token count is the engine's), and up to `n_gen` tokens
    are generated. Unlike llama-bench's tests, tg here includes sampling.
    """

    def __init__(self, backend: LlmBackend) -> None:
        self.backend = backend

    def threads_used(self, config: SweepConfig) -> Optional[int]:
        """Unknown: the engine picks its own threads."""
        return None

    def run(self, config: SweepConfig, clock_factory: ClockFactory) -> Repetition:
        """One generation: pp = computed prompt tokens / TTFT, tg = decode rate after the first chunk."""
        self.backend.reset_cache()
        prompt = " ".join(["the"] * max(config.n_prompt, 1))
        settings = GenerationConfig(max_tokens=max(config.n_gen, 1), temperature=0)
        out: GenerationOutput = self.backend.generate_raw_streaming(
            prompt, settings, lambda token: None, clock=clock_factory()
        )
        rep = Repetition(ttft_ms=out.ttft_ms)
        if config.n_prompt:
            rep.pp_tps = out.prefill_tps
        if config.n_gen:
            rep.tg_tps, rep.token_ms = out.decode_tps, list(out.inter_chunk_ms)
        return rep

    def close(self) -> None:
        """The backend belongs to the caller: nothing to free."""


class Runners:
    """One runner per (backend, model), created on first use and closed at the end."""

    def __init__(self, sampling: GenerationConfig) -> None:
        self.sampling = sampling
        self._runners: dict[tuple[Union[int, str], Optional[Path]], Runner] = {}
        self._owned: list[LlmBackend] = []

    def for_config(self, config: SweepConfig) -> Runner:
        """The runner for this configuration's backend and model."""
        backend = config.backend
        key = (id(backend) if isinstance(backend, LlmBackend) else config.backend_label, config.model)
        if key not in self._runners:
            self._runners[key] = self._create(config)
        return self._runners[key]

    def _create(self, config: SweepConfig) -> Runner:
        backend = config.backend
        if _is_llama(backend):
            if isinstance(backend, LlmBackend):
                source = backend.source
                path = config.model or (source.model_path if isinstance(source, LlmConfig) else None)
                settings = backend.engine_settings() if isinstance(backend, GgufFileBackend) else {}
                return LlamaBenchRunner(Path(path or resolve_model()), self.sampling, settings)
            return LlamaBenchRunner(config.model or resolve_model(), self.sampling, _probe_settings(config.model))
        if isinstance(backend, LlmBackend):
            return StreamingRunner(backend)
        fresh = create_backend(str(backend))
        if fresh.target == "remote":
            raise InvalidInput(f"backend: load the {fresh.name} backend first and pass the loaded object")
        fresh.load(LlmConfig(config.model or resolve_model(), context_length=max(config.n_ctx() + 16, 256)))
        self._owned.append(fresh)
        return StreamingRunner(fresh)

    def close(self) -> None:
        """Close every runner and unload the backends the sweep loaded itself."""
        for runner in self._runners.values():
            runner.close()
        for backend in self._owned:
            backend.unload()
        self._runners.clear()
        self._owned.clear()


def _probe_settings(model: Optional[Path]) -> dict[str, Any]:
    """The llama.cpp settings the engine probe proved safe on this machine (cached per machine)."""
    from .backends.llama_cpp import llama_cpp_probe_plan
    from .backends.probe import prove_engine

    return dict(prove_engine(llama_cpp_probe_plan(), model or resolve_model()).settings)


# -- results ----------------------------------------------------------------------------------------
@dataclass
class ConfigResult:
    """One configuration's recorded repetitions and their summaries."""

    config: SweepConfig
    threads_used: Optional[int]
    repetitions: list[Repetition]

    def figure(self, name: str) -> list[Optional[float]]:
        """One figure per repetition (None where a repetition has none)."""
        return [getattr(r, name) for r in self.repetitions]

    def summary(self, name: str) -> Summary:
        """Mean, SD and CI95 of one figure over the repetitions."""
        return summarize(self.figure(name))

    def row(self) -> dict[str, Any]:
        """The DataFrame row: configuration columns, then the figures (see docs/metrics.md)."""
        c = self.config
        row: dict[str, Any] = {
            "backend": c.backend_label,
            "model": c.model_label,
            "threads": self.threads_used,
            "n_prompt": c.n_prompt,
            "n_gen": c.n_gen,
            "depth": c.depth,
            "n_batch": c.n_batch,
            "n_ubatch": c.n_ubatch,
            "flash_attn": c.flash_attn,
            "type_k": c.type_k,
            "type_v": c.type_v,
        }
        for name in ("pp_tps", "tg_tps"):
            s = self.summary(name)
            row.update({f"{name}_mean": s.mean, f"{name}_sd": s.sd, f"{name}_ci95": s.ci95})
        row["ttft_ms_mean"] = self.summary("ttft_ms").mean
        tokens = [ms for r in self.repetitions for ms in r.token_ms]
        p50, p95 = np.percentile(tokens, [50, 95]).tolist() if tokens else (None, None)
        row.update(itl_p50_ms=p50, itl_p95_ms=p95)
        row["sample_ms_per_token"] = self.summary("sample_ms_per_token").mean
        row["repetitions"] = len(self.repetitions)
        row["samples"] = {
            name: self.figure(name) for name in ("pp_tps", "tg_tps", "ttft_ms", "itl_p95_ms", "sample_ms_per_token")
        }
        return row


COLUMNS = list(PARAMETERS) + [
    "pp_tps_mean",
    "pp_tps_sd",
    "pp_tps_ci95",
    "tg_tps_mean",
    "tg_tps_sd",
    "tg_tps_ci95",
    "ttft_ms_mean",
    "itl_p50_ms",
    "itl_p95_ms",
    "sample_ms_per_token",
    "repetitions",
    "samples",
]


@dataclass
class SweepResult:
    """Every finished configuration of a sweep; `stopped` when Stop or an interrupt ended it early."""

    results: list[ConfigResult] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    planned: int = 0
    stopped: bool = False
    warmup: int = 1
    context_length: Optional[int] = None

    def to_pandas(self) -> Any:
        """One row per configuration (columns: see `COLUMNS` and docs/metrics.md)."""
        import pandas as pd

        return pd.DataFrame([r.row() for r in self.results], columns=COLUMNS)

    def to_csv(self, path: Union[str, Path, None] = None) -> str:
        """CSV of `to_pandas()` (samples as JSON text); written to `path` when given."""
        frame = self.to_pandas()
        frame["samples"] = [json.dumps(s) for s in frame["samples"]]
        text = frame.to_csv(index=False)
        return _maybe_write(text, path)

    def to_json(self, path: Union[str, Path, None] = None) -> str:
        """JSON: one object per configuration with every column and the raw samples."""
        rows = [_json_safe(r.row()) for r in self.results]
        text = json.dumps({"stopped": self.stopped, "planned": self.planned, "configurations": rows}, indent=1)
        return _maybe_write(text, path)

    def to_llama_bench_json(self, path: Union[str, Path, None] = None) -> str:
        """`llama-bench -o json`'s shape: one object per test (pp, tg), its field names where one exists."""
        from .sweep_export import llama_bench_json

        return _maybe_write(llama_bench_json(self.results), path)

    def to_llama_bench_markdown(self) -> str:
        """llama-bench's markdown table: one row per test, `t/s` as mean ± sd."""
        from .sweep_export import llama_bench_markdown

        return llama_bench_markdown(self.results, self.swept)

    def depth_curve(self) -> DepthCurve:
        """Decode time per token against KV position, from this sweep's configurations."""
        return depth_curve_from_sweep(self)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        status = " (stopped early)" if self.stopped else ""
        return f"{len(self.results)}/{self.planned} configuration(s){status}\n{self.to_llama_bench_markdown()}"

    def _repr_html_(self) -> str:
        from .widgets.sweep_view import sweep_result_html

        return sweep_result_html(self)


def _maybe_write(text: str, path: Union[str, Path, None]) -> str:
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


# -- the loop ---------------------------------------------------------------------------------------
@dataclass
class SweepProgress:
    """Where a sweep is: what is done, what runs, and the estimated time left."""

    done_runs: int
    total_runs: int
    elapsed_s: float
    current: Optional[SweepConfig]
    finished: Optional[ConfigResult] = None
    result: Optional[SweepResult] = None

    @property
    def eta_s(self) -> Optional[float]:
        """Seconds left, from the mean time per run so far."""
        if self.done_runs == 0:
            return None
        return self.elapsed_s / self.done_runs * (self.total_runs - self.done_runs)


def swept_parameters(configs: Sequence[SweepConfig]) -> list[str]:
    """The parameters that take more than one value across the configurations."""
    return [name for name in PARAMETERS if len({_key(getattr(c, name)) for c in configs}) > 1]


def config_label(
    config: SweepConfig, other: Optional[SweepConfig] = None, names: Optional[Sequence[str]] = None
) -> str:
    """The settings that tell `config` apart from `other` (or the given `names`), as `k=v, ...`."""
    if names is None:
        names = [n for n in PARAMETERS if other is None or _key(getattr(config, n)) != _key(getattr(other, n))]
    labels = {"backend": config.backend_label, "model": config.model_label}
    return ", ".join(f"{n}={labels.get(n, getattr(config, n))}" for n in names) or "same settings"


def _key(value: Any) -> Any:
    return id(value) if isinstance(value, LlmBackend) else value


def run_configs(
    configs: Sequence[SweepConfig],
    *,
    repetitions: int,
    warmup: int,
    runners: Runners,
    clock_factory: ClockFactory = ChunkClock,
    on_progress: Optional[Callable[[SweepProgress], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> SweepResult:
    """Run every configuration in order; Stop, an interrupt or `should_stop` ends cleanly and keeps finished ones."""
    result = SweepResult(swept=swept_parameters(configs), planned=len(configs), warmup=warmup)
    total, done, started = len(configs) * (repetitions + warmup), 0, time.monotonic()

    def report(current: Optional[SweepConfig], finished: Optional[ConfigResult] = None) -> None:
        if on_progress is not None:
            on_progress(SweepProgress(done, total, time.monotonic() - started, current, finished, result))

    try:
        for config in configs:
            runner = runners.for_config(config)
            report(config)
            recorded: list[Repetition] = []
            for index in range(warmup + repetitions):
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
                rep = runner.run(config, clock_factory)
                if index >= warmup:
                    recorded.append(rep)
                done += 1
                report(config)
            finished = ConfigResult(config, runner.threads_used(config), recorded)
            result.results.append(finished)
            report(None, finished)
    except KeyboardInterrupt:
        result.stopped = True
    return result


def sweep(
    *,
    repetitions: int = 5,
    warmup: int = 1,
    sampling: Optional[GenerationConfig] = None,
    on_progress: Optional[Callable[[SweepProgress], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    clock_factory: ClockFactory = ChunkClock,
    **params: Any,
) -> SweepResult:
    """Run every combination of the parameters (each one value or a list) and return a `SweepResult`.

    Parameters: `backend` (name or loaded `LlmBackend`), `model`, `threads`, `n_prompt`,
    `n_gen`, `depth`, `n_batch`, `n_ubatch`, `flash_attn` (True, False, None = auto),
    `type_k`, `type_v`. `sampling` is the `GenerationConfig` whose sampler cost is
    measured (default: `GenerationConfig()`). Bad values raise `InvalidInput` before
    anything runs. Stop or a KeyboardInterrupt ends the sweep and keeps finished configurations.
    """
    _require_count("repetitions", repetitions, 1)
    _require_count("warmup", warmup, 0)
    configs = expand(params)
    runners = Runners((sampling or GenerationConfig()).validate())
    try:
        result = run_configs(
            configs,
            repetitions=repetitions,
            warmup=warmup,
            runners=runners,
            clock_factory=clock_factory,
            on_progress=on_progress,
            should_stop=should_stop,
        )
    finally:
        runners.close()
    result.context_length = _trained_context(configs[0])
    return result


# -- depth curve --------------------------------------------------------------------------------------
@dataclass
class DepthCurve:
    """Decode time per token (ms) against the KV-cache position it was decoded at."""

    positions: list[float]
    ms_per_token: list[float]
    ms_ci95: list[Optional[float]]
    context_length: Optional[int]
    source: str

    def to_pandas(self) -> Any:
        """Columns `kv_position`, `ms_per_token`, `ms_ci95`."""
        import pandas as pd

        return pd.DataFrame({"kv_position": self.positions, "ms_per_token": self.ms_per_token, "ms_ci95": self.ms_ci95})

    def __repr__(self) -> str:
        if not self.positions:
            return f"depth curve ({self.source}): no points"
        return (
            f"depth curve ({self.source}): {len(self.positions)} point(s), KV position "
            f"{self.positions[0]:.0f}..{self.positions[-1]:.0f}, {self.ms_per_token[0]:.2f} -> "
            f"{self.ms_per_token[-1]:.2f} ms/token, context {self.context_length or '–'}"
        )

    def _repr_html_(self) -> str:
        from .widgets.sweep_view import depth_curve_svg

        return depth_curve_svg(self)


def depth_curve_from_output(
    output: GenerationOutput, context_length: Optional[int] = None, window: int = 8
) -> DepthCurve:
    """One run's decode time per token against its KV position, averaged over `window` chunks.

    Position of chunk k: prompt tokens + tokens generated up to it; its time per token
    is its gap (metrics.md `inter_chunk_ms`) divided by the tokens it carries.
    """
    gaps = np.asarray(output.inter_chunk_ms, dtype=float)
    tokens = np.asarray(output.chunk_tokens[1:], dtype=float)
    if gaps.size == 0:
        return DepthCurve([], [], [], context_length, "run")
    positions = output.prompt_tokens + np.cumsum(np.asarray(output.chunk_tokens, dtype=float))[1:]
    per_token = gaps / np.maximum(tokens, 1)
    width = max(1, min(window, per_token.size))
    keep = per_token.size // width * width
    pos = positions[:keep].reshape(-1, width).mean(axis=1)
    ms = per_token[:keep].reshape(-1, width).mean(axis=1)
    return DepthCurve(pos.tolist(), ms.tolist(), [None] * len(ms), context_length, "run")


def depth_curve_from_sweep(result: SweepResult) -> DepthCurve:
    """Mean tg time per token (CI95) at position depth + n_gen / 2, for each configuration.

    When the sweep varies more than `depth`, the curve keeps the configurations that share
    the first one's other settings (named in `source`), so one curve never mixes, say, threads.
    """
    others = [name for name in result.swept if name != "depth"]
    first = result.results[0].config if result.results else None
    points = []
    for r in result.results:
        if first is not None and any(_key(getattr(r.config, n)) != _key(getattr(first, n)) for n in others):
            continue
        s = summarize([1000.0 / v if v else None for v in r.figure("tg_tps")])
        if s.mean is not None:
            points.append((r.config.depth + r.config.n_gen / 2, s.mean, s.ci95))
    points.sort()
    source = "sweep" if not others or first is None else f"sweep, {config_label(first, None, others)}"
    return DepthCurve(
        [p[0] for p in points], [p[1] for p in points], [p[2] for p in points], result.context_length, source
    )


def depth_curve(source: Union[GenerationOutput, SweepResult], context_length: Optional[int] = None) -> DepthCurve:
    """The depth curve of a finished run or of a sweep (ideally over `depth`)."""
    if isinstance(source, SweepResult):
        curve = depth_curve_from_sweep(source)
        if context_length is not None:
            curve.context_length = context_length
        return curve
    if isinstance(source, GenerationOutput):
        return depth_curve_from_output(source, context_length)
    raise InvalidInput(f"depth_curve takes a GenerationOutput or a SweepResult, got {type(source).__name__}")


__all__ = [
    "COLUMNS",
    "ConfigResult",
    "DEFAULTS",
    "DepthCurve",
    "PARAMETERS",
    "Repetition",
    "SweepConfig",
    "SweepProgress",
    "SweepResult",
    "depth_curve",
    "expand",
    "parse_flash_attn",
    "parse_int_list",
    "run_configs",
    "sweep",
]
