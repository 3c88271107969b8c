"""Inpainting: known pixels stay, unknown ones continue their surroundings smoothly."""

from __future__ import annotations

import numpy as np

from parallax_pipeline.engine.parallax import inpaint


def test_fill_keeps_known_pixels_and_fills_the_rest():
    rng = np.random.default_rng(1)
    values = rng.random((40, 60, 3)).astype(np.float32)
    known = np.ones((40, 60), bool)
    known[10:30, 20:40] = False
    out = inpaint.fill(values, known)
    np.testing.assert_array_equal(out[known], values[known])
    assert np.isfinite(out).all() and out.min() >= values.min() and out.max() <= values.max()
    assert not np.array_equal(out[~known], values[~known])


def test_harmonic_continues_a_ramp_across_a_hole():
    ramp = np.tile(np.linspace(0.0, 1.0, 80, dtype=np.float32), (50, 1))  # shading across
    known = np.ones(ramp.shape, bool)
    known[15:35, 30:50] = False  # a 20 px hole in the middle of the ramp
    smooth = inpaint.harmonic(ramp, known)
    plain = inpaint.fill(ramp, known)
    error = np.abs(smooth - ramp)[~known]
    assert error.max() < 0.03  # a linear ramp is harmonic: recovered
    assert error.mean() < np.abs(plain - ramp)[~known].mean()  # better than pull-push alone


def test_nothing_known_gives_zeros_and_a_mismatched_mask_is_refused():
    assert not inpaint.fill(np.ones((5, 5), np.float32), np.zeros((5, 5), bool)).any()
    try:
        inpaint.fill(np.ones((5, 5), np.float32), np.ones((4, 5), bool))
    except ValueError as err:
        assert "does not match" in str(err)
    else:
        raise AssertionError("a mask of another size must be refused")
