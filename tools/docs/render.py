"""Render objects side by side with Workbench into a PNG (headless, no GPU needed)."""
import math

import bpy
import numpy as np
from mathutils import Vector


def _world_bounds(obj):
    """(lo, hi) of the object's evaluated vertices in world space. Not its bounding box: a
    morph's matrix rotates and scales per axis, so the world box around its object-space
    box is larger than the shape and would frame it too small."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float64) if mesh is not None else None
        if co is not None:
            mesh.vertices.foreach_get("co", co)
    finally:
        evaluated.to_mesh_clear()
    if co is None or len(co) == 0:  # no geometry: the bounding box is all there is
        co = np.array([c[:] for c in obj.bound_box], dtype=np.float64).ravel()
    mw = np.array(evaluated.matrix_world, dtype=np.float64)
    world = co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
    return world.min(0), world.max(0)


def placement(obj, i, n, rotation_z=0.0, tilt=0.0):
    """World matrix of the copy of `obj` in slot `i` of `n`: its world-space vertices
    centred on the slot and scaled so their largest extent is 1, turned by `rotation_z`
    about Z, then tilted by `tilt` (radians) about X, its top towards the camera."""
    lo, hi = _world_bounds(obj)
    s = 1.0 / max(float((hi - lo).max()), 1e-12)
    centre = Vector(((lo + hi) / 2).tolist())
    return (_translation((i - (n - 1) / 2) * 1.25, 0, 0) @ _rot_x(tilt) @ _rot_z(rotation_z)
            @ _scale(s)
            @ _translation(*(-centre)) @ obj.matrix_world)


def side_by_side(objects, path, labels=None, size=(1600, 700), rotation_z=0.0, tilt=0.0):
    """Render copies of `objects` in a row, each scaled to a unit box, into `path`
    (`tilt` radians about X shows their tops: a cavity's opening).

    Works in a temporary scene and deletes it afterwards: the user's scenes are untouched.
    """
    scene = bpy.data.scenes.new("NeuralMorph Render")
    made = []
    try:
        n = len(objects)
        for i, obj in enumerate(objects):
            matrix = placement(obj, i, n, rotation_z, tilt)
            copy = obj.copy()
            copy.animation_data_clear()
            scene.collection.objects.link(copy)
            made.append(copy)
            copy.matrix_world = matrix
            if labels:
                curve = bpy.data.curves.new(f"label{i}", 'FONT')
                curve.body = labels[i]
                curve.align_x = 'CENTER'
                curve.size = 0.09
                text = bpy.data.objects.new(f"label{i}", curve)
                text.location = ((i - (n - 1) / 2) * 1.25, 0, -0.62)
                text.rotation_euler = (math.pi / 2, 0, 0)
                scene.collection.objects.link(text)
                made.append(text)
        cam_data = bpy.data.cameras.new("cam")
        cam_data.type = 'ORTHO'
        # wide enough for the row, tall enough for the labels under it
        cam_data.ortho_scale = max(1.3 * n, 1.5 * size[0] / size[1])
        cam = bpy.data.objects.new("cam", cam_data)
        cam.location = (0, -6, 0)
        cam.rotation_euler = (math.pi / 2, 0, 0)
        scene.collection.objects.link(cam)
        made.append(cam)
        scene.camera = cam
        scene.render.engine = 'BLENDER_WORKBENCH'
        scene.display.shading.light = 'STUDIO'
        scene.display.shading.color_type = 'SINGLE'
        scene.display.shading.single_color = (0.8, 0.55, 0.35)
        scene.display.shading.show_cavity = True
        scene.render.resolution_x, scene.render.resolution_y = size
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = False
        scene.world = bpy.data.worlds.new("nm_world") if scene.world is None else scene.world
        scene.render.image_settings.file_format = 'PNG'
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True, scene=scene.name)
    finally:
        for obj in made:
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0 and not isinstance(data, bpy.types.Mesh):
                _remove_data(data)
        bpy.data.scenes.remove(scene)


def _remove_data(data):
    for coll in (bpy.data.curves, bpy.data.cameras):
        if data.name in coll and coll[data.name] == data:
            coll.remove(data)
            return


def _translation(x, y, z):
    from mathutils import Matrix
    return Matrix.Translation((x, y, z))


def _scale(s):
    from mathutils import Matrix
    return Matrix.Scale(s, 4)


def _rot_z(angle):
    from mathutils import Matrix
    return Matrix.Rotation(angle, 4, 'Z')


def _rot_x(angle):
    from mathutils import Matrix
    return Matrix.Rotation(angle, 4, 'X')
