"""Classify new inputs as an audited run did, under the calibration its metrics used.

A ``Classifier`` holds one card (results/card.py): the run's prompt, labels, scoring mode
and fitted calibration. Each input is put in the run's query slot and tokenized whole
(auditing/prompts.py, as the engine does), scored by the model's backend at the run's
content address, and calibrated. With a store, an input scored before (by any run or
classification) is read back instead of evaluated, and new scores are kept under their
address. The sequential llama.cpp backend keeps what a prompt shares with the previous
one in its KV cache, so the run's prefix is evaluated once per process.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .. import __version__, models as model_registry
from ..analysis.calibration import mean_prior
from ..analysis.calibrations import Calibration
from ..analysis.metrics import predict, softmax
from ..analysis.results import METHOD_VERSION, method_mark
from ..auditing.engine import BATCH, checked_scores, numbers_key, score_address
from ..auditing.planning import chat_for, rebuild
from ..auditing.prompts import PromptBuilder, demo_pairs
from ..backends import load_backend
from ..backends.base import SCORING, Request
from ..errors import PromptTooLong, StorePathError, UserError
from ..models.gguf import check_gguf
from ..store import Store
from ..tasks.rows import render, template_fields
from ..types import PromptFormat
from . import card as cards
from .service import Results

BC_MIN_BATCH = 16  # --bc-prior batch: fewer inputs give too noisy a prior (the tables' BC uses the test set)
BC_PRIORS = ("test", "batch")

Input = str | Mapping[str, Any]


def card_from_run(
    results: Results, run_id: int, method: str, *, backend, model_path: Path | None, model_sha: str | None, spec
) -> dict:
    """The card of one finished run and method: its prompt, exactly as the engine built
    it, its calibration as the audit fitted it, and its audited numbers with intervals."""
    run = results.run(run_id)
    calibration = results.calibration(run_id, method)  # refuses a method that does not apply, with the reason
    p = rebuild(results.store, run_id)
    demos = demo_pairs(p.sets.demos, p.task.labels)
    chat = chat_for(p, backend)
    pb = PromptBuilder(
        backend.tokenize,
        p.task.prompt,
        p.task.definition,
        p.task.labels,
        eos=backend.eos,
        full=SCORING[p.scoring].whole,
        chat=chat,
        where=p.task.source,
    )
    prefix_text = pb.text(demos, "{input}")
    prefix = prefix_text[: prefix_text.index("{input}")]
    return {
        "kind": cards.KIND,
        "version": cards.CARD_VERSION,
        "model": _card_model(spec, model_path, model_sha),
        "task": {
            "name": run["task_name"],
            "version": p.task.version,
            "content_hash": p.task.content_hash,
            "input_template": p.task.input_template,
        },
        "prompt": {
            "format": p.task.prompt.as_dict(),
            "definition": p.task.definition,
            "demonstrations": [list(d) for d in demos],
            "chat_template": bool(p.model.chat_template),
            "prefix_text": prefix_text,
            "prefix_ids": list(backend.tokenize(prefix, bos=True, special=chat is not None)),
        },
        "labels": list(run["labels"]),
        "label_ids": (run.get("label_ids") or [[]])[0],
        "scoring": run["scoring"],
        "method": {"name": method, "calibration": calibration.to_json()},
        "audit": _card_audit(results, run, method),
    }


def _card_model(spec, model_path: Path | None, model_sha: str | None) -> dict[str, Any]:
    """Which model a card's numbers need: its identity, file and size, its servers."""
    model: dict[str, Any] = {"name": spec.name, "sha256": model_sha}
    if model_path is not None:
        model.update(file=model_path.name, size=model_path.stat().st_size)
    if spec.server:
        model.update(server=list(spec.server), server_model=spec.extra.get("server_model"))
    return model


def _card_audit(results: Results, run: dict, method: str) -> dict[str, Any]:
    """The audit a card comes from: the run, its numbers under ``method`` with their
    intervals, and the versions they were made under."""
    run_id = run["id"]
    return {
        "run": run_id,
        "shots": run["shots"],
        "seed": run["seed"],
        "order": run["demo_order"],
        "n_test": len(results.scores(run_id).test),
        **results.intervals(run_id, method),
        "date": datetime.date.today().isoformat(),
        "lbtui_version": __version__,
        "method_version": run.get("method_version") or 1,
        "current_method_version": METHOD_VERSION,
        "mark": method_mark(run).strip() or None,
    }


class Classifier:
    """scikit-learn style: ``predict``, ``predict_proba`` ((N, K) in label order),
    ``labels``, ``save``. Inputs are strings for one-field tasks, dicts of fields
    otherwise. One model load per Classifier (``close`` or ``with`` frees it)."""

    def __init__(
        self,
        card: dict,
        backend,
        *,
        numbers: str,
        store: Store | None = None,
        bc_prior: str = "test",
        where: str = "card",
    ):
        self.card = card
        self.backend = backend
        self.store = store
        self.numbers = numbers
        self.where = where
        if bc_prior not in BC_PRIORS:
            raise UserError("--bc-prior", f"must be one of {', '.join(BC_PRIORS)}, got {bc_prior!r}")
        if bc_prior == "batch" and card["method"]["name"] != "bc":
            raise UserError(
                "--bc-prior", f"only batch calibration estimates its prior from a batch, not {card['method']['name']}"
            )
        self.bc_prior = bc_prior
        self.labels: tuple[str, ...] = tuple(card["labels"])
        self.method: str = card["method"]["name"]
        self.calibration = Calibration.from_json(card["method"]["calibration"])
        self.scoring: str = card["scoring"]
        self.template: str = card["task"]["input_template"]
        self.fields: list[str] = template_fields(self.template)
        prompt = card["prompt"]
        chat = None
        if prompt["chat_template"]:
            from ..auditing.prompts import chat_wrap

            template = (backend.metadata or {}).get("tokenizer.chat_template")
            if not template:
                raise UserError(f"{where}: prompt.chat_template", "the model's GGUF has no chat template")
            chat = chat_wrap(template)
        self._demos = [tuple(d) for d in prompt["demonstrations"]]
        self._pb = PromptBuilder(
            backend.tokenize,
            PromptFormat(**prompt["format"]),
            prompt["definition"],
            self.labels,
            eos=backend.eos,
            full=SCORING[self.scoring].whole,
            chat=chat,
            where=where,
        )
        prefix = prompt["prefix_text"][: prompt["prefix_text"].index("{input}")] if "prefix_text" in prompt else None
        if (
            prefix is not None
            and list(backend.tokenize(prefix, bos=True, special=chat is not None)) != prompt["prefix_ids"]
        ):
            raise UserError(
                f"{where}: prompt.prefix_ids",
                "this model tokenizes the card's prompt differently; is it the model the card was made with?",
            )
        self.evaluated = 0  # inputs this classifier sent to the backend (the rest were read from the store)

    # --- construction ---------------------------------------------------------------

    @classmethod
    def from_run(
        cls,
        run_id: int,
        method: str = "bc",
        db: str | Path | None = None,
        *,
        bc_prior: str = "test",
        backend_factory: Callable | None = None,
    ) -> "Classifier":
        """The classifier of a finished run in the store ``db`` (default: the user's store)
        under ``method``, with the run's own model, prompt and fitted calibration."""
        from .. import paths

        where = Path(db) if db is not None else paths.default_db()
        if not where.is_file():
            raise StorePathError(f"no store at {where}")
        store = Store(where)  # writable: new inputs' scores are kept under their address
        try:
            results = Results(store)
            results.calibration(run_id, method)  # refused before any model is loaded
            p = rebuild(store, run_id)
            path = p.model.locate()
            if path is not None:
                check_gguf(path, where=p.model.where)
            sha = model_registry.identity(
                p.model, store.cached_sha256(path, model_registry.sha256_file) if path else None
            )
            backend = (backend_factory or load_backend)(p.model, path)
            try:
                card = card_from_run(
                    results, run_id, method, backend=backend, model_path=path, model_sha=sha, spec=p.model
                )
                return cls(
                    card,
                    backend,
                    numbers=numbers_key(sha, backend),
                    store=store,
                    bc_prior=bc_prior,
                    where=f"run {run_id}",
                )
            except BaseException:
                backend.close()
                raise
        except BaseException:
            store.close()
            raise

    @classmethod
    def load(
        cls,
        path: str | Path,
        model: str,
        *,
        db: str | Path | None = None,
        bc_prior: str = "test",
        backend_factory: Callable | None = None,
    ) -> "Classifier":
        """The classifier a saved card describes, with ``model`` (a models.toml name or a
        .gguf path), refused in one line when the model's file is not the card's."""
        card = cards.load(Path(path))
        spec = model_registry.resolve(model)
        file = spec.locate()
        if file is not None:
            check_gguf(file, where=spec.where)
        store = Store(Path(db)) if db is not None else None
        try:
            digest = (
                (store.cached_sha256(file, model_registry.sha256_file) if store else model_registry.sha256_file(file))
                if file is not None
                else None
            )
            sha = model_registry.identity(spec, digest)
            if sha != card["model"]["sha256"]:
                raise UserError(
                    "--model",
                    f"{file or spec.name} is not the model the card {path} was made with (sha256"
                    f" {sha[:12]}..., the card's {card['model']['sha256'][:12]}...)",
                )
            backend = (backend_factory or load_backend)(spec, file)
            try:
                return cls(
                    card, backend, numbers=numbers_key(sha, backend), store=store, bc_prior=bc_prior, where=str(path)
                )
            except BaseException:
                backend.close()
                raise
        except BaseException:
            if store is not None:
                store.close()
            raise

    def save(self, path: str | Path) -> Path:
        return cards.save(self.card, Path(path))

    def close(self) -> None:
        self.backend.close()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Classifier({self.card['task']['name']}, {self.method}, labels={list(self.labels)})"

    # --- inputs -----------------------------------------------------------------------

    def text_of(self, x: Input, where: str = "input") -> str:
        """An input's text: the task's input template filled with its fields."""
        if isinstance(x, str):
            if len(self.fields) != 1:
                raise UserError(
                    where, f"this task takes the fields {', '.join(self.fields)}; give a dict, not a string"
                )
            row = {self.fields[0]: x}
        elif isinstance(x, Mapping):
            row = dict(x)
            for name in self.fields:
                if name not in row or row[name] is None:
                    raise UserError(f"{where}: {name}", "field is missing")
                if not isinstance(row[name], (str, int, float)) or isinstance(row[name], bool):
                    raise UserError(f"{where}: {name}", "must be text")
        else:
            raise UserError(where, f"an input is a string or a dict of fields, not {type(x).__name__}")
        text = render(self.template, {k: str(v).strip() for k, v in row.items()}, where=where).strip()
        if not text or any(not str(row[n]).strip() for n in self.fields):
            raise UserError(f"{where}: {self.fields[0] if len(self.fields) == 1 else 'input'}", "input is empty")
        return text

    def requests(self, inputs: Sequence[Input], names: Sequence[str] | None = None) -> list[tuple[Request, str]]:
        """Each input's request (whole-string prompt ids, each label's ids) and text, all
        checked against the context before anything is scored."""
        names = list(names) if names is not None else [f"input {i}" for i in range(len(inputs))]
        out = []
        for x, name in zip(inputs, names):
            text = self.text_of(x, name)
            enc = self._pb.encode(self._demos, text)
            need = len(enc.prompt) + max(len(c) for c in enc.labels)
            if need > self.backend.n_ctx:
                raise PromptTooLong(
                    name,
                    f"the prompt needs {need} tokens, {need - self.backend.n_ctx} more than n_ctx"
                    f" {self.backend.n_ctx}; shorten the input",
                )
            out.append((Request(enc.prompt, enc.labels), text))
        return out

    # --- scoring --------------------------------------------------------------------

    def scores(self, inputs: Sequence[Input], names: Sequence[str] | None = None) -> np.ndarray:
        """(N, K) raw log-probabilities, as the run's backend gives them: from the store
        where its content address is held, else evaluated (and then stored)."""
        reqs = self.requests(inputs, names)
        address = [score_address(self.numbers, r, self.scoring) for r, _ in reqs]
        found = self.store.scores_at(sorted(set(address))) if self.store is not None else {}
        todo: dict[str, tuple[Request, str]] = {}
        for a, rt in zip(address, reqs):
            if a not in found:
                todo.setdefault(a, rt)
        # Sorted by their ids, so consecutive prompts share their longest prefixes.
        order = sorted(todo, key=lambda a: todo[a][0].prompt)
        per_call = max(BATCH, self.backend.requests_per_call)
        where = self.where
        for lo in range(0, len(order), per_call):
            chunk = order[lo : lo + per_call]
            got = checked_scores(
                self.backend.score([todo[a][0] for a in chunk], mode=self.scoring),
                [repr(todo[a][1][:40]) for a in chunk],
                self.labels,
                where,
            )
            if self.store is not None:
                self.store.add_loose_scores(
                    [{"address": a, "scores": s, "text": todo[a][1]} for a, s in zip(chunk, got)]
                )
            found.update({a: list(s) for a, s in zip(chunk, got)})
            self.evaluated += len(chunk)
        return np.array([found[a] for a in address], dtype=np.float64).reshape(len(reqs), len(self.labels))

    def raw_proba(self, inputs: Sequence[Input], names: Sequence[str] | None = None) -> np.ndarray:
        """Uncalibrated probabilities over the labels (softmax of the scores)."""
        return softmax(self.scores(inputs, names))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.bc_prior == "batch":
            if len(raw) < BC_MIN_BATCH:
                raise UserError(
                    "--bc-prior",
                    f"batch needs at least {BC_MIN_BATCH} inputs to estimate the prior, got"
                    f" {len(raw)}; the default (the run's test inputs) needs none",
                )
            return Calibration.from_prior(mean_prior(raw))(raw)
        return self.calibration(raw)

    def predict_proba(self, inputs: Sequence[Input]) -> np.ndarray:
        """Calibrated probabilities, (N, K) in ``labels`` order."""
        return self.calibrate(self.raw_proba(inputs))

    def predict(self, inputs: Sequence[Input]) -> list[str]:
        return [self.labels[i] for i in predict(self.predict_proba(inputs))]
