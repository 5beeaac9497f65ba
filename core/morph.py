"""From target samples to a clean output mesh: fit, then pick the icosphere level."""
import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from .fit import fit
from .intersect import count_self_intersections
from .sampling import sample_surface


@dataclasses.dataclass
class MorphResult:
    """A fitted flow and its output mesh, in normalised space (the unit ball)."""
    model: object              # FittedFlow
    verts: np.ndarray          # (V, 3) float64, normalised space
    faces: np.ndarray          # (F, 3) int64
    level: int                 # icosphere level actually used
    self_intersections: int    # intersecting faces at that level (0 unless capped)
    chamfer: float             # mean squared NN distance, both directions, normalised space
    flow_json: str             # the model as plain JSON, made off the main thread


def choose_level(model, level, max_level, count=count_self_intersections):
    """Lowest icosphere level in [level, max_level] whose flowed mesh does not self-intersect.

    Where the flow stretches the sphere strongly, triangles are too coarse for the
    surface; a finer level fixes that. The solver grid stays the one the field was
    trained on: the output is the map the fit optimised. Returns (verts (V, 3)
    normalised, faces, level, intersecting face count); when even `max_level`
    intersects, the level with the fewest intersecting faces.
    """
    best = None
    for lvl in range(level, max(level, max_level) + 1):
        verts, faces = model.surface(lvl, normalized=True)
        bad = count(verts, faces)
        if best is None or bad < best[3]:
            best = (verts, faces, lvl, bad)
        if bad == 0:
            break
    return best


def mesh_chamfer(verts, faces, target_unit, samples=20_000, seed=0):
    """Mean squared nearest distance between a mesh and points, both directions summed.

    verts (V, 3), faces (F, 3) and target_unit (M, 3) share one space (normalised).
    """
    pts = sample_surface(verts, faces, samples, seed)
    target = np.asarray(target_unit, dtype=np.float64)
    d1, _ = cKDTree(target).query(pts, k=1)
    d2, _ = cKDTree(pts).query(target, k=1)
    return float((d1 ** 2).mean() + (d2 ** 2).mean())


def build_morph(target_points, settings, progress=None, cancel=None, init=None, snapshot=None,
                count=count_self_intersections):
    """Fit `target_points` (M, 3) and return a MorphResult with a clean output mesh.

    `count(verts, faces)` counts self-intersecting faces (Blender passes its BVH tree)."""
    model = fit(target_points, settings, progress=progress, cancel=cancel, init=init,
                snapshot=snapshot)
    verts, faces, level, bad = choose_level(model, settings.resolution, settings.max_resolution, count)
    unit = model.to_normalized(np.asarray(target_points)[:50_000])
    chamfer = mesh_chamfer(verts, faces, unit, seed=settings.seed)
    return MorphResult(model, verts, faces, level, bad, chamfer, model.to_json())
