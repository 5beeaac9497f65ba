"""Generated bench targets, made with Blender's primitives: the kinds of shape users bring
that the named models do not cover (genus, several parts, open sheets, holes, thin parts,
text, spikes). Each is built the same way every run, so the figures are comparable.

    make(name) -> the new mesh object (world space as built), in the current scene
"""
import math

import bmesh
import bpy
import numpy as np

NAMES = ("torus", "two_parts", "plane_wavy", "suzanne_holes", "table", "text", "hand", "spiky")


def _join(objs):
    for o in bpy.context.view_layer.objects:
        o.select_set(o in objs)
    bpy.context.view_layer.objects.active = objs[0]
    if len(objs) > 1:
        bpy.ops.object.join()
    return objs[0]


def _add(op, **kwargs):
    op(**kwargs)
    return bpy.context.active_object


def make(name):
    m = bpy.ops.mesh
    if name == "torus":  # genus 1
        return _add(m.primitive_torus_add, major_radius=1, minor_radius=0.3)
    if name == "two_parts":  # a sphere and a tilted cube, apart
        a = _add(m.primitive_uv_sphere_add, radius=0.7, location=(-1.2, 0, 0))
        b = _add(m.primitive_cube_add, size=1.0, location=(1.1, 0.3, 0.2), rotation=(0.4, 0.2, 0))
        return _join([a, b])
    if name == "plane_wavy":  # an open sheet
        o = _add(m.primitive_grid_add, x_subdivisions=40, y_subdivisions=40, size=2)
        for v in o.data.vertices:
            v.co.z = 0.15 * math.sin(3 * v.co.x) * math.cos(2 * v.co.y)
        return o
    if name == "suzanne_holes":  # a scan with holes: 12% of the faces deleted
        o = _add(m.primitive_monkey_add)
        bm = bmesh.new()
        bm.from_mesh(o.data)
        rng = np.random.default_rng(5)
        bmesh.ops.delete(bm, geom=[f for f in bm.faces if rng.random() < 0.12],
                         context='FACES_ONLY')
        bm.to_mesh(o.data)
        bm.free()
        return o
    if name == "table":  # a thin top on four thin legs, five parts
        parts = [_add(m.primitive_cube_add, location=(0, 0, 1))]
        parts[0].scale = (1.2, 0.8, 0.05)
        for x in (-1.05, 1.05):
            for y in (-0.65, 0.65):
                parts.append(_add(m.primitive_cylinder_add, radius=0.05, depth=1.0,
                                  location=(x, y, 0.5)))
        o = _join(parts)
        bpy.ops.object.transform_apply(scale=True)
        return o
    if name == "text":  # a curve object: fitted through its evaluated mesh
        o = _add(bpy.ops.object.text_add)
        o.data.body = "Nm"
        o.data.extrude = 0.15
        return o
    if name == "hand":  # a palm with four fingers and a thumb, overlapping parts
        parts = [_add(m.primitive_cube_add, location=(0, 0, 0))]
        parts[0].scale = (0.6, 0.2, 0.6)
        for x in (-0.45, -0.15, 0.15, 0.45):
            parts.append(_add(m.primitive_cylinder_add, radius=0.09, depth=1.2, location=(x, 0, 1.1)))
        parts.append(_add(m.primitive_cylinder_add, radius=0.1, depth=0.8, location=(-0.8, 0, 0.3),
                          rotation=(0, 0.9, 0)))
        o = _join(parts)
        bpy.ops.object.transform_apply(scale=True, rotation=True)
        return o
    if name == "spiky":  # an icosphere with every face poked out into a spike
        o = _add(m.primitive_ico_sphere_add, subdivisions=1, radius=0.6)
        bm = bmesh.new()
        bm.from_mesh(o.data)
        for f in list(bm.faces):
            tip = bmesh.ops.poke(bm, faces=[f])["verts"][0]
            tip.co = tip.co * 2.2
        bm.to_mesh(o.data)
        bm.free()
        return o
    raise KeyError(f"no generated target named {name}")
