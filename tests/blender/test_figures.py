"""Issue 17 item 7: Remesh updates the figures of the mesh it writes, removes the fit's
Chamfer and seconds at another level (they measured the fit's mesh), and says so."""
import bpy
import pytest

from neural_morph import core
from neural_morph.blender import meshes, store

TINY = dict(iterations=20, points=128, resolution=1)


@pytest.fixture
def morph(suzanne):
    assert bpy.ops.neural_morph.fit(target="Suzanne", **TINY) == {'FINISHED'}
    return bpy.data.objects["Suzanne Morph"]


def test_remesh_writes_the_figures_of_its_mesh_and_removes_the_fits(morph, capfd):
    figures = store.figures_of(morph)
    assert figures["resolution"] == 1 and "chamfer" in figures and "seconds" in figures
    capfd.readouterr()
    assert bpy.ops.neural_morph.remesh(resolution=1) == {'FINISHED'}  # the fit's own mesh again
    assert store.figures_of(morph) == figures
    assert "were removed" not in capfd.readouterr().out
    assert bpy.ops.neural_morph.remesh(resolution=3) == {'FINISHED'}
    out = capfd.readouterr().out
    after = store.figures_of(morph)
    verts, faces = meshes.mesh_vertices(morph.data), meshes.mesh_triangles(morph.data)
    assert after["resolution"] == 3 and after["vertices"] == len(verts) == core.icosphere_counts(3)[0]
    assert after["self_intersections"] == meshes.count_self_intersections_bvh(verts, faces)
    # the Chamfer is measured again at the new level against the flow's stored samples
    flow = store.load_flow(morph)  # measured on the flow's own triangle list (the same triangles)
    assert after["chamfer"] == pytest.approx(flow.chamfer(verts, flow.sphere(3)[1]))
    assert after["chamfer"] != figures["chamfer"] and "seconds" not in after
    assert after["iterations"] == figures["iterations"] and after["source"] == "Suzanne"
    assert "Chamfer measured again at this level against the stored target samples" in out
    # Continue Fit measures them again, at the level of the mesh it continues
    assert bpy.ops.neural_morph.fit(target=morph.name, continue_fit=True,
                                    **{**TINY, "resolution": 3}) == {'FINISHED'}
    again = store.figures_of(morph)
    assert again["chamfer"] > 0 and again["seconds"] > 0 and again["resolution"] == 3
