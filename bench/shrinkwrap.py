"""Blender's Shrinkwrap modifier as a contender: an enclosing icosphere wrapped onto the target."""
import time

import bpy
import numpy as np
from mathutils import Vector

MODES = ("NEAREST_SURFACEPOINT", "PROJECT", "TARGET_PROJECT")


def enclosing_sphere(target_verts):
    """Bounding-box centre of world-space vertices and 1.05 × the largest distance from it."""
    v = np.asarray(target_verts, dtype=np.float64)
    center = 0.5 * (v.min(axis=0) + v.max(axis=0))
    radius = 1.05 * float(np.linalg.norm(v - center, axis=1).max())
    return center, radius


def wrap(context, target, level, mode, center, radius):
    """Add an icosphere (Blender subdivisions = level + 1, i.e. core.icosphere(level)'s vertex
    count) around the target and give it a Shrinkwrap modifier in `mode`.

    Returns (object, world verts (V, 3) float64, faces (F, 3) int64, seconds). The seconds
    cover creating the sphere, adding the modifier and evaluating it through the depsgraph.
    """
    start = time.perf_counter()
    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=int(level) + 1, radius=radius,
                                          location=Vector(center.tolist()))
    obj = context.active_object
    obj.name = f"{target.name} Shrinkwrap {mode}"
    mod = obj.modifiers.new("Shrinkwrap", 'SHRINKWRAP')
    mod.target = target
    mod.wrap_method = mode
    if mode == "PROJECT":
        mod.use_negative_direction = True
        mod.use_positive_direction = True
    depsgraph = context.evaluated_depsgraph_get()
    depsgraph.update()
    obj_eval = obj.evaluated_get(depsgraph)
    mesh = obj_eval.to_mesh()
    try:
        mesh.calc_loop_triangles()
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
        mesh.loop_triangles.foreach_get("vertices", tris)
    finally:
        obj_eval.to_mesh_clear()
    seconds = time.perf_counter() - start
    mw = np.array(obj_eval.matrix_world, dtype=np.float64)
    world = co.reshape(-1, 3).astype(np.float64) @ mw[:3, :3].T + mw[:3, 3]
    return obj, world, tris.reshape(-1, 3).astype(np.int64), seconds


def mesh_target(context, target):
    """`target` itself if it is a mesh, else a mesh copy of its evaluated geometry
    (Shrinkwrap only wraps onto meshes; a user converts a text or curve first)."""
    if target.type == 'MESH':
        return target
    evaluated = target.evaluated_get(context.evaluated_depsgraph_get())
    copy = bpy.data.objects.new(f"{target.name} (mesh)", bpy.data.meshes.new_from_object(evaluated))
    copy.matrix_world = evaluated.matrix_world.copy()
    context.scene.collection.objects.link(copy)
    return copy


def bake(context, obj):
    """A plain mesh object holding `obj`'s evaluated (wrapped) mesh, at the same world matrix.

    The render works on moved copies in its own scene, where a live Shrinkwrap would wrap
    onto the target from the wrong place; the baked copy shows exactly what was measured.
    """
    obj_eval = obj.evaluated_get(context.evaluated_depsgraph_get())
    mesh = bpy.data.meshes.new_from_object(obj_eval)
    baked = bpy.data.objects.new(f"{obj.name} (applied)", mesh)
    baked.matrix_world = obj_eval.matrix_world.copy()
    context.scene.collection.objects.link(baked)
    return baked
