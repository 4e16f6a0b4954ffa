"""A plain-language reading of `lbtui diagnose`: what the numbers of one run say, in a few
sentences, for someone who does not read total-variation distances. Pure functions over
what analysis.diagnose computes; the CLI prints the sentences, the app shows them above
the tables, `--json` carries them."""

from __future__ import annotations

import numpy as np

LEAN = 0.10  # a share this far from another (10 points) is worth a sentence
NEAR_UNIFORM = 0.10  # a prior within this TV of uniform is "near uniform"


def _q(label: str) -> str:
    return f"'{label}'"


def predictions(labels: list[str], table: dict) -> str:
    """Where the uncalibrated answers go, against the gold shares of the test set."""
    over = np.asarray(table["predicted"]) - np.asarray(table["gold"])
    j, m = int(over.argmax()), int(over.argmin())
    if favoured(table) is None:
        return (
            f"Uncalibrated, the answers follow the test set's label shares within {abs(over).max():.0%}:"
            " no label is strongly over-predicted."
        )
    text = (
        f"Uncalibrated, the model answers {_q(labels[j])} for {table['predicted'][j]:.0%} of the test inputs, where"
        f" {table['gold'][j]:.0%} are {_q(labels[j])}"
    )
    if -over[m] >= LEAN:
        text += (
            f"; {_q(labels[m])} gets {table['predicted'][m]:.0%} of the answers"
            f" for {table['gold'][m]:.0%} of the inputs"
        )
    return text + "."


def priors(labels: list[str], table: dict) -> str | None:
    """What the calibrations' priors say the model prefers before reading an input."""
    found = table["priors"]
    if not found:
        return None
    far = max(found, key=lambda m: found[m]["tv_uniform"])
    if found[far]["tv_uniform"] < NEAR_UNIFORM:
        return (
            f"The priors the calibrations estimate are near uniform (largest distance to uniform"
            f" {found[far]['tv_uniform']:.2f}, {far.upper()}): the model shows little preference for a label"
            " before it reads the input, so calibration has little to divide out."
        )
    tops = {m: int(np.argmax(v["p"])) for m, v in found.items()}
    p = found[far]["p"]
    lead = tops[far]
    if len(set(tops.values())) == 1:
        head = f"Every calibration's prior leans toward {_q(labels[lead])}"
    else:
        by = {}
        for m, t in tops.items():
            by.setdefault(t, []).append(m.upper())
        head = "The priors disagree on the favoured label: " + "; ".join(
            f"{', '.join(ms)} favour{'s' if len(ms) == 1 else ''} {_q(labels[t])}" for t, ms in by.items()
        )
    return (
        f"{head} ({far.upper()} puts {p[lead]:.2f} on {_q(labels[lead])} where uniform is {1 / len(p):.2f}):"
        " that is the preference calibration divides out."
    )


def favoured(table: dict) -> int | None:
    """The label the uncalibrated answers over-predict by LEAN or more, if any."""
    over = np.asarray(table["predicted"]) - np.asarray(table["gold"])
    return int(over.argmax()) if over.max() >= LEAN else None


def _following(kind: str, what: str, f, fixes: dict, confounded: bool) -> str:
    shown = f"{f.rate:.0%} of the answers against {f.expected:.0%} of the gold labels"
    interval = f"(excess {f.excess:+.2f}, 95% interval {f.lo:+.2f} to {f.hi:+.2f})"
    if f.lo > 0:
        text = f"A {kind} bias: predictions take {what} in {shown} {interval}."
        if confounded:
            text += (
                " It is also the label the model over-predicts overall, so this run alone cannot tell the two"
                " apart (seeds whose last demonstration has another label can)."
            )
        if fixes:
            best = min(fixes, key=lambda m: abs(fixes[m].excess))
            g = fixes[best]
            got = f"({g.excess:+.2f}, {g.lo:+.2f} to {g.hi:+.2f})"
            if g.lo <= 0 <= g.hi:
                text += f" {best.upper()} removes it {got}."
            elif abs(g.excess) < abs(f.excess) - 0.02:
                text += f" {best.upper()} reduces it most {got}."
            else:
                text += " No calibration reduces it."
        return text
    if f.hi < 0:
        return f"No {kind} bias: predictions take {what} less often than the gold labels do, {shown} {interval}."
    return f"No {kind} bias shows: predictions take {what} in {shown}; the interval of the excess holds 0 {interval}."


def demonstrations(labels: list[str], effects: dict, fav: int | None = None) -> list[str]:
    """Majority-label and recency bias under no calibration, and the calibration that
    removes most of it."""
    if "reason" in effects:
        return [f"Majority and recency bias are not measured here: it {effects['reason']}."]
    methods = effects["methods"]
    base = methods.get("none")
    if base is None:
        return []
    majority = " or ".join(_q(labels[i]) for i in effects["majority"])
    last = _q(labels[effects["last"][0]])
    out = []
    for kind, key, what in (
        ("majority-label", "majority", f"the demonstrations' most frequent label ({majority})"),
        ("recency", "recency", f"the last demonstration's label ({last})"),
    ):
        fixes = {m: d[key] for m, d in methods.items() if m != "none"}
        out.append(_following(kind, what, base[key], fixes, fav in base[key].labels))
    return out


def reading(labels: list[str], table: dict, effects: dict) -> list[str]:
    """The sentences, most telling first."""
    out = [predictions(labels, table)]
    p = priors(labels, table)
    if p:
        out.append(p)
    out += demonstrations(labels, effects, favoured(table))
    for m, why in (table.get("reasons") or {}).items():
        if why.upper().startswith(m.upper() + " "):
            why = why[len(m) + 1 :]  # "LOOC needs ..." -> "needs ..."
        out.append(f"{m.upper()}: {why}." if m in table["priors"] else f"{m.upper()} is not applied: {why}.")
    return out


def lean(predicted, gold) -> int | None:
    """The label predicted LEAN or more above its gold share, if any."""
    over = np.asarray(predicted) - np.asarray(gold)
    return int(over.argmax()) if over.max() >= LEAN else None


def pooled(labels: list[str], items: list[tuple[dict, dict]]) -> list[str]:
    """A reading over several runs of one model, task, k and scoring mode (seeds and
    orderings): in how many runs the uncalibrated answers lean toward each label, and in
    how many each calibration leaves no such lean. ``items``: (run, {method: Metrics or
    None}) per run."""
    n = len(items)
    head = items[0][0]
    counts: dict[int, int] = {}
    for _, metrics in items:
        j = lean(metrics["none"].predicted_share, metrics["none"].gold_share)
        if j is not None:
            counts[j] = counts.get(j, 0) + 1
    where = f"Over {n} runs of {head['model_name']} on {head['task_name']} at k={head['shots']} ({head['scoring']})"
    if not counts:
        lines = [f"{where}, the uncalibrated answers follow the gold shares within {LEAN:.0%} in every run."]
    else:
        lines = [
            f"{where}, the uncalibrated answers over-predict "
            + "; ".join(f"{_q(labels[j])} in {c} of {n}" for j, c in sorted(counts.items(), key=lambda x: -x[1]))
            + "."
        ]
    fixed = []
    for m in items[0][1]:
        if m == "none":
            continue
        got = [x[m] for _, x in items if x.get(m) is not None]
        if got:
            clean = sum(lean(x.predicted_share, x.gold_share) is None for x in got)
            fixed.append(f"{m.upper()} {clean} of {len(got)}")
    if fixed:
        lines.append(f"Runs left without a lean of {LEAN:.0%} or more: " + ", ".join(fixed) + ".")
    return lines
