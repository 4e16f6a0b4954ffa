"""What exactly a run feeds the model for one input: `lbtui prompt` and the app's prompt
view. Only the model's vocabulary is loaded (llama.cpp's vocab_only), so this is instant
and works on vocabulary-only GGUF files."""

from __future__ import annotations

from pathlib import Path

from ..backends.base import DEFAULT_SCORING, SCORING
from ..backends.layout import common_prefix
from ..errors import RunError, UserError
from ..models import ModelSpec
from ..store import SETS
from ..types import Task
from . import examples as exsets
from .planning import Item, Planned, prepare, shared_prefix
from .prompts import encode_text, with_period


def _view(vocab, *, text: str, prompt, label_ids, labels, label_prefix: str, prefix_len: int, **meta) -> dict:
    """The view's one shape (`lbtui prompt --json`): run fields, text, ids and pieces."""
    return {
        **meta,
        "text": text,
        "prompt_ids": list(prompt),
        "prompt_pieces": [vocab.piece(t) for t in prompt],
        "prefix_len": prefix_len,
        "labels": [
            {"label": lab, "prefix": label_prefix, "ids": list(ids), "pieces": [vocab.piece(t) for t in ids]}
            for lab, ids in zip(labels, label_ids)
        ],
    }


def _pick(items: list[Item], set_name: str, index: int | None, example_id: str | None) -> Item:
    # The stored order (idx), as export and the store number a set: evaluation runs the
    # leave-one-out prompts in another order, which --index must not follow.
    pool = sorted((it for it in items if it.set == set_name), key=lambda it: it.idx)
    if not pool:
        why = " (leave-one-out needs k >= 2)" if set_name == "looc" else ""
        raise UserError("--set", f"the run has no {set_name} inputs{why}")
    if example_id is not None:
        for it in pool:
            if it.example_id == example_id:
                return it
        raise UserError("--example", f"no {set_name} input has id {example_id!r} (first: {pool[0].example_id!r})")
    index = 0 if index is None else index
    if not 0 <= index < len(pool):
        raise UserError("--index", f"the {set_name} set has {len(pool)} inputs (0..{len(pool) - 1}), got {index}")
    return pool[index]


def inspect(
    spec: ModelSpec,
    task: Task,
    *,
    shots: int = 0,
    seed: int = 0,
    order: int = 0,
    set_name: str = "test",
    index: int | None = None,
    example_id: str | None = None,
    scoring: str = DEFAULT_SCORING,
    limit: int = exsets.DEFAULT_LIMIT,
    vocab=None,
) -> dict:
    """The prompt of one input of the run (task, model, k, seed, ordering) as lbtui scores
    it: text, ids and pieces, where the KV-cache prefix ends, and each label's scored ids.
    ``vocab`` (a loaded tokenizer) is borrowed; else the model's vocabulary is loaded."""
    from ..backends import load_vocab

    if set_name not in SETS:
        raise UserError("--set", f"must be one of {', '.join(SETS)}, got {set_name!r}")
    if set_name == "test" and index is not None:
        limit = max(limit, index + 1)
    if set_name == "test" and example_id is not None:
        limit = len(task.test)
    sets = exsets.build(task, shots=shots, seed=seed, limit=limit, order=order)
    p = Planned(spec, task, shots, seed, scoring, limit, sets, order)
    own = vocab is None
    if own:
        path = spec.locate()
        if path is None:
            raise UserError("--model", f"{spec.name} names no local GGUF to read its vocabulary from")
        vocab = load_vocab(
            Path(path), n_ctx=spec.n_ctx, where=f"{spec.source}: models.{spec.name}" if spec.source else "--model"
        )
    try:
        prepare(p, vocab)
        item = _pick(p.items, set_name, index, example_id)
        return _view(
            vocab,
            model=spec.name,
            task=task.name,
            shots=shots,
            seed=seed,
            order=order,
            set=set_name,
            example_id=item.example_id,
            scoring=scoring,
            text=item.prompt_text,
            prompt=item.prompt,
            label_ids=item.labels,
            labels=task.labels,
            label_prefix=task.prompt.label_prefix,
            prefix_len=shared_prefix(p.items, item),
        )
    finally:
        if own:
            vocab.close()


def from_stored(run: dict, vocab, query: str, example_id: str = "") -> dict:
    """The same view for a stored run (the app's prompt view): the run's recorded prompt
    text with ``query`` in the query slot, tokenized by the run's model vocabulary. The
    prefix marker is where it parts from the prompts of two content-free inputs."""
    template = run.get("prompt_prefix") or ""
    slot = template.rfind("{input}")  # the query's slot is the last one
    if slot < 0:
        raise RunError(f"run {run['id']} has no recorded prompt")

    def text_for(x: str) -> str:
        return template[:slot] + with_period(x) + template[slot + len("{input}") :]

    special = bool(run.get("chat_template"))
    prefix = (run.get("prompt_format") or {}).get("label_prefix", " ")
    enc = encode_text(
        vocab.tokenize,
        text_for(query),
        run["labels"],
        label_prefix=prefix,
        eos=vocab.eos if SCORING[run["scoring"]].whole else None,
        special=special,
        where=f"run {run['id']}",
    )
    others = [vocab.tokenize(text_for(x), bos=True, special=special) for x in ("N/A", "[MASK]")]
    return _view(
        vocab,
        model=run["model_name"],
        task=run["task_name"],
        shots=run["shots"],
        seed=run["seed"],
        order=run.get("demo_order") or 0,
        set="test",
        example_id=example_id,
        scoring=run["scoring"],
        text=enc.text,
        prompt=enc.prompt,
        label_ids=enc.labels,
        labels=run["labels"],
        label_prefix=prefix,
        prefix_len=min(common_prefix(enc.prompt, o) for o in others),
    )


def render(view: dict) -> str:
    """The view as plain text: the prompt, its tokens with the KV-prefix marker, the labels."""
    lines = [
        f"{view['model']} on {view['task']}, k={view['shots']}, seed {view['seed']}, order {view['order']},"
        f" {view['set']} input {view['example_id']}, {view['scoring']} scoring",
        "",
        view["text"],
        "",
    ]
    n = view["prefix_len"]
    lines.append(
        f"prompt: {len(view['prompt_ids'])} tokens; the first {n} are shared with the run's other prompts"
        " (evaluated once, kept in the KV cache)"
    )
    for i, (tid, piece) in enumerate(zip(view["prompt_ids"], view["prompt_pieces"])):
        if i == n:
            lines.append("  ---- KV-cache prefix ends here ----")
        lines.append(f"  {i:5d}  {tid:7d}  {piece!r}")
    lines.append("labels (scored after the prompt):")
    for lab in view["labels"]:
        toks = ", ".join(f"{t} {p!r}" for t, p in zip(lab["ids"], lab["pieces"]))
        lines.append(f"  {lab['label']!r} (text {lab['prefix'] + lab['label']!r}): {toks}")
    return "\n".join(lines)
