"""The transform that puts a target into the unit ball: normalised u -> target space M·[u, 1]."""
import itertools

import numpy as np

MIN_AXIS = 0.25  # an affine normalisation stretches no axis by more than 1 / MIN_AXIS


def normalization(points, kind="affine"):
    """(4, 4) float64 matrix M with target = M[:3, :3] @ u + M[:3, 3] and |u| <= 1.

    points: (M, 3) float, target space. "similarity": the bounding-box centre and one
    scale, the largest distance from it. "affine": the bounding box in the principal
    axes (the signed axis order closest to the target's own axes, so an axis-aligned
    target keeps its axes), each axis scaled to the same extent (no axis stretched by
    more than 1 / MIN_AXIS, so a flat target stays flat), then one scale into the unit
    ball. The sphere starts closer to the target's proportions, and the field's grids
    spend their cells evenly. ValueError when the target has zero size.
    """
    pts = np.asarray(points, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = float(np.linalg.norm(hi - lo))
    if not np.isfinite(size) or size <= 0.0 or size < 1e-12 * max(1.0, float(np.abs(lo).max())):
        raise ValueError("The target has zero size: all its points coincide.")
    if kind == "similarity":
        rotation = np.eye(3)
    else:
        mean = pts.mean(axis=0)
        _, vecs = np.linalg.eigh(np.cov((pts - mean).T))
        rotation = max((vecs @ r for r in _SIGNED_PERMUTATIONS), key=np.trace)
        if np.linalg.det(rotation) < 0:  # eigh may return a reflection
            rotation = max((vecs @ r for r in _SIGNED_PERMUTATIONS if np.linalg.det(vecs @ r) > 0),
                           key=np.trace)
    local = pts @ rotation
    lo, hi = local.min(axis=0), local.max(axis=0)
    centre_local = 0.5 * (lo + hi)
    if kind == "similarity":
        half = np.ones(3)
    else:
        half = 0.5 * (hi - lo)
        half = np.maximum(half, MIN_AXIS * half.max())
    unit = (local - centre_local) / half
    axes = half * float(np.linalg.norm(unit, axis=1).max())
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * axes  # scale the columns: M3 = R · diag(axes)
    matrix[:3, 3] = rotation @ centre_local
    return matrix


def _signed_permutations():
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[list(perm), range(3)] = signs
            out.append(m)
    return out


_SIGNED_PERMUTATIONS = _signed_permutations()
