"""Neural Morph's Python API, for the Blender console and scripts.

The enabled extension makes it importable under one fixed name, wherever it was
installed::

    import neural_morph_api as nm
    morph = nm.fit("Suzanne", iterations=400)         # new morph object, as the button makes
    verts, faces = nm.mesh(morph, level=6)            # (V, 3) world space, (F, 3)
    states, faces = nm.trajectory(morph, [0, 0.5, 1]) # (T, V, 3) sphere -> shape
    on_sphere = nm.inverse(morph, verts)              # (V, 3) world space, back on the sphere
    on_sphere, off = nm.inverse(morph, verts, return_distance=True)  # and how far off the surface
    flow = nm.fit_points(points)                      # (N, 3) numpy array -> FittedFlow
    onto = nm.morph_onto("Cube", "Suzanne")           # the cube's own mesh morphed onto Suzanne

Object functions take an object or its name and work in the object's world space.
Every function raises ValueError with a sentence for bad input (the same sentences the
operators report, listed in README.md's troubleshooting table).
"""
import dataclasses
import numbers

import numpy as np

from . import core
from .core import settings as _settings

ALIAS = "neural_morph_api"

# FitSettings fields that hold whole numbers, and those that hold any real number (by the
# exact type of their default: bool is an int subclass, and `untangle` is no count)
_WHOLE = {f.name for f in dataclasses.fields(core.FitSettings) if type(f.default) is int}
_REAL = {f.name for f in dataclasses.fields(core.FitSettings) if type(f.default) is float}


def _object(obj):
    import bpy
    found = bpy.data.objects.get(obj) if isinstance(obj, str) else obj
    if found is None:
        raise ValueError(f"No object named '{obj}' exists.")
    return found


def _find_bvh():
    """Blender's self-intersection check, the one every output is cleaned with."""
    from .blender import meshes
    return meshes.self_intersecting_faces_bvh


def _whole(name, value):
    """`value` as an int when it is a whole number (3 or 3.0), else ValueError: a level or
    a count is never rounded silently (3.7 is refused, not taken as 3)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not float(value).is_integer()):
        raise ValueError(f"'{name}' must be a whole number, got {value!r}.")
    return int(float(value))


def _level(value):
    """A whole icosphere level within the output limits (core.settings.check_level)."""
    return _settings.check_level(_whole("level", value))


def _checked_settings(settings):
    """Settings with whole numbers where FitSettings counts (iterations 2.5 is refused) and
    numbers where it takes a real, before they reach torch or Blender's properties."""
    out = dict(settings)
    for name, value in settings.items():
        if name in _WHOLE:
            out[name] = _whole(name, value)
        elif name in _REAL and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise ValueError(f"'{name}' must be a number, got {value!r}.")
    return out


def flow_of(obj):
    """The core.FittedFlow stored on a morph object."""
    from .blender import store
    return store.load_flow(_object(obj))  # its InputError is a ValueError


def fit(target, **settings):
    """Fit a mesh object (or its name) as the Fit button does, through the same function
    (blender.fitting.fit_objects); returns the new morph object. `settings` are the
    operator's properties (iterations, resolution, ..., continue_fit, source). On an error
    nothing is created."""
    import bpy

    from .blender import deps, fitting
    obj = _object(target)
    unknown = sorted(set(settings) - set(_settings.USER_SETTINGS) - {"continue_fit", "source"})
    if unknown:
        raise ValueError(f"Unknown fit setting(s): {', '.join(unknown)}.")
    settings = _checked_settings(settings)
    # the README sentences for ranges and choices (e.g. normalization)
    core.user_settings(**{k: v for k, v in settings.items() if k in _settings.USER_SETTINGS})
    props = fitting.fit_props(obj.name, **settings)
    progress = fitting.console_progress(props.iterations) if bpy.app.background else None
    try:
        morph, figures = fitting.fit_objects(bpy.context, props, progress)
    except KeyboardInterrupt:  # Ctrl+C
        raise ValueError("The fit was cancelled; nothing was created.") from None
    except deps.MissingDependency as exc:
        raise ValueError(str(exc)) from None
    if bpy.app.background:  # what the operator's reports printed in the background
        fitting.report_result(fitting.CONSOLE, figures)
    return morph


ONTO_SETTINGS = _settings.ONTO_SETTINGS


def morph_onto(source, target, keys=_settings.DEFAULT_KEYS, frame_start=1, frame_end=100,
               ease=True, **settings):
    """Morph a mesh object `source` onto the shape of `target` (objects or names) as the
    Morph Onto button does (blender.onto.morph_onto); returns the new object: a copy of
    the source with shape keys from it (Basis) to the target's shape, keyed from
    `frame_start` to `frame_end`. `settings`: iterations, points, learning_rate, steps,
    normalization, seed. On an error nothing is created."""
    import bpy

    from .blender import deps, fitting, onto
    source_obj, target_obj = _object(source), _object(target)
    unknown = sorted(set(settings) - set(ONTO_SETTINGS))
    if unknown:
        raise ValueError(f"Unknown Morph Onto setting(s): {', '.join(unknown)}.")
    settings = _checked_settings(settings)
    core.user_settings(**settings)
    props = onto.onto_props(source_obj.name, target_obj.name, _whole("keys", keys),
                            _whole("frame_start", frame_start), _whole("frame_end", frame_end),
                            bool(ease), **settings)
    progress = fitting.console_progress(props.iterations) if bpy.app.background else None
    try:
        obj, figures, _ = onto.morph_onto(bpy.context, props, progress)
    except KeyboardInterrupt:  # Ctrl+C
        raise ValueError("The fit was cancelled; nothing was created.") from None
    except deps.MissingDependency as exc:
        raise ValueError(str(exc)) from None
    if bpy.app.background:
        fitting.report_result(fitting.CONSOLE, figures)
    return obj


def fit_points(target_points, /, progress=None, normals=None, backed=None, **settings):
    """Fit an (N, 3) array of surface samples; returns a core.FittedFlow (no Blender data).
    `normals` (N, 3), the surface's outward normals at the samples, lets the last-millimetre
    snap keep to the side of the surface each vertex faces (thin walls, sharp edges).
    `backed` (N,) bool, with normals: whether the surface has more of itself behind each
    sample (False on an open sheet, whose two sides then both count as outside; None: a
    closed surface, backed everywhere), as the operator finds with Blender's ray cast.

    `settings` are the operator's settings (iterations, resolution, points, learning_rate,
    steps, seed, device) or any other core.FitSettings field; what is not given is derived
    exactly as for the operator (core.user_settings). ValueError with a sentence (also for
    fewer than 16 points, a negative seed, a count that is not a whole number or a fit
    that diverges)."""
    settings = _checked_settings(settings)
    return core.fit(np.asarray(target_points, dtype=np.float64), core.user_settings(**settings),
                    progress, normals=normals, backed=backed)


def _world(obj, unit):
    from .blender import meshes
    return meshes.transform_points(obj.matrix_world, unit)


def mesh(obj, level=core.FitSettings.resolution):
    """Flowed icosphere at `level` (a whole number, 0 to 7): (verts (V, 3) world space,
    faces (F, 3)). Also accepts a FittedFlow, whose vertices are then in its target's space."""
    level = _level(level)
    if not hasattr(obj, "surface"):
        obj = _object(obj)
        verts, faces, _, _ = core.output_mesh(flow_of(obj), level, _find_bvh())
        return _world(obj, verts), faces
    verts, faces, _, _ = core.output_mesh(obj, level, _find_bvh())
    return obj.to_target(verts), faces


TIMES_MESSAGE = ("Trajectory times must be a number or a non-empty list of finite numbers, "
                 "e.g. [0, 0.5, 1].")


def _times(times):
    """(unique times (U,), index (T,) of each given time into them, scalar?)."""
    try:
        values = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(TIMES_MESSAGE) from None
    if values.ndim > 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(TIMES_MESSAGE)
    unique, index = np.unique(values.reshape(-1), return_inverse=True)
    return unique, index.reshape(-1), values.ndim == 0


def trajectory(obj, times, level=_settings.TRAJECTORY_LEVEL):
    """States at each time in `times` (0 = sphere, 1 = shape): ((T, V, 3), faces).

    A single time (a number, not a list) gives one state (V, 3). A time that appears more
    than once is computed once."""
    level = _level(level)
    unique, index, scalar = _times(times)
    if not hasattr(obj, "trajectory"):
        obj = _object(obj)
        states, faces = core.clean_trajectory(flow_of(obj), level, unique, _find_bvh())
        states = _world(obj, states)
    else:
        states, faces = core.clean_trajectory(obj, level, unique, _find_bvh())
        states = obj.to_target(states)
    states = states[index]
    return (states[0] if scalar else states), faces


POINTS_MESSAGE = "Points to invert must be an (N, 3) array of finite coordinates, at least one point."


def _points(points):
    try:
        values = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(POINTS_MESSAGE) from None
    if values.ndim != 2 or values.shape[1] != 3 or len(values) == 0 or not np.isfinite(values).all():
        raise ValueError(POINTS_MESSAGE)
    return values


def inverse(obj, points, return_distance=False):
    """Carry shape-surface points (N, 3) backward onto the sphere: (N, 3), same space.

    With `return_distance=True` it returns (sphere points (N, 3), distance (N,)): how far
    each point is from the surface point its sphere point stands for. That surface point is
    φ(x / |x| · r), the flow of the result pulled radially onto the sphere, so the distance
    is in the same space as `points` (world units for an object), about 0 for points on the
    flowed surface and large for points off it (the result then lies off the sphere too,
    by as much as the point lies off the surface). A point this far off is no surface point:
    check `distance` before using its sphere point, e.g. for a texture lookup.

    Accuracy (FittedFlow.inverse: backward integration on the output solver grid, then 3
    correction rounds, float32 solver): for points on the flowed surface φ(sphere), the
    result lies on the sphere and φ(inverse(y)) hits y to within 1e-4 of the unit ball
    (normalised space; multiply by the target's half-size for world units). Measured at
    level 6 (40,962 points) on 20- and 200-iteration fits of an ellipsoid: at most 1.4e-7
    off the sphere and φ(inverse(y)) at most 1.3e-7 from y, float32 precision;
    tests/blender/test_reliability.py checks the 1e-4 bound on a small fit. Output-mesh
    vertices that untangling pulled back along their paths, or that the last-millimetre snap
    moved onto the target (by at most 0.04 of the unit ball, core/snap.py), are not on
    φ(sphere), so they do not come back exactly onto the sphere (their distance says by how
    much)."""
    from .blender import meshes
    points = _points(points)
    if hasattr(obj, "inverse"):  # a FittedFlow: its target's space
        flow = obj
        mw = flow.matrix()
    else:  # an object: its mesh space is the flow's normalised space
        obj = _object(obj)
        flow = flow_of(obj)
        mw = np.array(obj.matrix_world, dtype=np.float64)
    unit = flow.inverse((points - mw[:3, 3]) @ np.linalg.inv(mw[:3, :3]).T, normalized=True)
    result = meshes.transform_points(mw, unit)
    if not return_distance:
        return result
    landed = meshes.transform_points(mw, flow.flow(flow.spheres.onto(unit)))
    return result, np.linalg.norm(landed - points, axis=1)
