"""Interrupts at every phase, faults mid-stream, concurrent runs: the kernel, the model and the history survive."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from xybrid_notebook.backends import register_backend, unregister_backend
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.session import Session

pytestmark = pytest.mark.slow
LONG_PROMPT = "The bicycle changed how people travelled in cities and villages alike. " * 90  # ~1,300 tokens


def interrupt_after(seconds: float) -> threading.Thread:
    """Deliver SIGINT to the main thread after a delay, as a kernel interrupt does."""
    main = threading.main_thread().ident

    def fire() -> None:
        time.sleep(seconds)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    s = Session()
    s.load("gemma3-270m", context_length=4096)  # its prefill of LONG_PROMPT outlasts the 0.3 s interrupt
    yield s
    s.unload()


def _cancel_latency(session: Session, prompt: str, delay: float, **kwargs) -> tuple[float, object]:
    fired_at: list[float] = []
    main = threading.main_thread().ident

    def fire() -> None:
        time.sleep(delay)
        fired_at.append(time.perf_counter())
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()
    with pytest.raises(KeyboardInterrupt) as info:
        session.generate(prompt, mode="raw", **kwargs)
        time.sleep(5)  # the run ended before the interrupt: wait for it so pytest.raises sees it
    return time.perf_counter() - fired_at[0], info.value


def test_interrupt_during_decode_cancels_keeps_partial_and_model(session: Session, record_property) -> None:
    runs = len(session.history)
    latency, exc = _cancel_latency(session, "Once upon a time", 1.0, max_tokens=2000, temperature=0.8)
    partial = exc.partial
    assert partial.finish_reason == "cancelled" and partial.emitted_chunks > 3 and partial.text
    assert session.history[-1].output is partial and len(session.history) == runs + 1
    record_property("cancel_latency_decode_s", round(latency, 3))
    print(f"\ncancel latency during decode: {latency * 1000:.0f} ms")
    assert latency < 1.0
    assert session.generate("Hello", mode="raw", max_tokens=4, temperature=0).tokens_generated == 4


def test_interrupt_during_prefill_of_a_long_prompt(session: Session, record_property) -> None:
    session.backend.reset_cache()
    latency, exc = _cancel_latency(session, LONG_PROMPT, 0.3, max_tokens=50, temperature=0)
    partial = exc.partial
    assert partial.finish_reason == "cancelled" and partial.emitted_chunks == 0 and partial.ttft_ms is None
    assert session.history[-1].output is partial
    record_property("cancel_latency_prefill_s", round(latency, 3))
    print(f"\ncancel latency during prefill: {latency * 1000:.0f} ms")
    assert session.generate("Hello", mode="raw", max_tokens=4, temperature=0).tokens_generated == 4


def test_interrupt_during_load_keeps_the_previous_model(session: Session, capsys) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    magics = shell.find_magic("xybrid").__self__
    magics.session.load("gemma3-270m")
    before = magics.session.backend
    interrupt_after(0.3)
    started = time.perf_counter()
    shell.run_line_magic("xybrid", "load gemma3-270m --backend mistralrs")
    took = time.perf_counter() - started
    assert "Load cancelled; gemma3-270m stays loaded" in capsys.readouterr().out
    with capsys.disabled():
        print(f"\ncancel latency during a mistral.rs load: {took * 1000 - 300:.0f} ms")
    assert magics.session.backend is before and before.is_loaded()
    assert magics.session.generate("Hi", mode="raw", max_tokens=3, temperature=0).tokens_generated == 3
    shell.run_line_magic("unload_ext", "xybrid_notebook")


@pytest.fixture
def shell_with(request) -> Iterator[InteractiveShell]:
    """A shell whose session runs a scripted backend built from the test's Script."""
    script: Script = request.param
    register_backend("scripted", lambda: ScriptedBackend(script))
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    shell.run_line_magic("xybrid", "load --backend scripted")
    yield shell
    shell.run_line_magic("unload_ext", "xybrid_notebook")
    unregister_backend("scripted")


def _session(shell: InteractiveShell) -> Session:
    return shell.find_magic("xybrid").__self__.session


@pytest.mark.parametrize("shell_with", [Script(chunks=tuple("abcdefgh"), fail_after=3)], indirect=True)
def test_backend_failing_mid_stream_is_recorded_as_error(shell_with: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="GenerationError: the engine failed while generating") as info:
        shell_with.run_cell_magic("generate", "--text", "go")
    assert "\n" not in str(info.value)
    record = _session(shell_with).history[-1].output
    assert record.finish_reason == "error" and record.text == "abc" and "scripted failure" in record.error
    _session(shell_with).backend.script.fail_after = None
    shell_with.run_cell_magic("generate", "--text", "go")
    assert _session(shell_with).history[-1].output.text == "abcdefgh"


@pytest.mark.parametrize("shell_with", [Script(chunks=tuple("abcdefgh"))], indirect=True)
def test_a_bug_in_a_listener_keeps_its_traceback_and_is_recorded(shell_with: InteractiveShell, monkeypatch) -> None:
    from xybrid_notebook.widgets.text_view import TextView

    def broken(self, delta):
        raise RuntimeError("view broke")

    monkeypatch.setattr(TextView, "update", broken)
    with pytest.raises(RuntimeError, match="view broke") as info:  # a bug: not turned into a one-line UsageError
        shell_with.run_cell_magic("generate", "--text", "go")
    assert any(frame.name == "broken" for frame in info.traceback)
    assert _session(shell_with).history[-1].output.finish_reason == "error"
    monkeypatch.undo()
    shell_with.run_cell_magic("generate", "--text", "go")
    assert _session(shell_with).history[-1].output.finish_reason == "stop"


@pytest.mark.parametrize("shell_with", [Script(chunks=("x",) * 40, delays_s=(0.05,) * 40)], indirect=True)
def test_second_generation_while_one_runs_is_refused(shell_with: InteractiveShell) -> None:
    session = _session(shell_with)
    worker = threading.Thread(target=lambda: session.generate("background", mode="raw"))
    worker.start()
    time.sleep(0.2)
    with pytest.raises(UsageError, match="GenerationInProgress: a generation is already running"):
        shell_with.run_cell_magic("generate", "--text", "go")
    worker.join(10)
    assert [r.prompt for r in session.history] == ["background"]
    assert session.history[0].output.text == "x" * 40  # never interleaved


@pytest.mark.parametrize("shell_with", [Script()], indirect=True)
@pytest.mark.parametrize(
    "line",
    [
        "load --threads x",
        "load --threads 0",
        "load --gpu-layers x",
        "load --ctx 0",
        "load --ctx -5",
        "config --seed x",
        "config --seed -1",
        "config --top-k -1",
        "config --min-p nan",
        "config --repeat-penalty inf",
        "config --top-p",
        "history --wat",
        "chat --wat",
        "export",
    ],
)
def test_every_bad_flag_is_one_line_and_keeps_the_session(shell_with: InteractiveShell, line: str) -> None:
    session = _session(shell_with)
    backend, defaults = session.backend, session.defaults
    with pytest.raises(UsageError) as info:
        shell_with.run_line_magic("xybrid", line)
    assert "\n" not in str(info.value)
    assert session.backend is backend and backend.is_loaded() and session.defaults == defaults


@pytest.mark.parametrize("shell_with", [Script()], indirect=True)
@pytest.mark.parametrize("body, expected", [("a\x00b", "NUL"), ("a\ud800b", "surrogate")])
def test_bad_prompt_text_is_one_line(shell_with: InteractiveShell, body: str, expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        shell_with.run_cell_magic("generate", "--text", body)


def test_export_never_follows_a_symlink_onto_an_existing_file(tmp_path: Path) -> None:
    from xybrid_notebook.errors import InvalidInput
    from xybrid_notebook.export import export_history

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    link = tmp_path / "runs.json"
    link.symlink_to(precious)
    with pytest.raises(InvalidInput, match="already exists"):
        export_history([], link)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(InvalidInput, match="already exists"):
        export_history([], dangling)
    assert precious.read_text() == "keep me" and not (tmp_path / "nowhere.csv").exists()
