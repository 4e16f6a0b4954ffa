"""Which calibration to recommend, chosen on data the recommendation is not reported on.

The rule (RULE, one line, said wherever a recommendation is shown): among the methods
whose BiasScore is not worse than no calibration's, the best macro-F1; if the method
with the best macro-F1 overall has a worse BiasScore than none, the goals disagree and
both are named. Both numbers come from the labelled bias set (held out from the test
set: the pool's last examples, never demonstrations), pooled over the group's seeds
and orderings; the test set then reports the chosen method against the runner-up,
paired on the same resamples. Not across seeds: a task's seeds and orderings share its
test set, so choosing on the other seeds would choose on the test examples reported.
Pure functions over per-method numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

# The two goals the rule weighs (names in the metric registry).
F1 = "macro_f1"
BIAS = "bias_score"
GOALS = (F1, BIAS)
RULE = (
    "on the labelled bias set: the best macro-F1 among methods whose BiasScore is not worse than none's;"
    " reported on the test set against the runner-up"
)
CHOSEN_ON = "bias set"
READINGS = ("better", "tied", "at chance", "goals disagree", "runner-up better")


@dataclass(frozen=True)
class Choice:
    method: str
    runner_up: str | None
    best_f1: str  # the best macro-F1 on the selection data, eligible or not
    disagree: bool  # best_f1 has a worse BiasScore than none: the goals pull apart


def choose(f1: dict[str, float], bias: dict[str, float], *, base: str = "none") -> Choice:
    """``f1`` and ``bias``: each method's macro-F1 and BiasScore on the selection data.
    Ties go to the earlier method (registry order, none first)."""
    order = list(f1)
    eligible = [m for m in order if bias[m] <= bias[base]]
    ranked = sorted(eligible, key=lambda m: (-f1[m], order.index(m)))
    best = sorted(order, key=lambda m: (-f1[m], order.index(m)))[0]
    return Choice(ranked[0], ranked[1] if len(ranked) > 1 else None, best, best not in eligible)


def reading(choice: Choice, diff_interval: tuple[float, float] | None, f1_lo: float, chance: float) -> str:
    """One word for the recommendation on the test set: "goals disagree" when they do;
    "at chance" when the chosen method's macro-F1 interval reaches the better guesser;
    "tied" when the paired difference to the runner-up holds 0 (or there is none);
    "better" when it lies above 0, "runner-up better" when below (the choice made on
    the bias set did not carry over to the test set)."""
    if choice.disagree:
        return "goals disagree"
    if f1_lo <= chance:
        return "at chance"
    if diff_interval is None or diff_interval[0] <= 0 <= diff_interval[1]:
        return "tied"
    return "better" if diff_interval[0] > 0 else "runner-up better"
