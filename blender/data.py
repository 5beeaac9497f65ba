"""Reading targets from and writing morph meshes, flows and figures to Blender data
(main thread only, except the BVH self-intersection check).

A new bad-input check on Blender data goes here: raise InputError with a sentence, and
add the sentence to README.md's troubleshooting table (a test checks).
"""
import contextlib
import hashlib
import json

import bpy
import numpy as np
from mathutils import Matrix
from mathutils.bvhtree import BVHTree

from .. import core
from . import deps, prefs

FLOW_KEY = "_neural_morph_flow"  # leading underscore: hidden from the Custom Properties panel
PREFIX = "neural_morph_"
ANIMATION_KEY = PREFIX + "animation"  # JSON of the last animate() call, for rebuilds
SOURCE_OBJECTS_KEY = "_neural_morph_source_objects"  # the objects a morph was fitted to, as ID
# references: they follow renames and are saved in the .blend, so a morph never mistakes another
# object that took a source's old name for its source
SOURCES_KEY = "_neural_morph_sources"  # JSON list of their names at the fit (messages; older files)
WRITTEN_KEY = "_neural_morph_written"  # fingerprint of the mesh and shape keys Neural Morph wrote


class InputError(ValueError):
    """Bad user input: the message is shown to the user as is.

    A ValueError, like core's own sentences, so a core ValueError passes through the glue
    unchanged and one `except ValueError` catches both."""


def resolve_target(context, name):
    """The object named `name`, or the active object when `name` is empty."""
    if name:
        obj = bpy.data.objects.get(name)
        if obj is None:
            raise InputError(f"No object named '{name}' exists.")
        return obj
    obj = context.active_object
    if obj is None:
        raise InputError("No target: select a mesh object or set the target name.")
    return obj


MAX_ID_NAME = 63  # bytes of a Blender object or mesh name
# Object types whose evaluated geometry is a surface Blender can turn into a mesh.
SURFACE_TYPES = {'MESH', 'CURVE', 'SURFACE', 'META', 'FONT'}


def evaluated_triangles_of(context, objects):
    """Union of `evaluated_triangles` over several objects: (verts (V, 3), faces (F, 3))."""
    parts = [evaluated_triangles(context, obj) for obj in objects]
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    return (np.concatenate([v for v, _ in parts]),
            np.concatenate([f + o for (_, f), o in zip(parts, offsets)]))


def evaluated_triangles(context, obj):
    """Triangles of the evaluated object (modifiers applied) in world space.

    Meshes, and curves, surfaces, metaballs and text through their evaluated mesh.
    Returns (verts (V, 3) float64 world space, faces (F, 3) int64).
    """
    if obj.type not in SURFACE_TYPES:
        raise InputError(f"'{obj.name}' is a{'n' if obj.type[0] in 'AEIOU' else ''} "
                         f"{obj.type.lower()}, not a mesh: choose a mesh object.")
    if not in_view_layer(context, obj):
        raise InputError(f"'{obj.name}' is not in the view layer (its collection is excluded, or it is "
                         "in no collection of this scene): include it, so Blender evaluates it.")
    depsgraph = context.evaluated_depsgraph_get()
    obj_eval = obj.evaluated_get(depsgraph)
    if not obj_eval.is_evaluated:
        raise InputError(f"'{obj.name}' is disabled in viewports, so Blender does not evaluate its "
                         "modifiers: enable it in viewports (the screen icon) first.")
    # A mesh object's instances (Geometry Nodes, instancing) are not in to_mesh(). A curve,
    # text or metaball lists its own evaluated mesh as an instance, so only meshes count.
    if obj.type == 'MESH' and any(inst.is_instance and inst.parent is not None
                                  and inst.parent.original == obj
                                  for inst in depsgraph.object_instances):
        raise InputError(f"'{obj.name}' has instances, which Neural Morph cannot fit: add a Realize "
                         "Instances node at the end of its Geometry Nodes (or make the instances real).")
    mesh = obj_eval.to_mesh()
    try:
        mesh.calc_loop_triangles()
        n_verts, n_tris = len(mesh.vertices), len(mesh.loop_triangles)
        if n_verts == 0 and obj.type == 'META':
            raise InputError(f"'{obj.name}' is a metaball with no surface of its own: fit the family's "
                             "base metaball (the one named without a number suffix), or raise the "
                             "elements' Radius.")
        if n_verts == 0 and obj.type != 'MESH':
            raise InputError(f"'{obj.name}' has no surface geometry: give it Extrude, Bevel Depth or Fill.")
        if n_verts == 0:
            raise InputError(f"'{obj.name}' is an empty mesh: it has no vertices.")
        if n_tris == 0:
            hint = ("give it Extrude, Bevel Depth or Fill so it has a surface"
                    if obj.type != 'MESH' else "add faces first (a point cloud has no surface to fit)")
            raise InputError(f"'{obj.name}' has no faces: Neural Morph fits surfaces, so {hint}.")
        co = np.empty(n_verts * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        tris = np.empty(n_tris * 3, dtype=np.int32)
        mesh.loop_triangles.foreach_get("vertices", tris)
    finally:
        obj_eval.to_mesh_clear()
    co = co.reshape(-1, 3).astype(np.float64)
    if not np.isfinite(co).all():
        raise InputError(f"'{obj.name}' has NaN or infinite vertex coordinates.")
    mw = np.array(obj_eval.matrix_world, dtype=np.float64)
    world = co @ mw[:3, :3].T + mw[:3, 3]
    if not np.isfinite(world).all():
        raise InputError(f"'{obj.name}' has a non-finite transform.")
    return world, tris.reshape(-1, 3).astype(np.int64)


def in_view_layer(context, obj):
    """Whether `obj` is in the current view layer (so the depsgraph evaluates it)."""
    return any(other == obj for other in context.view_layer.objects)


def check_editable(obj):
    """InputError unless Neural Morph may write to `obj` and its mesh: linked data and
    library overrides are read-only to us (writing a linked mesh crashes Blender, and an
    override does not save geometry)."""
    if obj.library is not None:
        raise InputError(f"'{obj.name}' is linked from a library, so Neural Morph cannot change it: "
                         "make it local first (Object > Relations > Make Local).")
    if obj.override_library is not None and (obj.override_library.is_system_override
                                             or not obj.is_editable):
        raise InputError(f"'{obj.name}' is a library override that is not editable: make the override "
                         "editable (Outliner > Library Override > Make Editable), or make it local.")
    mesh = obj.data
    if mesh is not None and (mesh.library is not None or mesh.override_library is not None):
        raise InputError(f"'{obj.name}' uses a mesh from a library (linked or overridden), which "
                         "Neural Morph cannot change: make the mesh local first (Object > Relations "
                         "> Make Local > Selected Objects and Data).")


def check_single_user(obj):
    """InputError when the object's mesh is shared: writing it would change other objects."""
    if obj.data.users > 1:
        raise InputError(
            f"'{obj.name}' shares its mesh with {obj.data.users - 1} other user(s): "
            "make it single-user first (Object > Relations > Make Single User).")


def to_object_mode(context):
    """Leave Edit Mode (or any other mode) on the active object before the selection or the
    active object changes, so no object is left in a half state."""
    active = context.view_layer.objects.active
    if active is not None and active.mode != 'OBJECT':
        with context.temp_override(active_object=active, object=active):
            bpy.ops.object.mode_set(mode='OBJECT')


@contextlib.contextmanager
def object_mode(context, obj):
    """Leave Edit Mode (or any other mode) on `obj` while it is read and written, so edits
    are flushed to the mesh and mesh writes are allowed, then come back to that mode."""
    mode = obj.mode
    if mode == 'OBJECT':
        yield
        return
    with context.temp_override(active_object=obj, object=obj):
        bpy.ops.object.mode_set(mode='OBJECT')
    try:
        yield
    finally:
        if context.view_layer.objects.active == obj or in_view_layer(context, obj):
            with context.temp_override(active_object=obj, object=obj):
                bpy.ops.object.mode_set(mode=mode)


def fingerprint(obj):
    """A hash of the mesh's vertex positions and shape keys: what Neural Morph last wrote."""
    digest = hashlib.sha1(mesh_vertices(obj.data).astype(np.float32).tobytes())
    if obj.data.shape_keys is not None:
        for kb in obj.data.shape_keys.key_blocks:
            co = np.empty(len(kb.data) * 3, dtype=np.float32)
            kb.data.foreach_get("co", co)
            digest.update(kb.name.encode() + co.tobytes())
    return digest.hexdigest()


def mark_written(obj):
    """Remember what Neural Morph wrote, so later hand edits can be told apart."""
    obj[WRITTEN_KEY] = fingerprint(obj)


def edited_by_hand(obj):
    """Whether the mesh or its shape keys changed since Neural Morph last wrote them."""
    stored = obj.get(WRITTEN_KEY)
    return stored is not None and str(stored) != fingerprint(obj)


def matrix(array):
    """A mathutils Matrix from a (4, 4) array, e.g. FittedFlow.matrix() (normalised -> world)."""
    return Matrix([list(map(float, row)) for row in array])


def write_mesh(name, verts, faces, uvs=None, mesh=None):
    """Fill `mesh` (or a new mesh named `name`) with triangles, smooth shading and UVs.

    verts (V, 3), faces (F, 3) int, uvs (F·3, 2) per corner. Returns the mesh.
    """
    if mesh is None:
        mesh = bpy.data.meshes.new(name)
    else:
        mesh.clear_geometry()
    n_v, n_f = len(verts), len(faces)
    mesh.vertices.add(n_v)
    mesh.loops.add(n_f * 3)
    mesh.polygons.add(n_f)
    mesh.vertices.foreach_set("co", np.asarray(verts, dtype=np.float32).ravel())
    mesh.loops.foreach_set("vertex_index", np.asarray(faces, dtype=np.int32).ravel())
    mesh.polygons.foreach_set("loop_start", np.arange(0, n_f * 3, 3, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(n_f, dtype=bool))
    mesh.update(calc_edges=True)
    if uvs is not None:
        layer = mesh.uv_layers.get("Sphere UV") or mesh.uv_layers.new(name="Sphere UV")
        layer.data.foreach_set("uv", np.asarray(uvs, dtype=np.float32).ravel())
    mesh.validate(verbose=False)
    return mesh


def mesh_vertices(mesh):
    """Vertex coordinates of a mesh: (V, 3) float64 in mesh space."""
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3).astype(np.float64)


def mesh_triangles(mesh):
    """(F, 3) int64 triangles of a mesh (loop triangles)."""
    mesh.calc_loop_triangles()
    tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    return tris.reshape(-1, 3).astype(np.int64)


def self_intersecting_faces_bvh(verts, faces):
    """Blender's check: (K,) sorted indices of the faces in BVHTree.overlap pairs that share
    no vertex (vertices at the same position count as shared).

    Pure mathutils on arrays (no Blender data), so a fitting thread may call it too."""
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tree = BVHTree.FromPolygons(verts.tolist(), faces.tolist(), all_triangles=True)
    overlap = tree.overlap(tree)  # type: ignore[attr-defined]  # the 4.2 stub says FromPolygons returns None
    pairs = np.array(overlap, dtype=np.int64).reshape(-1, 2)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if len(pairs) == 0:
        return np.zeros(0, dtype=np.int64)
    _, same = np.unique(verts, axis=0, return_inverse=True)
    ids = same.reshape(-1)[faces]
    shared = (ids[pairs[:, 0]][:, :, None] == ids[pairs[:, 1]][:, None, :]).any(axis=(1, 2))
    return np.unique(pairs[~shared])


def count_self_intersections_bvh(verts, faces):
    """Number of self-intersecting faces by Blender's check (self_intersecting_faces_bvh)."""
    return int(len(self_intersecting_faces_bvh(verts, faces)))


def output_collection(context, target):
    """The target's first editable (non-library) collection in the view layer, else the
    active collection, else the scene's: a new object is always editable and selectable."""
    included = _included_collections(context.view_layer.layer_collection)
    for coll in target.users_collection:
        if coll.library is None and coll in included:
            return coll
    coll = context.collection
    if coll is not None and coll.library is None and coll in included:
        return coll
    return context.scene.collection


def _included_collections(layer_collection):
    """Collections of the view layer that are not excluded (the scene collection first)."""
    if layer_collection.exclude:
        return []
    found = [layer_collection.collection]
    for child in layer_collection.children:
        found += _included_collections(child)
    return found


def store_flow(obj, text):
    """Save a fitted flow on the object: its plain JSON (no pickle), core.storage.to_json."""
    obj[FLOW_KEY] = text


def load_flow(obj):
    """The FittedFlow stored on `obj`; InputError with a sentence when there is none."""
    text = obj.get(FLOW_KEY) if obj is not None else None
    if text is None:
        raise InputError(f"'{getattr(obj, 'name', '?')}' holds no fitted flow: fit it first.")
    from ..core import storage  # torch: imported on first use, like core's lazy names
    try:
        return storage.from_json(str(text))
    except ValueError as exc:
        raise InputError(f"'{obj.name}': {exc}") from None


def store_figures(obj, figures):
    """Write figures as `neural_morph_*` custom properties."""
    for key, value in figures.items():
        obj[PREFIX + key] = value


def figures_of(obj):
    """The `neural_morph_*` custom properties of an object as a dict."""
    return {k[len(PREFIX):]: obj[k] for k in obj.keys() if k.startswith(PREFIX)}


# -- the fit's input and output -----------------------------------------------------------------
class FitRequest:
    """Validated input of one fit: target object, samples (M, 3) world space, settings,
    and for a continued fit the stored flow and the morph object to update."""

    def __init__(self, target, points, settings, init=None, morph=None):
        self.target, self.points, self.settings = target, points, settings
        self.init, self.morph = init, morph
        self.labels = None  # (M,) separate piece of each point, for settings.parts "separate"
        self.target_name = target.name
        self.morph_name = morph.name if morph is not None else None
        self.targets = [target]  # the source objects themselves (for a fit that ends at once)
        self.sources = [target.name]  # their names (a UI job resolves them when it ends)

    @property
    def source(self):
        return ", ".join(self.sources)


def _source_entries(obj):
    """[(object or None, name)] of the objects `obj` was fitted to. From the ID references
    (SOURCE_OBJECTS_KEY): None where the object was removed, or deleted in the UI (the
    reference keeps it in the file's data, but in no collection). Older files stored only
    names (SOURCES_KEY, before that the `source` figure): those are looked up by name."""
    names = _stored_names(obj)
    refs = obj.get(SOURCE_OBJECTS_KEY)
    if refs is not None:
        refs = list(refs) if isinstance(refs, (list, tuple)) else [refs]
        entries = []
        for i, ref in enumerate(refs):
            alive = isinstance(ref, bpy.types.Object) and len(ref.users_collection) > 0
            name = ref.name if isinstance(ref, bpy.types.Object) else (
                names[i] if i < len(names) else "?")
            entries.append((ref if alive else None, name))
        return entries
    return [(bpy.data.objects.get(n), n) for n in names]


def _stored_names(obj):
    text = obj.get(SOURCES_KEY)
    if text is not None:
        try:
            names = json.loads(str(text))
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return names
        except ValueError:
            pass
    legacy = str(obj.get(PREFIX + "source", ""))
    return [legacy] if legacy in bpy.data.objects else legacy.split(", ")


def stored_sources(obj):
    """Names of the objects `obj` was fitted to: their names now (a renamed source under its
    new name), or the name it had where it is gone."""
    return [name for _, name in _source_entries(obj)]


def source_objects(obj, source=""):
    """The objects to fit `obj` (a morph) against: the named `source`, else the stored ones
    (the objects themselves, whatever they are called now)."""
    if source:
        found = bpy.data.objects.get(source)
        if found is None:
            raise InputError(f"No object named '{source}' exists.")
        return [found]
    entries = _source_entries(obj)
    if not entries or any(found is None for found, _ in entries):
        listed = "', '".join(name for _, name in entries)
        raise InputError(f"The object(s) '{listed}' this morph was fitted to no longer exist: "
                         "set Source to the object to fit against.")
    return [found for found, _ in entries]


def fit_settings(props, device="cpu"):
    """core.FitSettings from any object with the fit_properties attributes (a setting it
    lacks keeps its default), through core.user_settings (the same path as the console
    API). ValueError with a sentence."""
    given = {name: getattr(props, name) for name in core.settings.USER_SETTINGS
             if hasattr(props, name)}
    return core.user_settings(**given, device=device)


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
        check_editable(morph)
        check_single_user(morph)
        if target.data.shape_keys is not None:
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
    request = FitRequest(target, points, settings, init, morph)
    request.targets = list(targets)
    request.sources = [t.name for t in targets]
    if settings.parts == "separate" or init is not None:  # a continued fit keeps its own
        request.labels = core.surface_parts(verts, faces, tri, points)
    return request


def write_fit_result(context, target, result, seconds, morph=None, sources=None):
    """Create `<target> Morph` from a core.FitResult, or update `morph` in place for a
    continued fit; make it active and selected. Returns (object, figures).

    The new object is linked last, after its mesh, flow and figures are written, into a
    collection of the view layer, so a failure leaves nothing behind."""
    model = result.model
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
        check_editable(obj)
        check_single_user(obj)
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
        "seed": model.settings.seed,
    }
    store_figures(obj, figures)
    mark_written(obj)
    if morph is None:
        output_collection(context, target).objects.link(obj)
    select_only(context, obj)
    return obj, figures


def morph_name(target_name, suffix=" Morph"):
    """`<target> Morph`, its target part shortened to fit Blender's 63-byte names (with room
    for Blender's `.001` when the name is taken), so the name always says it is a morph."""
    def fit(limit):
        head = target_name.encode("utf-8")[:limit - len(suffix.encode("utf-8"))]
        return head.decode("utf-8", errors="ignore") + suffix
    name = fit(MAX_ID_NAME)
    if name in bpy.data.objects or name in bpy.data.meshes:
        name = fit(MAX_ID_NAME - len(".001"))
    return name


def select_only(context, obj):
    """Make `obj` the only selected object and the active one (left in Object Mode)."""
    to_object_mode(context)
    for other in context.view_layer.objects:
        if other.select_get():
            other.select_set(False)
    if in_view_layer(context, obj):
        obj.select_set(True)
        context.view_layer.objects.active = obj


# -- morph objects and their animation ----------------------------------------------------------
def morph_object(context, name):
    """(object, FittedFlow) for the named morph object, or the active one."""
    deps.require()
    obj = resolve_target(context, name)
    if obj.type != 'MESH':
        raise InputError(f"'{obj.name}' is not a mesh made by Neural Morph.")
    return obj, load_flow(obj)


def output_level(obj, model):
    """The icosphere level of the object's mesh (the output of `model`, its FittedFlow);
    InputError if its topology was edited."""
    level = obj.get(PREFIX + "resolution")
    if level is None or len(model.sphere(int(level))[0]) != len(obj.data.vertices):
        raise InputError(
            f"'{obj.name}' no longer has the icosphere topology Neural Morph made: "
            "run Remesh to rebuild it first.")
    return int(level)


def clear_animation(obj):
    """Remove Neural Morph shape keys, their keyframes and their figures from the object."""
    if obj.data.shape_keys is not None:
        obj.data.shape_keys.animation_data_clear()
        obj.shape_key_clear()
    for key in [k for k in obj.keys() if k.startswith(ANIMATION_KEY)]:  # and its check's figures
        del obj[key]


def build_shape_keys(obj, states, times, frames, label="t"):
    """Shape keys along `states` (K, V, 3) in mesh space, named by their `times` (K,), the
    state of each shown at its frame in `frames` (K,) (core.Timing.frames).

    Each key's value is keyframed 1 at its own frame and 0 at the frames of its neighbours
    in frame order, with LINEAR interpolation (constant outside), so the mesh passes
    through exactly the given states and blends linearly between neighbours in between:
    core.shown_state computes the same mesh for any frame. The Basis is the mesh as it is.
    """
    clear_animation(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    blocks = []
    for state, t in zip(states, times):
        kb = obj.shape_key_add(name=f"{label}={t:.3f}", from_mix=False)
        kb.data.foreach_set("co", np.asarray(state, dtype=np.float32).ravel())
        kb.slider_min, kb.slider_max = 0.0, 1.0
        blocks.append(kb)
    by_frame = np.argsort(np.asarray(frames, dtype=np.float64), kind="stable")
    for i, index in enumerate(by_frame):
        kb = blocks[index]
        for j in range(max(i - 1, 0), min(i + 2, len(by_frame))):
            kb.value = 1.0 if i == j else 0.0
            kb.keyframe_insert("value", frame=float(frames[by_frame[j]]))
    action = obj.data.shape_keys.animation_data.action
    for fcurve in _fcurves(action):
        for point in fcurve.keyframe_points:
            point.interpolation = 'LINEAR'
    return blocks


def _fcurves(action):
    """F-curves of an action. Blender 4.4+ has layered actions (`action.layers`, not in
    the 4.2 API this add-on declares as its minimum), so that path is guarded by hasattr
    and its attributes are read dynamically; 4.2 to 4.3 have the flat `action.fcurves`."""
    layers = getattr(action, "layers", None)
    if layers is not None and len(layers):
        for layer in layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    yield from bag.fcurves
    else:
        yield from action.fcurves
