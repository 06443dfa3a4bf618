"""The experiment designs: a sweep (every combination, in a grid) and a paired A/B (interleaved), and depth curves.

`sweep(threads=[1, 2], n_prompt=64, n_gen=32, repetitions=5)` runs each configuration
`warmup` times unrecorded, then `repetitions` times, and returns a `SweepResult`.
`compare({"threads": 1}, {"threads": 2}, ...)` runs A, B, A, B... after the warm-up,
pairs the i-th runs and returns a `CompareResult` with B's difference and its CI95.
Both check every value before anything runs (`InvalidInput`), and Stop or an interrupt
ends them cleanly with what was measured. Nothing here shows anything: views listen
to `on_progress` (see `xybrid_notebook.api` for the live forms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

from ..backends.base import LlmBackend
from ..errors import InvalidInput
from ..metrics import ChunkClock
from ..types import GenerationConfig, GenerationOutput
from .depth import DepthCurve, depth_curve_from_output
from .loop import Measured, Progress, Step, grid_order, interleaved_order, measure
from .measures import ConfigResult
from .params import SweepConfig, expand, require_count, swept_parameters, trained_context
from .results import CompareResult, SweepResult
from .runners import ClockFactory, Runners

Side = Union[dict[str, Any], LlmBackend]
ProgressListener = Optional[Callable[[Progress], None]]
StopCheck = Optional[Callable[[], bool]]


def sweep(
    *,
    repetitions: int = 5,
    warmup: int = 1,
    sampling: Optional[GenerationConfig] = None,
    on_progress: ProgressListener = None,
    should_stop: StopCheck = None,
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
    require_count("repetitions", repetitions, 1)
    require_count("warmup", warmup, 0)
    configs = expand(params)
    order = grid_order(len(configs), warmup, repetitions)
    measured = _measure(configs, order, sampling, clock_factory, on_progress, should_stop)
    return SweepResult(
        results=measured.finished,
        swept=swept_parameters(configs),
        planned=len(configs),
        stopped=measured.stopped,
        warmup=warmup,
        context_length=trained_context(configs[0]),
    )


def _measure(
    configs: list[SweepConfig],
    order: list[Step],
    sampling: Optional[GenerationConfig],
    clock_factory: ClockFactory,
    on_progress: ProgressListener,
    should_stop: StopCheck,
) -> Measured:
    """The loop over `order`, with runners made for it and closed after it, whatever happens."""
    runners = Runners(sampling or GenerationConfig())
    try:
        return measure(
            configs, order, runners, clock_factory=clock_factory, on_progress=on_progress, should_stop=should_stop
        )
    finally:
        runners.close()


def _one_config(side: Side, common: dict[str, Any], which: str) -> SweepConfig:
    params = {**common, "backend": side} if isinstance(side, LlmBackend) else {**common, **side}
    configs = expand(params)
    if len(configs) != 1:
        raise InvalidInput(f"{which} must be one configuration (one value per parameter), got {len(configs)}")
    return configs[0]


def compare(
    a: Side,
    b: Side,
    *,
    repetitions: int = 5,
    warmup: int = 1,
    sampling: Optional[GenerationConfig] = None,
    on_progress: ProgressListener = None,
    should_stop: StopCheck = None,
    clock_factory: ClockFactory = ChunkClock,
    **common: Any,
) -> CompareResult:
    """Run A and B (dicts of sweep parameters over `common`, or loaded backends) in interleaved repetitions.

    Stop or a KeyboardInterrupt ends the comparison and keeps the pairs finished so far.
    """
    require_count("repetitions", repetitions, 2)
    require_count("warmup", warmup, 0)
    configs = [_one_config(a, common, "A"), _one_config(b, common, "B")]
    order = interleaved_order(2, warmup, repetitions)
    measured = _measure(configs, order, sampling, clock_factory, on_progress, should_stop)
    pairs = min(len(r) for r in measured.recorded)
    a_result, b_result = (
        ConfigResult(c, t, r[:pairs]) for c, t, r in zip(configs, measured.threads, measured.recorded)
    )
    return CompareResult(a_result, b_result, stopped=measured.stopped)


def depth_curve(source: Union[GenerationOutput, SweepResult], context_length: Optional[int] = None) -> DepthCurve:
    """The depth curve of a finished run or of a sweep (ideally over `depth`)."""
    if isinstance(source, SweepResult):
        curve = source.depth_curve()
        if context_length is not None:
            curve.context_length = context_length
        return curve
    if isinstance(source, GenerationOutput):
        return depth_curve_from_output(source, context_length)
    raise InvalidInput(f"depth_curve takes a GenerationOutput or a SweepResult, got {type(source).__name__}")
