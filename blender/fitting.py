"""One fit, from Blender objects to a morph object: its settings, its input (FitRequest),
the result written back, and `fit_objects`, the one synchronous fit that the operator, the
console API and the command line all call (main thread only; jobs.py runs the same steps
with the fit on a worker thread)."""
import json
import time
import types

import bpy
import numpy as np

from .. import core
from . import deps, prefs
from .guards import InputError, check_writable, ctrl_c_cancels
from .meshes import (backed_faces, matrix, self_intersecting_faces_bvh, transform_normals,
                     transform_points, write_mesh)
from .shapekeys import SETTINGS, animate
from .scene import morph_name, object_mode, output_collection, select_only, to_object_mode
from .store import (ANIMATION_KEY, FLOW_KEY, SOURCE_OBJECTS_KEY, SOURCES_KEY, figures_of,
                    load_flow, mark_written, source_objects, store_figures, store_flow)
from .targets import SURFACE_TYPES, evaluated_triangles_of, in_view_layer, resolve_target

# above this share of its vertices held back by the untangle step, a fit says so
PULLED_WARNING = 0.02


class FitRequest:
    """Validated input of one fit: target object, samples (M, 3) world space, settings,
    and for a continued fit the stored flow and the morph object to update."""

    def __init__(self, target, points, settings, init=None, morph=None):
        self.target, self.points, self.settings = target, points, settings
        self.init, self.morph = init, morph
        self.labels = None  # (M,) separate piece of each point, for settings.parts "separate"
        self.normals = None  # (M, 3) the target's normals at the points (same space), for the snap
        self.backed = None  # (M,) bool: the target has surface behind each point (not an open sheet)
        self.target_name = target.name
        self.morph_name = morph.name if morph is not None else None
        self.targets = [target]  # the source objects themselves (for a fit that ends at once)
        self.sources = [target.name]  # their names (a UI job resolves them when it ends)

    @property
    def source(self):
        return ", ".join(self.sources)


def fit_settings(props, device="cpu"):
    """core.FitSettings from any object with the fit_properties attributes (a setting it
    lacks keeps its default), through core.user_settings (the same path as the console
    API). ValueError with a sentence."""
    given = {name: getattr(props, name) for name in core.settings.USER_SETTINGS
             if hasattr(props, name)}
    return core.user_settings(**given, device=device)


def fit_props(target="", continue_fit=False, source="", **settings):
    """The fit operator's properties as a namespace for `fit_objects`: `settings` (user
    settings) over their defaults, a float kept as Blender's FloatProperty keeps it
    (float32), so a fit from the API or the command line equals the button's."""
    defaults = core.FitSettings()
    values = {name: settings.get(name, getattr(defaults, name))
              for name in core.settings.USER_SETTINGS}
    values = {name: float(np.float32(value)) if isinstance(value, float) else value
              for name, value in values.items()}
    return types.SimpleNamespace(target=target, continue_fit=continue_fit, source=source, **values)


def prepare_fit(context, props):
    """Validate settings and input, then sample the target(s). Returns a FitRequest.

    An empty `target` with the active object selected together with other meshes fits
    their union; the active one names the result.
    """
    deps.require()
    settings = fit_settings(props, prefs.preferred_device(context))
    target = resolve_target(context, props.target)
    init = morph = None
    targets = [target]
    source = getattr(props, "source", "")
    if getattr(props, "continue_fit", False):
        morph, init = target, load_flow(target)
        check_writable(morph)
        if target.data.shape_keys is not None and not init.from_mesh:  # Morph Onto's keys are re-made
            raise InputError(f"'{target.name}' has shape keys: remove them before continuing the fit.")
        targets = source_objects(morph, source)
        target = targets[0]
    elif FLOW_KEY in target.keys():
        # Fit on a morph (the panel's default after a fit makes the morph active): refit the
        # objects it was fitted to, never the morph itself (that fits a fit)
        targets = source_objects(target, source)
        target = targets[0]
    elif not props.target and in_view_layer(context, target) and target.select_get():
        targets += [o for o in context.selected_objects if o != target and o.type in SURFACE_TYPES
                    and FLOW_KEY not in o.keys()]
    to_object_mode(context)  # flush Edit Mode changes of the target; no half state afterwards
    verts, faces = evaluated_triangles_of(context, targets)
    try:
        points, tri = core.sample_surface(verts, faces, settings.target_samples, settings.seed,
                                          return_faces=True)
        core.normalization(points)
    except ValueError as exc:
        raise InputError(f"'{target.name}': {exc}") from None
    pieces = core.face_components(verts, faces)  # for the normals and the parts
    normals, backed = surface_normals(verts, faces, tri, pieces)
    if morph is not None and init is not None and init.from_mesh:  # its object's mesh space
        to_mesh = np.linalg.inv(np.array(morph.matrix_world, dtype=float))
        points, normals = transform_points(to_mesh, points), transform_normals(to_mesh, normals)
    request = FitRequest(target, points, settings, init, morph)
    request.normals, request.backed = normals, backed
    request.targets = list(targets)
    request.sources = [t.name for t in targets]
    if settings.parts == "separate" or init is not None:  # a continued fit keeps its own
        request.labels = part_labels(verts, faces, tri, points, pieces, settings, init)
    return request


def part_labels(verts, faces, tri, points, pieces, settings, init=None):
    """Sphere of every sample (M,): one per separate piece, crowded branch and limb
    (core.split_branches). A continued fit keeps the spheres it has: a flow fitted before
    branches had spheres of their own continues with its pieces alone."""
    labels = core.surface_parts(verts, faces, tri, points, pieces)
    kind = (settings if init is None else init.settings).normalization
    split = core.split_branches(verts, faces, tri, points, labels, kind)
    if init is not None and getattr(init.start, "count", 1) != int(split.max()) + 1:
        return labels
    return split


def surface_normals(verts, faces, tri, pieces=None):
    """At samples on the triangles `tri` (M,) of a target mesh (verts (V, 3), faces (F, 3)),
    what the fit knows of its surface: (outward normals (M, 3), backed (M,) bool: the
    target has surface behind the sample, meshes.backed_faces; everywhere on a closed
    mesh, which needs no rays). `pieces`: its core.face_components, when the caller has
    them."""
    face_normals = core.outward_normals(verts, faces, pieces)
    if core.is_closed(verts, faces):
        return face_normals[tri], np.ones(len(tri), dtype=bool)
    used, at = np.unique(tri, return_inverse=True)  # one ray per sampled face
    return face_normals[tri], backed_faces(verts, faces, face_normals, used)[at]


def write_fit_result(context, target, result, seconds, morph=None, sources=None):
    """Create `<target> Morph` from a core.FitResult, or update `morph` in place for a
    continued fit; make it active and selected. Returns (object, figures).

    The new object is linked last, after its mesh, flow and figures are written, into a
    collection of the view layer, so a failure leaves nothing behind."""
    model = result.model
    if morph is not None and model.from_mesh:
        return _rekey_onto(context, morph, result, seconds, sources or [target])
    name = morph_name(target.name)
    uvs = model.sphere_uvs(result.level)
    # the source objects (or their names, from a UI job that ended later) -> objects
    found = [bpy.data.objects.get(s) if isinstance(s, str) else s for s in (sources or [target])]
    source_refs = [o for o in found if o is not None]
    sources = [o.name for o in source_refs]
    to_object_mode(context)
    if morph is None:
        obj = bpy.data.objects.new(name, write_mesh(name, result.verts, result.faces, uvs))
        obj.matrix_world = matrix(model.matrix())
    else:
        obj = morph
        check_writable(obj)
        write_mesh(obj.data.name, result.verts, result.faces, uvs, mesh=obj.data)
    store_flow(obj, result.flow_json)
    obj[SOURCE_OBJECTS_KEY] = source_refs
    obj[SOURCES_KEY] = json.dumps(sources)
    figures = {
        "source": ", ".join(sources),
        "iterations": model.iterations,
        "seconds": round(seconds, 3),
        "chamfer": result.chamfer,
        "self_intersections": result.self_intersections,
        "resolution": result.level,
        "vertices": len(result.verts),
        "parts": model.spheres.count,
        "pulled_back": result.pulled_back,
        "pulled_distance": round(result.pulled_distance, 4),
        "snap_held": result.snap_held,
        "relaxed": result.relaxed,
        "creased": result.creased,
        "seamed": result.seamed,
        "seed": model.settings.seed,
    }
    store_figures(obj, figures)
    mark_written(obj)
    if morph is None:
        output_collection(context, target).objects.link(obj)
    select_only(context, obj)
    return obj, figures




def _rekey_onto(context, obj, result, seconds, sources):
    """A continued Morph Onto: store the trained flow and its figures, and make the shape
    keys again with the animation settings the object has (Animate's defaults if none).
    Returns (object, figures)."""
    found = [bpy.data.objects.get(s) if isinstance(s, str) else s for s in sources]
    found = [o for o in found if o is not None]
    try:
        animation = json.loads(str(obj.get(ANIMATION_KEY, "{}")))
    except ValueError:
        animation = {}
    animation = {k: animation[k] for k in SETTINGS if k in animation}
    animation = {"keys": core.settings.DEFAULT_KEYS, "frame_start": 1, "frame_end": 100,
                 "ease": True, "reverse": False, **animation}
    store_flow(obj, result.flow_json)
    obj[SOURCE_OBJECTS_KEY] = found
    obj[SOURCES_KEY] = json.dumps([o.name for o in found])
    figures = {"iterations": result.model.iterations, "seconds": round(seconds, 3),
               "chamfer": result.chamfer, "self_intersections": result.self_intersections,
               "vertices": len(result.verts), "pulled_back": result.pulled_back,
               "pulled_distance": round(result.pulled_distance, 4),
               "snap_held": result.snap_held,
               "source_self_intersections": result.source_crossing}
    store_figures(obj, figures)
    with object_mode(context, obj):
        animate(obj, result.model, replace=True, **animation)
    mark_written(obj)
    select_only(context, obj)
    return obj, figures_of(obj)


def fit_objects(context, props, progress=None):
    """Fit synchronously, as the Fit button does in the background: prepare_fit, the fit
    (core.run_fit, outputs cleaned with Blender's BVH check), write_fit_result. `props`:
    any object with the fit operator's properties (target, continue_fit, source and the
    user settings; see fit_props). `progress(iteration, loss)` is called as it goes.

    Returns (morph object, figures). Raises InputError or core's ValueError with a
    sentence, deps.MissingDependency, and lets KeyboardInterrupt (Ctrl+C) through; nothing
    is created then."""
    start = time.perf_counter()
    request = prepare_fit(context, props)
    with ctrl_c_cancels() as cancel:
        result = core.run_fit(request.points, request.settings, progress=progress, cancel=cancel,
                              init=request.init, find=self_intersecting_faces_bvh,
                              labels=request.labels, normals=request.normals,
                              backed=request.backed)
    return write_fit_result(context, request.target, result, time.perf_counter() - start,
                            request.morph, request.targets)


def console_progress(total):
    """A progress callback for fit_objects that prints iteration, loss and time left to
    stdout (background mode and the command line)."""
    start = time.perf_counter()
    every = max(1, min(total // 20, 50))

    def progress(iteration, loss):
        if iteration % every == 0 or iteration == total:
            spent = time.perf_counter() - start
            left = spent / iteration * (total - iteration)
            print(f"Neural Morph: iteration {iteration}/{total}  loss {loss:.4g}  "
                  f"{left:.0f} s left", flush=True)
    return progress


def summary(figures):
    """One line of a fit's (or a Morph Onto's) figures."""
    if "morphed_mesh" in figures:
        return (f"Neural Morph: '{figures['morphed_mesh']}' onto '{figures['source']}': "
                f"{figures['iterations']} iterations in {figures['seconds']:.1f} s, Chamfer "
                f"{figures['chamfer']:.2e}, {figures['vertices']} vertices, "
                f"{figures['self_intersections']} self-intersecting faces")
    return (f"Neural Morph: {figures['iterations']} iterations in {figures['seconds']:.1f} s, "
            f"Chamfer {figures['chamfer']:.2e}, level {figures['resolution']} "
            f"({figures['vertices']} vertices), {figures['self_intersections']} self-intersecting faces")


def report_result(op, figures):
    """Report a fit's figures through `op.report(type, text)` (an operator's, or the
    command line's console): the summary, and a warning when more than PULLED_WARNING of
    the vertices were held back."""
    # Every output is untangled (core.output_mesh), so the count is 0; what the untangle
    # step gave up for it is said when it is more than a trace.
    op.report({'INFO'}, summary(figures))
    pulled, vertices = figures.get("pulled_back", 0), max(figures["vertices"], 1)
    if pulled > PULLED_WARNING * vertices:
        op.report({'WARNING'},
                  f"Neural Morph: {pulled} vertices ({100 * pulled / vertices:.1f}%) stop short of "
                  f"the shape (by up to {figures['pulled_distance']:.2f} of the unit ball), where the "
                  "surface would otherwise cross itself: those regions follow the flow only part "
                  "of the way and look smoothed.")


class _Console:
    """An operator's `report` for code that runs no operator (the command line, the API
    in the background): prints each report as Blender prints an operator's ("Info: ...")."""

    @staticmethod
    def report(kinds, text):
        print(f"{next(iter(kinds)).title()}: {text}", flush=True)


CONSOLE = _Console()
