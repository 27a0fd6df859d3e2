"""Confusion policies return the documented per-class counts on hand-made matrices."""

from __future__ import annotations

import numpy as np
import pytest

from training.classifier.policies import (
    allocate,
    ccr,
    max_confusion,
    max_pairwise_confusion,
    no_priority,
    proportion,
    synthetic_counts,
)

# Rows true, columns predicted. Recalls: 0.9, 0.5, 0.8 (rows of 10, 20, 50).
CONFUSION = np.array([
    [9, 1, 0],
    [6, 10, 4],
    [0, 10, 40],
])


def test_ccr_counts_follow_one_minus_recall() -> None:
    """CCR: scores 0.1, 0.5, 0.2 → 80 curves split 10/50/20."""
    assert ccr(CONFUSION, 80).tolist() == [10, 50, 20]


def test_max_confusion_counts_follow_largest_off_diagonal_rate() -> None:
    """max_confusion: scores 0.1, 0.3, 0.2 → 60 curves split 10/30/20."""
    assert max_confusion(CONFUSION, 60).tolist() == [10, 30, 20]


def test_max_pairwise_confusion_splits_between_worst_pair() -> None:
    """Pairs: (0,1) 0.1+0.3=0.4, (1,2) 0.2+0.2=0.4 tie → the first pair (0,1) gets all."""
    assert max_pairwise_confusion(CONFUSION, 11).tolist() == [6, 5, 0]


def test_max_pairwise_confusion_picks_clearly_worst_pair() -> None:
    """With class 2 mostly predicted as 1, pair (1, 2) wins."""
    cm = np.array([[10, 0, 0], [0, 8, 2], [0, 7, 3]])
    assert max_pairwise_confusion(cm, 10).tolist() == [0, 5, 5]


def test_proportion_counts_follow_number_of_errors() -> None:
    """proportion: errors 1, 10, 10 → 21 curves split 1/10/10."""
    assert proportion(CONFUSION, 21).tolist() == [1, 10, 10]


def test_no_priority_is_uniform() -> None:
    """no_priority: 10 curves over 3 classes → 4/3/3."""
    assert no_priority(CONFUSION, 10).tolist() == [4, 3, 3]


@pytest.mark.parametrize("policy", [ccr, max_confusion, max_pairwise_confusion, proportion])
def test_perfect_classifier_falls_back_to_uniform(policy) -> None:
    """A diagonal confusion matrix gives every class the same share."""
    assert policy(np.diag([5, 5, 5]), 9).tolist() == [3, 3, 3]


def test_allocate_sums_to_total() -> None:
    """Largest remainder keeps the total exact for awkward proportions."""
    counts = allocate(np.array([1.0, 1.0, 1.0, 0.5]), 1000)
    assert counts.sum() == 1000


def test_synthetic_counts_names_classes() -> None:
    """Counts come back keyed by class name."""
    assert synthetic_counts("no_priority", CONFUSION, 3, ["A", "B", "C"]) == {
        "A": 1, "B": 1, "C": 1}
