"""Chat formatting: a GGUF's Jinja template, rendered only in a sandbox.

Both backends render messages here and send the same text to their engine, so a
side-by-side comparison feeds both engines exactly the same prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Optional

from .errors import InvalidInput
from .types import ChatMessage

if TYPE_CHECKING:
    from .gguf_header import GgufHeader

# Gemma's format; used only for Gemma-architecture files that carry no template (gemma3-270m does not).
# Gemma has no system role: the system prompt is prepended to the first user turn.
GEMMA_FALLBACK_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}"
    "{% set first_user_prefix = '' %}"
    "{% set loop_messages = messages %}"
    "{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n"
    "{{ (first_user_prefix if loop.first else '') + message['content'] | trim }}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _raise_template_error(message: str) -> None:
    raise InvalidInput(f"chat template rejected the messages: {message}")


@lru_cache(maxsize=8)
def _compile(template: str):  # type: ignore[no-untyped-def]
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment()
    env.globals["raise_exception"] = _raise_template_error
    try:
        return env.from_string(template)
    except TemplateError as exc:
        raise InvalidInput(f"the chat template does not compile: {exc}") from None


def render_chat(
    template: str,
    messages: Sequence[ChatMessage],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
) -> str:
    """Render `messages` with a Jinja chat template in an immutable sandbox."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    compiled = _compile(template)
    try:
        return compiled.render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except SecurityError as exc:
        raise InvalidInput(f"the chat template tried an unsafe operation: {exc}") from None
    except TemplateError as exc:
        raise InvalidInput(f"the chat template failed: {exc}") from None


# ChatML: the most widely trained format; used for non-Gemma models that carry no template.
CHATML_FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chat_template_for(explicit: Optional[str], header: GgufHeader) -> str:
    """The template to use: the one given, else the GGUF's own, else the fallback for its architecture."""
    return explicit or header.chat_template or fallback_template(header.architecture)


def fallback_template(architecture: str) -> str:
    """The template used when the GGUF has none: Gemma's for Gemma models, else ChatML."""
    return GEMMA_FALLBACK_TEMPLATE if architecture.startswith("gemma") else CHATML_FALLBACK_TEMPLATE


def fallback_name(architecture: str) -> str:
    """ "Gemma" or "ChatML": which built-in template a file of this architecture without one gets."""
    return "Gemma" if architecture.startswith("gemma") else "ChatML"


RAW_ROLE = "xybrid_raw"


def with_raw_passthrough(template: str) -> str:
    """Wrap a template so a lone message with role `RAW_ROLE` is sent verbatim.

    mistral.rs applies the chat template to every chat request, even a plain
    string; this is how a raw prompt reaches it untouched while still streaming.
    """
    return (
        f"{{% if messages|length == 1 and messages[0]['role'] == '{RAW_ROLE}' %}}"
        "{{ messages[0]['content'] }}"
        f"{{% else %}}{template}{{% endif %}}"
    )


@dataclass(frozen=True)
class ChatFormat:
    """How one GGUF file's prompts are written: its chat template, BOS and EOS text, and whether it starts with BOS."""

    template: str = ""
    bos_text: str = ""
    eos_text: str = ""
    add_bos: bool = True

    @classmethod
    def of(cls, header: GgufHeader, explicit_template: Optional[str] = None) -> ChatFormat:
        """The format the header describes (the explicit template, else the file's, else the fallback)."""
        return cls(chat_template_for(explicit_template, header), header.bos_token, header.eos_token, header.add_bos)

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """The chat as the exact text the engine is sent."""
        return render_chat(self.template, messages, bos_token=self.bos_text, eos_token=self.eos_text)

    def starts_with_bos(self, text: str) -> bool:
        """True when `text` already begins with the file's BOS text."""
        return bool(self.bos_text) and text.startswith(self.bos_text)

    def needs_bos(self, text: str) -> bool:
        """True when the file asks for BOS in front and `text` lacks it."""
        return self.add_bos and not self.starts_with_bos(text)
