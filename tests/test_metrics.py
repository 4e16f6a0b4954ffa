import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from lbtui.analysis import metrics as M


def test_macro_f1_matches_sklearn_on_random_cases():
    rng = np.random.default_rng(0)
    for k in (2, 3, 6):
        for _ in range(50):
            y = rng.integers(0, k, size=rng.integers(1, 40))
            p = rng.integers(0, k, size=y.size)
            want = f1_score(y, p, average="macro", labels=np.unique(y), zero_division=0)
            assert M.macro_f1(y, p) == pytest.approx(want, abs=1e-12)
            assert M.accuracy(y, p) == pytest.approx(accuracy_score(y, p))


def test_predicted_label_absent_from_gold_only_counts_as_a_miss():
    # gold uses labels 0 and 1; label 2 is predicted once but averages in nowhere
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 2, 1, 1])
    # F1(0) = 2*1/(1+2) = 2/3; F1(1) = 1
    assert M.macro_f1(y, p) == pytest.approx((2 / 3 + 1) / 2)


def test_class_never_predicted():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 0, 2, 2])
    # per-class accuracy: 1, 0, 1; overall 4/6
    assert M.classwise_accuracy(y, p, n_labels=3).tolist() == [1.0, 0.0, 1.0]
    assert M.rsd(y, p) == pytest.approx(np.std([1, 0, 1]) / (4 / 6))
    assert M.macro_f1(y, p) == pytest.approx((2 * 2 / 6 + 0 + 1) / 3)


def test_rsd_is_zero_at_zero_accuracy_and_for_equal_class_accuracy():
    assert M.rsd([0, 1, 1], [1, 0, 0]) == 0.0
    assert M.rsd([0, 0, 1, 1], [0, 1, 1, 0]) == 0.0


def test_rsd_hand_worked_k2():
    y = np.array([0] * 4 + [1] * 4)
    p = np.array([0, 0, 0, 0, 0, 0, 0, 1])  # acc_0 = 1, acc_1 = 0.25, overall 5/8
    assert M.rsd(y, p) == pytest.approx(0.375 / 0.625)


def test_bias_score_hand_worked_k2():
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]])
    gold = np.array([0, 0, 1])
    # mean of label 0 rows: [0.8, 0.2]; label 1: [0.6, 0.4]; b = [0.7, 0.3]
    assert M.bias_score(probs, gold) == pytest.approx(0.5 * (0.2 + 0.2))


def test_bias_score_bounds_k6():
    k = 6
    uniform = np.full((12, k), 1 / k)
    gold = np.arange(12) % k
    assert M.bias_score(uniform, gold) == pytest.approx(0.0)
    onehot = np.zeros((12, k))
    onehot[:, 3] = 1
    assert M.bias_score(onehot, gold) == pytest.approx(1 - 1 / k)


def test_ties_go_to_the_earlier_label():
    assert M.predict(np.array([[0.4, 0.4, 0.2]])).tolist() == [0]


def test_confusion_and_distributions_k6():
    y = np.array([0, 1, 2, 3, 4, 5, 5])
    p = np.array([0, 1, 2, 3, 4, 4, 5])
    cm = M.confusion_matrix(y, p, n_labels=6)
    assert cm.sum() == 7 and cm[5, 4] == 1 and np.trace(cm) == 6
    assert M.distribution(p, n_labels=6)[4] == pytest.approx(2 / 7)
    assert M.distribution(y, n_labels=6)[5] == pytest.approx(2 / 7)


def test_evaluate_bundles_everything():
    test_probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    m = M.evaluate(test_probs, np.array([0, 1, 1]), test_probs, np.array([0, 1, 1]))
    assert m.accuracy == pytest.approx(2 / 3)
    assert m.predicted_share.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert set(m.headline()) == {"accuracy", "macro_f1", "rsd", "bias_score"}


def test_every_registered_metric_is_a_field_and_has_a_bootstrap_form():
    """The metric registry is the one list: Metrics carries each, the bootstrap computes
    each (a metric added without its vectorised form fails here, not silently)."""
    import ast
    from pathlib import Path

    import lbtui.analysis.bootstrap as bs
    from lbtui.analysis.metrics import HEADLINE, PAPER, REGISTRY, Metrics

    assert HEADLINE == ("accuracy", "macro_f1", "rsd", "bias_score") and PAPER == ("macro_f1", "rsd", "bias_score")
    fields = set(Metrics.__dataclass_fields__)
    y = np.array([[0, 1, 1, 0]])
    got = bs.metrics_batch(y, y, np.full((1, 4, 2), 0.5), np.array([[0, 1, 0, 1]]), 2)
    for name, m in REGISTRY.items():
        assert name in fields and m.title and m.short and name in got
    assert REGISTRY["rsd"].higher_is_better is False and REGISTRY["macro_f1"].higher_is_better is True
    root = Path(__file__).resolve().parent.parent / "lbtui"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "metrics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(words & set(HEADLINE)) >= 2:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_softmax_is_scipys_bit_for_bit_without_importing_it():
    from scipy.special import softmax as scipy_softmax

    rng = np.random.default_rng(1)
    cases = [np.log(rng.dirichlet(np.ones(k), size=n)) for k in (2, 3, 6, 9) for n in (1, 7, 100)]
    cases += [rng.uniform(-800, 0, size=(50, 4)), np.zeros((3, 5)), np.log(rng.dirichlet(np.ones(3), size=(4, 6)))]
    for x in cases:
        assert np.array_equal(M.softmax(x), scipy_softmax(x, axis=-1))
    code = "import sys, numpy as np; from lbtui.analysis.metrics import softmax; softmax(np.zeros((2, 2)));"
    code += "print('scipy' in sys.modules)"
    import subprocess
    import sys

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
