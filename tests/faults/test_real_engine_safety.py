"""The real engines behind the probe: its verdict, its cost, the safe setting taking effect, clean cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from xybrid_notebook import DEFAULT_MODEL, LlmConfig, create_backend
from xybrid_notebook.backends import engine_log
from xybrid_notebook.backends.llama_cpp import SAFE_SETTINGS, llama_cpp_probe_plan
from xybrid_notebook.backends.probe import prove_engine
from xybrid_notebook.errors import ModelNotFound
from xybrid_notebook.session import Session
from xybrid_notebook.types import GenerationConfig

from ..terminal import run_terminal_ipython

pytestmark = pytest.mark.slow
NATIVE_MARKERS = ("llama_", "ggml_", "load_tensors", "llm_load", "mistralrs_core", "INFO ", "WARN ")


def test_llama_probe_in_a_child_gives_a_verdict_and_its_cost(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XYBRID_CACHE_DIR", str(tmp_path))
    verdict = prove_engine(llama_cpp_probe_plan(), model_path)
    print(f"\nllama.cpp probe: {verdict.seconds:.2f} s, chose {verdict.label!r}, tried before: {verdict.tried}")
    # Defaults are turned off only after a crash under them, and then with the note saying so.
    assert (verdict.settings == {}) == (verdict.tried == [])
    assert (verdict.note is None) == verdict.is_default
    assert all(": SIG" in step or "no answer" in step for step in verdict.tried)
    assert prove_engine(llama_cpp_probe_plan(), model_path).cached


def _buffer_lines() -> list[str]:
    return [line for line in engine_log.tail(2000) if "model buffer size" in line]


def test_the_safe_setting_reaches_llama_cpp(model_path: Path) -> None:
    """Without extra buffer types llama.cpp allocates only its plain CPU buffer (no repack/AMX buffer)."""
    backend = create_backend("llama-cpp")
    engine_log.clear()
    backend.load(LlmConfig(model_path, context_length=256))
    default_buffers = _buffer_lines()
    backend.unload()
    engine_log.clear()
    backend.probe_plan = lambda: None  # type: ignore[method-assign]  # load exactly as told below
    backend.engine_verdict = None
    from xybrid_notebook.backends import llama_cpp as module

    with module.model_params_overridden(module.import_llama_cpp(), SAFE_SETTINGS):
        backend.load(LlmConfig(model_path, context_length=256))
    safe_buffers = _buffer_lines()
    out = backend.generate_raw("The quick brown fox", GenerationConfig(max_tokens=4, temperature=0))
    backend.unload()
    assert default_buffers and safe_buffers, "llama.cpp logs its buffer sizes at load"
    assert all("CPU_Mapped" in line or "CPU model" in line for line in safe_buffers), safe_buffers
    assert out.tokens_generated == 4


def test_native_logs_never_reach_a_cell_and_are_kept_for_status_log(model_path: Path, capfd) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    try:
        capfd.readouterr()
        shell.run_line_magic("xybrid", "load --ctx 512")
        shell.run_cell_magic("generate", "--text -n 4 --raw", "Hello")
        printed = capfd.readouterr()
        assert "llama_" not in printed.out + printed.err and "ggml" not in printed.out + printed.err
        shell.run_line_magic("xybrid", "status --log")
        assert "[llama.cpp]" in capfd.readouterr().out
    finally:
        shell.run_line_magic("unload_ext", "xybrid_notebook")


def test_terminal_ipython_shows_no_native_log(model_path: Path) -> None:
    script = "%load_ext xybrid_notebook\n%xybrid load --ctx 512\n%xybrid load --ctx 512 --backend mistralrs\n"
    done = run_terminal_ipython(script)
    shown = done.stdout + done.stderr
    assert f"Loaded {DEFAULT_MODEL} on llama-cpp" in shown and f"Loaded {DEFAULT_MODEL} on mistralrs" in shown
    for marker in NATIVE_MARKERS:
        assert marker not in shown, shown


@pytest.mark.parametrize("backend", ["llama-cpp", "mistralrs"])
def test_a_missing_path_is_model_not_found_at_every_entry_point(backend: str) -> None:
    with pytest.raises(ModelNotFound):
        create_backend(backend).load(LlmConfig("/nonexistent/model.gguf"))
    with pytest.raises(ModelNotFound):
        Session().load("/nonexistent/model.gguf", backend)


def test_a_chat_system_prompt_holds_for_the_turns_that_follow() -> None:
    from xybrid_notebook.backends.scripted import ScriptedBackend

    scripted = ScriptedBackend()
    session = Session(backend_factory=lambda name: scripted)
    session.load(backend="scripted")
    session.generate("Hi", mode="chat", system="Answer in French.")
    session.generate("And then?", mode="chat")
    sent = scripted.prompts[-1]
    assert sent[0].role == "system" and sent[0].content == "Answer in French."
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert session.set_chat_system("Answer in German.") is not None  # changed mid-conversation: one line
    assert session.set_chat_system("Answer in German.") is None
    session.reset_chat()
    assert session.conversation_system() is None


def test_chat_magic_shows_the_system_prompt_and_the_change_notice(capsys) -> None:
    from xybrid_notebook.backends import register_backend, unregister_backend
    from xybrid_notebook.backends.scripted import ScriptedBackend

    register_backend("scripted", ScriptedBackend)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    try:
        shell.run_line_magic("xybrid", "load --backend scripted")
        shell.run_cell_magic("generate", "--text --chat --system 'Be brief.'", "Hi")
        shell.run_cell_magic("generate", "--text --chat", "More")
        capsys.readouterr()
        shell.run_line_magic("xybrid", "chat")
        assert "2 turn(s) kept; system prompt: 'Be brief.'" in capsys.readouterr().out
        shell.run_cell_magic("generate", "--text --chat --system 'Be long.'", "Again")
        assert "cached prefix will be recomputed" in capsys.readouterr().out
        with pytest.raises(UsageError):
            shell.run_line_magic("xybrid", "status --bogus")
    finally:
        shell.run_line_magic("unload_ext", "xybrid_notebook")
        unregister_backend("scripted")


def test_no_native_log_in_cells_executed_as_nbconvert_does(model_path: Path) -> None:
    """nbclient is what `jupyter nbconvert --execute` (and so `make demo`) runs notebooks with."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "%load_ext xybrid_notebook",
        "%xybrid load --ctx 512",
        "%%generate -n 8 -t 0 --raw\nThe history of the bicycle began",
        "%xybrid load --ctx 512 --backend mistralrs",
        "%%generate -n 4 -t 0 --raw\nThe history of the bicycle began",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    shown = json.dumps([cell["outputs"] for cell in notebook.cells])
    assert f"Loaded {DEFAULT_MODEL} on mistralrs" in shown
    for marker in NATIVE_MARKERS:
        assert marker not in shown, marker
