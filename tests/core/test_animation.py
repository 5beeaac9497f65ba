"""core/animation.py: frames of the keys, the blend Blender shows, and keys added until
every frame is clean. Plain Python: no bpy (tests/blender/test_morph.py checks the same
animations in the real Blender)."""
import numpy as np
import pytest

from neural_morph import core

FIXED = [[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.6, 0.0]]  # a triangle round the origin
FACES = np.array([[0, 1, 2], [3, 4, 5]])


def orbit(t):
    """A vertical triangle circling the fixed one at radius 2: no state crosses, but the
    straight blend of two states on opposite sides goes through the origin."""
    c, s = np.cos(np.pi * t), np.sin(np.pi * t)
    moving = [[2 * c - 0.2 * s, 2 * s + 0.2 * c, -1.0], [2 * c + 0.2 * s, 2 * s - 0.2 * c, -1.0],
              [2 * c, 2 * s, 1.0]]
    return np.array(FIXED + moving, dtype=np.float64)


def count(verts):
    return core.count_self_intersections(verts, FACES)


@pytest.mark.parametrize("ease", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_timing_maps_frames_to_times_and_back(ease, reverse):
    timing = core.Timing(1, 60, ease, reverse)
    times = np.linspace(0.0, 1.0, 9)
    frames = timing.frames(times)
    assert np.allclose([timing.time(f) for f in frames], times, atol=1e-9)
    assert np.all(np.diff(frames) < 0) if reverse else np.all(np.diff(frames) > 0)
    assert np.allclose(timing.frames(times[[0, -1]]), [60, 1] if reverse else [1, 60])
    if ease:  # slow in and out: the first and last steps take more frames than the middle one
        steps = np.abs(np.diff(frames))
        assert steps[0] > steps[4] and steps[-1] > steps[4]


def test_shown_state_is_the_key_at_its_frame_and_the_linear_blend_between():
    states = [orbit(0.0), orbit(0.5), orbit(1.0)]
    frames = [1.0, 4.5, 10.0]
    basis = states[0]
    for state, frame in zip(states, frames):
        assert np.abs(core.shown_state(states, frames, basis, frame) - state).max() < 1e-6
    u = (7.0 - 4.5) / (10.0 - 4.5)
    blend = (1 - u) * states[1] + u * states[2]
    assert np.abs(core.shown_state(states, frames, basis, 7.0) - blend).max() < 1e-6
    # outside the keys, the first and last states hold (constant extrapolation)
    assert np.abs(core.shown_state(states, frames, basis, -3.0) - states[0]).max() < 1e-6
    assert np.abs(core.shown_state(states, frames, basis, 12.0) - states[2]).max() < 1e-6


@pytest.mark.parametrize("ease,reverse", [(False, False), (True, False), (True, True)])
def test_clean_keys_adds_keys_until_every_frame_is_clean(ease, reverse):
    timing = core.Timing(1, 40, ease, reverse)
    times = [0.0, 1.0]
    frames = timing.frames(times)
    # the two keys alone: frames between them cross
    before = [f for f in range(1, 41) if count(core.shown_state([orbit(0), orbit(1)], frames, orbit(1), f))]
    assert before
    result = core.clean_keys(orbit, times, timing, count, basis_time=1.0)
    assert result.crossing == [] and result.worst == 0
    assert result.asked == 2 and len(result.times) == 2 + len(result.added) > 2
    assert (result.first, result.last) == (1, 40)
    assert set(result.added) <= set(range(1, 41))
    # every frame, as the keys are shown, is clean; the keys are the states at their times
    assert all(count(core.shown_state(result.states, result.frames, orbit(1.0), f)) == 0
               for f in range(1, 41))
    for t, f, state in zip(result.times, result.frames, result.states):
        assert np.array_equal(state, orbit(t))
        assert abs(timing.time(f) - t) < 1e-9


def test_clean_keys_reports_frames_whose_own_key_crosses_and_ends():
    def crossed(t):  # the fixed triangle pierced at every time: no key can mend it
        verts = orbit(t)
        verts[3:, :2] = [[-0.1, -0.1], [0.1, -0.1], [0.0, 0.1]]
        return verts
    result = core.clean_keys(crossed, [0.0, 1.0], core.Timing(1, 10, False), count, basis_time=1.0)
    assert [f for f, _ in result.crossing] == list(range(1, 11))
    assert result.worst == 2
    assert len(result.times) <= 10  # at worst a key on every frame
