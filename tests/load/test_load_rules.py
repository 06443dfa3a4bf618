"""Rules a load test keeps without starting anything: secrets hidden in a spec and filled in from the environment,
one-line errors about keys, the run folder's sweep of dead kernels' folders, overload and delivered tokens on
hand-made records."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.load import build_spec, level_row
from xybrid_notebook.load.figures import backlog_at, delivered_tokens, overload_line
from xybrid_notebook.load.process import tree_environment
from xybrid_notebook.load.rundir import new_run_dir, remove_run_dir, runs_root, sweep_orphans
from xybrid_notebook.load.spec import SECRET_HEADERS_ENV, LoadSpec, request_headers
from xybrid_notebook.redact import redact_headers, redact_text

URL = "http://127.0.0.1:9/v1"
KEY = "sk-test-0123456789abcdef"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("api-key", True),
        ("X-API-Key", True),
        ("X-Auth-Token", True),
        ("client_secret", True),
        ("Content-Type", False),
        ("X-Request-Id", False),
    ],
)
def test_which_headers_are_secret(name: str, secret: bool) -> None:
    assert (redact_headers({name: "v"})[name] == "***") is secret


def test_a_spec_never_shows_a_hand_given_key_but_sends_it() -> None:
    spec = build_spec(URL, concurrency=[1], headers={"Authorization": f"Bearer {KEY}", "X-Trace": "t1"})
    assert spec.to_json()["headers"] == {"Authorization": "***", "X-Trace": "t1"}
    assert KEY not in repr(spec) and KEY not in json.dumps(spec.to_json())
    assert request_headers(spec)["Authorization"] == f"Bearer {KEY}"  # in the kernel: the real value
    # In a load process the spec comes from JSON; the value comes from the tree's environment only.
    travelled = LoadSpec.from_json(json.loads(json.dumps(spec.to_json())))
    env = tree_environment(spec)
    assert request_headers(travelled, env) == {"Authorization": f"Bearer {KEY}", "X-Trace": "t1"}
    assert request_headers(travelled, {}) == {"X-Trace": "t1"}  # no environment: the secret is not sent at all
    assert redact_text(f"refused Bearer {KEY}", spec.secrets()) == "refused ***"


def test_api_key_env_is_read_in_the_process_not_carried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XYBRID_RULES_KEY", KEY)
    spec = build_spec(URL, concurrency=[1], api_key_env="XYBRID_RULES_KEY")
    assert KEY not in json.dumps(spec.to_json()) and KEY not in repr(spec)
    assert SECRET_HEADERS_ENV not in tree_environment(spec)  # the variable itself is already in the environment
    travelled = LoadSpec.from_json(spec.to_json())
    assert request_headers(travelled, {"XYBRID_RULES_KEY": "other"})["Authorization"] == "Bearer other"
    assert spec.key_words() == "the key in $XYBRID_RULES_KEY"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"api_key_env": "XYBRID_UNSET_KEY_VAR"},
            "api_key_env: the environment variable XYBRID_UNSET_KEY_VAR is empty",
        ),
        ({"api_key_env": "not a name"}, "api_key_env: give the name of an environment variable"),
        ({"headers": "Authorization: x"}, "headers: give a dict"),
        ({"headers": {"Authorization": "***"}}, "holds ***, a redacted value"),
        ({"headers": {"Authorization": 5}}, "headers: 'Authorization' must be a header name with a text value"),
    ],
)
def test_bad_keys_are_one_line(options: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_spec(URL, concurrency=[1], **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_next_start_removes_the_folders_of_dead_kernels() -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = runs_root() / f"{dead.stdout.strip()}-12345-abcd"
    orphan.mkdir(parents=True)
    (orphan / "spec.json").write_text("{}")
    mine = new_run_dir()  # sweeps first
    try:
        assert not orphan.exists()
        assert mine.exists() and mine.name.startswith(f"{os.getpid()}-")
        assert oct(mine.stat().st_mode & 0o777) == oct(0o700)
        assert mine not in sweep_orphans()  # a living kernel's folder stays
    finally:
        remove_run_dir(mine)
    assert not mine.exists()


def _rate_record(arrival: float, sent: float, end_ms: float, outcome: str = "ok", queued: int = 0) -> dict:
    offsets = [float(k) for k in range(100, int(end_ms) + 1, 100)]
    return {
        "level": 0,
        "pid": 1,
        "arrival": arrival,
        "sent": sent,
        "queued": queued,
        "offsets_ms": offsets,
        "end_ms": end_ms,
        "outcome": outcome,
        "output_tokens": len(offsets) if outcome == "ok" else None,
    }


def test_an_open_loop_that_falls_behind_is_overloaded() -> None:
    spec = build_spec(URL, rate=[4.0], duration_s=3.5, warmup=0)
    level = spec.levels[0]
    # 4 req/s arrive (every 0.25 s from 100 s); the server takes 1 s per request, one at a time; the level ends at
    # 103.5 s with the fourth request cut. `queued`: arrivals waiting behind each request when it was sent.
    records = [
        _rate_record(100.00, 100.0, 1000.0, queued=0),
        _rate_record(100.25, 101.0, 1000.0, queued=3),
        _rate_record(100.50, 102.0, 1000.0, queued=6),
        _rate_record(100.75, 103.0, 500.0, "cut", queued=9),
    ]
    span = (100.0, 103.5)
    assert backlog_at(records, 101.75) == 1 + 3 and backlog_at(records, 103.5) == 1 + 9
    line = overload_line(level, records, span)
    assert line == (
        "4 req/s overloaded: 0.86 req/s finished against 4 offered; "
        "10 waiting or in flight at its end (+6 in its second half)"
    )
    row = level_row(0, level, spec, records, None, span)
    assert row["overloaded"] and row["overload"] == line and row["output_tps"] == row["delivered_tps"]
    # Delivered: 10 chunks in each finished request's second, 5 before the cut; from the first send to the end.
    assert delivered_tokens(records, 100.0, 103.5) == 35
    assert row["delivered_tps"] == pytest.approx(35 / 3.5)
    assert row["completed_tps"] == pytest.approx(30 / 3.0)  # three finished requests over their own window


def test_an_open_loop_that_keeps_up_is_not_overloaded() -> None:
    spec = build_spec(URL, rate=[1.0], duration_s=4.0, warmup=0)
    records = [_rate_record(100.0 + k, 100.0 + k, 500.0) for k in range(4)]
    assert overload_line(spec.levels[0], records, (100.0, 104.0)) is None
    closed = build_spec(URL, concurrency=[2], warmup=0)
    assert overload_line(closed.levels[0], records, (100.0, 104.0)) is None  # a closed loop waits: never overloaded


def test_the_magic_takes_the_keys_variable_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv("XYBRID_RULES_UNSET", raising=False)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    try:
        with pytest.raises(UsageError) as caught:
            shell.run_line_magic("xybrid", f"loadtest {URL} -c 1 --api-key-env XYBRID_RULES_UNSET")
    finally:
        shell.run_line_magic("unload_ext", "xybrid_notebook")
    assert str(caught.value) == (
        "InvalidInput: api_key_env: the environment variable XYBRID_RULES_UNSET is empty or unset: export the API key"
    )
