import numpy as np
import pytest

from lbtui.analysis import calibration as C
from lbtui.analysis.metrics import softmax


def test_apply_equals_softmax_of_shifted_log_probs():
    rng = np.random.default_rng(1)
    p = softmax(rng.normal(size=(10, 4)))
    prior = softmax(rng.normal(size=4))
    assert np.allclose(C.apply(p, prior), softmax(np.log(p) - np.log(prior)))


def test_uniform_prior_changes_nothing():
    p = softmax(np.array([[1.0, 2.0, 0.5]]))
    assert np.allclose(C.apply(p, C.uniform_prior(3)), p)


def test_calibrating_with_the_batch_mean_flips_a_biased_prediction():
    p = np.array([[0.9, 0.1], [0.7, 0.3], [0.8, 0.2]])
    prior = C.mean_prior(p)  # [0.8, 0.2]
    q = C.apply(p, prior)
    assert q.argmax(axis=1).tolist() == [0, 1, 0]


def test_looc_prior_hand_worked():
    # demonstrations labelled 0, 0, 1: mean over label 0 of [0.6, 0.4] and [0.8, 0.2] is [0.7, 0.3];
    # label 1 gives [0.5, 0.5]; prior = mean of those = [0.6, 0.4]
    p = np.array([[0.6, 0.4], [0.8, 0.2], [0.5, 0.5]])
    assert C.looc_prior(p, np.array([0, 0, 1])) == pytest.approx([0.6, 0.4])


def test_looc_needs_two_demonstrations():
    with pytest.raises(C.NotApplicable, match="LOOC needs at least 2 demonstrations"):
        C.looc_prior(np.array([[0.5, 0.5]]), np.array([0]))
    with pytest.raises(C.NotApplicable, match="no outputs to estimate the prior from"):
        C.mean_prior(np.zeros((0, 2)))


def test_dc_texts_follow_the_definition():
    inputs = ["The Cat sat", "on the mat today", "a dog"]  # mean 3 words
    texts = C.dc_texts(inputs, np.random.default_rng(0))
    bag = [w for t in inputs for w in t.lower().split()]
    assert len(texts) == C.DC_SAMPLES
    for t in texts:
        words = t.split()
        assert len(words) == 3
        for w in set(words):  # drawn without replacement from the bag
            assert words.count(w) <= bag.count(w)
    assert texts == C.dc_texts(inputs, np.random.default_rng(0))
