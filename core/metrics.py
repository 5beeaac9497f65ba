"""Evaluation distances: the reported Chamfer figure and the benchmark's surface metrics."""
import numpy as np
from scipy.spatial import cKDTree

from .sampling import sample_surface, triangle_normals


def nearest(points_or_tree, query, workers=1):
    """(distance, index) of the nearest point for every row of `query` (Q, 3), through a
    KD-tree (never an N×M matrix). `points_or_tree`: (N, 3) array or a prebuilt cKDTree."""
    tree = points_or_tree if isinstance(points_or_tree, cKDTree) else cKDTree(points_or_tree)
    return tree.query(query, k=1, workers=workers)


def mesh_chamfer(verts, faces, target_unit, samples=20_000, seed=0):
    """Mean squared nearest distance between a mesh and points, both directions summed.

    verts (V, 3), faces (F, 3) and target_unit (M, 3) share one space (normalised).
    """
    pts = sample_surface(verts, faces, samples, seed)
    target = np.asarray(target_unit, dtype=np.float64)
    d1, _ = nearest(target, pts)
    d2, _ = nearest(pts, target)
    return float((d1 ** 2).mean() + (d2 ** 2).mean())


def surface_metrics(verts_a, faces_a, verts_b, faces_b, samples=100_000, seed=0,
                    thresholds=(0.01, 0.02)):
    """Compare mesh A (result) with mesh B (target) on area-weighted samples of each.

    Returns a dict: chamfer_l1 (mean Euclidean nearest distance, both directions averaged,
    over B's bounding-box diagonal), fscore@τ for τ in `thresholds` (fractions of that
    diagonal), and normal_consistency (mean |cos| between the normals of nearest points).
    """
    rng = np.random.default_rng(seed)
    pa, fa = sample_surface(verts_a, faces_a, samples, rng, return_faces=True)
    pb, fb = sample_surface(verts_b, faces_b, samples, rng, return_faces=True)
    diag = bounding_diagonal(verts_b, faces_b)
    da, ia = nearest(pb, pa, workers=-1)
    db, ib = nearest(pa, pb, workers=-1)
    out = {"chamfer_l1": float(0.5 * (da.mean() + db.mean()) / diag), "diagonal": diag}
    for tau in thresholds:
        out[f"fscore@{tau:g}"] = f_score(da, db, tau * diag)
    na, nb = triangle_normals(verts_a, faces_a)[fa], triangle_normals(verts_b, faces_b)[fb]
    cos_ab = np.abs((na * nb[ia]).sum(1))
    cos_ba = np.abs((nb * na[ib]).sum(1))
    out["normal_consistency"] = float(0.5 * (cos_ab.mean() + cos_ba.mean()))
    return out


def bounding_diagonal(verts, faces):
    """Length of the bounding-box diagonal of the vertices (V, 3) that `faces` (F, 3) use."""
    return float(np.linalg.norm(np.ptp(np.asarray(verts, dtype=np.float64)[np.unique(faces)], axis=0)))


def f_score(result_to_target, target_to_result, tolerance):
    """F-score at `tolerance`: the harmonic mean of precision (the share of the distances
    (N,) from the result's samples to the target below it) and recall (the same of the
    target's samples (M,) to the result). Distances and tolerance in one unit."""
    precision = float((np.asarray(result_to_target) < tolerance).mean())
    recall = float((np.asarray(target_to_result) < tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def roughness(verts, faces):
    """Mean over the edges two triangles share of 1 - cos(the angle between their unit
    normals): 0 for a plane, about 0.00024 for a level-5 icosphere, growing with every
    crease and crumple. verts (V, 3), faces (F, 3); any space (scale-free)."""
    verts, faces = np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    normals = triangle_normals(verts, faces)  # unit; 0 for a degenerate triangle
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    owner = np.tile(np.arange(len(faces)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    pair = np.flatnonzero((edges[1:] == edges[:-1]).all(axis=1))  # an edge and its next twin
    if not len(pair):
        return 0.0
    cos = (normals[owner[pair]] * normals[owner[pair + 1]]).sum(axis=1)
    return float(np.mean(1.0 - np.clip(cos, -1.0, 1.0)))
