"""The bench's exact F-scores (bench/surface_distance.py): a perfect fit scores 1, which
the sampled F@0.1% of core.metrics cannot show, and a surface off by more than τ scores 0."""
import numpy as np

from bench import surface_distance
from neural_morph import core
from neural_morph.core import metrics


def test_exact_fscores_reach_1_where_the_sampled_ones_saturate_and_count_the_offset():
    verts, faces = core.icosphere(4)
    diag = float(np.linalg.norm(np.ptp(verts, axis=0)))
    sampled = metrics.surface_metrics(verts, faces, verts, faces, samples=20_000,
                                      thresholds=(0.001,))
    assert sampled["fscore@0.001"] < 0.5  # the sphere against itself: random gaps > 0.1%
    exact = surface_distance.exact_fscores(core, verts, faces, verts, faces, samples=20_000)
    assert exact == {"exact_fscore@0.0005": 1.0, "exact_fscore@0.001": 1.0,
                     "exact_fscore@0.005": 1.0}
    # the result 0.75 of the 0.1% tolerance outside the target everywhere
    grown = verts * (1.0 + 0.75 * 0.001 * diag)
    off = surface_distance.exact_fscores(core, grown, faces, verts, faces, samples=20_000)
    assert off["exact_fscore@0.0005"] == 0.0
    assert off["exact_fscore@0.001"] == 1.0 and off["exact_fscore@0.005"] == 1.0


def test_surface_distances_are_those_to_the_triangles_not_to_their_vertices():
    verts = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    faces = np.array([[0, 1, 2]])
    points = np.array([[0.25, 0.25, 0.5], [2.0, 0.0, 0.0], [0.25, 0.25, 0.0]])
    d = surface_distance.surface_distances(points, verts, faces)
    np.testing.assert_allclose(d, [0.5, 1.0, 0.0], atol=1e-6)
