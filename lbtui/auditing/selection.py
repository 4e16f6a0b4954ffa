"""Turning what a person typed (CLI options or the app's setup form) into models, tasks
and run options. Every check happens here, before anything is loaded or written."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import models as model_registry
from ..backends.base import DEFAULT_SCORING, SCORING_MODES
from ..errors import UserError
from ..models import ModelSpec
from ..models.gguf import check_gguf
from ..tasks import catalog
from ..tasks.taskfile import DataOptions
from ..types import Task
from . import examples


def int_list(text: str, option: str, *, minimum: int = 0) -> list[int]:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise UserError(option, f"{part!r} is not a whole number") from None
        if value < minimum:
            raise UserError(option, f"must be >= {minimum}, got {value}")
        out.append(value)
    return sorted(set(out), key=out.index)


def split_names(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@dataclass(frozen=True)
class Selection:
    models: list[ModelSpec]
    tasks: list[Task]
    shots: list[int]
    seeds: list[int]
    limit: int
    orders: int
    scoring: str


def select(
    model_names: list[str],
    task_names: list[str],
    *,
    suites: list[str] | None = None,
    shots: str | None,
    seeds: str | None,
    limit: str | None,
    scoring: str | None,
    data: DataOptions | None = None,
    orders: str | None = None,
) -> Selection:
    registry = model_registry.registry()
    names = split_names(model_names) or [model_registry.default_model(registry)]
    specs = [model_registry.resolve(n, registry) for n in names]
    for spec in specs:  # a missing or non-GGUF file fails here, before any store is opened
        path = spec.locate()
        if path is not None:
            check_gguf(path, where=f"{spec.source}: models.{spec.name}" if spec.source else "--model")
    tasks_in = [t for name in split_names(task_names) for t in (catalog.bundled() if name == "all" else [name])]
    if suites:
        from ..tasks.suites import task_files

        tasks_in += [str(p) for name in split_names(suites) for p in task_files(name)]
    if not tasks_in:
        raise UserError("--task", f"give at least one task (bundled: {', '.join(catalog.bundled())})")
    tasks = [catalog.load(t, data or DataOptions()) for t in tasks_in]
    seeds_n = int_list(seeds or "1", "--seeds", minimum=1)
    if len(seeds_n) != 1:
        raise UserError("--seeds", "give one number: the count of seeds")
    orders_n = int_list(orders or "1", "--orders", minimum=1)
    if len(orders_n) != 1:
        raise UserError("--orders", "give one number: the count of orderings of each seed's demonstrations")
    if scoring is not None and scoring not in SCORING_MODES:
        raise UserError("--scoring", f"must be one of {', '.join(SCORING_MODES)}, got {scoring!r}")
    return Selection(
        models=specs,
        tasks=tasks,
        shots=int_list(shots or "0,4,8", "--shots"),
        seeds=list(range(seeds_n[0])),
        limit=int_list(limit or str(examples.DEFAULT_LIMIT), "--limit", minimum=1)[0],
        scoring=scoring or DEFAULT_SCORING,
        orders=orders_n[0],
    )


def data_options(a) -> DataOptions:
    """The plain-data-file options of parsed arguments (run, the app)."""
    return DataOptions(
        text_field=a.text_field,
        label_field=a.label_field,
        id_field=a.id_field,
        definition=a.definition,
        pool=a.pool,
        split_seed=a.split_seed,
        skip_unknown_labels=a.skip_unknown_labels,
        allow_outside=a.allow_outside_paths,
        data_dir=a.data_dir,
        allow_duplicates=a.allow_duplicates,
    )


@dataclass(frozen=True)
class AuditRequest:
    """What the app's setup form and `lbtui run` ask for, as typed. ``plans()`` checks all
    of it (one-line errors naming the option) before anything is loaded or written; a
    request with ``resume`` asks for one stored run, rebuilt from what the store holds."""

    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    shots: str | None = None
    seeds: str | None = None
    orders: str | None = None
    limit: str | None = None
    scoring: str | None = None
    verbalizers: str = ""
    data: DataOptions = field(default_factory=DataOptions)
    resume: int | None = None

    @classmethod
    def from_args(cls, a) -> "AuditRequest":
        return cls(
            models=tuple(split_names(a.model)),
            tasks=tuple(split_names(a.task)),
            suites=tuple(split_names(a.suite)),
            shots=a.shots,
            seeds=a.seeds,
            orders=a.orders,
            limit=a.limit,
            scoring=a.scoring,
            verbalizers=a.verbalizers or "",
            data=data_options(a),
        )

    def plans(self) -> list:
        """Every run the request asks for, with its example sets (engine.Planned)."""
        from ..tasks import verbalizers
        from .planning import plan

        sel = select(
            list(self.models),
            list(self.tasks),
            suites=list(self.suites),
            shots=self.shots,
            seeds=self.seeds,
            limit=self.limit,
            scoring=self.scoring,
            data=self.data,
            orders=self.orders,
        )
        tasks = sel.tasks
        if self.verbalizers:  # the same tasks under other label words, side by side
            tasks = verbalizers.expand(tasks, verbalizers.parse(self.verbalizers))
        return plan(
            sel.models,
            tasks,
            sel.shots,
            sel.seeds,
            limit=sel.limit,
            scoring=sel.scoring,
            orders=sel.orders,
            data=self.data,
        )
