"""xybrid's local-or-remote policy: which backend runs a prompt, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import InvalidInput, ModelNotLoaded, PromptTooLong
from .run_errors import GenerationError

ROUTES = ("local", "remote", "auto")
LOAD_LOCAL = "run %xybrid load (the default model needs no download)"
LOAD_REMOTE = "run %xybrid load MODEL --backend remote --url http://HOST:PORT/v1"


@dataclass(frozen=True)
class RouteChoice:
    """Where a run goes ("local" or "remote") and the reason, as shown to the user."""

    target: str
    reason: str


def check_route(route: str) -> str:
    """The route itself, or `InvalidInput` listing the valid ones."""
    if route not in ROUTES:
        raise InvalidInput(f"route must be one of {', '.join(ROUTES)}, got {route!r}")
    return route


def choose_route(route: str, has_local: bool, has_remote: bool) -> RouteChoice:
    """local/remote run where told; auto runs locally when a local model is loaded, else remotely."""
    check_route(route)
    if route == "local" or (route == "auto" and has_local):
        if not has_local:
            raise ModelNotLoaded(f"no local model is loaded: {LOAD_LOCAL}")
        return RouteChoice("local", "route local" if route == "local" else "auto: a local model is loaded")
    if not has_remote:
        if route == "auto":
            raise ModelNotLoaded(f"no model is loaded: {LOAD_LOCAL}, or {LOAD_REMOTE}")
        raise ModelNotLoaded(f"no remote server is set up: {LOAD_REMOTE}")
    return RouteChoice("remote", "route remote" if route == "remote" else "auto: no local model is loaded")


def fallback_route(route: str, choice: RouteChoice, error: Exception, has_remote: bool) -> Optional[RouteChoice]:
    """Under auto, a prompt too long for the local context, or a local failure, goes remote once."""
    if route != "auto" or choice.target != "local" or not has_remote:
        return None
    if isinstance(error, PromptTooLong):
        return RouteChoice("remote", "auto: the prompt does not fit the local context")
    if isinstance(error, GenerationError):
        return RouteChoice("remote", "auto: the local run failed, fell back to remote once")
    return None
