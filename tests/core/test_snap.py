"""core/snap.py: the last millimetre, and that the stored flow reproduces it. No bpy."""
import numpy as np
import pytest

from neural_morph import core
from neural_morph.core import metrics, snap, storage

QUICK = dict(iterations=60, points=256, target_samples=20_000, warm_start=15, resolution=3)


def bumpy():
    verts, faces = core.icosphere(5)
    bumps = 1.0 + 0.1 * np.sin(5 * verts[:, 0]) * np.cos(4 * verts[:, 1])
    return verts * bumps[:, None] * [1.0, 0.7, 0.5], faces


@pytest.fixture(scope="module")
def fits():
    verts, faces = bumpy()
    pts = core.sample_surface(verts, faces, 20_000, 0)
    return verts, faces, pts, core.run_fit(pts, core.user_settings(**QUICK)), \
        core.run_fit(pts, core.user_settings(**QUICK, snap=False))


@pytest.mark.slow
def test_the_snap_brings_the_output_onto_the_target(fits):
    verts, faces, pts, snapped, plain = fits
    assert plain.model.surface_samples is None and snapped.model.surface_samples is not None
    close = [metrics.surface_metrics(r.model.to_target(r.verts), r.faces, verts, faces,
                                     samples=20_000, thresholds=(0.002,))["fscore@0.002"]
             for r in (snapped, plain)]
    assert close[0] > close[1] + 0.03
    assert snapped.self_intersections == 0
    assert core.count_self_intersections(snapped.verts, snapped.faces) == 0


def test_the_snap_moves_vertices_along_their_normals_only():
    verts, faces = core.icosphere(3)
    fine, fine_faces = core.icosphere(6)
    target = core.sample_surface(fine * 1.01, fine_faces, 20_000, 0)  # a sphere 1% larger
    moved = snap.snap(verts, faces, target)
    radial = np.linalg.norm(moved, axis=1)
    assert np.abs(radial - 1.01).max() < 2e-3 and np.abs(radial - 1.01).mean() < 3e-4
    # the direction of each vertex is kept: no sideways bunching
    assert np.abs(moved / radial[:, None] - verts).max() < 1e-3
    # far from every sample nothing moves
    far = snap.snap(verts, faces, target * 1.5)
    assert np.array_equal(far, verts)


@pytest.mark.slow
def test_the_stored_flow_gives_back_the_snapped_mesh(fits):
    *_, snapped, _ = fits
    again = storage.from_json(snapped.flow_json)
    assert np.array_equal(again.surface_samples, snapped.model.surface_samples)
    verts, faces, _, _ = core.output_mesh(again, snapped.level)
    assert np.array_equal(verts, snapped.verts)
    states = again.trajectory(snapped.level, [1.0], normalized=True)[0]
    assert np.allclose(states[0], again.surface(snapped.level, normalized=True)[0])


def test_samples_survive_quantisation_to_within_a_hundred_thousandth():
    pts = np.random.default_rng(0).uniform(-1, 1, (1000, 3))
    back = snap.decode(snap.encode(pts))
    assert np.abs(back - pts).max() < 2e-5
    with pytest.raises(ValueError):
        snap.decode(snap.encode(pts)[:-8] + "AAAA")


def test_between_the_two_sides_of_a_thin_wall_nothing_moves():
    # samples on two parallel planes 0.02 apart; vertices half way between them
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (40_000, 2))
    samples = np.c_[xy, np.where(np.arange(40_000) % 2, 0.01, -0.01)]
    verts = np.array([[x, y, 0.0] for x in np.linspace(-0.5, 0.5, 11) for y in np.linspace(-0.5, 0.5, 11)])
    faces = np.array([[i * 11 + j, (i + 1) * 11 + j, i * 11 + j + 1]
                      for i in range(10) for j in range(10)])
    moved = snap.snap(verts, faces, samples)
    assert (np.abs(moved[:, 2]) > 1e-3).mean() < 0.05
    # one wall alone: the vertices land on it
    one = snap.snap(verts, faces, samples[samples[:, 2] > 0])
    used = np.unique(faces)
    assert np.abs(one[used, 2] - 0.01).max() < 1e-6
