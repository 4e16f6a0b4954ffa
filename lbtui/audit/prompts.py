"""Prompt text and token ids, as docs/METHODS.md defines them.

A prompt is built as one text (definition, demonstrations, query) and tokenized as one
string, with BOS where the model adds one: that is what the reference scores. Label j's
tokens are those that follow the prompt's tokens in the tokenization of
prompt + " " + label_j (plus the end token in full mode). Tokenizing the parts of a
prompt separately and joining the ids would give other tokens on most model families
(a space piece at every part on SentencePiece vocabularies, "\\n\\n" split differently
at a seam on byte-level BPE). Prompts of one run still share their leading ids up to
the query, which is what a backend reuses from its KV cache.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Callable, Sequence

from ..errors import TaskError
from ..types import Example, PromptFormat


_SLOT = re.compile(r"\{(definition|input|label)\}")


def with_period(text: str) -> str:
    """The reference's period rule: strip, then add a period unless the text ends in one of
    Python's string.punctuation (ASCII). An empty text becomes "." (the rule looks at the
    text after "Input: ", whose last character is then a space)."""
    text = text.strip()
    if text and text[-1] in string.punctuation:
        return text
    return text + "."


def fill(template: str, **values: str) -> str:
    """Substitute {definition}, {input} and {label} in one pass, so that an input holding
    the literal text "{label}" stays as written."""
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def definition_text(fmt: PromptFormat, definition: str) -> str:
    # An empty definition stays empty (no lone period); the reference has no such task.
    return fill(fmt.definition, definition=with_period(definition) if definition.strip() else "")


def demonstration_text(fmt: PromptFormat, text: str, label: str) -> str:
    return fill(fmt.demonstration, input=with_period(text), label=with_period(label))


def query_text(fmt: PromptFormat, text: str) -> str:
    return fill(fmt.query, input=with_period(text))


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


@dataclass(frozen=True)
class Encoded:
    """One prompt's ids and, per label, the ids scored after it."""

    text: str
    prompt: tuple[int, ...]
    labels: tuple[tuple[int, ...], ...]


class PromptBuilder:
    """Texts and token ids of a run's prompts.

    ``tokenize(text, bos=..., special=...)`` is the model's tokenizer. With a chat
    template the template's special tokens (and so any in the text) are parsed as
    specials, as a chat model reads them."""

    def __init__(
        self, tokenize: Callable[..., list[int]], fmt: PromptFormat, definition: str, labels: Sequence[str],
        *, eos: int | None, full: bool, chat: ChatWrap | None = None, where: str = "task",
    ):
        self._tokenize = tokenize
        self.fmt = fmt
        self.chat = chat
        self.labels = tuple(labels)
        self.definition = definition_text(fmt, definition)
        self.eos = eos if full else None
        self.where = where
        if full and eos is None:
            raise ValueError("full scoring needs the model's end-of-sequence token")

    def text(self, demos: Sequence[tuple[str, str]], query: str) -> str:
        """The whole prompt: chat head + definition + demonstrations (input, label) + query
        + chat tail."""
        head = self.chat.head if self.chat else ""
        tail = self.chat.tail if self.chat else ""
        body = "".join(demonstration_text(self.fmt, t, lab) for t, lab in demos)
        return head + self.definition + body + query_text(self.fmt, query) + tail

    def encode(self, demos: Sequence[tuple[str, str]], query: str) -> Encoded:
        """The prompt's ids and every label's continuation ids, from whole strings."""
        return encode_text(self._tokenize, self.text(demos, query), self.labels, label_prefix=self.fmt.label_prefix,
                           eos=self.eos, special=self.chat is not None, where=self.where)


def encode_text(
    tokenize: Callable[..., list[int]], text: str, labels: Sequence[str], *, label_prefix: str, eos: int | None,
    special: bool, where: str,
) -> Encoded:
    """``text``'s ids (with BOS where the model adds one) and, per label, the ids after
    them in tokenize(text + label_prefix + label), plus ``eos`` when given (full mode)."""
    prompt = tuple(tokenize(text, bos=True, special=special))
    n = len(prompt)
    conts = []
    for lab in labels:
        whole = tuple(tokenize(text + label_prefix + lab, bos=True, special=special))
        if whole[:n] != prompt or len(whole) == n:
            # The reference would score whatever follows position n; here the prompt's
            # last token merged with the label, so no token sequence is "the label".
            raise TaskError(
                f"{where}: prompt",
                f"the prompt's last token merges with label {lab!r} when tokenized together"
                f" (prompt ends {text[-12:]!r}, label prefix {label_prefix!r}); end the query"
                " template without trailing white space and put the space in label_prefix",
            )
        conts.append(whole[n:] + ((eos,) if eos is not None else ()))
    return Encoded(text, prompt, tuple(conts))


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
