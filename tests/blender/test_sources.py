"""Issue 17 item 5: a morph refers to its source objects themselves (ID references), so
Continue Fit follows a rename, never takes another object that took the old name, accepts
an edited source, and asks for `source` when the source is gone."""
import json

import bpy
import numpy as np
import pytest

from conftest import counts
from neural_morph.blender import meshes, store
from neural_morph.blender.scene import select_only

TINY = dict(iterations=20, points=128, resolution=1)


@pytest.fixture
def fitted(suzanne):
    """(monkey, its morph), fitted with tiny settings."""
    assert bpy.ops.neural_morph.fit(target="Suzanne", **TINY) == {'FINISHED'}
    return suzanne, bpy.data.objects["Suzanne Morph"]


def continue_fit(morph, **kw):
    return bpy.ops.neural_morph.fit(target=morph.name, continue_fit=True, **TINY, **kw)


def world_centre(obj):
    mw = np.array(obj.matrix_world)
    return (meshes.mesh_vertices(obj.data) @ mw[:3, :3].T + mw[:3, 3]).mean(0)


def refused(morph, match):
    before = counts(), meshes.mesh_vertices(morph.data).copy(), morph["neural_morph_iterations"]
    with pytest.raises(RuntimeError, match=match):
        continue_fit(morph)
    assert counts() == before[0] and np.array_equal(meshes.mesh_vertices(morph.data), before[1])
    assert morph["neural_morph_iterations"] == before[2]


def test_continue_fit_follows_a_rename_and_never_takes_an_object_with_the_old_name(fitted, tmp_path):
    monkey, morph = fitted
    monkey.name = "Renamed"
    bpy.ops.mesh.primitive_cube_add(location=(10, 0, 0), size=3)
    bpy.context.active_object.name = "Suzanne"  # takes the source's old name
    assert bpy.data.objects["Suzanne"] != monkey
    path = tmp_path / "renamed.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))  # the reference is saved in the .blend
    bpy.ops.wm.open_mainfile(filepath=str(path))
    monkey, morph = bpy.data.objects["Renamed"], bpy.data.objects["Suzanne Morph"]
    assert store.stored_sources(morph) == ["Renamed"]
    assert store.source_objects(morph) == [monkey]
    assert continue_fit(morph) == {'FINISHED'}
    assert morph["neural_morph_iterations"] == 2 * TINY["iterations"]
    assert morph["neural_morph_source"] == "Renamed"
    assert np.linalg.norm(world_centre(morph)) < 1.0  # over the monkey, not the cube at x = 10
    # pressing Fit with the morph active refits the same object too
    select_only(bpy.context, morph)
    assert bpy.ops.neural_morph.fit(**TINY) == {'FINISHED'}
    again = bpy.context.view_layer.objects.active
    assert again.name == "Renamed Morph" and store.source_objects(again) == [monkey]


def test_continue_fit_accepts_an_edited_source(fitted):
    monkey, morph = fitted
    co = meshes.mesh_vertices(monkey.data) * [1.0, 1.0, 1.6]  # a sculpt: taller
    monkey.data.vertices.foreach_set("co", co.astype(np.float32).ravel())
    monkey.data.update()
    before = np.ptp(world_vertices(morph)[:, 2])
    assert continue_fit(morph) == {'FINISHED'}
    assert store.source_objects(morph) == [monkey]
    assert np.ptp(world_vertices(morph)[:, 2]) > before  # it went after the taller monkey


def world_vertices(obj):
    mw = np.array(obj.matrix_world)
    return meshes.mesh_vertices(obj.data) @ mw[:3, :3].T + mw[:3, 3]


def test_a_removed_source_asks_for_source(fitted):
    monkey, morph = fitted
    bpy.data.objects.remove(monkey)
    bpy.ops.mesh.primitive_monkey_add(location=(10, 0, 0))
    assert bpy.context.active_object.name == "Suzanne"  # a new object, the old name
    refused(morph, r"The object\(s\) 'Suzanne' this morph was fitted to no longer exist: set Source")
    assert continue_fit(morph, source="Suzanne") == {'FINISHED'}  # named on purpose: taken
    assert store.source_objects(morph) == [bpy.data.objects["Suzanne"]]
    assert world_centre(morph)[0] > 5.0


def test_a_source_deleted_in_the_ui_asks_for_source(fitted):
    monkey, morph = fitted
    select_only(bpy.context, monkey)
    assert bpy.ops.object.delete() == {'FINISHED'}  # the reference keeps it, in no collection
    refused(morph, r"The object\(s\) 'Suzanne' this morph was fitted to no longer exist: set Source")
    bpy.ops.mesh.primitive_cube_add(size=2)
    assert continue_fit(morph, source=bpy.context.active_object.name) == {'FINISHED'}
    assert store.stored_sources(morph) == ["Cube"]


def test_a_morph_with_the_old_name_list_still_continues(fitted):
    monkey, morph = fitted
    del morph[store.SOURCE_OBJECTS_KEY]  # as written before issue 17
    morph[store.SOURCES_KEY] = json.dumps(["Suzanne"])
    assert store.source_objects(morph) == [monkey]
    assert continue_fit(morph) == {'FINISHED'}
    assert list(morph[store.SOURCE_OBJECTS_KEY]) == [monkey]  # and now refers to the object
    monkey.name = "Renamed"
    assert store.source_objects(morph) == [monkey]


def test_the_ui_job_continues_the_renamed_source_too(fitted):
    """The panel's path (blender.jobs): the names it keeps while fitting are the sources'
    names now, so the result still refers to the renamed monkey."""
    import time
    from types import SimpleNamespace
    from neural_morph.blender import jobs
    monkey, morph = fitted
    monkey.name = "Renamed"
    bpy.ops.mesh.primitive_cube_add(location=(10, 0, 0))
    bpy.context.active_object.name = "Suzanne"
    props = SimpleNamespace(target=morph.name, continue_fit=True, source="", iterations=20,
                            resolution=1, points=128, learning_rate=1e-2, steps=4, seed=0)
    job = jobs.start_job(bpy.context, props)
    deadline = time.time() + 120
    while job.poll()[0] == "running":
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)
    obj, figures = jobs.finish_job(bpy.context, job)
    assert obj == morph and figures["source"] == "Renamed"
    assert store.source_objects(morph) == [monkey]
    assert np.linalg.norm(world_centre(morph)) < 1.0
