"""Morph Onto in the real Blender: the user's own mesh flowed onto a target (issue 18)."""
import bpy
import numpy as np
import pytest

from conftest import counts

from neural_morph import api as nm
from neural_morph.blender import meshes, store
from neural_morph.core.animation import shown_state

QUICK = dict(iterations=60, points=256)


def quad_cube(name="Cube", cuts=3, location=(0.0, 0.0, 0.0)):
    """A cube of quads with a UV map, a material and a vertex group."""
    bpy.ops.mesh.primitive_cube_add(location=location)
    cube = bpy.context.active_object
    cube.name = name
    bpy.ops.object.mode_set(mode='EDIT')
    bpy.ops.mesh.select_all(action='SELECT')
    bpy.ops.mesh.subdivide(number_cuts=cuts)
    bpy.ops.object.mode_set(mode='OBJECT')
    cube.data.materials.append(bpy.data.materials.new("Paint"))
    group = cube.vertex_groups.new(name="Top")
    group.add([v.index for v in cube.data.vertices if v.co.z > 0.5], 1.0, 'REPLACE')
    return cube


@pytest.fixture(scope="module")
def onto_morph():
    """A quad cube morphed onto Suzanne, fitted once for the module."""
    bpy.ops.wm.read_homefile(use_empty=True)
    cube = quad_cube(location=(-3.0, 0.0, 0.0))
    bpy.ops.mesh.primitive_monkey_add(location=(2.0, 1.0, 0.0))
    monkey = bpy.context.active_object
    before = {"cube": meshes.mesh_vertices(cube.data).copy(), "polygons": len(cube.data.polygons)}
    obj = nm.morph_onto(cube, monkey, keys=4, frame_start=1, frame_end=20, **QUICK)
    return cube, monkey, obj, before


def world_key(obj, key):
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    key.data.foreach_get("co", co)
    return meshes.transform_points(np.array(obj.matrix_world), co.reshape(-1, 3).astype(np.float64))


def test_the_copy_keeps_the_source_topology_uvs_materials_and_groups(onto_morph):
    cube, monkey, obj, before = onto_morph
    assert obj.name == "Cube Onto Suzanne" and obj != cube
    assert len(obj.data.polygons) == before["polygons"]
    assert all(len(p.vertices) == 4 for p in obj.data.polygons)  # quads stay quads
    assert obj.data.uv_layers.keys() == cube.data.uv_layers.keys()
    assert [m.name for m in obj.data.materials] == ["Paint"]
    assert [g.name for g in obj.vertex_groups] == ["Top"]
    top = [v.index for v in obj.data.vertices if any(g.group == 0 for g in v.groups)]
    assert top == [v.index for v in cube.data.vertices if v.co.z > 0.5]
    # the source and the target are untouched
    assert np.array_equal(meshes.mesh_vertices(cube.data), before["cube"])
    assert cube.data.shape_keys is None and monkey.data.shape_keys is None


def test_the_keys_go_from_the_source_to_the_target(onto_morph):
    cube, monkey, obj, _ = onto_morph
    blocks = obj.data.shape_keys.key_blocks
    assert blocks[0].name == "Basis" and len(blocks) >= 5
    start = world_key(obj, blocks[1])
    world_cube = meshes.transform_points(np.array(cube.matrix_world), meshes.mesh_vertices(cube.data))
    assert np.abs(start - world_cube).max() < 1e-4
    end = world_key(obj, blocks[-1])
    from neural_morph import core
    target = meshes.mesh_vertices(monkey.data) @ np.array(monkey.matrix_world)[:3, :3].T
    target += np.array(monkey.matrix_world)[:3, 3]
    faces = meshes.mesh_triangles(obj.data)
    f = core.metrics.surface_metrics(end, faces, target, meshes.mesh_triangles(monkey.data),
                                     thresholds=(0.02,))["fscore@0.02"]
    assert f > 0.6
    figures = store.figures_of(obj)
    assert figures["morphed_mesh"] == "Cube" and figures["source"] == "Suzanne"
    assert figures["self_intersections"] == 0
    # the target's normals are stored for the snap, outwards in the flow's space
    flow = store.load_flow(obj)
    samples, normals = flow.surface_samples, flow.surface_normals
    assert normals is not None and normals.shape == samples.shape
    assert (np.einsum("ij,ij->i", normals, samples - samples.mean(0)) > 0).mean() > 0.8


def test_every_frame_of_the_morph_is_clean(onto_morph):
    _, _, obj, _ = onto_morph
    blocks = obj.data.shape_keys.key_blocks
    basis = meshes.mesh_vertices(obj.data)
    states = []
    for kb in blocks[1:]:
        co = np.empty(len(basis) * 3, dtype=np.float32)
        kb.data.foreach_get("co", co)
        states.append(co.reshape(-1, 3))
    frames = _key_frames(obj)
    faces = meshes.mesh_triangles(obj.data)
    for frame in range(1, 21):
        verts = shown_state(np.stack(states), np.array(frames), basis, frame)
        assert meshes.count_self_intersections_bvh(verts.astype(np.float64), faces) == 0, frame
    # and Blender shows the same mesh at a frame between keys
    bpy.context.scene.frame_set(7)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    shown = meshes.mesh_vertices(evaluated)
    obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh_clear()
    assert np.abs(shown - shown_state(np.stack(states), np.array(frames), basis, 7)).max() < 1e-4


def _key_frames(obj):
    """The frame at which each shape key (not the Basis) is keyed to 1, from its F-curve."""
    from neural_morph.blender.shapekeys import _fcurves
    ones = {}
    for fcurve in _fcurves(obj.data.shape_keys.animation_data.action):
        for point in fcurve.keyframe_points:
            if point.co[1] == 1.0:
                ones[fcurve.data_path] = point.co[0]
    return [ones[f'key_blocks["{kb.name}"].value'] for kb in obj.data.shape_keys.key_blocks[1:]]


def test_animate_rekeys_and_remesh_and_morph_between_refuse(onto_morph):
    _, _, obj, _ = onto_morph
    assert bpy.ops.neural_morph.animate(object=obj.name, keys=3, frame_start=5, frame_end=15) == {'FINISHED'}
    assert obj.data.shape_keys.key_blocks[1].name == "t=0.000"
    with pytest.raises(RuntimeError, match="Remesh does not apply"):
        bpy.ops.neural_morph.remesh(object=obj.name, resolution=4)
    with pytest.raises(RuntimeError, match="Morph Between blends morphs from a sphere"):
        bpy.ops.neural_morph.morph_between(source=obj.name, target=obj.name)


def test_continue_fit_trains_further_and_keys_again(onto_morph):
    cube, _, obj, _ = onto_morph
    basis = meshes.mesh_vertices(obj.data).copy()
    assert bpy.ops.neural_morph.fit(target=obj.name, continue_fit=True, iterations=10,
                                    points=256) == {'FINISHED'}
    figures = store.figures_of(obj)
    assert figures["iterations"] == QUICK["iterations"] + 10 and figures["morphed_mesh"] == "Cube"
    assert np.array_equal(meshes.mesh_vertices(obj.data), basis)  # the Basis is still the cube
    assert len(obj.data.shape_keys.key_blocks) >= 4


def test_the_operator_takes_the_selection(scene):
    cube = quad_cube(cuts=1)
    bpy.ops.mesh.primitive_uv_sphere_add(location=(0, 0, 3))
    ball = bpy.context.active_object
    cube.select_set(True)
    assert bpy.ops.neural_morph.morph_onto(iterations=20, points=128, keys=2) == {'FINISHED'}
    made = bpy.context.active_object
    assert made.name == "Cube Onto Sphere" and store.figures_of(made)["source"] == ball.name


@pytest.mark.parametrize("case, message", [
    ("nothing", "No source: select the mesh to morph"),
    ("same", "The source and the target are the same object"),
    ("text", "is not a mesh: Morph Onto flows a mesh's own vertices"),
    ("no faces", "has no faces"),
])
def test_bad_input_is_refused_and_creates_nothing(scene, case, message):
    bpy.ops.mesh.primitive_monkey_add()
    monkey = bpy.context.active_object
    if case == "same":
        source = monkey.name
    elif case == "text":
        bpy.ops.object.text_add()
        source = bpy.context.active_object.name
    elif case == "no faces":
        mesh = bpy.data.meshes.new("Dots")
        mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [])
        dots = bpy.data.objects.new("Dots", mesh)
        scene.collection.objects.link(dots)
        source = dots.name
    else:
        source = ""
    bpy.context.view_layer.objects.active = monkey
    for other in bpy.context.view_layer.objects:
        other.select_set(other == monkey)
    before = counts()
    with pytest.raises(ValueError, match=message):
        nm.morph_onto(source or monkey, monkey, iterations=5) if source else (
            _operator_only(monkey))
    assert counts() == before


def _operator_only(monkey):
    try:
        bpy.ops.neural_morph.morph_onto(target=monkey.name, iterations=5)
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None


def test_a_source_that_crosses_itself_is_said(scene):
    bpy.ops.mesh.primitive_uv_sphere_add(location=(0, 0, 5))
    bpy.ops.mesh.primitive_monkey_add()  # Suzanne crosses herself (85 triangles)
    monkey = bpy.context.active_object
    obj = nm.morph_onto(monkey, "Sphere", iterations=20, points=128, keys=2)
    figures = store.figures_of(obj)
    assert figures["source_self_intersections"] > 0
    # only the parts that crossed at the start (her eyes and her head) cross at the end
    from neural_morph.core.source import MeshSource
    faces = meshes.mesh_triangles(obj.data)
    part = MeshSource(meshes.mesh_vertices(monkey.data), faces).face_parts()

    def crossing_parts(verts):
        pairs = meshes.self_intersecting_faces_bvh(verts, faces, pairs=True)
        return {tuple(sorted(p)) for p in part[pairs].tolist()}
    before = crossing_parts(meshes.mesh_vertices(monkey.data))
    assert before and all(a != b for a, b in before)  # the eyes cut into the head
    end = world_key(obj, obj.data.shape_keys.key_blocks[-1])
    assert crossing_parts(end) <= before


@pytest.mark.slow
def test_an_open_plane_and_a_linked_source_morph_into_local_copies(scene, tmp_path):
    # a linked mesh is read, never written: the result is a local copy
    quad_cube(name="Block", cuts=1)
    library = tmp_path / "library.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(library), copy=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(str(library), link=True) as (_, into):
        into.objects = ["Block"]
    block = into.objects[0]
    bpy.context.scene.collection.objects.link(block)
    bpy.ops.mesh.primitive_plane_add(size=2, location=(0, 3, 0))
    plane = bpy.context.active_object
    bpy.ops.mesh.primitive_uv_sphere_add(location=(0, 0, 4))
    ball = bpy.context.active_object
    for source in (block, plane):
        made = nm.morph_onto(source, ball, iterations=20, points=128, keys=2)
        assert made.library is None and made.data.library is None
        assert len(made.data.polygons) == len(source.data.polygons)
        assert store.figures_of(made)["self_intersections"] == 0
    assert block.data.shape_keys is None and plane.data.shape_keys is None
