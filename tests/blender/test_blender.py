"""The add-on inside the real Blender: fit operator, bad input, registration."""
import bpy
import numpy as np
import pytest

from conftest import counts
from neural_morph import core
from neural_morph.blender import fitting, meshes, store, targets

SMALL = dict(iterations=60, points=256, resolution=3)


def mesh_state(obj):
    """Everything about a target that a fit must leave unchanged."""
    me = obj.data
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    return (co.tobytes(), tuple(map(tuple, obj.matrix_world)), me.name, obj.name,
            len(me.polygons), [m.name for m in obj.modifiers], len(me.uv_layers))


def test_a_face_is_backed_where_a_ray_into_the_target_meets_it_again():
    # a closed box: every face is backed; the same box open at the top: the floor looks up
    # through the opening and is not, the walls still look across at each other; a flat
    # open sheet has nothing behind it at all
    box = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    normals = core.outward_normals(box, tris)
    every = np.arange(len(tris))
    assert meshes.backed_faces(box, tris, normals, every).all()
    top = normals[:, 2] > 0.5
    open_box = tris[~top]
    backed = meshes.backed_faces(box, open_box, normals[~top], np.arange(len(open_box)))
    floor = normals[~top][:, 2] < -0.5
    assert not backed[floor].any() and backed[~floor].all()
    sheet = np.array([[0, 1, 3], [0, 3, 2]])
    up = np.tile([0.0, 0.0, 1.0], (2, 1))
    assert not meshes.backed_faces(box[[0, 2, 4, 6]], sheet, up, [0, 1]).any()


def test_core_and_blender_agree_on_suzanne_self_intersections(suzanne):
    verts = meshes.mesh_vertices(suzanne.data)
    faces = meshes.mesh_triangles(suzanne.data)
    ours = core.count_self_intersections(verts, faces)
    blender = meshes.count_self_intersections_bvh(verts, faces)
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
    figures = store.figures_of(morph)
    assert figures["source"] == "Suzanne"
    assert figures["iterations"] == SMALL["iterations"]
    assert figures["self_intersections"] == 0
    assert figures["resolution"] >= SMALL["resolution"]
    # 60 tiny iterations: a blob, yet far closer than the enclosing unit sphere (~1e-1).
    assert figures["chamfer"] < 3e-2
    verts = meshes.mesh_vertices(morph.data)
    faces = meshes.mesh_triangles(morph.data)
    assert len(verts) == core.icosphere_counts(figures["resolution"])[0]
    assert meshes.count_self_intersections_bvh(verts, faces) == 0
    assert np.linalg.norm(verts, axis=1).max() < 1.5  # stored in the unit ball
    assert morph.data.uv_layers.get("Sphere UV") is not None
    assert all(p.use_smooth for p in morph.data.polygons)
    assert store.FLOW_KEY in morph.keys()
    assert suzanne.users_collection[0] == morph.users_collection[0]
    # the target's normals are stored with the samples the output snaps onto
    flow = store.load_flow(morph)
    assert flow.surface_normals is not None
    assert flow.surface_normals.shape == flow.surface_samples.shape


def outward_share(flow):
    """Share of the stored target samples whose stored normal points away from their centre."""
    samples, normals = flow.surface_samples, flow.surface_normals
    return float((np.einsum("ij,ij->i", normals, samples - samples.mean(0)) > 0).mean())


@pytest.mark.slow
def test_fit_respects_world_transform_and_modifiers(scene):
    bpy.ops.mesh.primitive_cube_add(location=(5, -3, 2), rotation=(0.3, 0.5, 0.1))
    cube = bpy.context.active_object
    cube.scale = (3.0, 1.0, 0.5)
    cube.modifiers.new("bevel", 'BEVEL').width = 0.2
    bpy.context.view_layer.update()
    bpy.ops.neural_morph.fit(target=cube.name, **SMALL)
    morph = bpy.context.active_object
    mw = np.array(morph.matrix_world)
    world = meshes.mesh_vertices(morph.data) @ mw[:3, :3].T + mw[:3, 3]
    target_verts, _ = targets.evaluated_triangles(bpy.context, cube)
    assert np.allclose(world.mean(0), target_verts.mean(0), atol=0.3)
    spread = np.ptp(world @ np.array(cube.matrix_world.to_3x3()), axis=0)
    assert spread[0] > 2 * spread[2]  # the non-uniform scale shows in the morph
    # the bevel modifier was sampled: its evaluated mesh has more vertices than the cube
    assert len(target_verts) > 8
    assert len(cube.data.vertices) == 8


def _add_mesh(name, verts, faces):
    """Add a mesh object and make it the only selected, active object."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.collection.objects.link(obj)
    for other in bpy.context.selected_objects:
        other.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    return obj


def _add_curve():
    bpy.ops.curve.primitive_bezier_circle_add()


BAD_INPUTS = {
    "no active object": (lambda: bpy.context.view_layer.objects.__setattr__("active", None), "No target"),
    "missing name": (lambda: "Nope", "No object named 'Nope'"),
    "camera": (lambda: bpy.ops.object.camera_add(), "not a mesh"),
    "empty": (lambda: bpy.ops.object.empty_add(), "not a mesh"),
    "empty mesh": (lambda: _add_mesh("Void", [], []), "empty mesh"),
    "no faces": (lambda: _add_mesh("Cloud", [(0, 0, 0), (1, 0, 0), (0, 1, 0)], []), "no faces"),
    "nan": (lambda: _add_mesh("Bad", [(0, 0, 0), (1, 0, 0), (float("nan"), 1, 0)], [(0, 1, 2)]), "NaN"),
    "inf": (lambda: _add_mesh("Far", [(0, 0, 0), (1, 0, 0), (float("inf"), 1, 0)], [(0, 1, 2)]), "infinite"),
    "zero size": (lambda: _add_mesh("Dot", [(1, 1, 1)] * 3, [(0, 1, 2)]), "no surface area"),
    "degenerate only": (lambda: _add_mesh("Line", [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 0)],
                                          [(0, 1, 2), (1, 2, 3)]), "all faces are degenerate"),
    "curve without surface": (_add_curve, "give it Extrude, Bevel Depth or Fill"),
    "0 iterations": (lambda: {"iterations": 0}, "Iterations must be between"),
    "resolution 12": (lambda: {"resolution": 12}, "Resolution .* must be between 0 and 7"),
    "1e8 points": (lambda: {"points": 10 ** 8}, "Points per iteration must be between"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_and_creates_nothing(scene, case):
    bpy.ops.mesh.primitive_monkey_add()
    make, message = BAD_INPUTS[case]
    made = make()
    before = counts()
    kwargs = dict(SMALL)
    if isinstance(made, str):
        kwargs["target"] = made
    elif isinstance(made, dict):
        kwargs.update(made)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.neural_morph.fit(**kwargs)
    assert counts() == before


def test_unexpected_error_is_reported_with_its_traceback(suzanne, monkeypatch, capfd):
    def broken(*_args):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(fitting, "prepare_fit", broken)
    before = counts()
    with pytest.raises(RuntimeError, match=r"failed unexpectedly \(ZeroDivisionError: a bug\).*traceback"):
        bpy.ops.neural_morph.fit(**SMALL)
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert counts() == before


def test_bad_input_prints_no_traceback(scene, capfd):
    bpy.ops.object.camera_add()
    with pytest.raises(RuntimeError, match="not a mesh"):
        bpy.ops.neural_morph.fit(**SMALL)
    assert "Traceback" not in capfd.readouterr().err


def test_operator_defaults_match_core_settings():
    from neural_morph.blender.props import fit_properties
    defaults = core.FitSettings()
    for name, prop in fit_properties().items():
        value = prop.keywords["default"]
        assert value == pytest.approx(getattr(defaults, name)), name


def test_panel_and_settings_are_registered():
    assert hasattr(bpy.types, "VIEW3D_PT_neural_morph")
    assert hasattr(bpy.context.scene, "neural_morph")
    assert bpy.context.scene.neural_morph.iterations == core.FitSettings().iterations


def world_bounds(obj):
    verts = meshes.mesh_vertices(obj.data) if obj.type == 'MESH' else None
    mw = np.array(obj.matrix_world)
    world = verts @ mw[:3, :3].T + mw[:3, 3]
    return world.min(0), world.max(0)


@pytest.mark.slow
@pytest.mark.parametrize("size", [1e-4, 1e5])
def test_fit_works_at_tiny_and_huge_scales(scene, size):
    bpy.ops.mesh.primitive_monkey_add(size=size, location=(size, 0, 0))
    target = bpy.context.active_object
    bpy.context.view_layer.update()
    bpy.ops.neural_morph.fit(**SMALL)
    morph = bpy.context.active_object
    verts, _ = targets.evaluated_triangles(bpy.context, target)
    lo, hi = world_bounds(morph)
    assert np.allclose(lo, verts.min(0), atol=0.25 * size)
    assert np.allclose(hi, verts.max(0), atol=0.25 * size)
    assert morph["neural_morph_chamfer"] < 3e-2  # normalised space: the same at every scale


@pytest.mark.slow
def test_negative_scale_and_parent_are_respected(scene):
    bpy.ops.object.empty_add(location=(3, 0, 0))
    parent = bpy.context.active_object
    parent.scale = (2, 2, 2)
    bpy.ops.mesh.primitive_monkey_add()
    child = bpy.context.active_object
    child.parent = parent
    child.scale = (-1, 1, 1)
    bpy.context.view_layer.update()
    bpy.ops.neural_morph.fit(**SMALL)
    morph = bpy.context.active_object
    verts, _ = targets.evaluated_triangles(bpy.context, child)
    # the morph's matrix is the normalisation of the world-space target: it maps the
    # unit ball onto the target (sampled, not every vertex, hence the tolerance)
    center = (verts.min(0) + verts.max(0)) / 2
    radius = np.linalg.norm(verts - center, axis=1).max()
    mw = np.array(morph.matrix_world)
    unit = (verts - mw[:3, 3]) @ np.linalg.inv(mw[:3, :3]).T
    assert 0.97 < np.linalg.norm(unit, axis=1).max() < 1.03
    lo, hi = world_bounds(morph)
    assert np.allclose(lo, verts.min(0), atol=0.1 * radius)
    assert np.allclose(hi, verts.max(0), atol=0.1 * radius)
    assert abs(center[0] - 3) < 0.5 and np.ptp(verts[:, 0]) > 5  # parent's offset and scale
    assert morph["neural_morph_self_intersections"] == 0
    # the mirror turns the triangles inside out; the stored normals still point outwards
    assert outward_share(store.load_flow(morph)) > 0.8


@pytest.mark.slow
def test_curve_with_bevel_is_fitted_through_its_mesh(scene):
    bpy.ops.curve.primitive_bezier_circle_add()
    curve = bpy.context.active_object
    curve.data.bevel_depth = 0.3
    bpy.ops.neural_morph.fit(**SMALL)
    assert bpy.context.active_object.name == f"{curve.name} Morph"


@pytest.mark.slow
def test_several_selected_meshes_fit_their_union(scene):
    bpy.ops.mesh.primitive_cube_add(location=(-2, 0, 0))
    bpy.ops.mesh.primitive_cube_add(location=(2, 0, 0))
    left, right = bpy.data.objects["Cube"], bpy.data.objects["Cube.001"]
    left.select_set(True)
    right.select_set(True)
    bpy.context.view_layer.objects.active = right
    bpy.ops.neural_morph.fit(**SMALL)
    morph = bpy.context.active_object
    assert morph.name == "Cube.001 Morph"
    assert morph["neural_morph_source"] == "Cube.001, Cube"
    lo, hi = world_bounds(morph)
    assert lo[0] < -2.0 and hi[0] > 2.0  # spans both cubes


@pytest.mark.slow
def test_linked_library_target_puts_result_in_editable_collection(scene, tmp_path):
    lib_path = str(tmp_path / "lib.blend")
    coll = bpy.data.collections.new("Props")
    bpy.context.scene.collection.children.link(coll)
    mesh = bpy.data.meshes.new("Rock")
    verts, faces = core.icosphere(2)
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    coll.objects.link(bpy.data.objects.new("Rock", mesh))
    bpy.ops.wm.save_as_mainfile(filepath=lib_path)
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(lib_path, link=True) as (src, dst):
        dst.collections = ["Props"]
    linked = dst.collections[0]
    bpy.context.scene.collection.children.link(linked)
    rock = linked.objects["Rock"]
    assert rock.library is not None
    bpy.ops.neural_morph.fit(target="Rock", **SMALL)
    morph = bpy.data.objects["Rock Morph"]
    assert morph.library is None
    assert morph.users_collection[0] == bpy.context.scene.collection


@pytest.mark.slow
def test_million_triangle_target_fits_with_tiny_settings(scene):
    verts, faces = core.icosphere(8)  # 1,310,720 triangles
    mesh = meshes.write_mesh("Dense", verts * [1.0, 0.7, 0.5], faces)
    obj = bpy.data.objects.new("Dense", mesh)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    assert len(obj.data.polygons) > 1_000_000
    assert bpy.ops.neural_morph.fit(iterations=3, points=64, resolution=1) == {'FINISHED'}
    assert bpy.context.active_object.name == "Dense Morph"


@pytest.mark.slow
def test_normalization_setting_reaches_the_fit_and_the_object_matrix(scene):
    """Affine scales each principal axis apart (the matrix's columns differ in length);
    Similarity keeps one scale. Both through the operator, as the panel's menu sets them."""
    bpy.ops.mesh.primitive_monkey_add()
    target = bpy.context.active_object
    target.scale = (2.0, 1.0, 0.5)
    bpy.context.view_layer.update()
    lengths = {}
    for kind in ("affine", "similarity"):
        assert bpy.ops.neural_morph.fit(target=target.name, normalization=kind,
                                        **SMALL) == {'FINISHED'}
        morph = bpy.context.active_object
        m = np.array(morph.matrix_world, dtype=np.float64)[:3, :3]
        lengths[kind] = np.linalg.norm(m, axis=0)
        assert store.load_flow(morph).settings.normalization == kind
    assert lengths["similarity"].max() / lengths["similarity"].min() == pytest.approx(1.0, abs=1e-6)
    assert lengths["affine"].max() / lengths["affine"].min() > 2.0
    with pytest.raises(TypeError):  # Blender's enum refuses other names before any work
        bpy.ops.neural_morph.fit(target=target.name, normalization="conformal", **SMALL)
