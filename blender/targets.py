"""Which objects a fit reads, and their evaluated surfaces (main thread only)."""
import bpy
import numpy as np

from .guards import InputError
from .meshes import mesh_triangles, transform_points


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
    Returns (verts (V, 3) float64 world space, faces (F, 3) int64; under a mirroring
    transform their corners turn the other way, which core.outward_normals undoes).
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
        tris = mesh_triangles(mesh)  # in a fixed order, so a seed gives the same samples
    finally:
        obj_eval.to_mesh_clear()
    co = co.reshape(-1, 3).astype(np.float64)
    if not np.isfinite(co).all():
        raise InputError(f"'{obj.name}' has NaN or infinite vertex coordinates.")
    world = transform_points(obj_eval.matrix_world, co)
    if not np.isfinite(world).all():
        raise InputError(f"'{obj.name}' has a non-finite transform.")
    return world, tris.reshape(-1, 3).astype(np.int64)


def in_view_layer(context, obj):
    """Whether `obj` is in the current view layer (so the depsgraph evaluates it)."""
    return any(other == obj for other in context.view_layer.objects)
