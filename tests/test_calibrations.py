"""The calibration registry: one object a method, and every consumer reads it."""

import ast
from pathlib import Path

import numpy as np
import pytest

from lbtui.analysis import bootstrap as bs
from lbtui.analysis import calibration as C
from lbtui.analysis.calibrations import METHOD_NAMES, METHODS, REGISTRY, SLOW, fit_all
from lbtui.analysis.metrics import softmax
from lbtui.analysis.results import RunScores

ROOT = Path(__file__).resolve().parent.parent


def scores(seed=0, k=3, n=60, shots=4) -> RunScores:
    g = np.random.default_rng(seed)
    gold = g.integers(0, k, n)
    test = g.normal(size=(n, k)) + 2.0 * np.eye(k)[gold] + np.array([1.0] + [0.0] * (k - 1))
    bias_gold = np.arange(32) % k
    return RunScores(
        k=k,
        test=test,
        test_gold=gold,
        bias=g.normal(size=(32, k)),
        bias_gold=bias_gold,
        cc=g.normal(size=(3, k)),
        dc=g.normal(size=(20, k)),
        looc=g.normal(size=(shots, k)),
        looc_gold=np.arange(shots) % k,
    )


def test_the_registry_is_the_papers_methods_then_the_fitted_ones():
    # the bundled methods first (a test may register more after them: tests/scratch_calibration.py)
    assert METHODS[:7] == ("none", "cc", "dc", "bc", "looc", "proca", "sc")
    assert SLOW[:2] == ("proca", "sc") and [REGISTRY[m].kind for m in METHODS[:7]] == ["prior"] * 5 + ["map"] * 2
    assert set(METHOD_NAMES) == set(METHODS) and all(METHOD_NAMES.values())


def test_prior_methods_give_the_definitions_priors():
    rs = scores()
    found, notes = fit_all(rs)
    assert set(found) == set(METHODS) and notes == {}
    want = {
        "none": np.ones(3),
        "cc": C.mean_prior(softmax(rs.cc)),
        "dc": C.mean_prior(softmax(rs.dc)),
        "bc": C.mean_prior(softmax(rs.test)),
        "looc": C.looc_prior(softmax(rs.looc), rs.looc_gold),
    }
    for m, prior in want.items():
        assert np.allclose(found[m].prior, prior)
        assert np.allclose(found[m](softmax(rs.test)), C.apply(softmax(rs.test), prior))
    assert found["proca"].prior is None and found["sc"].prior is None


def test_a_method_that_cannot_apply_says_why():
    found, notes = fit_all(scores(shots=0))
    assert "looc" not in found and "2 demonstrations" in notes["looc"]
    assert "sc" not in found and notes["sc"]


def test_asking_for_one_method_fits_what_it_builds_on_only():
    """ProCa falls back to BC; asking for ProCa alone fits BC too but reports only ProCa."""
    found, notes = fit_all(scores(), ["proca"])
    assert set(found) == {"proca"}
    assert REGISTRY["proca"].uses == ("bc",)


def test_prototypical_falls_back_to_batch_with_a_note(monkeypatch):
    from lbtui.analysis import calibration_models as cm

    def degenerate(p):
        raise cm.Degenerate("two clusters claim one label")

    monkeypatch.setattr(cm, "prototypical", degenerate)
    rs = scores()
    found, notes = fit_all(rs, ["proca", "bc"])
    assert notes["proca"].startswith("fell back to BC")
    assert np.allclose(found["proca"](softmax(rs.test)), found["bc"](softmax(rs.test)))


def test_bootstrap_reestimates_exactly_the_methods_that_say_how():
    """BC's prior is the test set's mean, so each resample re-estimates it; the others hold."""
    assert [m for m in METHODS if REGISTRY[m].resample] == ["bc"]
    rp = bs.from_scores(scores())
    a = bs.resample(rp, METHODS, resamples=100, seed=1)
    held = bs.resample(
        bs.RunProbs(rp.k, rp.test, rp.test_gold, rp.bias, rp.bias_gold, rp.calibrations, reestimate=False),
        METHODS,
        resamples=100,
        seed=1,
    )
    for m in METHODS:
        same = np.array_equal(a[m]["accuracy"], held[m]["accuracy"])
        assert same == (REGISTRY[m].resample is None), m


def test_no_module_outside_the_registry_keeps_its_own_list_of_methods():
    """A tuple or list literal holding two or more method names, anywhere in lbtui but the
    registry, is a second list that would drift."""
    names = set(METHODS) - {"cc", "dc"}  # "cc"/"dc" also name input sets
    offenders = []
    for path in (ROOT / "lbtui").rglob("*.py"):
        if "calibrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(words & names) >= 2:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_fit_must_return_what_its_kind_says():
    """A prior method that returns no prior would show p̂ = nan; a map method must return a
    map (or, with a note, its declared fallback's prior)."""
    import dataclasses

    from lbtui.analysis.calibrations import Calibration

    rs = scores()
    cc = REGISTRY["cc"]
    mapped = fit_all(rs, ["sc"])[0]["sc"]
    for method, returned, error in [
        (dataclasses.replace(cc, fit=lambda rs, e: Calibration(mapped.map)), None, TypeError),
        (dataclasses.replace(cc, fit=lambda rs, e: Calibration()), None, TypeError),
        (dataclasses.replace(cc, fit=lambda rs, e: Calibration.from_prior([1.0, np.nan, 1.0])), None, ValueError),
        (dataclasses.replace(cc, fit=lambda rs, e: Calibration.from_prior([1.0, 1.0])), None, ValueError),
        (dataclasses.replace(REGISTRY["proca"], fit=lambda rs, e: Calibration.from_prior(np.ones(3))), None, TypeError),
    ]:
        with pytest.raises(error, match=method.name):
            method.check(method.fit(rs, {}), rs.k)
    # what the bundled methods return passes, ProCa's noted fallback to BC's prior too
    assert REGISTRY["sc"].check(mapped, rs.k) is mapped
    fallback = Calibration.from_prior(np.ones(3), note="fell back to BC: degenerate")
    assert REGISTRY["proca"].check(fallback, rs.k) is fallback


def test_register_refuses_a_taken_name_or_colour_an_unknown_base_and_a_late_registration():
    import dataclasses

    from lbtui.analysis.calibrations import register

    before = dict(REGISTRY)
    cc = REGISTRY["cc"]
    for method, message in [
        (cc, "taken"),
        (dataclasses.replace(cc, name="Bad Name", color="white"), "identifier"),
        (dataclasses.replace(cc, name="other", color="red"), "colour"),
        (dataclasses.replace(cc, name="other", color="chartreuse"), "not one of"),
        (dataclasses.replace(cc, name="other", color="white", kind="odds"), "kind"),
        (dataclasses.replace(cc, name="other", color="white", uses=("later",)), "not registered before"),
        (dataclasses.replace(cc, name="other", color="white", fallback="bc"), "among its uses"),
    ]:
        with pytest.raises(ValueError, match=message):
            register(method)
    # this module (and lbtui's interfaces) have read the method list: too late to add one
    with pytest.raises(RuntimeError, match="before importing"):
        register(dataclasses.replace(cc, name="other", color="white"))
    assert REGISTRY == before


def test_every_palette_colour_draws_in_plotext_and_rich():
    """A method's colour is drawn by plotext (its line and band) and by Rich (the legend):
    each name the registry accepts must mean a colour to both."""
    import plotext._dict as plotext_names  # plotext keeps its colour names there
    from rich.color import Color

    from lbtui.analysis.calibrations.base import PALETTE
    from lbtui.ui.consts import RICH_COLORS

    for colour in PALETTE:
        assert colour in plotext_names.color_sequence, colour
        Color.parse(RICH_COLORS.get(colour, colour))  # raises on a name Rich does not know
    assert {REGISTRY[m].color for m in METHODS} <= set(PALETTE)
