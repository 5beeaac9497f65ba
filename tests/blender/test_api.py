"""The Python API, imported the way a console user does."""
import bpy
import numpy as np
import pytest

from neural_morph import core


def test_api_alias_fits_meshes_and_inverts(scene):
    import neural_morph_api as nm
    bpy.ops.mesh.primitive_monkey_add(location=(2, 0, 0))
    morph = nm.fit("Suzanne", iterations=30, points=128, resolution=2)
    assert morph.name == "Suzanne Morph"
    verts, faces = nm.mesh(morph, level=3)
    assert verts.shape == (642, 3) and faces.shape == (1280, 3)
    assert abs(verts.mean(0)[0] - 2.0) < 0.5  # world space, over the target
    states, _ = nm.trajectory(morph, [0.0, 0.5, 1.0], level=2)
    assert states.shape == (3, 162, 3)
    sphere = nm.inverse(morph, states[-1])
    assert np.abs(sphere - states[0]).max() < 1e-3
    with pytest.raises(ValueError, match="No object named"):
        nm.mesh("Missing")


def test_api_fits_numpy_points():
    import neural_morph_api as nm
    verts, faces = core.icosphere(3)
    flow = nm.fit_points(core.sample_surface(verts * [1, 2, 1], faces, 5_000, 0),
                         iterations=10, points=64, warm_start=2)
    v, f = nm.mesh(flow, level=2)
    assert v.shape == (162, 3) and isinstance(flow, core.FittedFlow)


def test_fit_points_and_the_operator_derive_settings_the_same_way():
    """Issue 9 item 9: 30 iterations failed through the API (warm start 50 > 30)."""
    import types
    import neural_morph_api as nm
    from neural_morph.blender import data
    verts, faces = core.icosphere(3)
    flow = nm.fit_points(core.sample_surface(verts, faces, 5_000, 0), iterations=30, points=64,
                         resolution=1)
    defaults = core.FitSettings()
    props = types.SimpleNamespace(iterations=30, points=64, resolution=1, seed=defaults.seed,
                                  learning_rate=defaults.learning_rate, steps=defaults.steps)
    assert flow.settings == data.fit_settings(props)
    assert flow.iterations == 30
