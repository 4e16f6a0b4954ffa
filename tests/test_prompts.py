import pytest

from jinja2.exceptions import SecurityError

from lbtui.backends.fake import FakeBackend
from lbtui.auditing.prompts import ChatWrap, PromptBuilder, chat_wrap, shared_first_tokens, with_period
from lbtui.types import PromptFormat


def test_period_rule_is_the_references():
    """Python's string.punctuation (ASCII), after stripping; an empty input gets a period
    because the reference looks at the text after "Input: "."""
    assert with_period("great movie") == "great movie."
    assert with_period("great movie!") == "great movie!"
    assert with_period('he said "no"') == 'he said "no"'
    assert with_period("  spaced  ") == "spaced."
    assert with_period("") == "."
    assert with_period("N/A") == "N/A."
    assert with_period("[MASK]") == "[MASK]"
    assert with_period("fin…") == "fin…."  # not ASCII punctuation
    assert with_period("¿qué?") == "¿qué?"


def test_content_free_empty_input_reads_input_period():
    fb = FakeBackend()
    pb = PromptBuilder(fb.tokenize, PromptFormat(), "Classify", ["a", "b"], eos=1, full=True)
    assert pb.text([], "") == "Classify.\n\nInput: .\n\nOutput:"


def test_an_input_holding_template_slots_stays_as_written():
    fb = FakeBackend()
    pb = PromptBuilder(fb.tokenize, PromptFormat(), "Classify", ["neg", "pos"], eos=1, full=True)
    text = pb.text([("say {label} and {input}", "pos")], "x")
    assert "Input: say {label} and {input}\n Output: pos.\n\n" in text  # "}" is punctuation


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


def test_whole_strings_are_tokenized_and_prompts_share_a_prefix():
    fb = FakeBackend()
    pb = PromptBuilder(fb.tokenize, PromptFormat(), "Define", ["a", "b"], eos=1, full=True)
    demos = [("x", "a"), ("y", "b")]
    e1, e2 = pb.encode(demos, "first"), pb.encode(demos, "second")
    assert e1.prompt == tuple(fb.tokenize(pb.text(demos, "first"), bos=True))
    head = pb.text(demos, "")
    shared = head[: head.rindex("Input:")]
    n = len(fb.tokenize(shared, bos=True))
    assert e1.prompt[:n] == e2.prompt[:n]
    for lab, ids in zip(["a", "b"], e1.labels):
        whole = fb.tokenize(e1.text + " " + lab, bos=True)
        assert ids == tuple(whole[len(e1.prompt) :]) + (1,)  # EOS ends a full-mode continuation
    first = PromptBuilder(fb.tokenize, PromptFormat(), "Define", ["a", "b"], eos=1, full=False).encode(demos, "first")
    assert first.labels == tuple(e[:-1] for e in e1.labels)


def test_a_prompt_whose_end_merges_with_the_label_is_refused():
    """A query template ending in a space: the space and the label tokenize together, so
    no token sequence is the label's alone."""
    import re
    from lbtui.errors import TaskError

    def tok(text, bos=False, special=False):  # a tokenizer that keeps " word" as one piece
        return [hash(p) % 997 for p in re.findall(r" ?\S+| ", text)]

    fmt = PromptFormat(query="Input: {input}\n\nOutput: ", label_prefix="")
    pb = PromptBuilder(tok, fmt, "Define", ["a", "b"], eos=1, full=True, where="t.toml")
    with pytest.raises(TaskError, match="t.toml: prompt.*merges with label 'a'"):
        pb.encode([], "x")


def test_full_mode_needs_an_end_token():
    fb = FakeBackend()
    with pytest.raises(ValueError, match="end-of-sequence"):
        PromptBuilder(fb.tokenize, PromptFormat(), "Define", ["a", "b"], eos=None, full=True)


def test_shared_first_tokens():
    assert shared_first_tokens([(5, 6), (5, 7)], ["ab", "ac"]) == ("ab", "ac")
    assert shared_first_tokens([(5,), (6,)], ["a", "b"]) is None


def test_chat_template_renders_in_a_sandbox():
    wrap = chat_wrap("{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}<|assistant|>")
    assert wrap.head == "<|user|>" and wrap.tail == "<|end|><|assistant|>"
    with pytest.raises(SecurityError, match="access to attribute '__class__' of 'str' object is unsafe"):
        chat_wrap("{{ ''.__class__.__mro__[1].__subclasses__() }}{{ messages[0]['content'] }}")


@pytest.mark.parametrize(
    "template, fragment",
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ messages[0].content }}",
            "did not render within 2 s",
        ),
        ("{{ 'x' * 3000000000 }}{{ messages[0].content }}", "past the size limit"),
        ("{{ 3000000000 * 'x' }}{{ messages[0].content }}", "past the size limit"),
        ("{{ 'x'|center(3000000000) }}{{ messages[0].content }}", "past the size limit"),
        ("{{ '%3000000000s' % 'a' }}{{ messages[0].content }}", "past the size limit"),
        ("{{ 2 ** 100000000 }}{{ messages[0].content }}", "power past the limit"),
    ],
)
def test_a_hostile_chat_template_is_refused_in_one_line_instead_of_hanging(template, fragment):
    from lbtui.auditing.planning import chat_for
    from lbtui.errors import UserError

    class Backend:
        metadata = {"tokenizer.chat_template": template}

    class Spec:
        name, chat_template = "m", True

    class Plan:
        model = Spec()

    with pytest.raises(
        UserError, match=f"models.m.chat_template: cannot render the model's chat template: .*{fragment}"
    ):
        chat_for(Plan(), Backend())


def test_a_real_chat_template_renders_as_before():
    ok = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    assert chat_wrap(ok) == ChatWrap("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")
