"""`python -m xybrid_notebook.load run --spec FILE` (the kernel starts this) or `worker --master HOST:PORT`.

A worker started by hand on another machine joins a test started with
`master_bind="0.0.0.0:5557"` (`%xybrid loadtest ... --master-bind 0.0.0.0:5557`):

    python -m xybrid_notebook.load worker --master MASTER_HOST:5557
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    """Parse the command line and run the controller or a worker (Locust is imported only here)."""
    parser = argparse.ArgumentParser(prog="python -m xybrid_notebook.load")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a load test (the notebook starts this)")
    run.add_argument("--spec", required=True, type=Path, help="JSON written by the notebook: spec and prompts")
    worker = commands.add_parser("worker", help="join a load test as a Locust worker")
    worker.add_argument("--master", required=True, help="HOST:PORT the test's master listens on")
    args = parser.parse_args()

    from .engine import run_controller, run_worker  # imports Locust, which patches this process with gevent
    from .spec import LoadSpec

    if args.command == "run":
        data = json.loads(args.spec.read_text())
        args.spec.unlink(missing_ok=True)  # the prompts stay on disk no longer than it takes to read them
        run_controller(LoadSpec.from_json(data["spec"]), data["prompts"])
    else:
        run_worker(args.master)


if __name__ == "__main__":
    main()
