"""F-scores on exact point-to-surface distances, through Blender's BVHTree.

`core.metrics.surface_metrics` matches samples to samples: 100,000 random points on each
surface, each matched to the nearest point of the other set. At a tolerance of 0.1% of the
diagonal that saturates: the gaps between random samples are wider than the tolerance, so
a target measured against itself (a perfect fit) scores only 0.11-0.46 on the bench's
targets but the needle (bench.bench's `sampled_ceiling`). Here each sample is matched to
the other *surface* (its nearest point on any triangle), so a perfect fit scores 1 and
the score measures how close the surface lies.
"""
import numpy as np
from mathutils.bvhtree import BVHTree

EXACT_THRESHOLDS = (0.0005, 0.001, 0.005)  # fractions of the target's bounding-box diagonal


def surface_distances(points, verts, faces):
    """(P,) float64 distance from each of `points` (P, 3) to the nearest point of the
    triangles `faces` (F, 3) of `verts` (V, 3), all in one space."""
    tree = BVHTree.FromPolygons(np.asarray(verts, dtype=np.float64).tolist(),
                                np.asarray(faces, dtype=np.int64).tolist(), all_triangles=True)
    find = tree.find_nearest
    out = np.empty(len(points))
    for i, p in enumerate(np.asarray(points, dtype=np.float64).tolist()):
        hit = find(p)
        out[i] = np.inf if hit[0] is None else hit[3]
    return out


def exact_fscores(core, verts_a, faces_a, verts_b, faces_b, samples=100_000, seed=0,
                  thresholds=EXACT_THRESHOLDS):
    """F-scores of mesh A (a result) against mesh B (the target) on exact distances:
    {"exact_fscore@τ": F} for τ in `thresholds` (fractions of B's bounding-box diagonal).
    Precision: the share of `samples` area-weighted samples of A within τ of B's
    triangles; recall: the same of B's samples against A's triangles. Both meshes in one
    space, triangles (F, 3); `core` the add-on's core package (its sampler)."""
    rng = np.random.default_rng(seed)
    pa = core.sample_surface(verts_a, faces_a, samples, rng)
    pb = core.sample_surface(verts_b, faces_b, samples, rng)
    diag = core.metrics.bounding_diagonal(verts_b, np.asarray(faces_b))
    to_b = surface_distances(pa, verts_b, faces_b)
    to_a = surface_distances(pb, verts_a, faces_a)
    return {f"exact_fscore@{tau:g}": core.metrics.f_score(to_b, to_a, tau * diag)
            for tau in thresholds}
