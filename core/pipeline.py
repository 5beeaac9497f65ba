"""From target samples to a clean output mesh: `run_fit` fits, `output_mesh` turns a flow
into the mesh every caller (fit, remesh, the API, the job) writes."""
import dataclasses

import numpy as np

from .fit import fit
from .intersect import count_self_intersections
from .metrics import mesh_chamfer


@dataclasses.dataclass
class FitResult:
    """A fitted flow and its output mesh, in normalised space (the unit ball)."""
    model: object              # FittedFlow
    verts: np.ndarray          # (V, 3) float64, normalised space
    faces: np.ndarray          # (F, 3) int64
    level: int                 # icosphere level actually used
    self_intersections: int    # intersecting faces at that level (0 unless capped)
    chamfer: float             # mean squared NN distance, both directions, normalised space
    flow_json: str             # the model as plain JSON, made off the main thread


def output_mesh(model, level, count=count_self_intersections, max_level=None):
    """The flowed icosphere at the lowest level in [level, max_level] that does not
    self-intersect: (verts (V, 3) normalised, faces (F, 3), level, intersecting faces).

    Where the flow stretches the sphere strongly, triangles are too coarse for the
    surface; a finer level fixes that. The solver grid stays the one the field was
    trained on: the output is the map the fit optimised. When even `max_level`
    intersects, the level with the fewest intersecting faces. `max_level=None` evaluates
    `level` only. `count(verts, faces)` counts self-intersecting faces (Blender passes its
    BVH tree); `count=None` skips the check and reports 0.
    """
    best = None
    top = level if max_level is None else max(level, max_level)
    for lvl in range(level, top + 1):
        verts, faces = model.surface(lvl, normalized=True)
        bad = count(verts, faces) if count is not None else 0
        if best is None or bad < best[3]:
            best = (verts, faces, lvl, bad)
        if bad == 0:
            break
    return best


def run_fit(target_points, settings, progress=None, cancel=None, init=None, snapshot=None,
            count=count_self_intersections):
    """Fit `target_points` (M, 3) and return a FitResult with a clean output mesh.

    `count(verts, faces)` counts self-intersecting faces (Blender passes its BVH tree)."""
    model = fit(target_points, settings, progress=progress, cancel=cancel, init=init,
                snapshot=snapshot)
    verts, faces, level, bad = output_mesh(model, settings.resolution, count, settings.max_resolution)
    unit = model.to_normalized(np.asarray(target_points)[:50_000])
    chamfer = mesh_chamfer(verts, faces, unit, seed=settings.seed)
    return FitResult(model, verts, faces, level, bad, chamfer, model.to_json())
