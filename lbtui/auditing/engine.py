"""The audit engine shared by the CLI and the app: scores what the store does not have
yet for runs planned by auditing.planning (the read side is lbtui.results).

It never imports Textual; whoever drives it attaches a ``Progress`` and may pass a
``threading.Event`` that cancels between batches.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..analysis.results import METHOD_VERSION
from ..backends import load_backend
from ..backends.base import Backend, Request
from ..errors import Cancelled, InvalidScores, RunError, UserError
from ..models import ModelSpec, identity as model_identity, sha256_file
from ..models.gguf import check_gguf
from ..store import Claim, RunStatus, Store, new_owner
from .planning import (
    Item,
    Planned,
    data_json,
    repeated_texts,
    evaluation_order,
    label_variants,
    plan,
    planned_inputs,
    prepare,
    rebuild,
    run_key,
)


WAIT_SECONDS = 1.0  # how often to look whether another process finished a shared run
BATCH = 8  # inputs scored and committed together unless the backend asks for more
LOGPROB_SLACK = 1e-6  # a log-probability a hair above 0 is rounding (a server's float32), stored as 0


class Note(StrEnum):
    """What a note tells, so that whoever shows notes can treat kinds apart (the app sums
    stored runs into one line) without reading their text."""

    INFO = "info"
    STORED = "stored"  # a planned run is in the store already: nothing to evaluate
    REUSED = "reused"  # some inputs of a run were scored before (same content address)
    WARNING = "warning"  # something about the data the user should know, said even to scripts


class Progress(Protocol):
    def run_started(self, run: "RunHandle") -> None: ...
    def advanced(self, run: "RunHandle") -> None: ...
    def run_finished(self, run: "RunHandle") -> None: ...
    def note(self, message: str, kind: Note = Note.INFO) -> None: ...
    def waiting(self, message: str) -> None: ...


class NullProgress:
    def run_started(self, run):
        pass

    def advanced(self, run):
        pass

    def run_finished(self, run):
        pass

    def note(self, message, kind=Note.INFO):
        pass

    def waiting(self, message):
        pass


@dataclass
class RunHandle:
    """What a display needs to know about a run in progress."""

    id: int
    model: str
    task: str
    shots: int
    seed: int
    scoring: str
    total: int
    done: int
    status: str = "pending"
    started: float = field(default_factory=time.monotonic)
    done_at_start: int = 0
    order: int = 0
    phase: str = ""  # which set the inputs being scored come from (PHASES)
    index: int = 1  # run i of count in this audit
    count: int = 1
    audit: "AuditCount | None" = None  # inputs of the whole audit, shared by its runs

    @property
    def rate(self) -> float:
        """Inputs scored per second in this session."""
        elapsed = time.monotonic() - self.started
        return (self.done - self.done_at_start) / elapsed if elapsed > 0 else 0.0


@dataclass
class Tally:
    """What a run has evaluated, across sessions: stored with each commit and at its end."""

    tokens: int
    evaluated: int


PHASES = {"cc": "content-free", "dc": "domain context", "bias": "bias set", "test": "test", "looc": "leave-one-out"}


@dataclass
class AuditCount:
    """Inputs of a whole audit (every run of one ``execute``): how many it needs, how many
    are done, and since when, for an estimate of the time left."""

    total: int = 0
    done: int = 0
    evaluated: int = 0  # done in this session by evaluation (not reuse)
    started: float = field(default_factory=time.monotonic)

    def seconds_left(self) -> float | None:
        elapsed = time.monotonic() - self.started
        if self.evaluated <= 0 or elapsed <= 0:
            return None
        return (self.total - self.done) / (self.evaluated / elapsed)


class Engine:
    def __init__(
        self,
        store: Store,
        *,
        backend_factory: Callable[[ModelSpec, Path], Backend] = load_backend,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        owns_backends: bool = True,
    ):
        self.store = store
        self.backend_factory = backend_factory
        self.progress = progress or NullProgress()
        self.cancel = cancel or threading.Event()
        self._backends: dict[str, Backend] = {}
        self.owns_backends = owns_backends
        self.owner = new_owner()

    def close(self) -> None:
        for b in self._backends.values():
            if self.owns_backends:  # a borrowed backend (the bench's) is its lender's to close
                b.close()
        self._backends.clear()

    # --- planning ----------------------------------------------------------------------

    plan = staticmethod(plan)  # so callers holding an engine need not import the function

    # --- running -----------------------------------------------------------------------

    def _backend(self, spec: ModelSpec, path: Path) -> Backend:
        if spec.name not in self._backends:
            self.progress.note(f"loading {spec.name} ({path})")
            self._backends[spec.name] = b = self.backend_factory(spec, path)
            info = b.info or {}
            if "layers_offloaded" in info:
                self.progress.note(
                    f"{spec.name}: {info['layers_offloaded']}/{info['layers_total']} layers on the GPU"
                    f"{'' if info.get('gpu_offload_supported') else ' (CPU-only llama.cpp build)'},"
                    f" {info['n_threads']} threads"
                )
        return self._backends[spec.name]

    def execute(self, plans: Sequence[Planned]) -> list[int]:
        """Score every planned run that the store does not hold complete; return the run ids
        in plan order. A finished run is reused as it is, without loading its model."""
        by_model: dict[str, list[Planned]] = {}
        for p in plans:
            by_model.setdefault(p.model.name, []).append(p)
        ids: dict[int, int] = {}
        place = {id(p): i + 1 for i, p in enumerate(plans)}  # run i of len(plans), for progress
        audit = AuditCount(total=sum(planned_inputs(p) for p in plans))
        for task in {id(p.task): p.task for p in plans}.values():  # once per task, whatever its runs
            n, example = repeated_texts(task)
            if n:
                self.progress.note(
                    f"task {task.name}: {n} input(s) repeat another input's text (e.g. {example});"
                    " repeated texts across the test, pool and bias sets inflate or leak results",
                    Note.WARNING,
                )
        for name, group in by_model.items():
            spec = group[0].model
            path = spec.locate()
            where = f"{spec.source}: models.{spec.name}" if spec.source else "--model"
            if path is not None:
                check_gguf(path, where=where)
            sha = model_identity(spec, self.store.cached_sha256(path, sha256_file) if path else None)
            pending = []
            for p in group:
                p.key = run_key(sha, p)
                found = self.store.find_run(p.key)
                if found and found["status"] == "done":
                    ids[id(p)] = found["id"]
                    audit.total -= planned_inputs(p)
                    self.progress.note(
                        f"run {found['id']} ({p.task.name}, k={p.shots}, seed={p.seed}"
                        f"{f', order {p.order}' if p.order else ''}) is stored; nothing to evaluate",
                        Note.STORED,
                    )
                else:
                    pending.append(p)
            if not pending:
                continue
            backend = self._backend(spec, path)
            for p in pending:  # check every run before writing anything
                prepare(p, backend)
            model_id = self.store.upsert_model(name=spec.name, path=path, sha256=sha, metadata=backend.metadata or None)
            for p in pending:
                ids[id(p)] = self._score(
                    p, backend, model_id, numbers_key(sha, backend), audit, (place[id(p)], len(plans))
                )
        return [ids[id(p)] for p in plans]

    def resume(self, run_id: int) -> int:
        """Finish a stored run as it was planned (see ``rebuild``); refuse when what it was
        planned from has changed, rather than start another run."""
        p = rebuild(self.store, run_id)
        path = p.model.locate()
        sha = model_identity(p.model, self.store.cached_sha256(path, sha256_file) if path else None)
        if run_key(sha, p) != self.store.run(run_id)["key"]:
            raise RunError(f"run {run_id} cannot be resumed as it was: its model or settings changed since")
        return self.execute([p])[0]

    def _claim(self, run_id: int) -> bool:
        """True when this engine may score the run; while another live process scores it,
        wait for that one to finish instead of scoring the same inputs twice."""
        noted = False
        while True:
            state = self.store.claim_run(run_id, self.owner)
            if state is not Claim.BUSY:
                return state is Claim.CLAIMED
            if not noted:
                self.progress.waiting(
                    f"run {run_id} is being scored by another process ({self.store.run(run_id)['owner']});"
                    " waiting for it to finish (ctrl+c stops waiting)"
                )
                noted = True
            if self.cancel.wait(WAIT_SECONDS):
                raise Cancelled()

    def _score(
        self, p: Planned, backend: Backend, model_id: int, numbers: str, audit: AuditCount, place: tuple[int, int]
    ) -> int:
        run_id = self._create_run(p, backend, model_id)
        if not self._claim(run_id):
            return run_id
        row = self.store.run(run_id)
        have = self.store.scored_keys(run_id)
        todo = [it for it in p.items if (it.set, it.idx) not in have]
        handle = self._handle(run_id, p, len(p.items) - len(todo), audit, place)
        audit.done += handle.done
        self.store.update_run(run_id, started=row["started"] or time.time())
        self.progress.run_started(handle)
        tally = Tally(tokens=row["tokens_evaluated"] or 0, evaluated=row["inputs_evaluated"] or 0)
        seconds = row["seconds"] or 0.0
        t0 = time.perf_counter()
        status, error = RunStatus.DONE, None
        address = {id(it): score_address(numbers, it.request, p.scoring) for it in todo}
        before = len(todo)
        todo = evaluation_order(self._reuse(run_id, todo, address, handle))
        reused = (row["inputs_reused"] or 0) + before - len(todo)
        try:
            self._evaluate(run_id, p, backend, todo, address, handle, tally)
        except Cancelled:
            status = RunStatus.CANCELLED
            raise
        except KeyboardInterrupt:
            status = RunStatus.INTERRUPTED
            raise
        except Exception as e:
            status, error = RunStatus.FAILED, f"{type(e).__name__}: {e}"
            raise
        finally:
            self.store.update_run(
                run_id,
                status=str(status),
                error=error,
                seconds=seconds + time.perf_counter() - t0,
                tokens_evaluated=tally.tokens,
                inputs_evaluated=tally.evaluated,
                inputs_reused=reused,
                finished=time.time() if status == RunStatus.DONE else None,
                owner=None,
            )
            handle.status = str(status)
            self.progress.run_finished(handle)
        return run_id

    @staticmethod
    def _handle(run_id: int, p: Planned, done: int, audit: AuditCount, place: tuple[int, int]) -> RunHandle:
        handle = RunHandle(
            run_id,
            p.model.name,
            p.task.name,
            p.shots,
            p.seed,
            p.scoring,
            len(p.items),
            order=p.order,
            done=done,
            status="running",
            index=place[0],
            count=place[1],
            audit=audit,
        )
        handle.done_at_start = handle.done
        return handle

    def _create_run(self, p: Planned, backend: Backend, model_id: int) -> int:
        task_id = self.store.upsert_task(p.task)
        return self.store.create_run(
            {
                "key": p.key,
                "model_id": model_id,
                "task_id": task_id,
                "model_name": p.model.name,
                "task_name": p.task.name,
                "shots": p.shots,
                "seed": p.seed,
                "demo_order": p.order,
                "scoring": p.scoring,
                "prompt_format": p.task.prompt.as_dict(),
                "prompt_prefix": p.prefix_text,
                "limit_": p.limit,
                "n_bias": len(p.sets.bias),
                "chat_template": int(p.model.chat_template),
                "labels": list(p.task.labels),
                "demo_ids": [d.id for d in p.sets.demos],
                "params": backend.info,
                "n_items": len(p.items),
                "method_version": METHOD_VERSION,
                # what was scored: each label's ids after the prompt (one variant unless a
                # prompt's end tokenizes differently with some inputs)
                "label_ids": label_variants(p.items),
                "data_options": data_json(p.data),
            }
        )

    def _evaluate(self, run_id, p: Planned, backend: Backend, todo, address, handle: RunHandle, tally: Tally) -> None:
        """Score ``todo`` call by call, each call's scores and counts one commit."""
        # A backend that batches wants enough inputs per call to fill its batches; a
        # kill still loses at most one call's worth (seconds).
        per_call = max(BATCH, backend.requests_per_call)
        for lo in range(0, len(todo), per_call):
            if self.cancel.is_set():
                raise Cancelled()
            chunk = todo[lo : lo + per_call]
            handle.phase = PHASES.get(chunk[0].set, chunk[0].set)  # shown with the chunk's progress
            before = backend.tokens_evaluated
            scores = valid_scores(backend.score([it.request for it in chunk], mode=p.scoring), chunk, p)
            tally.tokens += backend.tokens_evaluated - before
            rows = [
                {
                    "set": it.set,
                    "idx": it.idx,
                    "example_id": it.example_id,
                    "text": it.text,
                    "gold": it.gold,
                    "scores": s,
                    "address": address[id(it)],
                }
                for it, s in zip(chunk, scores)
            ]
            self.store.add_scores(run_id, rows, tokens=tally.tokens)
            handle.done += len(chunk)
            tally.evaluated += len(chunk)
            handle.audit.done += len(chunk)
            handle.audit.evaluated += len(chunk)
            self.progress.advanced(handle)

    def _reuse(self, run_id: int, todo: list[Item], address: dict[int, str], handle: RunHandle) -> list[Item]:
        """Store, without evaluating, every input whose scores the store already holds
        under the same content address (from any run); return the inputs left to score."""
        found = self.store.scores_at(sorted({address[id(it)] for it in todo}))
        hits = [it for it in todo if address[id(it)] in found]
        if hits:
            self.store.add_scores(
                run_id,
                [
                    {
                        "set": it.set,
                        "idx": it.idx,
                        "example_id": it.example_id,
                        "text": it.text,
                        "gold": it.gold,
                        "scores": found[address[id(it)]],
                        "address": address[id(it)],
                    }
                    for it in hits
                ],
            )
            handle.done += len(hits)
            handle.done_at_start = handle.done  # the rate counts what is evaluated
            handle.audit.done += len(hits)
            self.progress.note(
                f"run {run_id}: {len(hits)} of {len(todo)} inputs were scored before (same model, prompt"
                " and labels); reused, not evaluated",
                Note.REUSED,
            )
            self.progress.advanced(handle)
        return [it for it in todo if address[id(it)] not in found]


def audit_into(
    path: Path,
    plans: Sequence[Planned],
    *,
    progress: Progress | None = None,
    backend_factory: Callable[[ModelSpec, Path], Backend] | None = None,
) -> tuple[Store, list[int]]:
    """Score ``plans`` into the store at ``path`` (created if missing) for `lbtui run` and
    lbtui.audit(); the store comes back open for the reports. A store this call created
    is removed again when the audit is refused before anything was scored."""
    fresh = not path.exists()
    store = Store(path)
    engine = Engine(store, progress=progress, **({"backend_factory": backend_factory} if backend_factory else {}))
    try:
        return store, engine.execute(plans)
    except UserError:
        if fresh and not store.runs():
            store.remove()
        else:
            store.close()
        raise
    finally:
        engine.close()


def numbers_key(model_sha: str, backend: Backend) -> str:
    """What a score's numbers depend on besides its prompt and labels: the model file and
    the settings the backend declares (``numbers_keys``: for llama.cpp the build and its CPU
    kernels, whether the batching is exact or which lanes its packs keep, offload; for a
    server its model and exactness), never threads, batch or context size."""
    keep = getattr(backend, "numbers_keys", None)
    if not keep:
        raise TypeError(f"backend {type(backend).__name__} declares no numbers_keys: its scores cannot be addressed")
    missing = [k for k in keep if k not in (backend.info or {})]
    if missing:
        raise TypeError(f"backend {type(backend).__name__} declares numbers_keys its info lacks: {missing}")
    info = {k: backend.info[k] for k in keep}
    return hashlib.sha256(json.dumps([model_sha, info], sort_keys=True, default=str).encode()).hexdigest()


def score_address(numbers: str, request: Request, mode: str) -> str:
    """A score's content address: the numbers' key, the prompt ids, each label's ids, the mode."""
    blob = json.dumps([numbers, mode, list(request.prompt), [list(c) for c in request.continuations]])
    return hashlib.sha256(blob.encode()).hexdigest()


def valid_scores(scores, chunk: Sequence[Item], p: Planned) -> np.ndarray:
    """A backend's answer for ``chunk``, checked where it enters (see ``checked_scores``)."""
    where = f"{p.model.source}: models.{p.model.name}" if p.model.source else f"model {p.model.name}"
    return checked_scores(scores, [f"{it.example_id} ({it.set} {it.idx})" for it in chunk], p.task.labels, where)


def checked_scores(scores, names: Sequence[str], labels: Sequence[str], where: str) -> np.ndarray:
    """One finite log-probability (at most 0) per label of every input, else a one-line
    error naming the model and the first bad input, and nothing of the call is stored."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidScores(where, "the backend's scores are not numbers") from None
    want = (len(names), len(labels))
    if arr.shape != want:
        raise InvalidScores(
            where, f"the backend gave scores of shape {arr.shape} for {want[0]} inputs of {want[1]} labels"
        )
    bad = ~np.isfinite(arr) | (arr > LOGPROB_SLACK)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InvalidScores(
            where,
            f"a log-probability of {float(arr[i, j])!r} for label {labels[j]!r} of input"
            f" {names[i]}: it must be finite and at most 0; nothing of this call is stored",
        )
    return np.minimum(arr, 0.0)
