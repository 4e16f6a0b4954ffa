"""``lbtui report --fail-if``: conditions over report rows that let a pipeline refuse a
model on its label bias (exit 3 when one holds for any row)."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from ..analysis.calibrations import METHODS
from ..analysis.metrics import REGISTRY as METRICS
from ..errors import UserError
from .summary import Row

METRIC_ALIASES = {alias: name for name, m in METRICS.items() for alias in (name, *m.aliases)}


_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_GATE = re.compile(
    r"^\s*(?:(?P<method>[A-Za-z*]+)\s*[:.]\s*)?(?P<metric>[A-Za-z][A-Za-z0-9_-]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?\d*\.?\d+)\s*$"
)


@dataclass(frozen=True)
class Gate:
    text: str
    method: str  # a method name or "*" for any
    metric: str
    op: str
    value: float

    def hits(self, rows: list[Row]) -> list[Row]:
        return [
            r
            for r in rows
            if r.metric == self.metric
            and (self.method == "*" or r.method == self.method)
            and not math.isnan(r.value)
            and _OPS[self.op](r.value, self.value)
        ]


def parse_gate(text: str) -> Gate:
    """``[method:]metric OP number``, e.g. ``rsd>0.3`` (uncalibrated), ``looc:macro_f1<0.5``,
    ``*:bias_score>0.2`` (any method)."""
    m = _GATE.match(text)
    if not m:
        raise UserError(
            "--fail-if", f"cannot read {text!r}; write [method:]metric OP number, e.g. 'rsd>0.3' or 'looc:macro_f1<0.5'"
        )
    metric = METRIC_ALIASES.get(m["metric"].lower())
    if metric is None:
        raise UserError("--fail-if", f"unknown metric {m['metric']!r} in {text!r} ({', '.join(METRICS)})")
    method = (m["method"] or "none").lower()
    if method != "*" and method not in METHODS:
        raise UserError("--fail-if", f"unknown method {m['method']!r} in {text!r} ({', '.join(METHODS)} or *)")
    return Gate(text.strip(), method, metric, m["op"], float(m["value"]))
