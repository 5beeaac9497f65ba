"""Panel and preferences drawing logic, with a recording stand-in for the UI layout.

A headless Blender has no region to draw in, so these tests call draw() with an object
that records every label, property and operator button the panel asks for.
"""
import types

import bpy
import pytest

from neural_morph.blender import deps
from neural_morph.ui.panel import VIEW3D_PT_neural_morph
from neural_morph.ui.preferences import NeuralMorphPreferences


class Recorder:
    def __init__(self, log=None):
        self.log = log if log is not None else []
        self.enabled = True

    def _child(self, *args, **kwargs):
        return Recorder(self.log)

    column = row = box = _child

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def prop(self, data, name, **kwargs):
        self.log.append(("prop", name))

    def progress(self, factor=0.0, text="", **kwargs):
        self.log.append(("progress", text))

    def menu(self, idname, **kwargs):
        self.log.append(("menu", idname))

    def operator(self, idname, **kwargs):
        self.log.append(("operator", idname))
        return types.SimpleNamespace()


def draw_panel():
    layout = Recorder()
    panel = types.SimpleNamespace(layout=layout)
    panel.draw_morph_tools = lambda *a: VIEW3D_PT_neural_morph.draw_morph_tools(panel, *a)
    panel.draw_onto = lambda *a: VIEW3D_PT_neural_morph.draw_onto(panel, *a)
    VIEW3D_PT_neural_morph.draw(panel, bpy.context)
    return layout.log


def test_panel_shows_settings_and_fit_button(suzanne):
    log = draw_panel()
    assert ("operator", "neural_morph.fit") in log
    assert ("prop", "iterations") in log and ("prop", "target") in log
    assert any(kind == "label" and "import neural_morph_api" in text for kind, text in log)


def test_panel_offers_morph_onto_for_a_mesh_and_a_target(suzanne):
    assert ("label", "Select the mesh to morph, then the target (active)") in draw_panel()
    bpy.ops.mesh.primitive_cube_add(location=(3, 0, 0))
    cube = bpy.context.active_object
    suzanne.select_set(True)
    bpy.context.view_layer.objects.active = suzanne
    cube.select_set(True)
    assert ("operator", "neural_morph.morph_onto") in draw_panel()


@pytest.mark.slow
def test_panel_shows_morph_tools_and_figures_for_a_morph(suzanne):
    bpy.ops.neural_morph.fit(iterations=5, points=64, resolution=1)
    log = draw_panel()
    for op in ("neural_morph.animate", "neural_morph.remesh", "neural_morph.morph_between"):
        assert ("operator", op) in log
    assert ("label", "Target: Suzanne") in log
    assert ("label", "Self-intersections: 0") in log


def test_panel_and_preferences_explain_missing_dependencies(scene, monkeypatch):
    real = deps.versions()
    monkeypatch.setattr(deps, "versions", lambda: {**real, "torch": None})
    log = draw_panel()
    assert ("label", "torch: missing") in log
    assert ("operator", "neural_morph.fit") not in log
    assert any("pip install" in text for kind, text in log if kind == "label")
    prefs = Recorder()
    NeuralMorphPreferences.draw(types.SimpleNamespace(layout=prefs), bpy.context)
    assert ("label", "torch: missing") in prefs.log
    with pytest.raises(RuntimeError, match="needs torch"):
        deps.require()
    with pytest.raises(RuntimeError, match="needs torch"):
        bpy.ops.neural_morph.fit()
    for op in (bpy.ops.neural_morph.fit, bpy.ops.neural_morph.animate,
               bpy.ops.neural_morph.remesh, bpy.ops.neural_morph.morph_between):
        assert not op.poll()  # greyed out in menus and F3


def test_panel_shows_progress_while_a_job_runs(suzanne):
    from neural_morph.blender import jobs as fit_ops
    fit_ops.start_job(bpy.context, types.SimpleNamespace(
        target="", iterations=100_000, resolution=1, points=64, learning_rate=1e-3, steps=2, seed=0))
    try:
        log = draw_panel()
        assert any(kind == "progress" and "Iteration" in text for kind, text in log)
        assert ("operator", "neural_morph.fit") not in log
    finally:
        fit_ops.cancel_job()


def test_object_pickers_poll_only_where_blender_survives_it():
    """bpy 4.2 segfaults on quit after a PointerProperty with a Python poll was unregistered,
    so every picker passes its poll through properties._poll (none on 4.2). A plain `poll=`
    slipped in once and only the 4.2 run of the matrix caught it."""
    import ast
    from conftest import ROOT
    for path in (ROOT / "ui").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "PointerProperty":
                assert all(k.arg != "poll" for k in node.keywords), f"{path.name}:{node.lineno}"
