"""The new fit's guarantees: clean outputs (untangle), a true ODE, compact storage. No bpy."""
import gc
import json

import numpy as np
import pytest

from neural_morph import core
from neural_morph.core import intersect, normalize, pipeline, storage, untangle

QUICK = dict(iterations=80, points=256, target_samples=20_000, resolution=3)


def _folding_path(level=2, steps=8):
    """Icosphere states (K+1, V, 3) where a cap of the sphere is pushed through the far
    wall: clean at first, self-intersecting at the end."""
    verts, faces = core.icosphere(level)
    cap = verts[:, 0] > 0.3
    states = []
    for k in range(steps + 1):
        x = verts.copy()
        x[cap, 0] -= 2.5 * k / steps          # through the far wall...
        x[cap, 1:] *= 1.0 - 0.5 * k / steps  # ...narrowed so that it pierces it
        states.append(x)
    return np.stack(states), faces


def test_untangle_makes_a_folded_path_clean_and_keeps_the_rest():
    states, faces = _folding_path()
    assert intersect.count_self_intersections(states[-1], faces) > 0
    verts, step, rounds = untangle.untangle(states, faces, intersect.self_intersecting_faces)
    assert intersect.count_self_intersections(verts, faces) == 0
    assert 0 < rounds <= 3 * 8 + 8
    assert (step < 8).any() and (step > 0).all()  # stepped back, not all the way to the sphere
    assert np.array_equal(verts, states[step, np.arange(len(step))])


def test_untangle_is_bounded_even_when_the_check_never_passes_early():
    states, faces = _folding_path(steps=4)
    calls = []

    def stubborn(verts, faces):  # reports a crossing until the mesh is the sphere itself
        calls.append(1)
        return np.zeros(0, int) if np.array_equal(verts, states[0]) else np.array([0])
    verts, step, rounds = untangle.untangle(states, faces, stubborn, max_rounds=3)
    assert np.array_equal(verts, states[0]) and (step == 0).all()
    assert rounds <= 3 + 4


def test_local_checks_answer_as_the_full_check_does_and_look_only_near_what_moved():
    states, faces = _folding_path(level=3, steps=8)
    rng = np.random.default_rng(0)
    seen = []

    def find(verts, faces, pairs=False):
        seen.append(len(faces))
        return intersect.self_intersecting_faces(verts, faces, pairs)
    local = intersect.local_checks(find)
    assert intersect.local_checks(local) is local
    assert intersect.local_checks(lambda v, f: []) is not None  # without pairs: as it is
    verts = states[-1].copy()
    tri = verts[faces]
    wide = np.linalg.norm(tri - tri.mean(axis=1, keepdims=True), axis=2).max(axis=1) > 0.1
    small = np.setdiff1d(np.arange(len(verts)), faces[wide].ravel())  # not on stretched faces
    crossing = 0
    for trial in range(12):
        if trial:  # a few vertices move a little, as the untangle moves them
            moved = rng.choice(small, size=8, replace=False)
            verts[moved] += rng.normal(scale=0.03, size=(8, 3))
        want = intersect.self_intersecting_faces(verts, faces, pairs=True)
        crossing += len(want)
        assert np.array_equal(local(verts, faces, pairs=True), want)
        assert np.array_equal(local(verts.copy(), faces), np.unique(want))  # unmoved: remembered
    assert crossing > 0
    assert seen[0] == len(faces) and 0 < max(seen[1:]) < len(faces) / 2


def test_untangle_with_local_checks_gives_the_same_mesh():
    states, faces = _folding_path(level=3)
    full = untangle.untangle(states, faces, intersect.self_intersecting_faces)
    local = untangle.untangle(states, faces, intersect.local_checks(intersect.self_intersecting_faces))
    assert full[2] > 1
    assert np.array_equal(full[0], local[0]) and np.array_equal(full[1], local[1])


def test_an_output_pauses_the_cycle_collector_while_it_checks_and_restores_it():
    states, faces = _folding_path(level=2)
    enabled = []

    def find(verts, faces, pairs=False):
        enabled.append(gc.isenabled())
        return intersect.self_intersecting_faces(verts, faces, pairs)
    was = gc.isenabled()
    gc.enable()
    try:
        pipeline.path_mesh(states, faces, find)
        assert enabled and not any(enabled)
        assert gc.isenabled()
    finally:
        if not was:
            gc.disable()


def test_affine_normalisation_fills_the_unit_ball_and_keeps_axis_aligned_targets():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5000, 3)) * [3.0, 1.0, 0.2] + [5, -2, 1]
    m = normalize.normalization(pts)
    unit = (pts - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T
    assert np.linalg.norm(unit, axis=1).max() == pytest.approx(1.0)
    rotation = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    assert np.allclose(np.abs(rotation), np.eye(3), atol=0.05)  # axes kept, up to sign
    extents = np.ptp(unit, axis=0)
    assert extents.min() > 0.25 * extents.max() * 0.99  # a flat target stays flat, within limits
    with pytest.raises(ValueError, match="zero size"):
        normalize.normalization(np.ones((10, 3)))


@pytest.fixture(scope="module")
def bumpy_fit():
    verts, faces = core.icosphere(4)
    r = 1 + 0.15 * np.sin(4 * verts[:, 0]) * np.cos(3 * verts[:, 1])
    points = core.sample_surface(verts * r[:, None] * [1.0, 0.7, 0.5], faces, 20_000, 1)
    return points, core.run_fit(points, core.user_settings(**QUICK))


@pytest.mark.slow
def test_fit_output_is_clean_and_close(bumpy_fit):
    points, result = bumpy_fit
    assert result.self_intersections == 0
    assert intersect.count_self_intersections(result.verts, result.faces) == 0
    sphere_v, sphere_f = core.icosphere(3)
    unit = result.model.to_normalized(points)
    assert result.chamfer < core.metrics.mesh_chamfer(sphere_v, sphere_f, unit) / 30


@pytest.mark.slow
def test_trained_field_is_a_true_ode(bumpy_fit):
    """Trained on jittered 2-step grids, the flow barely changes with the output grid."""
    model = bumpy_fit[1].model
    sphere, _ = core.icosphere(3)
    out = {}
    for steps in (4, 8, 32):
        model.settings.steps = steps
        out[steps] = model.flow(sphere)
    model.settings.steps = core.FitSettings.steps
    size = np.ptp(out[32], axis=0).max()
    assert np.abs(out[8] - out[32]).max() < 0.01 * size
    assert np.abs(out[4] - out[32]).max() < 0.03 * size


@pytest.mark.slow
def test_inverse_is_exact_on_the_output_surface(bumpy_fit):
    model = bumpy_fit[1].model
    verts = model.flow(model.sphere(4)[0])  # φ(sphere): the flowed surface before the snap
    back = model.inverse(verts, normalized=True)
    assert np.abs(np.linalg.norm(back, axis=1) - 1.0).max() < 1e-3
    assert np.abs(model.flow(back) - verts).max() < 1e-4


@pytest.mark.slow
def test_stored_flow_is_compact_and_gives_back_the_same_mesh(bumpy_fit):
    model = bumpy_fit[1].model
    text = storage.to_json(model)
    assert len(text) < 1_000_000  # grids in float16 + zlib: about 0.8 MB at the defaults
    again = storage.from_json(text)
    assert np.array_equal(again.surface(3, normalized=True)[0], model.surface(3, normalized=True)[0])
    assert np.array_equal(again.matrix(), model.matrix())
    data = json.loads(text)
    data["format"] = 1
    with pytest.raises(ValueError, match="format version 1"):
        storage.from_dict(data)


def test_a_diverging_fit_stops_with_a_message():
    verts, faces = core.icosphere(3)
    points = core.sample_surface(verts, faces, 5_000, 0)
    with pytest.raises(ValueError, match="diverged"):
        core.fit(points, core.user_settings(iterations=60, points=256, learning_rate=1.0))
