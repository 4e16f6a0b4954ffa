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
import sys
import time
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


# A chat template comes from a GGUF file: untrusted. It renders in Jinja's sandbox, within
# a time budget, and may not build strings past a size (a template that loops 10^10 times
# or multiplies a string by 3e9 is refused in one line instead of hanging or eating RAM).
RENDER_SECONDS = 2.0
MAX_TEXT = 1_000_000


def chat_wrap(template: str, *, bos_token: str = "", eos_token: str = "") -> ChatWrap:
    """Render a chat template (from GGUF metadata: untrusted) in Jinja's sandbox around a
    marker, and split it there."""
    marker = "\x00LBTUI-MESSAGE\x00"
    env = _bounded_env()

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    compiled = env.from_string(template)
    text = _within_time(
        lambda: compiled.render(
            messages=[{"role": "user", "content": marker}],
            add_generation_prompt=True,
            bos_token=bos_token,
            eos_token=eos_token,
        )
    )
    if len(text) > MAX_TEXT:
        raise ValueError(f"the chat template renders {len(text)} characters (at most {MAX_TEXT})")
    if text.count(marker) != 1:
        raise ValueError("the chat template does not place the user message exactly once")
    head, tail = text.split(marker)
    return ChatWrap(head, tail)


def _too_big(*values) -> bool:
    return any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_TEXT for v in values)


def _bounded_env():
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "+", "%"])

        def call_binop(self, context, operator, left, right):
            sized = [v for v in (left, right) if isinstance(v, (str, list, tuple))]
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_TEXT:
                        raise SecurityError("the template builds a string or list past the size limit")
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError("the template raises to a power past the limit")
            if operator == "+" and len(sized) == 2 and len(left) + len(right) > MAX_TEXT:
                raise SecurityError("the template builds a string past the size limit")
            if operator == "%" and isinstance(left, str) and re.search(r"%[-+ #0]*\d{7,}", left):
                raise SecurityError("the template formats a field past the size limit")
            return super().call_binop(context, operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
            if _too_big(*args, *kwargs.values()):
                raise SecurityError("the template calls a function with a number past the size limit")
            return super().call(__context, __obj, *args, **kwargs)

    env = Bounded(trim_blocks=True, lstrip_blocks=True)
    for name in ("center", "indent", "wordwrap", "truncate", "batch", "slice", "format"):
        env.filters[name] = _sized_filter(env.filters[name], SecurityError)
    return env


def _sized_filter(f, error):
    def checked(*args, **kwargs):
        if _too_big(*args[1:], *kwargs.values()):
            raise error("the template asks a filter for a width past the size limit")
        return f(*args, **kwargs)

    checked.__name__ = getattr(f, "__name__", "filter")
    for attr in ("jinja_pass_arg",):  # Jinja reads how to call a filter from this mark
        if hasattr(f, attr):
            setattr(checked, attr, getattr(f, attr))
    return checked


def _within_time(render):
    """Run ``render`` and stop it (TimeoutError) past RENDER_SECONDS: Jinja templates run as
    Python code, so a trace function sees every line they execute."""
    deadline = time.monotonic() + RENDER_SECONDS

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the chat template did not render within {RENDER_SECONDS:g} s")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return render()
    finally:
        sys.settrace(previous)


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
        self,
        tokenize: Callable[..., list[int]],
        fmt: PromptFormat,
        definition: str,
        labels: Sequence[str],
        *,
        eos: int | None,
        full: bool,
        chat: ChatWrap | None = None,
        where: str = "task",
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
        return encode_text(
            self._tokenize,
            self.text(demos, query),
            self.labels,
            label_prefix=self.fmt.label_prefix,
            eos=self.eos,
            special=self.chat is not None,
            where=self.where,
        )


def encode_text(
    tokenize: Callable[..., list[int]],
    text: str,
    labels: Sequence[str],
    *,
    label_prefix: str,
    eos: int | None,
    special: bool,
    where: str,
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
