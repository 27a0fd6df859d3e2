"""Cross-survey evaluation: the shared real sets, truncation, leave-one-survey-out folds, the
period-free feature forest that every CNN result is compared with."""
