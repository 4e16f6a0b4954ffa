"""The batch layout that keeps every token in the KV-cell lane it has when its prompt
is evaluated alone (pure; the real-model tests check the numbers)."""

from hypothesis import given, strategies as st

from lbtui.backends.layout import ALIGN, Want, query_rows, query_segments, rows_of


def check_lanes(rows):
    """Row r of a batch starting on a group boundary lands in cell (base + r): every
    real token must sit in the lane of its position, and every (sequence, group of
    positions) in one group of cells."""
    assert len(rows) % ALIGN == 0
    groups = {}
    for r, (tok, pos, seqs, _) in enumerate(rows):
        if tok is None:
            continue
        assert r % ALIGN == pos % ALIGN, (r, pos)
        for s in seqs:
            assert groups.setdefault((s, pos // ALIGN), r // ALIGN) == r // ALIGN


prompts = st.lists(st.integers(1, 999), min_size=1, max_size=40)
conts = st.lists(st.lists(st.integers(1, 999), min_size=1, max_size=4), min_size=1, max_size=5)


@given(shared=st.integers(0, 30), prompt=prompts, conts=conts, mode=st.sampled_from(["first-token", "full"]))
def test_segments_keep_lanes_and_read_every_needed_logit(shared, prompt, conts, mode):
    prompt = [7] * shared + prompt
    prefix = min(shared, len(prompt) - 1)
    prefix -= prefix % ALIGN
    seqs = list(range(1, len(conts) + 1))
    segs = query_segments(0, prompt, conts, prefix, seqs, mode=mode)
    rows = rows_of(segs)
    check_lanes(rows)
    assert len(rows) == query_rows(len(prompt), [len(c) for c in conts], prefix, mode)
    n = len(prompt)
    held = {s: dict(enumerate(prompt[:prefix])) for s in seqs}  # what each sequence's cells hold
    for seg in segs:
        for i, tok in enumerate(seg.tokens):
            for s in seg.seqs:
                assert seg.start + i not in held[s]  # nothing evaluated twice in a sequence
                held[s][seg.start + i] = tok
    wants = {}
    for seg in segs:
        for off, w in seg.wants.items():
            pos = seg.start + off
            assert pos == n - 1 + w.step  # the row predicting continuation token `step`
            for lab in range(len(conts)) if w.label is None else [w.label]:
                s = seqs[lab] if mode == "full" and w.label is not None else seg.seqs[0]
                # ...has seen exactly the prompt and that label's earlier tokens
                assert [held[s][p] for p in range(pos + 1)] == list(prompt) + list(conts[lab][: w.step])
                wants.setdefault(lab, set()).add(w.step)
    assert wants == {lab: set(range(1 if mode == "first-token" else len(c))) for lab, c in enumerate(conts)}


def test_first_token_pack_of_two_queries():
    a = query_segments(0, list(range(1, 20)), [(5,), (6,)], 16, [1], mode="first-token")
    b = query_segments(1, list(range(1, 30)), [(5,), (6,)], 16, [2], mode="first-token")
    rows = rows_of(a + b)
    check_lanes(rows)
    assert len(rows) == 8 + 16
    assert [r[3] for r in rows if r[3]] == [Want(0, None, 0), Want(1, None, 0)]


def test_full_mode_copies_only_the_unaligned_tail_per_label():
    prompt = list(range(1, 21))  # 20 tokens after a prefix of 8: body 8..15, tail 16..19
    segs = query_segments(0, prompt, [(50, 2), (60, 61, 2)], 8, [1, 2], mode="full")
    body, first, second = segs
    assert (body.start, body.tokens, body.seqs) == (8, prompt[8:16], (1, 2))
    assert first.tokens == prompt[16:] + [50] and first.seqs == (1,)
    assert second.tokens == prompt[16:] + [60, 61] and second.seqs == (2,)
