"""`python -m xybrid_notebook "prompt"`: stream one generation in the terminal and print its figures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from .errors import XybridError
from .models import default_model_for
from .session import DEFAULT_BACKEND, Session


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m xybrid_notebook", description=__doc__)
    parser.add_argument("prompt", nargs="?", default="The history of the bicycle began")
    parser.add_argument(
        "--model",
        default=None,
        help=f"catalog name or .gguf path (default: {default_model_for('raw')}, "
        f"with --chat {default_model_for('chat')})",
    )
    parser.add_argument("--backend", default=DEFAULT_BACKEND, help="llama-cpp or mistralrs")
    parser.add_argument("-n", "--max-tokens", type=int, default=96)
    parser.add_argument("-t", "--temperature", type=float, default=0.0)
    parser.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Load, stream, summarise; a user error prints one line and exits 2."""
    args = _parser().parse_args(argv)
    session = Session()
    try:
        model = args.model or default_model_for("single" if args.chat else "raw")
        print(session.load(model, backend=args.backend).line(), flush=True)
        print(f">>> {args.prompt}", flush=True)
        output = session.generate(
            args.prompt,
            mode="single" if args.chat else "raw",
            on_token=lambda token: print(token.token, end="", flush=True),
            max_tokens=args.max_tokens,
            temperature=args.temperature,
        )
    except XybridError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n(cancelled)")
        return 130
    print("\n" + output.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
