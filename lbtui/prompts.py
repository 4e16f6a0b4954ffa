"""Prompt text and token ids, as METHODS.md defines them.

A prompt is built from parts that are tokenized separately and joined as ids:
the definition, each demonstration, the query; the scored label is a continuation.
So every prompt of a run starts with the same ids and the KV cache of that prefix can
be reused; tokenizing the joined string could merge tokens across a seam.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable, Sequence

from .types import Example, PromptFormat


def with_period(text: str) -> str:
    """Add a period unless the text ends in punctuation (an empty text stays empty)."""
    text = text.strip()
    if not text or unicodedata.category(text[-1]).startswith("P"):
        return text
    return text + "."


def definition_text(fmt: PromptFormat, definition: str) -> str:
    return fmt.definition.replace("{definition}", with_period(definition))


def demonstration_text(fmt: PromptFormat, text: str, label: str) -> str:
    return fmt.demonstration.replace("{input}", with_period(text)).replace("{label}", with_period(label))


def query_text(fmt: PromptFormat, text: str) -> str:
    return fmt.query.replace("{input}", with_period(text))


@dataclass(frozen=True)
class ChatWrap:
    """The text a chat template puts before and after the user's message."""

    head: str
    tail: str


def chat_wrap(template: str, *, bos_token: str = "", eos_token: str = "") -> ChatWrap:
    """Render a chat template (from GGUF metadata: untrusted) in Jinja's sandbox around a
    marker, and split it there."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    marker = "\x00LBTUI-MESSAGE\x00"
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    text = env.from_string(template).render(
        messages=[{"role": "user", "content": marker}], add_generation_prompt=True,
        bos_token=bos_token, eos_token=eos_token,
    )
    if text.count(marker) != 1:
        raise ValueError("the chat template does not place the user message exactly once")
    head, tail = text.split(marker)
    return ChatWrap(head, tail)


class PromptBuilder:
    """Token ids of a run's prompts. Each distinct part is tokenized once."""

    def __init__(
        self, tokenize: Callable[..., list[int]], fmt: PromptFormat, definition: str, labels: Sequence[str],
        *, eos: int | None, full: bool, chat: ChatWrap | None = None,
    ):
        self._tokenize = tokenize
        self.fmt = fmt
        self.chat = chat
        self._cache: dict[str, tuple[int, ...]] = {}
        head = chat.head if chat else ""
        # BOS (where the model wants one) belongs to the first part only.
        self.head_ids = tuple(tokenize(head, bos=True, special=True)) if chat else ()
        def_text = definition_text(fmt, definition)
        self.definition_ids = self.head_ids + self.part(def_text) if chat else tuple(tokenize(def_text, bos=True))
        self.tail_ids = tuple(tokenize(chat.tail, special=True)) if chat else ()
        self.definition = def_text
        self.label_ids = []
        for lab in labels:
            ids = tuple(tokenize(fmt.label_prefix + lab))
            if full and eos is not None:
                ids += (eos,)
            self.label_ids.append(ids)
        self.label_ids = tuple(self.label_ids)

    def part(self, text: str) -> tuple[int, ...]:
        if text not in self._cache:
            self._cache[text] = tuple(self._tokenize(text))
        return self._cache[text]

    def prompt(self, demos: Sequence[tuple[str, str]], query: str) -> tuple[int, ...]:
        """Ids of definition + demonstrations (input, label) + query."""
        ids = list(self.definition_ids)
        for text, label in demos:
            ids += self.part(demonstration_text(self.fmt, text, label))
        ids += self.part(query_text(self.fmt, query))
        ids += self.tail_ids
        return tuple(ids)

    def text(self, demos: Sequence[tuple[str, str]], query: str) -> str:
        """The prompt as text, for display."""
        head = self.chat.head if self.chat else ""
        tail = self.chat.tail if self.chat else ""
        body = "".join(demonstration_text(self.fmt, t, lab) for t, lab in demos)
        return head + self.definition + body + query_text(self.fmt, query) + tail


def shared_first_tokens(label_ids: Sequence[Sequence[int]], labels: Sequence[str]) -> tuple[str, str] | None:
    """Two labels whose continuations start with the same token, if any."""
    seen: dict[int, str] = {}
    for ids, lab in zip(label_ids, labels):
        if ids[0] in seen:
            return seen[ids[0]], lab
        seen[ids[0]] = lab
    return None


def demo_pairs(demos: Sequence[Example], labels: Sequence[str]) -> list[tuple[str, str]]:
    return [(d.text, labels[d.label]) for d in demos]
