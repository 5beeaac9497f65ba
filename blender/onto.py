"""Morph Onto: the user's own mesh flowed onto a target shape, as a new object that keeps
the source's topology, UVs, materials and vertex groups, with shape keys along the flow
(main thread only). `morph_onto` is the one function the operator, `nm.morph_onto` and the
command line call."""
import json
import time
import types

import bpy
import numpy as np

from .. import core
from . import deps, prefs
from .fitting import fit_settings
from .guards import InputError, ctrl_c_cancels
from .meshes import matrix, self_intersecting_faces_bvh, transform_normals, transform_points
from .scene import morph_name, output_collection, select_only, to_object_mode
from .shapekeys import animate
from .store import SOURCE_OBJECTS_KEY, SOURCES_KEY, mark_written, store_figures, store_flow
from .targets import evaluated_triangles, resolve_target

NO_SOURCE = ("No source: select the mesh to morph together with the target, with the target "
             "active, or name the source.")
SAME = "The source and the target are the same object: choose another mesh to morph onto it."
SUFFIX = " Onto "
SOURCE_CROSSES = ("'{name}' crosses itself already ({count} faces): its parts that cross each other "
                  "may go on crossing each other along the morph, and nothing else crosses.")


def onto_props(source="", target="", keys=core.settings.DEFAULT_KEYS, frame_start=1,
               frame_end=100, ease=True, **settings):
    """The morph_onto operator's properties as a namespace for `morph_onto`: `settings`
    (user fit settings) over their defaults, floats as Blender's FloatProperty keeps them."""
    defaults = core.FitSettings()
    values = {name: settings.get(name, getattr(defaults, name))
              for name in core.settings.USER_SETTINGS}
    values = {name: float(np.float32(value)) if isinstance(value, float) else value
              for name, value in values.items()}
    return types.SimpleNamespace(source=source, target=target, keys=keys, frame_start=frame_start,
                                 frame_end=frame_end, ease=ease, **values)


class OntoRequest:
    """Validated input of one Morph Onto: the source and target objects, the settings, the
    source's evaluated mesh (verts (V, 3) float64 and triangles (F, 3), the source's mesh
    space) and target samples (M, 3) in that same space."""

    def __init__(self, source, target, settings, verts, faces, points, normals=None):
        self.source, self.target, self.settings = source, target, settings
        self.verts, self.faces, self.points = verts, faces, points
        self.normals = normals  # (M, 3) the target's normals at the points, same space


def pick_source(context, name, target):
    """The mesh to morph: the one named, else the other selected object."""
    if name:
        source = bpy.data.objects.get(name)
        if source is None:
            raise InputError(f"No object named '{name}' exists.")
    else:
        others = [o for o in context.selected_objects if o != target]
        if not others:
            raise InputError(NO_SOURCE)
        if len(others) > 1:
            listed = "', '".join(sorted(o.name for o in others))
            raise InputError(f"Several objects are selected besides the target ('{listed}'): select "
                             "only the mesh to morph and the target, or name the source.")
        source = others[0]
    if source == target:
        raise InputError(SAME)
    if source.type != 'MESH':
        raise InputError(f"'{source.name}' is not a mesh: Morph Onto flows a mesh's own vertices "
                         "(convert it to a mesh first).")
    return source


def prepare_onto(context, props):
    """Validate and read the source and the target; returns an OntoRequest. Nothing is
    created or changed (the modes of the objects aside)."""
    deps.require()
    settings = fit_settings(props, prefs.preferred_device(context))
    settings = core.user_settings(**{**vars(settings), "parts": "one"})
    if props.frame_end <= props.frame_start:
        raise InputError("End Frame must come after Start Frame.")
    core.settings.check_keys(props.keys)
    target = resolve_target(context, props.target)
    source = pick_source(context, props.source, target)
    to_object_mode(context)
    world, faces = evaluated_triangles(context, source)
    mw = np.array(source.matrix_world, dtype=np.float64)
    if abs(np.linalg.det(mw[:3, :3])) < 1e-12:
        raise InputError(f"'{source.name}' has a zero scale: give it a scale on every axis first.")
    local = np.linalg.inv(mw)
    verts = transform_points(local, world)
    target_world, target_faces = evaluated_triangles(context, target)
    try:
        core.MeshSource(verts, faces)
        points, tri = core.sample_surface(target_world, target_faces, settings.target_samples,
                                          settings.seed, return_faces=True)
        core.normalization(points)
    except ValueError as exc:
        raise InputError(f"'{source.name}' onto '{target.name}': {exc}") from None
    normals = transform_normals(local, core.outward_normals(target_world, target_faces)[tri])
    return OntoRequest(source, target, settings, verts, faces, transform_points(local, points),
                       normals)


def morph_onto(context, props, progress=None):
    """Morph the source mesh onto the target: prepare_onto, the fit from the source mesh
    (core.run_fit with `source`), then `write_onto_result`. Returns (object, figures,
    core.AnimationKeys of its shape keys).
    InputError or core's ValueError with a sentence; nothing is created then."""
    start = time.perf_counter()
    request = prepare_onto(context, props)
    with ctrl_c_cancels() as cancel:
        result = core.run_fit(request.points, request.settings, progress=progress, cancel=cancel,
                              find=self_intersecting_faces_bvh,
                              source=(request.verts, request.faces), normals=request.normals)
    return write_onto_result(context, request, result, props, time.perf_counter() - start)


def write_onto_result(context, request, result, props, seconds):
    """`<source> Onto <target>`: a copy of the source's evaluated mesh (topology, UVs,
    materials, vertex groups; modifiers applied) at the source's place, with the flow,
    its figures and shape keys from the source (Basis) to the target (animate). Linked
    last; on any failure nothing is left behind."""
    source, target, model = request.source, request.target, result.model
    evaluated = source.evaluated_get(context.evaluated_depsgraph_get())
    mesh = bpy.data.meshes.new_from_object(evaluated, preserve_all_data_layers=True,
                                           depsgraph=context.evaluated_depsgraph_get())
    name = morph_name(source.name, f"{SUFFIX}{target.name}"[:40])
    obj = bpy.data.objects.new(name, mesh)
    try:
        mesh.name = name
        if len(mesh.vertices) != len(request.verts):
            raise InputError(f"'{source.name}' changed while it was morphed: morph it again.")
        obj.matrix_world = matrix(np.array(source.matrix_world, dtype=np.float64))
        if not obj.vertex_groups:  # the mesh carries the group names since Blender 3.0; else copy them
            for group in source.vertex_groups:
                obj.vertex_groups.new(name=group.name)
        for slot, theirs in zip(obj.material_slots, source.material_slots):
            if theirs.link == 'OBJECT':
                slot.link, slot.material = 'OBJECT', theirs.material
        store_flow(obj, result.flow_json)
        obj[SOURCE_OBJECTS_KEY] = [target]
        obj[SOURCES_KEY] = json.dumps([target.name])
        figures = {
            "source": target.name,
            "morphed_mesh": source.name,
            "iterations": model.iterations,
            "seconds": round(seconds, 3),
            "chamfer": result.chamfer,
            "self_intersections": result.self_intersections,
            "source_self_intersections": result.source_crossing,
            "resolution": 0,
            "vertices": len(result.verts),
            "parts": 1,
            "pulled_back": result.pulled_back,
            "pulled_distance": round(result.pulled_distance, 4),
        "snap_held": result.snap_held,
            "seed": model.settings.seed,
        }
        store_figures(obj, figures)
        keys = animate(obj, model, props.keys, props.frame_start, props.frame_end, props.ease,
                       False)
        mark_written(obj)
        output_collection(context, source).objects.link(obj)
    except BaseException:
        bpy.data.objects.remove(obj)
        if mesh.users == 0:
            bpy.data.meshes.remove(mesh)
        raise
    select_only(context, obj)
    return obj, figures, keys
