"""The public API as the README writes it: every name importable, no module shadowed, `generate` equal to the magic."""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
import types
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import xybrid_notebook as xn
from xybrid_notebook.backends import register_backend, unregister_backend
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.session import Session

README = Path(__file__).resolve().parents[2] / "README.md"


def _modules() -> list[str]:
    """Every module the kernel may import (Locust's side patches its process with gevent: never here)."""
    from xybrid_notebook.load import LOCUST_ONLY

    return [m.name for m in pkgutil.walk_packages(xn.__path__, "xybrid_notebook.") if m.name not in LOCUST_ONLY]


def test_every_public_name_is_importable() -> None:
    missing = [name for name in xn.__all__ if not hasattr(xn, name)]
    assert missing == []


def test_no_public_name_shadows_a_module() -> None:
    shadowed = []
    for name in _modules():
        module = importlib.import_module(name)
        parent, _, leaf = name.rpartition(".")
        if getattr(importlib.import_module(parent), leaf) is not module:
            shadowed.append(name)
    assert shadowed == []


def test_the_names_the_readme_uses_exist() -> None:
    text = README.read_text()
    used = set(re.findall(r"\bxn\.([A-Za-z_]\w*)\(", text))
    for block in re.findall(r"from xybrid_notebook import ([\w, ]+)", text):
        used |= {name.strip() for name in block.split(",")}
    assert used and sorted(name for name in used if not hasattr(xn, name)) == []
    for dotted in set(re.findall(r"`(xybrid_notebook(?:\.\w+)+)`", text)):
        assert isinstance(importlib.import_module(dotted), types.ModuleType), dotted


@pytest.fixture
def scripted_session() -> Session:
    register_backend("scripted", ScriptedBackend)
    session = Session()
    session.load(backend="scripted")
    yield session
    session.unload()
    unregister_backend("scripted")


def test_generate_returns_what_the_session_records(scripted_session: Session) -> None:
    scripted_session.backends["local"].script = Script(["Hel", "lo", "!"])
    shown = io.StringIO()
    with redirect_stdout(shown):
        out = xn.generate("Hi", live=False, session=scripted_session, max_tokens=8, temperature=0)
    assert out is scripted_session.history[-1].output and out.text == "Hello!"
    assert scripted_session.history[-1].config.max_tokens == 8
    assert shown.getvalue().startswith("Hello!") and "TTFT" in shown.getvalue()  # the text view, then its summary


def test_generate_refuses_a_bad_setting_before_anything_runs(scripted_session: Session) -> None:
    with pytest.raises(InvalidInput, match="top_p must be in"):
        xn.generate("Hi", live=False, session=scripted_session, top_p=7)
    with pytest.raises(InvalidInput, match="unknown generation setting 'temprature'"):
        xn.generate("Hi", live=False, session=scripted_session, temprature=0)
    with pytest.raises(InvalidInput, match="mode must be"):
        xn.generate("Hi", live=False, session=scripted_session, mode="poem")
    assert scripted_session.history == []
