"""Neural Morph's Python API, for the Blender console and scripts.

The enabled extension makes it importable under one fixed name, wherever it was
installed::

    import neural_morph_api as nm
    morph = nm.fit("Suzanne", iterations=400)         # new morph object, like the button
    verts, faces = nm.mesh(morph, level=6)            # (V, 3) world space, (F, 3)
    states, faces = nm.trajectory(morph, [0, 0.5, 1]) # (T, V, 3) sphere -> shape
    on_sphere = nm.inverse(morph, verts)              # (V, 3) world space, back on the sphere
    flow = nm.fit_points(points)                      # (N, 3) numpy array -> FittedFlow

Object functions take an object or its name and work in the object's world space.
Every function raises ValueError with a sentence for bad input (the same sentences the
operators report, listed in README.md's troubleshooting table).
"""
import numpy as np

from . import core
from .core import settings as _settings

ALIAS = "neural_morph_api"


def _object(obj):
    import bpy
    found = bpy.data.objects.get(obj) if isinstance(obj, str) else obj
    if found is None:
        raise ValueError(f"No object named '{obj}' exists.")
    return found


def _find_bvh():
    """Blender's self-intersection check, the one every output is cleaned with."""
    from .blender import data
    return data.self_intersecting_faces_bvh


def flow_of(obj):
    """The core.FittedFlow stored on a morph object."""
    from .blender import data
    try:
        return data.load_flow(_object(obj))
    except data.InputError as exc:
        raise ValueError(str(exc)) from None


def fit(target, **settings):
    """Fit a mesh object (or its name) through `bpy.ops.neural_morph.fit`; returns the new
    morph object. `settings` are the operator's properties (iterations, resolution, ...)."""
    import bpy
    obj = _object(target)
    unknown = sorted(set(settings) - set(_settings.USER_SETTINGS) - {"continue_fit", "source"})
    if unknown:
        raise ValueError(f"Unknown fit setting(s): {', '.join(unknown)}.")
    try:
        result = bpy.ops.neural_morph.fit(target=obj.name, **settings)  # type: ignore[attr-defined]  # registered at runtime
    except (RuntimeError, TypeError) as exc:  # the operator's error report, or a bad setting
        raise ValueError(_sentence(exc)) from None
    if result != {'FINISHED'}:
        raise ValueError("The fit was cancelled; nothing was created.")
    return bpy.context.view_layer.objects.active


def _sentence(exc):
    """The message of an operator's RuntimeError without Blender's "Error: " prefixes."""
    text = str(exc).strip()
    while text.startswith("Error: "):
        text = text[len("Error: "):].strip()
    return text


def fit_points(target_points, /, progress=None, **settings):
    """Fit an (N, 3) array of surface samples; returns a core.FittedFlow (no Blender data).

    `settings` are the operator's settings (iterations, resolution, points, learning_rate,
    steps, seed, device) or any other core.FitSettings field; what is not given is derived
    exactly as for the operator (core.user_settings). ValueError with a sentence (also for
    fewer than 16 points, a negative seed or a fit that diverges)."""
    return core.fit(np.asarray(target_points, dtype=np.float64), core.user_settings(**settings),
                    progress)


def _world(obj, unit):
    mw = np.array(obj.matrix_world, dtype=np.float64)
    return unit @ mw[:3, :3].T + mw[:3, 3]


def mesh(obj, level=core.FitSettings.resolution):
    """Flowed icosphere at `level`: (verts (V, 3) world space, faces (F, 3)). Also accepts a
    FittedFlow, whose vertices are then in its target's space."""
    if not hasattr(obj, "surface"):
        obj = _object(obj)
        verts, faces, _, _ = core.output_mesh(flow_of(obj), level, _find_bvh())
        return _world(obj, verts), faces
    verts, faces, _, _ = core.output_mesh(obj, level, _find_bvh())
    return obj.to_target(verts), faces


def trajectory(obj, times, level=_settings.TRAJECTORY_LEVEL):
    """States at each time in `times` (0 = sphere, 1 = shape): ((T, V, 3), faces)."""
    if not hasattr(obj, "trajectory"):
        obj = _object(obj)
        states, faces = core.clean_trajectory(flow_of(obj), level, times, _find_bvh())
        return _world(obj, states), faces
    states, faces = core.clean_trajectory(obj, level, times, _find_bvh())
    return obj.to_target(states), faces


def inverse(obj, points):
    """Carry shape-surface points (N, 3) backward onto the sphere: (N, 3), same space.

    Accuracy (FittedFlow.inverse: backward integration on the output solver grid, then 3
    correction rounds, float32 solver): for points on the flowed surface φ(sphere), the
    result lies on the sphere and φ(inverse(y)) hits y to within 1e-4 of the unit ball
    (normalised space; multiply by the target's half-size for world units). Measured at
    level 6 (40,962 points) on 20- and 200-iteration fits of an ellipsoid: at most 1.4e-7
    off the sphere and φ(inverse(y)) at most 1.3e-7 from y, float32 precision;
    tests/blender/test_reliability.py checks the 1e-4 bound on a small fit. Output-mesh
    vertices that untangling pulled back along their paths are not on φ(sphere), so they
    do not come back exactly onto the sphere."""
    if not hasattr(obj, "inverse"):
        obj = _object(obj)
        mw = np.array(obj.matrix_world, dtype=np.float64)
        local = (np.asarray(points, dtype=np.float64) - mw[:3, 3]) @ np.linalg.inv(mw[:3, :3]).T
        return _world(obj, flow_of(obj).inverse(local, normalized=True))
    return obj.inverse(points)
