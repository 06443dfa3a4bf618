"""Against llama-server started with an API key: the key reaches the load processes only through their environment,
and no export, file, command line, span or log line holds it; a wrong key is one line naming the variable; no
load test's folder is left behind, however the test ends."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import xybrid_notebook as xn
from xybrid_notebook.backends.remote import RemoteSpec
from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.load import LoadResult, build_spec, prepare, run_load_test
from xybrid_notebook.load.process import LoadProcess
from xybrid_notebook.load.rundir import runs_root
from xybrid_notebook.loopback import free_port, running_server
from xybrid_notebook.otel_spans import record_load_test
from xybrid_notebook.servers import llama_server_argv

from .conftest import alive

pytestmark = pytest.mark.slow
KEY_ENV = "XYBRID_TEST_LOAD_KEY"


@pytest.fixture(scope="module")
def key() -> str:
    return "sk-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def keyed_server(smollm2_path: Path, key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-server with 2 slots that wants `Authorization: Bearer KEY` (given in its environment, not its argv)."""
    from xybrid_notebook.llama_tools import find

    port = free_port()
    argv = llama_server_argv(find("llama-server"), smollm2_path, 2, 1024, port, 1, False)
    log = tmp_path_factory.mktemp("keyed") / "server.log"
    env = {**os.environ, "LLAMA_API_KEY": key}
    with running_server(argv, f"http://127.0.0.1:{port}/health", log, name="llama-server", env=env):
        yield f"http://127.0.0.1:{port}/v1"


class _Watch:
    """What a running load test shows the machine: its processes' command lines and its folder's files."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.command_lines: list[str] = []
        self.files: dict[str, str] = {}

    def __call__(self, process: LoadProcess) -> None:
        threading.Thread(target=self._watch, args=(process,), daemon=True).start()

    def _watch(self, process: LoadProcess) -> None:
        while process.process.poll() is None:
            for pid in process.pids:
                try:
                    self.command_lines.append(" ".join(psutil.Process(pid).cmdline()))
                except psutil.Error:
                    continue
                self.pids.append(pid)
            for path in runs_root().rglob("*"):
                try:
                    self.files[str(path)] = path.read_text(errors="replace") if path.is_file() else ""
                except OSError:
                    continue
            time.sleep(0.05)


class _Spans:
    """A stand-in telemetry that keeps the spans a load test makes."""

    def __init__(self) -> None:
        self.spans: list[Any] = []

    def record_group(self, group: Any, children: Any, trace_id: Any = None) -> bool:
        self.spans.extend([group, *children])
        return True


def _everything_shown(result: LoadResult) -> list[str]:
    spans = _Spans()
    record_load_test(spans, result)  # type: ignore[arg-type]
    return [
        result.to_json(),
        result.to_csv(),
        repr(result),
        result.summary(),
        result._repr_html_(),
        result.requests().to_json(),
        repr(result.spec),
        result.log,
        *(repr(vars(span)) for span in spans.spans),
    ]


def _run(url: str, watch: _Watch, **options: Any) -> LoadResult:
    spec, workload = prepare(build_spec(url, prompt_tokens=16, output_tokens=4, **options))
    return run_load_test(spec, workload, on_process=watch)


@pytest.mark.parametrize("how", ["api_key_env", "headers"])
def test_the_key_is_sent_and_shown_nowhere(
    how: str, keyed_server: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    given = {"api_key_env": KEY_ENV} if how == "api_key_env" else {"headers": {"Authorization": f"Bearer {key}"}}
    watch = _Watch()
    result = _run(keyed_server, watch, concurrency=[2], requests=4, **given)
    ok = [r for r in result.records if r["outcome"] == "ok"]
    assert len(ok) >= 4 and not result.rows[0]["errors"]  # the server took the key
    assert watch.command_lines and watch.files  # the watch saw the tree and its folder
    shown = [*_everything_shown(result), *watch.command_lines, *watch.files.values()]
    assert [text for text in shown if key in text or key[3:] in text] == []
    if how == "headers":
        assert result.spec.to_json()["headers"] == {"Authorization": "***"}
    assert alive(watch.pids) == []
    assert _left_behind() == []


def test_a_wrong_key_is_one_line_naming_the_variable(keyed_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-" + secrets.token_hex(16)
    monkeypatch.setenv(KEY_ENV, wrong)
    watch = _Watch()
    with pytest.raises(InvalidInput) as caught:
        _run(keyed_server, watch, concurrency=[1], requests=2, api_key_env=KEY_ENV)
    message = str(caught.value)
    assert f"${KEY_ENV}" in message and "401" in message and "\n" not in message
    assert wrong not in message and wrong[3:] not in message
    assert _left_behind() == []


def test_without_a_target_the_remote_backends_key_is_used(
    keyed_server: str, key: str, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.setattr("xybrid_notebook.api.served", lambda: [])  # no server started here: the session's remote
    session = xn.current_session()
    backend = xn.create_backend("remote")
    backend.load(RemoteSpec(keyed_server, smollm2_path.stem, api_key_env=KEY_ENV))  # the server's --alias
    monkeypatch.setitem(session.backends, "remote", backend)
    try:
        result = xn.load_test(concurrency=[1], requests=2, prompt_tokens=16, output_tokens=4, live=False)
    finally:
        backend.unload()
    assert result.spec.api_key_env == KEY_ENV
    ended = [r["outcome"] for r in result.records if r["outcome"] != "cut"]
    assert set(ended) == {"ok"} and len(ended) >= 3  # a warm-up and two measured
    assert key not in result.to_json()


def test_stopping_or_failing_leaves_no_folder(keyed_server: str, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    spec, workload = prepare(build_spec(keyed_server, concurrency=[2], duration_s=30, api_key_env=KEY_ENV))
    started = time.monotonic()
    result = run_load_test(spec, workload, should_stop=lambda: time.monotonic() - started > 1.0)
    assert result.stopped and _left_behind() == []
    with pytest.raises(RuntimeError):  # a bug while the test runs: the folder still goes

        def fail(progress: Any) -> None:
            if progress.records:
                raise RuntimeError("a listener's bug")

        run_load_test(spec, workload, on_progress=fail)
    assert _left_behind() == []


def _left_behind() -> list[str]:
    """This process's load test folders still on disk (other kernels on the machine may have their own)."""
    root = runs_root()
    return [str(p) for p in root.glob(f"{os.getpid()}-*")] if root.exists() else []
