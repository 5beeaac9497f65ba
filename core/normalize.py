"""The similarity transform that puts a target into the unit ball."""
import numpy as np


def normalization(points):
    """Centre and scale with (points - centre) / scale inside the unit ball.

    points: (M, 3) float. Returns (centre (3,) float64, scale float > 0). The centre is
    the bounding-box centre; the scale is the largest distance from it.
    """
    pts = np.asarray(points, dtype=np.float64)
    center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    scale = float(np.linalg.norm(pts - center, axis=1).max())
    if not np.isfinite(scale) or scale <= 0.0 or scale < 1e-12 * max(1.0, float(np.abs(center).max())):
        raise ValueError("The target has zero size: all its points coincide.")
    return center, scale
