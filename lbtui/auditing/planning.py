"""What a run is before it is scored: its example sets, its key in the store, and the
token ids of every input (whole prompt texts, checked against the context), rebuilt
the same way for a resume or a classifier."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..analysis.results import METHOD_VERSION
from ..backends.base import DEFAULT_SCORING, SCORING, SCORING_MODES, Backend, Request
from ..backends.layout import common_prefix
from ..errors import PromptTooLong, RunError, UserError
from ..models import ModelSpec
from ..store import Store
from ..tasks.taskfile import DataOptions
from ..types import Task
from . import examples as exsets
from .prompts import ChatWrap, PromptBuilder, chat_wrap, demo_pairs, shared_first_tokens


def evaluation_order(items: list["Item"]) -> list["Item"]:
    """The order a run's inputs are scored in: set by set as planned (the phases the
    progress line names), each set's prompts sorted by their token ids. Consecutive
    prompts then share their longest common prefixes, so a backend that keeps what a
    prompt shares with the previous one evaluates each token of the prompts' trie once
    (emotions, k = 8: 3,814 -> 3,204 rows for 3,018 needed; SST-2: 8,410 -> 8,268 for
    8,244). Scores do not depend on the order: they are those of whole prompts."""
    out: list[Item] = []
    for _, group in itertools.groupby(items, key=lambda it: it.set):
        out += sorted(group, key=lambda it: it.prompt)
    return out


def planned_inputs(p: "Planned") -> int:
    """How many inputs a run scores, known before its prompts are tokenized."""
    s = p.sets
    return len(s.cc) + len(s.dc) + len(s.bias) + len(s.test) + (len(s.demos) if p.shots >= 2 else 0)


@dataclass(frozen=True)
class Item:
    set: str
    idx: int
    example_id: str
    text: str
    gold: int | None
    prompt: tuple[int, ...]
    labels: tuple[tuple[int, ...], ...]  # each label's scored ids after this prompt
    prompt_text: str = ""  # the whole prompt, as tokenized

    @property
    def request(self) -> Request:
        return Request(self.prompt, self.labels)


@dataclass
class Planned:
    """One run: configuration, example sets, and (once a backend is loaded) its items."""

    model: ModelSpec
    task: Task
    shots: int
    seed: int
    scoring: str
    limit: int
    sets: exsets.ExampleSets
    order: int = 0  # which ordering of the seed's demonstrations (0: as drawn)
    data: DataOptions | None = None  # how the task's data was read (recorded, so the run can be rebuilt)
    key: str = ""
    items: list[Item] = field(default_factory=list)
    prefix_text: str = ""


def run_key(model_sha: str, p: Planned) -> str:
    fields = {
        "model": model_sha,
        "task": p.task.content_hash,
        "shots": p.shots,
        "seed": p.seed,
        "scoring": p.scoring,
        "limit": p.limit,
        "n_bias": len(p.sets.bias),
        "chat": p.model.chat_template,
        "method": METHOD_VERSION,
    }
    if p.order:  # only reorderings add the field, so drawn-order runs keep the keys they always had
        fields["order"] = p.order
    blob = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def plan(
    models: Sequence[ModelSpec],
    tasks: Sequence[Task],
    shots: Sequence[int],
    seeds: Sequence[int],
    *,
    limit: int = exsets.DEFAULT_LIMIT,
    scoring: str = DEFAULT_SCORING,
    orders: int = 1,
    data: DataOptions | None = None,
) -> list[Planned]:
    """Every (model, task, shots, seed, ordering), with its example sets: ``orders``
    orderings of each seed's demonstrations (as many as exist for small k). Checks all
    options before anything is loaded or written."""
    if scoring not in SCORING_MODES:
        raise UserError("--scoring", f"must be one of {', '.join(SCORING_MODES)}, got {scoring!r}")
    if not shots:
        raise UserError("--shots", "give at least one number of shots")
    if not seeds:
        raise UserError("--seeds", "give at least one seed")
    if orders < 1:
        raise UserError("--orders", f"must be >= 1, got {orders}")
    plans = []
    for model in models:
        for task in tasks:
            for k in shots:
                for seed in seeds:
                    for order in range(len(exsets.orderings(k, seed, orders))):
                        sets = exsets.build(task, shots=k, seed=seed, limit=limit, order=order)
                        if not (data and data.allow_duplicates):
                            refuse_leaks(task, sets, k, seed)
                        plans.append(Planned(model, task, k, seed, scoring, limit, sets, order, data))
    return plans


def repeated_texts(task: Task) -> tuple[int, str | None]:
    """Inputs of a task (pool and test) whose text another input has, and one of their ids."""
    seen: dict[str, str] = {}
    repeats = []
    for e in (*task.pool, *task.test):
        if e.text in seen:
            repeats.append(e.id)
        else:
            seen[e.text] = e.id
    return len(repeats), (repeats[0] if repeats else None)


def refuse_leaks(task: Task, sets, k: int, seed: int) -> None:
    """A test input whose text is one of the run's demonstrations would be scored with its
    answer in the prompt: refused unless asked for (--allow-duplicates)."""
    shown = {d.text: d.id for d in sets.demos}
    leaked = [e for e in sets.test if e.text in shown]
    if leaked:
        raise UserError(
            f"{task.source}",
            f"{len(leaked)} test input(s) of k={k}, seed={seed} repeat a demonstration's"
            f" text (test {leaked[0].id} = demonstration {shown[leaked[0].text]}): the"
            " prompt would hold the answer; remove the duplicates from the data or pass"
            " --allow-duplicates",
        )


def data_json(data: DataOptions | None) -> dict | None:
    if data is None:
        return None
    d = dataclasses.asdict(data)
    d["data_dir"] = str(data.data_dir) if data.data_dir else None
    return d


def rebuild(store: Store, run_id: int) -> Planned:
    """A stored run as it was planned: its model, task file (read with the data options it
    was read with), label words, shots, seed, ordering, test size and scoring."""
    from .. import models as model_registry
    from ..tasks import catalog
    from ..tasks.verbalizers import base_name, variant

    run = store.run(run_id)
    source, content_hash = store.task_origin(run["task_id"])
    d = dict(run.get("data_options") or {})
    if d.get("data_dir"):
        d["data_dir"] = Path(d["data_dir"])
    data = DataOptions(**d) if d else None
    task = catalog.load(source, data)
    if base_name(run["task_name"]) != run["task_name"]:  # a label-word variant of the task
        task = variant(task, tuple(run["labels"]))
    if task.content_hash != content_hash:
        raise RunError(f"run {run_id}'s task ({source}) has changed since it was scored; start it anew")
    registered = model_registry.registry()
    if run["model_name"] in registered:
        spec = registered[run["model_name"]]
    else:
        spec = model_registry.resolve(store.model_path(run["model_id"]))
    sets = exsets.build(task, shots=run["shots"], seed=run["seed"], limit=run["limit_"], order=run["demo_order"])
    return Planned(spec, task, run["shots"], run["seed"], run["scoring"], run["limit_"], sets, run["demo_order"], data)


def chat_for(p: Planned, backend) -> ChatWrap | None:
    """The chat wrapping a run asks for, from the model's GGUF metadata."""
    if not p.model.chat_template:
        return None
    template = (backend.metadata or {}).get("tokenizer.chat_template")
    if not template:
        raise UserError(f"models.{p.model.name}.chat_template", "the model's GGUF has no chat template")
    try:
        return chat_wrap(template)
    except Exception as e:  # a template from a file we do not control
        raise UserError(
            f"models.{p.model.name}.chat_template", f"cannot render the model's chat template: {e}"
        ) from None


def prepare(p: Planned, backend: Backend) -> None:
    """Token ids of every input of the run, from whole prompt texts; refuse what cannot be
    scored (full mode without an end token, shared first tokens, prompts too long)."""
    task, sets = p.task, p.sets
    pb = _builder(p, backend)
    demos = demo_pairs(sets.demos, task.labels)
    items: list[Item] = []

    def add(set_name: str, idx: int, ex_id: str, text: str, gold: int | None, demo_list) -> None:
        enc = pb.encode(demo_list, text)
        if not SCORING[p.scoring].whole:
            clash = shared_first_tokens(enc.labels, task.labels)
            if clash:
                raise UserError(
                    "--scoring",
                    f"labels {clash[0]!r} and {clash[1]!r} of task {task.name} share their first token;"
                    " first-token scoring cannot tell them apart (use --scoring full)",
                )
        items.append(Item(set_name, idx, ex_id, text, gold, enc.prompt, enc.labels, enc.text))

    # Ordered so that consecutive prompts share the longest prefixes.
    for i, text in enumerate(sets.cc):
        add("cc", i, f"cc-{i}", text, None, demos)
    for i, text in enumerate(sets.dc):
        add("dc", i, f"dc-{i}", text, None, demos)
    for i, ex in enumerate(sets.bias):
        add("bias", i, ex.id, ex.text, ex.label, demos)
    for i, ex in enumerate(sets.test):
        add("test", i, ex.id, ex.text, ex.label, demos)
    if p.shots >= 2:
        # Last left out first: prompt j then shares demonstrations 0..j-1 with the one
        # before it (the full set, or prompt j+1), so each is evaluated from demonstration j on.
        for j in reversed(range(len(sets.demos))):
            ex = sets.demos[j]
            add("looc", j, ex.id, ex.text, ex.label, demos[:j] + demos[j + 1 :])
    _check_fit(items, p, backend)
    p.items = items
    p.prefix_text = pb.text(demos, "{input}")


def _builder(p: Planned, backend: Backend) -> PromptBuilder:
    """The run's prompt builder; refused at once when full mode has no end token or when
    even a prompt with no demonstrations and an empty input (the least any prompt of the
    run needs: a chat template or definition too long for n_ctx) does not fit."""
    task = p.task
    if SCORING[p.scoring].whole and backend.eos is None:
        raise UserError(
            "--scoring",
            f"{p.model.name} has no end-of-sequence token here (a server entry needs a local"
            " GGUF for its tokenizer); full scoring needs it: use --scoring first-token",
        )
    pb = PromptBuilder(
        backend.tokenize,
        task.prompt,
        task.definition,
        task.labels,
        eos=backend.eos,
        full=SCORING[p.scoring].whole,
        chat=chat_for(p, backend),
        where=task.source,
    )
    bare = pb.encode([], "")
    least = len(bare.prompt) + max(len(c) for c in bare.labels)
    if least > backend.n_ctx:
        wrap = pb.chat
        raise PromptTooLong(
            f"{task.source}: prompt",
            f"no prompt fits: without demonstrations or input it needs {least} tokens, more"
            f" than n_ctx {backend.n_ctx} of {p.model.name}"
            + (f" (the chat template adds {len(wrap.head) + len(wrap.tail):,} characters)" if wrap else ""),
        )
    return pb


def _check_fit(items: list[Item], p: Planned, backend: Backend) -> None:
    """Every prompt with its longest label fits n_ctx, or one line naming the worst."""
    too_long = [it for it in items if len(it.prompt) + max(len(c) for c in it.labels) > backend.n_ctx]
    if too_long:
        worst = max(too_long, key=lambda it: len(it.prompt))
        need = len(worst.prompt) + max(len(c) for c in worst.labels)
        raise PromptTooLong(
            f"{p.task.source}: {worst.set} example {worst.example_id}",
            f"{len(too_long)} of {len(items)} prompts do not fit; this one needs {need} tokens,"
            f" {need - backend.n_ctx} more than n_ctx {backend.n_ctx} of {p.model.name}"
            f" (k={p.shots}); use fewer shots (drop demonstrations) or a larger n_ctx in models.toml",
        )


def label_variants(items: Sequence[Item]) -> list[list[list[int]]]:
    """The distinct per-label id lists a run scores, in order of first use: one variant
    unless a prompt's end tokenizes differently with some inputs."""
    out: list[list[list[int]]] = []
    for it in items:
        v = [list(ids) for ids in it.labels]
        if v not in out:
            out.append(v)
    return out


def shared_prefix(items: Sequence[Item], item: Item) -> int:
    """How many leading ids ``item`` shares with every prompt that uses the run's full set
    of demonstrations (for a leave-one-out prompt: with the first of them). This is the
    part a backend evaluates once and reuses from its KV cache."""
    main = [it.prompt for it in items if it.set != "looc"]
    if item.set == "looc":
        return common_prefix(item.prompt, main[0]) if main else len(item.prompt)
    n = len(item.prompt)
    for other in main:
        n = min(n, common_prefix(item.prompt, other))
    return n
