import pytest

from lbtui.backends.fake import FakeBackend
from lbtui.prompts import PromptBuilder, chat_wrap, shared_first_tokens, with_period
from lbtui.types import PromptFormat


def test_period_rule():
    assert with_period("great movie") == "great movie."
    assert with_period("great movie!") == "great movie!"
    assert with_period('he said "no"') == 'he said "no"'
    assert with_period("") == ""


def test_prompt_text_is_the_sni_format():
    fb = FakeBackend()
    pb = PromptBuilder(fb.tokenize, PromptFormat(), "Classify the review", ["negative", "positive"], eos=1, full=True)
    text = pb.text([("Loved it", "positive"), ("Awful!", "negative")], "So so")
    assert text == (
        "Classify the review.\n\n"
        "Input: Loved it.\n Output: positive.\n\n"
        "Input: Awful!\n Output: negative.\n\n"
        "Input: So so.\n\nOutput:"
    )


def test_parts_are_tokenized_separately_and_share_a_prefix():
    fb = FakeBackend()
    pb = PromptBuilder(fb.tokenize, PromptFormat(), "Define", ["a", "b"], eos=1, full=True)
    demos = [("x", "a"), ("y", "b")]
    p1, p2 = pb.prompt(demos, "first"), pb.prompt(demos, "second")
    prefix = pb.prompt(demos, "")[: -len(pb.part("Input: \n\nOutput:"))]
    assert p1[: len(prefix)] == p2[: len(prefix)] == prefix
    assert pb.label_ids[0][-1] == 1  # EOS ends a full-mode continuation


def test_shared_first_tokens():
    assert shared_first_tokens([(5, 6), (5, 7)], ["ab", "ac"]) == ("ab", "ac")
    assert shared_first_tokens([(5,), (6,)], ["a", "b"]) is None


def test_chat_template_renders_in_a_sandbox():
    wrap = chat_wrap("{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}<|assistant|>")
    assert wrap.head == "<|user|>" and wrap.tail == "<|end|><|assistant|>"
    with pytest.raises(Exception):  # the sandbox refuses attribute escapes
        chat_wrap("{{ ''.__class__.__mro__[1].__subclasses__() }}{{ messages[0]['content'] }}")
