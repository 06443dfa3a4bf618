"""llama.cpp's decode and prefill with its default CPU buffer types and with the safe setting (none extra).

The safe setting is what the engine probe picks on hosts whose AMX faults; this
shows what it costs on a host where both work. Alternating rounds, medians.
"""

from __future__ import annotations

import statistics
from typing import Any

from xybrid_notebook import GenerationConfig, LlmConfig, create_backend, resolve_model
from xybrid_notebook.backends import llama_cpp as module

from .common import PROMPT

ROUNDS = 3
GREEDY = GenerationConfig(max_tokens=128, temperature=0)
LONG_PROMPT = PROMPT + " " + "and the roads of every town were changed by it, " * 30


def _backend(settings: dict[str, Any]) -> Any:
    backend = create_backend("llama-cpp")
    backend.probe_plan = lambda: None  # load exactly with `settings`, whatever the probe chose
    with module.model_params_overridden(module.import_llama_cpp(), settings):
        backend.load(LlmConfig(resolve_model("gemma3-270m"), context_length=2048))
    return backend


def engine_settings_cost() -> dict[str, Any]:
    """Median client decode and prefill tok/s of each setting, and safe / default."""
    backends = {"default": _backend({}), "safe": _backend(module.SAFE_SETTINGS)}
    decode: dict[str, list[float]] = {name: [] for name in backends}
    prefill: dict[str, list[float]] = {name: [] for name in backends}
    for round_index in range(ROUNDS + 1):
        for name, backend in backends.items():
            backend.reset_cache()
            out = backend.generate_raw(LONG_PROMPT, GREEDY)
            if round_index:
                decode[name].append(out.decode_tps)
                prefill[name].append(out.prefill_tps)
    for backend in backends.values():
        backend.unload()
    medians = {
        name: {"decode_tps": statistics.median(decode[name]), "prefill_tps": statistics.median(prefill[name])}
        for name in backends
    }
    return {
        **medians,
        "decode_safe_over_default": medians["safe"]["decode_tps"] / medians["default"]["decode_tps"],
        "prefill_safe_over_default": medians["safe"]["prefill_tps"] / medians["default"]["prefill_tps"],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(engine_settings_cost(), indent=1))
