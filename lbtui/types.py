"""Plain data that flows between the task loader, the engine and the store."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Example:
    """One labelled input. ``label`` indexes the task's labels (None: unlabelled).
    ``fields`` are the values the task's input template was filled with (name, value),
    in template order; domain-context calibration samples each field on its own."""

    id: str
    text: str
    label: int | None
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PromptFormat:
    """Templates of one prompt. ``{definition}``, ``{input}`` and ``{label}`` are filled
    after the docs/METHODS.md period rule has been applied to each."""

    name: str = "sni"
    definition: str = "{definition}\n\n"
    demonstration: str = "Input: {input}\n Output: {label}\n\n"
    query: str = "Input: {input}\n\nOutput:"
    label_prefix: str = " "  # what stands between the prompt and a scored label

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "definition": self.definition,
            "demonstration": self.demonstration,
            "query": self.query,
            "label_prefix": self.label_prefix,
        }


@dataclass(frozen=True)
class Task:
    """A classification task: labels in a fixed order, a demonstration pool and a test set."""

    name: str
    version: str
    definition: str
    labels: tuple[str, ...]
    pool: tuple[Example, ...]
    test: tuple[Example, ...]
    source: str  # the file it came from, for messages
    content_hash: str  # changes whenever anything that affects scores changes
    prompt: PromptFormat = field(default_factory=PromptFormat)
    description: str = ""
    input_template: str = "{text}"  # how an example's fields make its input text

    @property
    def k(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class RunScores:
    """Raw (N, K) scores of each set of one run and the gold labels where known."""

    k: int
    test: np.ndarray
    test_gold: np.ndarray
    bias: np.ndarray
    bias_gold: np.ndarray
    cc: np.ndarray
    dc: np.ndarray
    looc: np.ndarray
    looc_gold: np.ndarray
