"""The shared (Δt, Δm) featuriser: invariants (hypothesis) and agreement with a plain oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from broker_plugin.features import (
    FeatureSettings,
    FeatureSettingsError,
    featurise,
    featurise_batch,
    featurise_segments,
    segment_quantile,
)
from broker_plugin.lightcurve import LightCurve

LENGTH = 40  # short sequences keep hypothesis fast; the logic does not depend on 300

finite_times = st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False)
tied_values = st.integers(0, 4).map(float)  # many equal times and magnitudes
any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def curves(draw, values=finite_times, max_size=80):
    n = draw(st.integers(0, max_size))
    time = draw(arrays(np.float64, n, elements=values))
    mag = draw(arrays(np.float64, n, elements=values))
    return LightCurve("obj", time, mag, np.full(n, 0.01))


all_settings = st.sampled_from(
    [
        FeatureSettings(length=LENGTH),
        FeatureSettings.unfiltered(LENGTH),
        FeatureSettings(length=LENGTH, max_dt=None),
        FeatureSettings(length=3),
    ]
)


def oracle(curve: LightCurve, s: FeatureSettings) -> tuple[np.ndarray, int]:
    """The rules written plainly, one curve at a time, with numpy.quantile."""
    ok = np.isfinite(curve.time) & np.isfinite(curve.mag)
    rows = sorted(set(zip(curve.time[ok], curve.mag[ok], strict=True)))
    t = np.array([r[0] for r in rows])
    m = np.array([r[1] for r in rows])
    dt, dm = np.diff(t), np.diff(m)
    keep = np.ones(dt.size, bool)
    if dt.size:
        if s.dm_quantile_low is not None:
            keep &= dm >= np.quantile(dm, s.dm_quantile_low)
        if s.dm_quantile_high is not None:
            keep &= dm <= np.quantile(dm, s.dm_quantile_high)
        if s.dt_quantile_low is not None:
            keep &= dt >= np.quantile(dt, s.dt_quantile_low)
    if s.max_dt is not None:
        keep &= dt < s.max_dt
    dt, dm = dt[keep][-s.length :], dm[keep][-s.length :]
    out = np.zeros((2, s.length), np.float32)
    out[0, : dt.size], out[1, : dm.size] = dt, dm
    return out, dt.size


@settings(max_examples=200, deadline=None)
@given(curve=st.one_of(curves(), curves(values=tied_values)), s=all_settings)
def test_matches_plain_oracle(curve: LightCurve, s: FeatureSettings) -> None:
    """The vectorised featuriser equals the rules applied one curve at a time."""
    expected, length = oracle(curve, s)
    got = featurise(curve, s)
    assert got.lengths[0] == length
    np.testing.assert_array_equal(got.x[0], expected)


@settings(max_examples=100, deadline=None)
@given(curve=curves(), s=all_settings, seed=st.integers(0, 2**32 - 1))
def test_order_does_not_matter(curve: LightCurve, s: FeatureSettings, seed: int) -> None:
    """Shuffled input gives exactly the result of time-sorted input."""
    order = np.random.default_rng(seed).permutation(len(curve))
    shuffled = curve.with_(time=curve.time[order], mag=curve.mag[order], err=curve.err[order])
    a, b = featurise(curve.sorted(), s), featurise(shuffled, s)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.lengths, b.lengths)


@settings(max_examples=100, deadline=None)
@given(curve=curves(), s=all_settings, seed=st.integers(0, 2**32 - 1))
def test_duplicates_do_not_matter(curve: LightCurve, s: FeatureSettings, seed: int) -> None:
    """Repeating rows (as overlapping alert histories do) changes nothing."""
    rng = np.random.default_rng(seed)
    extra = rng.integers(0, max(len(curve), 1), size=len(curve) // 2 + 1) if len(curve) else []
    index = np.concatenate([np.arange(len(curve)), np.asarray(extra, dtype=int)])
    doubled = curve.with_(time=curve.time[index], mag=curve.mag[index], err=curve.err[index])
    np.testing.assert_array_equal(featurise(curve, s).x, featurise(doubled, s).x)


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(curves(values=any_floats), max_size=6), s=all_settings)
def test_shape_dtype_and_finiteness(batch: list[LightCurve], s: FeatureSettings) -> None:
    """Any input, NaN and inf included, yields (N, 2, L) float32, finite, lengths in range."""
    out = featurise_batch(batch, s)
    assert out.x.shape == (len(batch), 2, s.length)
    assert out.x.dtype == np.float32
    assert np.isfinite(out.x).all()
    assert ((out.lengths >= 0) & (out.lengths <= s.length)).all()
    # padding after the true length is zero
    for row, length in zip(out.x, out.lengths, strict=True):
        assert not row[:, length:].any()


@pytest.mark.parametrize("n_points", [0, 1])
def test_fewer_than_two_points_is_flagged_empty(n_points: int) -> None:
    """A curve with 0 or 1 points is flagged empty (length 0), not a crash."""
    curve = LightCurve("x", np.arange(n_points, dtype=float), np.ones(n_points), np.ones(n_points))
    out = featurise(curve)
    assert out.empty.tolist() == [True]
    assert not out.x.any()


def test_keeps_the_most_recent_pairs() -> None:
    """Long histories keep their last `length` pairs, in time order."""
    t = np.cumsum(np.linspace(0.5, 1.5, 501))
    m = np.sin(t)
    out = featurise(LightCurve("x", t, m, np.ones_like(t)), FeatureSettings.unfiltered(300))
    assert out.lengths[0] == 300
    np.testing.assert_allclose(out.x[0, 0], np.diff(t)[-300:].astype(np.float32))
    np.testing.assert_allclose(out.x[0, 1], np.diff(m)[-300:].astype(np.float32))


def test_paper_filters_drop_long_gaps_and_extreme_jumps() -> None:
    """Default settings drop Δt ≥ 100 d and the extreme Δm outside the 0.1–99.9 % quantiles."""
    t = np.concatenate([np.arange(50.0), 500 + np.arange(50.0)])  # one 451-day gap
    m = np.zeros(100)
    m[10] = 5.0  # one spike: a +5 then a −5 jump
    out = featurise(LightCurve("x", t, m, np.ones(100)))
    dt, dm = out.x[0, 0, : out.lengths[0]], out.x[0, 1, : out.lengths[0]]
    assert dt.max() < 100
    assert np.abs(dm).max() < 5


def test_segments_equal_batch() -> None:
    """Flat segments (the serving path) give the same result as LightCurve objects."""
    rng = np.random.default_rng(1)
    batch = [
        LightCurve(str(i), rng.uniform(0, 100, n), rng.normal(15, 1, n), np.ones(n))
        for i, n in enumerate([5, 0, 300, 1, 700])
    ]
    a = featurise_batch(batch)
    b = featurise_segments(
        np.concatenate([c.time for c in batch]),
        np.concatenate([c.mag for c in batch]),
        np.array([len(c) for c in batch]),
    )
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.lengths, b.lengths)


def test_settings_round_trip_and_errors() -> None:
    """Settings survive the model card's dict form; bad values name the field."""
    s = FeatureSettings(length=120, max_dt=50.0)
    assert FeatureSettings.from_dict(s.to_dict()) == s
    with pytest.raises(FeatureSettingsError, match="dm_quantile_low"):
        FeatureSettings(dm_quantile_low=1.5)
    with pytest.raises(FeatureSettingsError, match="unknown feature setting"):
        FeatureSettings.from_dict({"lenght": 300})


def test_segment_quantile_matches_numpy() -> None:
    """Per-segment quantiles equal numpy.quantile on each segment; empty segments are NaN."""
    rng = np.random.default_rng(3)
    segment = rng.integers(0, 6, 200)
    segment[segment == 4] = 5  # segment 4 is empty
    values = rng.normal(size=200)
    got = segment_quantile(values, segment, 6, 0.1)
    for k in range(6):
        expected = np.quantile(values[segment == k], 0.1) if (segment == k).any() else np.nan
        np.testing.assert_allclose(got[k], expected)


def test_merge_within_averages_each_visit() -> None:
    """Exposures closer than merge_within are one visit: mean time and magnitude, then Δ."""
    nights = np.array([0.0, 0.01, 0.02, 0.03, 1.0, 1.01, 3.0])
    mags = np.array([10.0, 10.2, 10.4, 10.6, 11.0, 11.2, 12.0])
    curve = LightCurve("v", nights, mags, np.full(7, 0.01))
    merged = FeatureSettings(merge_within=0.05, dm_quantile_low=None, dm_quantile_high=None,
                             dt_quantile_low=None)
    batch = featurise(curve, merged)
    assert batch.lengths.tolist() == [2]
    np.testing.assert_allclose(batch.x[0, 0, :2], [1.005 - 0.015, 3.0 - 1.005], rtol=1e-5)
    np.testing.assert_allclose(batch.x[0, 1, :2], [11.1 - 10.3, 12.0 - 11.1], rtol=1e-5)
    # Shuffled input, NaN rows and a second curve in the same batch change nothing.
    noisy = LightCurve("w", np.r_[nights[::-1], np.nan], np.r_[mags[::-1], 5.0], np.ones(8))
    both = featurise_batch([noisy, curve], merged)
    np.testing.assert_allclose(both.x[0], both.x[1])
    assert featurise(curve, FeatureSettings.unfiltered()).lengths.tolist() == [6]
    with pytest.raises(FeatureSettingsError, match="merge_within"):
        FeatureSettings(merge_within=0.0)
