"""Reading targets from and writing morph meshes to Blender data (main thread only)."""
import bpy
import numpy as np
from mathutils import Matrix
from mathutils.bvhtree import BVHTree

FLOW_KEY = "_neural_morph_flow"  # leading underscore: hidden from the Custom Properties panel
PREFIX = "neural_morph_"


class InputError(Exception):
    """Bad user input: the message is shown to the user as is."""


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
    depsgraph = context.evaluated_depsgraph_get()
    obj_eval = obj.evaluated_get(depsgraph)
    mesh = obj_eval.to_mesh()
    try:
        mesh.calc_loop_triangles()
        n_verts, n_tris = len(mesh.vertices), len(mesh.loop_triangles)
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


def normalization_matrix(center, scale):
    """Object matrix mapping normalised mesh space to world space: T(center)·S(scale)."""
    return Matrix.Translation(tuple(center)) @ Matrix.Scale(float(scale), 4)


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


def count_self_intersections_bvh(verts, faces):
    """Blender's count: distinct faces in BVHTree.overlap pairs that share no vertex.

    Pure mathutils on arrays (no Blender data), so a fitting thread may call it too."""
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    _, same = np.unique(verts, axis=0, return_inverse=True)
    ids = same.reshape(-1)[faces]
    tree = BVHTree.FromPolygons(verts.tolist(), faces.tolist(), all_triangles=True)
    pairs = np.array(tree.overlap(tree), dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return 0
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    shared = (ids[pairs[:, 0]][:, :, None] == ids[pairs[:, 1]][:, None, :]).any(axis=(1, 2))
    return int(len(np.unique(pairs[~shared])))


def output_collection(context, target):
    """The target's first editable (non-library) collection, else the active collection."""
    for coll in target.users_collection:
        if coll.library is None:
            return coll
    coll = context.collection
    return coll if coll is not None and coll.library is None else context.scene.collection


def store_flow(obj, model_or_json):
    """Save the fitted flow on the object as plain JSON (no pickle)."""
    text = model_or_json if isinstance(model_or_json, str) else model_or_json.to_json()
    obj[FLOW_KEY] = text


def load_flow(obj):
    """The FittedFlow stored on `obj`; InputError with a sentence when there is none."""
    from .. import core
    text = obj.get(FLOW_KEY) if obj is not None else None
    if text is None:
        raise InputError(f"'{getattr(obj, 'name', '?')}' holds no fitted flow: fit it first.")
    try:
        return core.FittedFlow.from_json(str(text))
    except ValueError as exc:
        raise InputError(f"'{obj.name}': {exc}") from None


def store_figures(obj, figures):
    """Write figures as `neural_morph_*` custom properties."""
    for key, value in figures.items():
        obj[PREFIX + key] = value


def figures_of(obj):
    """The `neural_morph_*` custom properties of an object as a dict."""
    return {k[len(PREFIX):]: obj[k] for k in obj.keys() if k.startswith(PREFIX)}
