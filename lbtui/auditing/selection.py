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


DEFAULT_SHOTS = (0, 4, 8)
ONE = {  # the options that take one number, and what it counts
    "--seeds": "the count of seeds",
    "--orders": "the count of orderings of each seed's demonstrations",
    "--limit": "the count of test examples a task",
}


def int_list(text: str, option: str) -> list[int]:
    """Comma-separated whole numbers as typed (an option's value, a form field)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            out.append(int(part))
        except ValueError:
            raise UserError(option, f"{part!r} is not a whole number") from None
    return sorted(set(out), key=out.index)


def one_number(values: list[int], option: str) -> int:
    """The one number an option takes (``ONE``), refused when it is given several."""
    if len(values) != 1:
        raise UserError(option, f"give one number: {ONE[option]}")
    return values[0]


def split_names(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def select(
    model_names: list[str], task_names: list[str], *, suites: list[str] | None = None, data: DataOptions | None = None
) -> tuple[list[ModelSpec], list[Task]]:
    """The models and tasks asked for, each model file checked before any store is opened."""
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
    return specs, [catalog.load(t, data or DataOptions()) for t in tasks_in]


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
    """What an audit asks for, typed: the API builds one from its arguments, `lbtui run`
    and the app's setup form from text (``from_text``: the numbers parsed there).
    ``plans()`` checks all of it (one-line errors naming the option) before anything is
    loaded or written; a request with ``resume`` asks for one stored run, rebuilt from
    what the store holds."""

    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    shots: tuple[int, ...] = DEFAULT_SHOTS
    seeds: int = 1
    orders: int = 1
    limit: int = examples.DEFAULT_LIMIT
    scoring: str = DEFAULT_SCORING
    verbalizers: str = ""
    data: DataOptions = field(default_factory=DataOptions)
    resume: int | None = None

    @classmethod
    def from_text(
        cls, *, shots: str | None, seeds: str | None, orders: str | None, limit: str | None, scoring, **rest
    ) -> "AuditRequest":
        """A request from what was typed: each number parsed here (an error names its
        option); a blank field or an option not given takes the default."""

        def one(text, option: str, default: int) -> int:
            return one_number(int_list(text, option), option) if text not in (None, "") else default

        return cls(
            shots=tuple(int_list(shots, "--shots")) if shots not in (None, "") else DEFAULT_SHOTS,
            seeds=one(seeds, "--seeds", 1),
            orders=one(orders, "--orders", 1),
            limit=one(limit, "--limit", examples.DEFAULT_LIMIT),
            scoring=scoring or DEFAULT_SCORING,
            **rest,
        )

    @classmethod
    def from_args(cls, a) -> "AuditRequest":
        return cls.from_text(
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

    def check(self) -> None:
        """Every number and the scoring mode in range, an error naming its option."""
        if not self.shots:
            raise UserError("--shots", "give at least one number of demonstrations")
        for option, values, least in (
            ("--shots", self.shots, 0),
            ("--seeds", (self.seeds,), 1),
            ("--orders", (self.orders,), 1),
            ("--limit", (self.limit,), 1),
        ):
            for v in values:
                if v < least:
                    raise UserError(option, f"must be >= {least}, got {v}")
        if self.scoring not in SCORING_MODES:
            raise UserError("--scoring", f"must be one of {', '.join(SCORING_MODES)}, got {self.scoring!r}")

    def plans(self) -> list:
        """Every run the request asks for, with its example sets (engine.Planned)."""
        from ..tasks import verbalizers
        from .planning import plan

        self.check()
        models, tasks = select(list(self.models), list(self.tasks), suites=list(self.suites), data=self.data)
        if self.verbalizers:  # the same tasks under other label words, side by side
            tasks = verbalizers.expand(tasks, verbalizers.parse(self.verbalizers))
        return plan(
            models,
            tasks,
            list(self.shots),
            list(range(self.seeds)),
            limit=self.limit,
            scoring=self.scoring,
            orders=self.orders,
            data=self.data,
        )
