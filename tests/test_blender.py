"""The add-on inside the real Blender: fit operator, bad input, registration."""
import math

import bpy
import numpy as np
import pytest

from conftest import counts
from neural_morph import core
from neural_morph.operators import blender_data as data

SMALL = dict(iterations=60, points=256, resolution=3)


def mesh_state(obj):
    """Everything about a target that a fit must leave unchanged."""
    me = obj.data
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    return (co.tobytes(), tuple(map(tuple, obj.matrix_world)), me.name, obj.name,
            len(me.polygons), [m.name for m in obj.modifiers], len(me.uv_layers))


def test_core_and_blender_agree_on_suzanne_self_intersections(suzanne):
    verts = data.mesh_vertices(suzanne.data)
    faces = data.mesh_triangles(suzanne.data)
    ours = core.count_self_intersections(verts, faces)
    blender = data.count_self_intersections_bvh(verts, faces)
    assert ours == blender
    assert 80 <= ours <= 90  # about 85 of Suzanne's 968 triangles intersect


def test_fit_on_suzanne_creates_one_clean_morph(suzanne):
    before = mesh_state(suzanne)
    n_obj, n_mesh = counts()
    assert bpy.ops.neural_morph.fit(**SMALL) == {'FINISHED'}
    assert counts() == (n_obj + 1, n_mesh + 1)
    morph = bpy.context.active_object
    assert morph.name == "Suzanne Morph" and morph.select_get() and not suzanne.select_get()
    assert mesh_state(suzanne) == before
    figures = data.figures_of(morph)
    assert figures["source"] == "Suzanne"
    assert figures["iterations"] == SMALL["iterations"]
    assert figures["self_intersections"] == 0
    assert figures["resolution"] >= SMALL["resolution"]
    # 60 tiny iterations: a blob, yet far closer than the enclosing unit sphere (~1e-1).
    assert figures["chamfer"] < 3e-2
    verts = data.mesh_vertices(morph.data)
    faces = data.mesh_triangles(morph.data)
    assert len(verts) == core.icosphere_counts(figures["resolution"])[0]
    assert data.count_self_intersections_bvh(verts, faces) == 0
    assert np.linalg.norm(verts, axis=1).max() < 1.5  # stored in the unit ball
    assert morph.data.uv_layers.get("Sphere UV") is not None
    assert all(p.use_smooth for p in morph.data.polygons)
    assert data.FLOW_KEY in morph.keys()
    assert suzanne.users_collection[0] == morph.users_collection[0]


def test_fit_respects_world_transform_and_modifiers(scene):
    bpy.ops.mesh.primitive_cube_add(location=(5, -3, 2), rotation=(0.3, 0.5, 0.1))
    cube = bpy.context.active_object
    cube.scale = (3.0, 1.0, 0.5)
    cube.modifiers.new("bevel", 'BEVEL').width = 0.2
    bpy.context.view_layer.update()
    bpy.ops.neural_morph.fit(target=cube.name, **SMALL)
    morph = bpy.context.active_object
    mw = np.array(morph.matrix_world)
    world = data.mesh_vertices(morph.data) @ mw[:3, :3].T + mw[:3, 3]
    target_verts, _ = data.evaluated_triangles(bpy.context, cube)
    assert np.allclose(world.mean(0), target_verts.mean(0), atol=0.3)
    spread = np.ptp(world @ np.array(cube.matrix_world.to_3x3()), axis=0)
    assert spread[0] > 2 * spread[2]  # the non-uniform scale shows in the morph
    # the bevel modifier was sampled: its evaluated mesh has more vertices than the cube
    assert len(target_verts) > 8
    assert len(cube.data.vertices) == 8


def _add_mesh(name, verts, faces):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


BAD_INPUTS = {
    "no active object": (lambda: bpy.context.view_layer.objects.__setattr__("active", None), "No target"),
    "missing name": (lambda: "Nope", "No object named 'Nope'"),
    "camera": (lambda: bpy.ops.object.camera_add(), "not a mesh"),
    "empty": (lambda: bpy.ops.object.empty_add(), "not a mesh"),
    "empty mesh": (lambda: _add_mesh("Void", [], []), "empty mesh"),
    "no faces": (lambda: _add_mesh("Cloud", [(0, 0, 0), (1, 0, 0), (0, 1, 0)], []), "no faces"),
    "nan": (lambda: _add_mesh("Bad", [(0, 0, 0), (1, 0, 0), (float("nan"), 1, 0)], [(0, 1, 2)]), "NaN"),
    "zero size": (lambda: _add_mesh("Dot", [(1, 1, 1)] * 3, [(0, 1, 2)]), "no surface area"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_and_creates_nothing(scene, case):
    bpy.ops.mesh.primitive_monkey_add()
    make, message = BAD_INPUTS[case]
    name = make()
    before = counts()
    kwargs = dict(SMALL, target=name) if isinstance(name, str) else SMALL
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.neural_morph.fit(**kwargs)
    assert counts() == before


def test_operator_defaults_match_core_settings():
    from neural_morph.operators.fit import fit_properties
    defaults = core.FitSettings()
    for name, prop in fit_properties().items():
        value = prop.keywords["default"]
        assert value == pytest.approx(getattr(defaults, name)), name


def test_panel_and_settings_are_registered():
    assert hasattr(bpy.types, "VIEW3D_PT_neural_morph")
    assert hasattr(bpy.context.scene, "neural_morph")
    assert bpy.context.scene.neural_morph.iterations == core.FitSettings().iterations
