"""`%xybrid sweep` and `%xybrid compare`: llama-bench's options (from `experiments.params.OPTIONS`), run live."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from IPython.core.error import UsageError

from ..api import export_experiment, with_view
from ..experiments import compare, sweep
from ..experiments.params import OPTIONS, read_options
from ..types import LlmConfig
from ..widgets import widgets_wanted
from .registry import Context, Option, check_out_name, option, subcommand

SWEEP_OUTPUT_NAME = "_xybrid_sweep"
COMPARE_OUTPUT_NAME = "_xybrid_compare"

EXPERIMENT_OPTIONS: list[Option] = [
    *(option(*o.flags, dest=o.name, default=None, help=o.help) for o in OPTIONS),
    option("-r", "--repetitions", type=int, default=5, help="recorded runs per configuration"),
    option("--warmup", type=int, default=1, help="unrecorded runs per configuration (default 1)"),
    option("--text", action="store_true", help="a text progress line instead of widgets"),
    option("-o", "--out", default=None, help="also store the result in this variable"),
]


def experiment_params(args: Namespace, context: Context) -> dict[str, Any]:
    """The parameters the options give (llama-bench's list and range syntax); the loaded model unless -m says."""
    params = read_options({o.name: getattr(args, o.name) for o in OPTIONS})
    local = context.session.backend
    source = local.source if local is not None and local.is_loaded() else None
    if "model" not in params and isinstance(source, LlmConfig):
        params["model"] = [str(source.model_path)]
    return params


def _settings(args: Namespace, context: Context) -> dict[str, Any]:
    return {"repetitions": args.repetitions, "warmup": args.warmup, "sampling": context.session.defaults}


def _view(context: Context, text: bool, title: str) -> Any:
    from ..widgets.experiment_view import ExperimentView, TextProgress

    return ExperimentView(title) if widgets_wanted(context.shell, text) else TextProgress(title)


@subcommand("sweep", "llama-bench's pp and tg tests for every combination of the options, live", *EXPERIMENT_OPTIONS)
def run_sweep(context: Context, args: Namespace) -> Any:
    check_out_name(args.out)
    view = _view(context, args.text, "sweep")
    result = with_view(sweep, view, {**_settings(args, context), **experiment_params(args, context)})
    export_experiment(result)
    context.keep(result, SWEEP_OUTPUT_NAME, args.out)
    return None if view.shows_result else result


@subcommand(
    "compare", "a paired A/B: the sweep's options, exactly one with two values (e.g. -t 1,2)", *EXPERIMENT_OPTIONS
)
def run_compare(context: Context, args: Namespace) -> Any:
    check_out_name(args.out)
    params = experiment_params(args, context)
    varied = [name for name, values in params.items() if len(values) > 1]
    if len(varied) != 1 or len(params[varied[0]]) != 2:
        raise UsageError("%xybrid compare needs exactly one option with two values, A and B: e.g. -t 1,2")
    name = varied[0]
    a_value, b_value = params.pop(name)
    view = _view(context, args.text, f"compare {name}={a_value} vs {b_value}")
    kwargs = {"a": {name: a_value}, "b": {name: b_value}, **_settings(args, context), **params}
    result = with_view(compare, view, kwargs)
    export_experiment(result)
    context.keep(result, COMPARE_OUTPUT_NAME, args.out)
    return result
