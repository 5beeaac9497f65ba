"""Separate pieces in the real Blender: one sphere each, through every operator."""
import bpy
import numpy as np
import pytest

from conftest import counts
from neural_morph import core
from neural_morph.blender import meshes, store, targets

SMALL = dict(iterations=60, points=256, resolution=3)


def joined(objs, name):
    """`objs` joined into one object (the first one's), named `name`."""
    for o in bpy.context.view_layer.objects:
        o.select_set(o in objs)
    bpy.context.view_layer.objects.active = objs[0]
    bpy.ops.object.join()
    obj = bpy.context.active_object
    obj.name = name
    return obj


def three_balls(name="Balls"):
    """Three UV spheres of different sizes, apart, joined into one object."""
    objs = []
    for r, loc in ((0.6, (-1.4, 0, 0)), (0.45, (0.1, 0.2, 0.1)), (0.3, (1.2, -0.2, 0.2))):
        bpy.ops.mesh.primitive_uv_sphere_add(radius=r, location=loc)
        objs.append(bpy.context.active_object)
    return joined(objs, name)


def world_mesh(obj):
    mw = np.array(obj.matrix_world, dtype=np.float64)
    return meshes.mesh_vertices(obj.data) @ mw[:3, :3].T + mw[:3, 3], meshes.mesh_triangles(obj.data)


def fscore(obj, target):
    verts, faces = world_mesh(obj)
    tv, tf = targets.evaluated_triangles(bpy.context, target)
    return core.metrics.surface_metrics(verts, faces, tv, tf, samples=20_000,
                                        thresholds=(0.01,))["fscore@0.01"]


def fitted_clean(name, parts):
    """Fit `name` at SMALL; the morph has `parts` spheres and is clean by both counts:
    (the morph, its world-space vertices (V, 3))."""
    assert bpy.ops.neural_morph.fit(target=name, **SMALL) == {'FINISHED'}
    morph = bpy.data.objects[f"{name} Morph"]
    figures = store.figures_of(morph)
    assert figures["parts"] == parts and figures["self_intersections"] == 0
    verts, faces = world_mesh(morph)
    assert meshes.count_self_intersections_bvh(verts, faces) == 0
    return morph, verts


@pytest.mark.slow
def test_separate_pieces_get_a_sphere_each_and_stay_apart(scene):
    balls = three_balls()
    morph, verts = fitted_clean("Balls", parts=3)
    # three separate pieces of mesh, one around each ball
    flow = store.load_flow(morph)
    assert flow.spheres.count == 3
    assert len(verts) == len(flow.sphere(SMALL["resolution"])[0])
    assert fscore(morph, balls) > 0.9

    # one sphere for everything: the old lollipop, far less close
    assert bpy.ops.neural_morph.fit(target="Balls", parts='one', **SMALL) == {'FINISHED'}
    single = bpy.context.active_object
    assert store.figures_of(single)["parts"] == 1
    assert fscore(single, balls) < fscore(morph, balls) - 0.1

    # the operators that read the stored flow handle the spheres
    assert bpy.ops.neural_morph.remesh(object=morph.name, resolution=4) == {'FINISHED'}
    assert len(morph.data.vertices) == len(flow.sphere(4)[0])
    assert len(morph.data.uv_layers["Sphere UV"].data) == 3 * len(flow.sphere(4)[1])
    assert bpy.ops.neural_morph.animate(object=morph.name, keys=3) == {'FINISHED'}
    assert len(morph.data.shape_keys.key_blocks) == 4


@pytest.mark.slow
def test_continue_fit_keeps_the_spheres(scene):
    three_balls()
    bpy.ops.neural_morph.fit(target="Balls", **SMALL)
    morph = bpy.data.objects["Balls Morph"]
    before = store.load_flow(morph).spheres.to_list()
    assert bpy.ops.neural_morph.fit(target=morph.name, continue_fit=True, iterations=10) == {'FINISHED'}
    assert store.load_flow(morph).spheres.to_list() == before
    assert store.figures_of(morph)["self_intersections"] == 0


@pytest.mark.slow
def test_morph_between_refuses_separate_parts_and_creates_nothing(scene):
    three_balls()
    bpy.ops.neural_morph.fit(target="Balls", **SMALL)
    bpy.ops.mesh.primitive_monkey_add()
    bpy.ops.neural_morph.fit(target="Suzanne", **SMALL)
    before = counts()
    with pytest.raises(RuntimeError, match="fitted with 3 separate parts"):
        bpy.ops.neural_morph.morph_between(source="Balls Morph", target="Suzanne Morph")
    assert counts() == before


def comb(name="Comb", teeth=6):
    """A bar with thin teeth pushed into it, joined into one object (one piece)."""
    objs = []
    bpy.ops.mesh.primitive_cube_add(location=(0, 0, 0.1), scale=(0.7, 0.06, 0.1))
    objs.append(bpy.context.active_object)
    for i in range(teeth):
        bpy.ops.mesh.primitive_cube_add(location=(-0.6 + i * 1.2 / (teeth - 1), 0, -0.35),
                                        scale=(0.025, 0.05, 0.4))
        objs.append(bpy.context.active_object)
    return joined(objs, name)


@pytest.mark.slow
def test_a_comb_s_teeth_get_a_sphere_each_and_come_out_apart(scene):
    target = comb()
    morph, _ = fitted_clean("Comb", parts=7)
    assert bpy.ops.neural_morph.fit(target="Comb", parts='one', **SMALL) == {'FINISHED'}
    single = bpy.context.active_object
    assert store.figures_of(single)["parts"] == 1
    ours, one = fscore(morph, target), fscore(single, target)
    assert ours > one + 0.05, (ours, one)
    # Continue Fit finds the same teeth again and keeps their spheres
    before = store.load_flow(morph).spheres.to_list()
    assert bpy.ops.neural_morph.fit(target=morph.name, continue_fit=True, iterations=5,
                                    resolution=3) == {'FINISHED'}
    assert store.load_flow(morph).spheres.to_list() == before
