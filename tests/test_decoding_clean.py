"""The batch cleaning rule equals the per-alert one (the fast decoder relies on it)."""

from __future__ import annotations

import numpy as np

from broker_plugin.decoding.lsst import clean_points, clean_points_batch


def _alert(rng: np.random.Generator, n_det: int, n_forced: int) -> tuple[np.ndarray, ...]:
    n = n_det + n_forced
    time = np.round(rng.uniform(60000, 60010, n), 1)  # coarse: forced rows hit detections
    time[rng.random(n) < 0.05] = np.nan
    time[rng.random(n) < 0.05] = -0.0
    time[rng.random(n) < 0.05] = 0.0
    flux = rng.normal(1000, 800, n)
    flux[rng.random(n) < 0.1] = np.nan
    err = np.abs(rng.normal(10, 5, n))
    err[rng.random(n) < 0.05] = np.nan
    withdrawn = np.where(rng.random(n) < 0.1, 60020.0, np.nan)
    band = rng.choice(np.array(["", "g", "r", "i"]), n)
    forced = np.arange(n) >= n_det
    return band, time, flux, err, withdrawn, forced


def test_batch_cleaning_matches_per_alert_cleaning() -> None:
    """Rows kept, their order and values per alert are those of `clean_points`."""
    rng = np.random.default_rng(7)
    alerts = [_alert(rng, int(rng.integers(1, 40)), int(rng.integers(0, 40)))
              for _ in range(60)]
    owner = np.concatenate([np.full(a[0].size, i) for i, a in enumerate(alerts)])
    cols = [np.concatenate([a[k] for a in alerts]) for k in range(6)]
    keep, (band, time, mag, err) = clean_points_batch(owner, *cols)
    kept_owner = owner[keep]
    for i, alert in enumerate(alerts):
        want = clean_points(*alert)
        got = (band[kept_owner == i], time[kept_owner == i], mag[kept_owner == i],
               err[kept_owner == i])
        for w, g in zip(want, got, strict=True):
            np.testing.assert_array_equal(g, w)


def test_forced_row_at_a_detection_epoch_is_dropped_only_in_its_own_alert() -> None:
    """A forced point sharing a detection's time in another alert stays."""
    owner = np.array([0, 0, 1])
    band = np.array(["g", "g", "g"])
    time = np.array([60000.5, 60000.5, 60000.5])
    flux = np.full(3, 100.0)
    forced = np.array([False, True, True])
    keep, _ = clean_points_batch(owner, band, time, flux, np.ones(3), np.full(3, np.nan), forced)
    assert keep.tolist() == [True, False, True]
