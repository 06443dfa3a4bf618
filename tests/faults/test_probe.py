"""The engine probe: policy with a stand-in child, then real children that really segfault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xybrid_notebook.backends import probe
from xybrid_notebook.backends.probe import ProbePlan, ProbeStep, prove_engine
from xybrid_notebook.errors import BackendUnavailable

from .fake_engines import SAFE_NOTE

ROOT = Path(__file__).resolve().parents[2]
STEPS = (ProbeStep("default settings"), ProbeStep("safe mode", {"safe": True}, SAFE_NOTE))


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test proves engines into its own cache folder, with the fake engines importable in the child."""
    monkeypatch.setenv("XYBRID_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return tmp_path / "cache"


def plan(target: str) -> ProbePlan:
    return ProbePlan("fake engine", "xybrid_notebook", f"tests.faults.fake_engines:{target}", STEPS)


def scripted_child(results: list[probe._ChildResult], calls: list[str]):
    def run(plan: ProbePlan, step: ProbeStep, model_path: Path) -> probe._ChildResult:
        calls.append(step.label)
        return results[len(calls) - 1]

    return run


def test_first_surviving_step_is_chosen_and_cached(model_path: Path) -> None:
    calls: list[str] = []
    child = scripted_child([probe._ChildResult(True, "SIGSEGV"), probe._ChildResult(False, "ok")], calls)
    verdict = prove_engine(plan("x"), model_path, child)
    assert (verdict.label, verdict.settings, verdict.note) == ("safe mode", {"safe": True}, SAFE_NOTE)
    assert verdict.tried == ["default settings: SIGSEGV"] and not verdict.cached
    again = prove_engine(plan("x"), model_path, scripted_child([], calls))
    assert again.cached and again.settings == {"safe": True} and calls == ["default settings", "safe mode"]


def test_ordinary_error_in_the_child_is_no_verdict(model_path: Path) -> None:
    calls: list[str] = []
    child = scripted_child([probe._ChildResult(False, "ValueError: bad file")] * 2, calls)
    verdict = prove_engine(plan("x"), model_path, child)
    assert verdict.settings == {} and not verdict.cached
    prove_engine(plan("x"), model_path, child)
    assert calls == ["default settings", "default settings"]  # not cached: asked again


def test_the_cache_key_holds_engine_version_cpu_flags_and_kernel() -> None:
    key = probe.machine_key("llama_cpp_python")
    assert probe.cpu_flags() in key and __import__("platform").release() in key
    assert key.split("|")[1] != "unknown"  # the installed version, read from its metadata


def test_a_child_that_segfaults_everywhere_is_one_line_naming_the_signal(model_path: Path) -> None:
    with pytest.raises(BackendUnavailable) as caught:
        prove_engine(plan("always_crash"), model_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "default settings: SIGSEGV" in message and "safe mode: SIGSEGV" in message
    assert "try another backend" in message


def test_a_child_that_segfaults_unless_safe_gives_the_safe_setting(model_path: Path, fresh_cache: Path) -> None:
    verdict = prove_engine(plan("crash_unless_safe"), model_path)
    assert verdict.settings == {"safe": True} and verdict.note == SAFE_NOTE
    assert verdict.tried == ["default settings: SIGSEGV"]
    saved = json.loads(next((fresh_cache / "probes").glob("fake engine-*.json")).read_text())
    assert saved["settings"] == {"safe": True}
    assert prove_engine(plan("crash_unless_safe"), model_path).cached
