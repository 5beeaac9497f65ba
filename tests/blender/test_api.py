"""The Python API, imported the way a console user does."""
import bpy
import numpy as np
import pytest

from neural_morph import core

from conftest import counts


@pytest.mark.slow
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
    # the flowed sphere φ(sphere) comes back onto the sphere exactly; the output, which
    # also took the last-millimetre snap (core/snap.py), comes back close to it
    flow = nm.flow_of(morph)
    mw = np.array(morph.matrix_world)
    phi = flow.flow(flow.sphere(2)[0]) @ mw[:3, :3].T + mw[:3, 3]
    assert np.abs(nm.inverse(morph, phi) - states[0]).max() < 1e-3
    with pytest.raises(ValueError, match="No object named"):
        nm.mesh("Missing")


def test_api_fits_numpy_points():
    import neural_morph_api as nm
    verts, faces = core.icosphere(3)
    flow = nm.fit_points(core.sample_surface(verts * [1, 2, 1], faces, 5_000, 0),
                         iterations=10, points=64, warm_start=2)
    v, f = nm.mesh(flow, level=2)
    assert v.shape == (162, 3) and isinstance(flow, core.FittedFlow)


def test_fit_points_takes_the_backed_flags_of_an_open_sheet_and_refuses_a_bad_array():
    import neural_morph_api as nm
    from neural_morph.core.training import BACKED_MESSAGE
    verts, faces = core.icosphere(3)
    points, tri = core.sample_surface(verts, faces, 5_000, 0, return_faces=True)
    normals = core.outward_normals(verts, faces)[tri]
    sheet = points[:, 2] > 0  # as if only the upper half had surface behind it,
    normals[~sheet] *= -1  # and the lower half's normals pointed in: it has two outsides
    quick = dict(iterations=8, points=64, warm_start=2, resolution=1)
    runs = [nm.fit_points(points, normals=normals, backed=backed, **quick).history
            for backed in (None, sheet)]
    assert runs[0] != runs[1]  # the unbacked half has two outsides
    with pytest.raises(ValueError) as info:
        nm.fit_points(points, normals=normals, backed=sheet[:-1], **quick)
    assert str(info.value) == BACKED_MESSAGE


def test_fit_points_and_the_operator_derive_settings_the_same_way():
    """Issue 9 item 9: 30 iterations failed through the API (warm start 50 > 30)."""
    import types
    import neural_morph_api as nm
    from neural_morph.blender import fitting
    verts, faces = core.icosphere(3)
    flow = nm.fit_points(core.sample_surface(verts, faces, 5_000, 0), iterations=30, points=64,
                         resolution=1)
    defaults = core.FitSettings()
    props = types.SimpleNamespace(iterations=30, points=64, resolution=1, seed=defaults.seed,
                                  learning_rate=defaults.learning_rate, steps=defaults.steps)
    assert flow.settings == fitting.fit_settings(props)
    assert flow.iterations == 30


# -- issue 17 item 8: every bad input is a ValueError with a README sentence, or works ------
TINY = dict(iterations=30, points=128, resolution=2)


@pytest.fixture
def morph(suzanne):
    import neural_morph_api as nm
    return nm.fit("Suzanne", **TINY)


def test_trajectory_refuses_empty_and_non_finite_times_and_takes_one_time(morph):
    import neural_morph_api as nm
    for times in ([], [float("nan")], [0.0, float("inf")], [[0.5]], ["half"], None):
        with pytest.raises(ValueError, match="Trajectory times must be a number or a non-empty list"):
            nm.trajectory(morph, times, level=1)
    with pytest.raises(ValueError, match="must lie between 0"):
        nm.trajectory(morph, [0.5, 1.5], level=1)
    one, faces = nm.trajectory(morph, 0.5, level=1)  # one time: one state (V, 3)
    listed, _ = nm.trajectory(morph, [0.0, 0.5], level=1)
    assert one.shape == (42, 3) and faces.shape == (80, 3)
    assert np.array_equal(one, listed[1]) and not np.allclose(listed[0], listed[1])


def test_trajectory_computes_each_distinct_time_once(morph, monkeypatch):
    import neural_morph_api as nm
    from neural_morph import core as nm_core
    calls = []
    real = nm_core.clean_trajectory

    def counted(model, level, times, find):
        calls.append(list(times))
        return real(model, level, times, find)

    monkeypatch.setattr(nm_core, "clean_trajectory", counted)
    states, _ = nm.trajectory(morph, [0.5] * 1000 + [1.0, 0.5, 0.0], level=1)
    assert calls == [[0.0, 0.5, 1.0]]
    assert states.shape == (1003, 42, 3)
    assert np.array_equal(states[0], states[999]) and np.array_equal(states[0], states[1001])
    single, _ = nm.trajectory(morph, [1.0, 0.0], level=1)
    assert np.array_equal(states[1000], single[0]) and np.array_equal(states[1002], single[1])


def test_inverse_refuses_bad_points_and_says_how_far_off_the_surface_they_are(morph):
    import neural_morph_api as nm
    for points in ([[float("nan"), 0, 0]], np.zeros((3, 2)), np.zeros((0, 3)), [1, 2, 3], "x"):
        with pytest.raises(ValueError, match=r"Points to invert must be an \(N, 3\) array"):
            nm.inverse(morph, points)
    verts, _ = nm.mesh(morph, level=2)
    far = np.array([[100.0, 0.0, 0.0]])
    on_sphere = nm.inverse(morph, verts)  # the README example: one array, unchanged
    both, distance = nm.inverse(morph, np.vstack([verts, far]), return_distance=True)
    assert on_sphere.shape == verts.shape and np.allclose(both[:-1], on_sphere)
    assert distance.shape == (len(verts) + 1,)
    size = float(np.ptp(verts, axis=0).max())
    # mesh vertices lie on the flowed surface, or close to it (the snap moves them by at
    # most 0.08 of the unit ball, untangled ones stop short); 100 m away is far off
    assert np.median(distance[:-1]) < 0.02 * size
    assert distance[-1] > 90.0
    flow = nm.flow_of(morph)  # a FittedFlow takes the same check, in its target's space
    _, flow_distance = nm.inverse(flow, far, return_distance=True)
    assert flow_distance.shape == (1,) and flow_distance[0] > 0.1


def test_settings_levels_and_choices_are_checked_with_readme_sentences(suzanne, morph):
    import neural_morph_api as nm
    n = counts()
    cases = [
        (lambda: nm.fit("Suzanne", normalization="bogus", **TINY),
         "Normalization must be one of affine, similarity."),
        (lambda: nm.fit("Suzanne", beam_weight=-1.0, **TINY),
         "Gap Pull must be a number of at least 0: 0 turns it off."),
        (lambda: nm.fit("Suzanne", inside_weight=float("nan"), **TINY),
         "Inside Pull must be a number of at least 0: 0 turns it off."),
        (lambda: nm.fit("Suzanne", iterations=2.5), "'iterations' must be a whole number, got 2.5."),
        (lambda: nm.fit("Suzanne", learning_rate="fast"), "'learning_rate' must be a number, got 'fast'."),
        (lambda: nm.fit_points(np.random.default_rng(0).normal(size=(64, 3)), iterations=2.5),
         "'iterations' must be a whole number, got 2.5."),
        (lambda: nm.mesh(morph, level=3.7), "'level' must be a whole number, got 3.7."),
        (lambda: nm.trajectory(morph, [0.5], level=1.5), "'level' must be a whole number, got 1.5."),
        (lambda: nm.mesh(morph, level=9), "Resolution (icosphere level) must be between 0 and 7."),
    ]
    for call, sentence in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == sentence  # tests/core/test_messages.py: each is in README
    assert counts() == n
    assert nm.mesh(morph, level=2.0)[0].shape == (162, 3)  # a whole float is a whole number


def test_gap_pull_reaches_the_fit_from_the_api_and_the_operator_and_is_kept(suzanne):
    # the beam term is on by default (1); Gap Pull (beam_weight) sets it from the API and
    # the operator alike, 0 turns it off, and the stored flow keeps it (Continue Fit
    # trains with it)
    import neural_morph_api as nm
    assert core.FitSettings().beam_weight == 1.0
    morph = nm.fit("Suzanne", beam_weight=0.0, **TINY)
    assert nm.flow_of(morph).settings.beam_weight == 0.0
    assert bpy.ops.neural_morph.fit(target="Suzanne", beam_weight=0.5, **TINY) == {"FINISHED"}
    assert nm.flow_of(bpy.data.objects["Suzanne Morph.001"]).settings.beam_weight == 0.5
    with pytest.raises(ValueError, match="Unknown"):
        nm.morph_onto("Suzanne", "Suzanne Morph", beam_weight=1.0)  # a mesh source has no beam


def test_inside_pull_reaches_the_fit_from_the_operator_and_is_kept(suzanne):
    # the inside term is on by default (0.2); Inside Pull (inside_weight) sets it, 0 turns
    # it off, the stored flow keeps it, and a mesh source (Morph Onto), which has no
    # inside term, refuses it
    import neural_morph_api as nm
    assert core.FitSettings().inside_weight == pytest.approx(0.2)
    assert bpy.ops.neural_morph.fit(target="Suzanne", inside_weight=0.5, **TINY) == {"FINISHED"}
    morph = bpy.context.active_object
    assert nm.flow_of(morph).settings.inside_weight == pytest.approx(0.5)
    with pytest.raises(ValueError, match="Unknown"):
        nm.morph_onto("Suzanne", morph.name, inside_weight=0.2)


# -- issue 15 item 2: nm.fit calls the fit directly (blender.fitting.fit_objects) -------------
def test_fit_returns_its_own_morph_and_creates_nothing_on_error(suzanne, monkeypatch):
    import neural_morph_api as nm
    from neural_morph.blender import fitting
    bpy.ops.mesh.primitive_cube_add(location=(4, 0, 0))  # active, and not the target
    cube = bpy.context.active_object
    morph = nm.fit("Suzanne", iterations=10, points=64, resolution=1)
    assert morph.name == "Suzanne Morph" and morph["neural_morph_source"] == "Suzanne"
    empty = bpy.data.objects.new("Empty Mesh", bpy.data.meshes.new("Empty Mesh"))
    bpy.context.scene.collection.objects.link(empty)
    n = counts()
    with pytest.raises(ValueError, match=r"^'Empty Mesh' is an empty mesh: it has no vertices\.$"):
        nm.fit(empty)
    assert counts() == n

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(fitting.core, "run_fit", interrupted)
    with pytest.raises(ValueError, match=r"^The fit was cancelled; nothing was created\.$"):
        nm.fit(cube, iterations=10, points=64, resolution=1)
    assert counts() == n
