"""Prototypical and supervised calibration: hand-worked cases and scikit-learn's models."""

import numpy as np
import pytest

from lbtui.analysis import calibration_models as cm
from lbtui.analysis.calibration import NotApplicable
from lbtui.analysis.metrics import softmax
from lbtui.analysis.results import RunScores, evaluate_run


def clusters(rng, centres, n):
    """Probability vectors around each centre (log space), n per centre, with labels."""
    k = len(centres)
    x = np.concatenate([rng.normal(c, 0.15, size=(n, k)) for c in centres])
    return softmax(x), np.repeat(np.arange(k), n)


def test_prototypical_recovers_shifted_clusters():
    """A model biased toward label 0: inputs of label 1 still prefer 0, but less. The
    mixture finds the two groups and the matching names them right; argmax does not."""
    rng = np.random.default_rng(0)
    p, y = clusters(rng, [[2.0, 0.0], [1.0, 0.4]], 60)
    assert (p.argmax(1) == 0).all()  # uncalibrated: always label 0
    f = cm.prototypical(p, seed=0)
    q = f(p)
    assert np.allclose(q.sum(1), 1) and (q.argmax(1) == y).mean() > 0.95
    assert f(p[None]).shape == (1, 120, 2)  # works on a batch of resamples too


def test_prototypical_matches_scikit_learn_posteriors():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(1)
    p, _ = clusters(rng, [[1.5, 0.0, 0.0], [0.0, 1.5, 0.0], [0.5, 0.5, 1.5]], 40)
    f = cm.prototypical(p, seed=3)
    ref = GaussianMixture(3, covariance_type="diag", reg_covar=1e-4, n_init=3, random_state=3).fit(np.log(p))
    post = ref.predict_proba(np.log(p))
    # Each cluster goes to the label its mean favours: here cluster c ~ label c in some order.
    q = f(p)
    for c in range(3):
        assert np.allclose(q[:, f.label_of_cluster[c]], post[:, c])
    assert sorted(f.label_of_cluster.tolist()) == [0, 1, 2]


def test_prototypical_posterior_is_scikit_learn_s_predict_proba():
    """The map computes the mixture's posterior itself (no scikit-learn to apply a stored
    fit): scikit-learn's arithmetic step for step, so its numbers are predict_proba's
    (bit for bit with the scikit-learn it was written from, 1.9), also after the fit is
    rebuilt from the store's JSON."""
    import sklearn
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(2)
    p, _ = clusters(rng, [[1.5, 0.0, 0.0], [0.0, 1.5, 0.0], [0.5, 0.5, 1.5]], 40)
    p[:3] = [1.0, 0.0, 0.0]  # clipped log-probabilities: far from every cluster
    fitted = cm.prototypical(p, seed=3)
    d = fitted.to_json()
    gmm = GaussianMixture(n_components=3, covariance_type="diag")
    for name in cm.PARAMS:
        setattr(gmm, name + "_", np.asarray(d[name]))
    gmm.converged_, gmm.n_features_in_ = True, 3
    want = gmm.predict_proba(cm._log(p))
    for f in (fitted, cm.Prototypical.from_json(d)):
        got = f.posterior(cm._log(p))
        assert np.allclose(got, want, rtol=0, atol=1e-12)
        if sklearn.__version__.startswith("1.9."):
            assert np.array_equal(got, want)
        assert np.array_equal(f(p)[:, f.label_of_cluster], got)


def test_applying_a_stored_prototypical_fit_imports_no_scikit_learn():
    import subprocess
    import sys

    code = (
        "import json, sys, numpy as np\n"
        "from lbtui.analysis import calibration_models as cm\n"
        "f = cm.Prototypical.from_json(json.loads(sys.argv[1]))\n"
        "f(np.full((4, 2), 0.5))\n"
        "print('sklearn' in sys.modules)"
    )
    rng = np.random.default_rng(4)
    p, _ = clusters(rng, [[1.5, 0.0], [0.0, 1.5]], 30)
    import json

    stored = json.dumps(cm.prototypical(p, seed=0).to_json())
    out = subprocess.run([sys.executable, "-c", code, stored], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_prototypical_degenerate_and_too_small():
    with pytest.raises(NotApplicable, match="needs at least 4 test inputs, got 3"):
        cm.prototypical(softmax(np.zeros((3, 2))))
    same = softmax(np.tile([[1.0, 0.0, -1.0]], (30, 1)))
    with pytest.raises(cm.Degenerate, match="2 of 3 clusters hold no test input"):
        cm.prototypical(same)


def test_supervised_without_penalty_equals_logistic_regression():
    """Two labels: logit_1 - logit_0 = a1 z1 - a0 z0 + (b1 - b0) is a logistic regression on
    (z0, z1) with an intercept, so with no penalty both fit the same probabilities."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    z = rng.normal(size=(400, 2))
    p = softmax(z)
    y = (rng.random(400) < 1 / (1 + np.exp(-(1.5 * np.log(p[:, 1]) - 0.7 * np.log(p[:, 0]) + 0.3)))).astype(int)
    f = cm.supervised(p, y, penalty=1e-9)
    ref = LogisticRegression(C=1e9, max_iter=10_000, tol=1e-10).fit(np.log(p), y)
    assert np.allclose(f(p)[:, 1], ref.predict_proba(np.log(p))[:, 1], atol=1e-4)


def test_supervised_penalty_keeps_few_examples_near_the_identity():
    p = softmax(np.array([[0.2, 0.0, -0.1], [0.5, 0.1, 0.0]]))
    f = cm.supervised(p, np.array([1, 2]), penalty=1e6)
    assert np.allclose(f.scale, 1, atol=1e-3) and np.allclose(f.shift, 0, atol=1e-3)
    assert np.allclose(f(p), p, atol=1e-3)
    # The default penalty moves toward the labels without reaching them.
    g = cm.supervised(p, np.array([1, 2]))
    assert g(p)[0, 1] > p[0, 1] and g(p)[1, 2] > p[1, 2]
    with pytest.raises(NotApplicable, match="leave-one-out outputs of at least 2 demonstrations"):
        cm.supervised(p[:1], np.array([1]))


def test_runs_report_both_and_fall_back_to_bc_with_a_note():
    rng = np.random.default_rng(4)
    k = 2
    good = RunScores(
        k=k,
        test=rng.normal(size=(40, k)),
        test_gold=rng.integers(0, k, 40),
        bias=rng.normal(size=(32, k)),
        bias_gold=rng.integers(0, k, 32),
        cc=rng.normal(size=(3, k)),
        dc=rng.normal(size=(20, k)),
        looc=rng.normal(size=(4, k)),
        looc_gold=np.array([0, 1, 0, 1]),
    )
    metrics, notes = evaluate_run(good)
    assert metrics["proca"] is not None and metrics["sc"] is not None
    flat = RunScores(
        k=k,
        test=np.tile([[0.3, 0.0]], (40, 1)),
        test_gold=good.test_gold,
        bias=good.bias,
        bias_gold=good.bias_gold,
        cc=good.cc,
        dc=good.dc,
        looc=good.looc[:0],
        looc_gold=good.looc_gold[:0],
    )
    metrics, notes = evaluate_run(flat)
    assert notes["proca"].startswith("fell back to BC") and metrics["proca"].macro_f1 == metrics["bc"].macro_f1
    assert metrics["sc"] is None and "at least 2 demonstrations" in notes["sc"]
