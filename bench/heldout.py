"""Generated bench targets, made with Blender's primitives: the kinds of shape users bring
that the named models do not cover (genus, several parts, open sheets, holes, thin parts,
text, spikes). Each is built the same way every run, so the figures are comparable; KINDS groups them by
the kind of shape they stand for.

    make(name) -> the new mesh object (world space as built), in the current scene
"""
import math

import bmesh
import bpy
import numpy as np

NAMES = ("torus", "two_parts", "plane_wavy", "suzanne_holes", "table", "text", "hand", "spiky",
         "comb", "mug", "slot", "three_parts", "spring", "torus_knot", "coin", "needle")
# the kind of shape each one stands for (README's held-out table is grouped by it)
KINDS = {
    "two_parts": "separate parts", "three_parts": "separate parts", "text": "separate parts",
    "comb": "thin branches", "table": "thin branches", "hand": "thin branches",
    "spiky": "thin branches", "needle": "thin branches",
    "slot": "gaps and cavities", "mug": "gaps and cavities", "spring": "gaps and cavities",
    "torus": "genus above zero", "torus_knot": "genus above zero",
    "plane_wavy": "open or thin", "suzanne_holes": "open or thin", "coin": "open or thin",
}


def _tube(name, path, radius, closed, sides=16):
    """A mesh tube of `radius` along `path` (N, 3), capped unless `closed` (a loop)."""
    path = np.asarray(path, dtype=np.float64)
    tangent = np.gradient(path, axis=0)
    if closed:
        tangent = np.roll(path, -1, axis=0) - np.roll(path, 1, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.cross(tangent, [0.0, 0.0, 1.0] if abs(tangent[0, 2]) < 0.9 else [1.0, 0.0, 0.0])
    normal[0] /= np.linalg.norm(normal[0])
    for i in range(1, len(path)):  # parallel transport: no twist along the path
        n = normal[i - 1] - tangent[i] * (normal[i - 1] @ tangent[i])
        normal[i] = n / np.linalg.norm(n)
    binormal = np.cross(tangent, normal)
    angle = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = (np.cos(angle)[None, :, None] * normal[:, None] + np.sin(angle)[None, :, None] * binormal[:, None])
    verts = (path[:, None] + radius * ring).reshape(-1, 3)
    n, faces = len(path), []
    for i in range(n if closed else n - 1):
        j = (i + 1) % n
        for k in range(sides):
            k1 = (k + 1) % sides
            faces.append((i * sides + k, i * sides + k1, j * sides + k1, j * sides + k))
    verts = verts.tolist()
    if not closed:  # caps
        faces.append(tuple(range(sides))[::-1])
        faces.append(tuple((n - 1) * sides + k for k in range(sides)))
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    mesh.validate()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


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
    if name == "comb":  # a bar with 12 thin teeth (overlapping the bar: one piece)
        parts = [_add(m.primitive_cube_add, location=(0, 0, 0.1))]
        parts[0].scale = (1.0, 0.06, 0.1)
        for i in range(12):
            tooth = _add(m.primitive_cube_add, location=(-0.9 + i * 1.8 / 11, 0, -0.35))
            tooth.scale = (0.025, 0.05, 0.4)
            parts.append(tooth)
        o = _join(parts)
        bpy.ops.object.transform_apply(scale=True)
        return o
    if name == "mug":  # a hollow cup with a 3% wall, open at the top, and a handle
        cup = _add(m.primitive_cylinder_add, vertices=64, radius=0.5, depth=1.0)
        bm = bmesh.new()
        bm.from_mesh(cup.data)
        bmesh.ops.delete(bm, geom=[f for f in bm.faces if f.normal.z > 0.9], context='FACES_ONLY')
        bm.to_mesh(cup.data)
        bm.free()
        mod = cup.modifiers.new("wall", 'SOLIDIFY')
        mod.thickness = 0.03
        bpy.ops.object.modifier_apply(modifier=mod.name)
        handle = _add(m.primitive_torus_add, major_radius=0.25, minor_radius=0.04,
                      location=(0.55, 0, 0), rotation=(math.pi / 2, 0, 0))
        o = _join([cup, handle])
        bpy.ops.object.transform_apply(rotation=True)
        return o
    if name == "slot":  # a cube with a slot 2% wide cut 90% of the way through
        o = _add(m.primitive_cube_add, size=1.0)
        cutter = _add(m.primitive_cube_add, size=1.0, location=(0, 0, 0.1))
        cutter.scale = (0.02, 1.2, 1.0)
        mod = o.modifiers.new("slot", 'BOOLEAN')
        mod.operation, mod.object = 'DIFFERENCE', cutter
        bpy.context.view_layer.objects.active = o
        bpy.ops.object.modifier_apply(modifier=mod.name)
        bpy.data.objects.remove(cutter)
        return o
    if name == "three_parts":  # three spheres of different sizes, apart
        parts = [_add(m.primitive_uv_sphere_add, radius=r, location=loc)
                 for r, loc in ((0.6, (-1.4, 0, 0)), (0.45, (0.1, 0.2, 0.1)), (0.3, (1.2, -0.2, 0.2)))]
        return _join(parts)
    if name == "spring":  # a 4-turn coil spring
        t = np.linspace(0, 4 * 2 * np.pi, 320)
        return _tube("spring", np.c_[0.5 * np.cos(t), 0.5 * np.sin(t), 0.06 * t - 0.75], 0.06, False)
    if name == "torus_knot":  # a (2, 3) torus knot
        t = np.linspace(0, 2 * np.pi, 360, endpoint=False)
        r = 0.6 + 0.25 * np.cos(3 * t)
        return _tube("torus_knot", np.c_[r * np.cos(2 * t), r * np.sin(2 * t), 0.25 * np.sin(3 * t)],
                     0.08, True)
    if name == "coin":  # a disc 1% as thick as it is wide
        return _add(m.primitive_cylinder_add, vertices=96, radius=1.0, depth=0.02)
    if name == "needle":  # 100:1, a cone tip
        body = _add(m.primitive_cylinder_add, vertices=24, radius=0.01, depth=1.9, location=(0, 0, -0.05))
        tip = _add(m.primitive_cone_add, vertices=24, radius1=0.01, depth=0.1, location=(0, 0, 0.95))
        return _join([body, tip])
    raise KeyError(f"no generated target named {name}")
