"""Chat templates render in a sandbox; hostile templates cannot reach Python internals."""

from __future__ import annotations

import pytest

from xybrid_notebook import ChatMessage
from xybrid_notebook.chat_format import (
    GEMMA_FALLBACK_TEMPLATE,
    RAW_ROLE,
    fallback_template,
    render_chat,
    with_raw_passthrough,
)
from xybrid_notebook.errors import InvalidInput

MESSAGES = [
    ChatMessage.system("Be brief."),
    ChatMessage.user("Hi"),
    ChatMessage.assistant("Hello"),
    ChatMessage.user("Bye"),
]


def render(template: str, messages=MESSAGES) -> str:
    return render_chat(template, messages, bos_token="<bos>", eos_token="<eos>")


def test_gemma_fallback_matches_gemmas_format() -> None:
    assert render(GEMMA_FALLBACK_TEMPLATE) == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    )


def test_fallback_depends_on_architecture() -> None:
    assert fallback_template("gemma3") is GEMMA_FALLBACK_TEMPLATE
    assert "<|im_start|>" in fallback_template("llama")


def test_raw_passthrough_sends_a_raw_prompt_verbatim() -> None:
    wrapped = with_raw_passthrough(GEMMA_FALLBACK_TEMPLATE)
    assert render(wrapped, [ChatMessage(RAW_ROLE, "<bos>Once")]) == "<bos>Once"  # type: ignore[arg-type]
    assert render(wrapped) == render(GEMMA_FALLBACK_TEMPLATE)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{% set x = messages.append(1) %}{{ x }}",
        "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    ],
)
def test_hostile_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidInput):
        render(template)


def test_template_errors_are_one_line() -> None:
    with pytest.raises(InvalidInput, match="does not compile"):
        render("{% for %}")
    with pytest.raises(InvalidInput, match="rejected the messages: no system"):
        render("{{ raise_exception('no system') }}")
