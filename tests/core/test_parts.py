"""core/parts.py and a fit with one sphere per separate piece. Plain Python: no bpy."""
import importlib

import numpy as np
import pytest

from neural_morph import core
from neural_morph.core import metrics, parts, storage, training

QUICK = dict(iterations=80, points=256, target_samples=20_000, warm_start=20, resolution=3)
CENTRES = ((-2.5, 0.0, 0.0), (0.0, 0.0, 0.0), (2.5, 0.3, 0.0))
RADII = (1.0, 0.7, 0.5)


def spheres_mesh(centres=CENTRES, radii=RADII, level=3):
    """Separate icospheres as one mesh: (verts (V, 3), faces (F, 3))."""
    v, f = core.icosphere(level)
    verts = np.concatenate([v * r + np.asarray(c) for c, r in zip(centres, radii)])
    faces = np.concatenate([f + i * len(v) for i in range(len(radii))])
    return verts, faces


def labelled(verts, faces, n=20_000):
    pts, tri = core.sample_surface(verts, faces, n, 0, return_faces=True)
    return pts, core.surface_parts(verts, faces, tri, pts)


def test_separate_pieces_get_one_label_each_largest_first():
    pts, labels = labelled(*spheres_mesh())
    assert labels.max() == 2
    counts = np.bincount(labels)
    assert counts[0] > counts[1] > counts[2]
    # each label is one sphere: all its points lie on that sphere
    for k, (c, r) in enumerate(zip(CENTRES, RADII)):
        d = np.linalg.norm(pts[labels == k] - c, axis=1)
        assert np.allclose(d, r, atol=0.05)


def test_touching_or_crossing_pieces_are_one_piece():
    # the second sphere crosses the first, the third sits 1e-4 away from the second
    pts, labels = labelled(*spheres_mesh(((0, 0, 0), (1.2, 0, 0), (2.0001, 0, 0)), (1.0, 0.5, 0.3)))
    assert labels.max() == 0


@pytest.mark.slow
def test_a_lid_resting_close_on_its_pot_is_one_piece_but_letters_apart_are_not():
    # a gap of 2% of the small piece's size: wrapped together (a teapot's lid)
    pts, labels = labelled(*spheres_mesh(((0, 0, 0), (0, 0, 1.3 + 0.012)), (1.0, 0.3)))
    assert labels.max() == 0
    # a gap of 15% of the small piece's size: separate (letters of a word)
    pts, labels = labelled(*spheres_mesh(((0, 0, 0), (0, 0, 1.3 + 0.09)), (1.0, 0.3)))
    assert labels.max() == 1


def test_split_vertices_do_not_split_a_piece():
    # every triangle with its own three vertices (an STL, or split normals)
    verts, faces = core.icosphere(3)
    split = verts[faces.reshape(-1)]
    pts, labels = labelled(split, np.arange(len(split)).reshape(-1, 3))
    assert labels.max() == 0


def test_a_speck_joins_its_nearest_piece():
    verts, faces = spheres_mesh(((0, 0, 0), (3, 0, 0)), (1.0, 0.01))
    _, labels = labelled(verts, faces)
    assert labels.max() == 0


def test_sphere_set_spheres_are_disjoint_and_keep_their_share():
    pts, labels = labelled(*spheres_mesh())
    spheres, labels = parts.sphere_set(pts / 4.0, labels)
    assert spheres.count == 3
    c, r = spheres.centres, spheres.radii
    for i in range(3):
        for j in range(i + 1, 3):
            assert r[i] + r[j] < np.linalg.norm(c[i] - c[j])
    assert np.isclose(spheres.shares.sum(), 1.0)
    # the output mesh gives the largest part the most vertices, and never crosses itself
    verts, faces, part = spheres.mesh(5)
    assert np.bincount(part)[0] > np.bincount(part)[2]
    assert core.count_self_intersections(verts, faces) == 0
    assert len(spheres.uvs(5)) == 3 * len(faces)
    again = parts.SphereSet.from_list(spheres.to_list())
    assert np.allclose(again.centres, spheres.centres) and np.allclose(again.radii, spheres.radii)


def test_a_part_joined_to_another_starts_as_large_as_its_rms_radius():
    # two balls far apart: separate pieces, each sphere SPHERE_SIZE of its RMS radius (1)
    pts, labels = labelled(*spheres_mesh(((-4.0, 0, 0), (4.0, 0, 0)), (1.0, 1.0)))
    spheres, _ = parts.sphere_set(pts, labels)
    assert np.allclose(spheres.radii, parts.SPHERE_SIZE * 1.0, rtol=0.02)
    # one ball with a cap labelled apart (a body and a branch): joined, so the body's
    # sphere starts at its whole RMS radius and only the two spheres' gap holds it back
    v, f = core.icosphere(4)
    pts, _ = core.sample_surface(v * 4.0, f, 20_000, 0, return_faces=True)
    labels = (pts[:, 0] > 3.5).astype(np.int64)
    spheres, _ = parts.sphere_set(pts, labels)
    body = pts[labels == 0]
    rms = np.sqrt(((body - body.mean(axis=0)) ** 2).sum(1).mean())
    gap = np.linalg.norm(spheres.centres[0] - spheres.centres[1])
    assert np.isclose(spheres.radii.sum(), parts.SPHERE_GAP * gap, rtol=1e-3)
    assert spheres.radii[0] > 1.2 * parts.SPHERE_SIZE * rms


def test_small_parts_share_the_vertices_but_never_drop_below_the_floor_level():
    spheres = parts.SphereSet(np.eye(4, 3) * 3.0, np.full(4, 0.5), np.array([0.97, 0.01, 0.01, 0.01]))
    assert spheres.levels(5).tolist() == [5, 3, 3, 3]  # two levels below, by share
    assert spheres.levels(3).tolist() == [3] + [parts.MIN_PART_LEVEL] * 3  # a Draft leg
    assert spheres.levels(1).tolist() == [1, 1, 1, 1]  # never above the output's level
    # the floor is the output's: the fit's shape term keeps its coarse small parts, so
    # its batch stays as fine where it matters (the body at level 2, not all at level 1)
    verts, _, part, _ = spheres.shape_batch(665, np.random.default_rng(0))
    assert np.bincount(part).tolist() == [162, 42, 42, 42]


def test_a_piece_nested_in_another_merges_with_it():
    # a small sphere inside a large hollow one: their spheres cannot be apart
    pts, labels = labelled(*spheres_mesh(((0, 0, 0), (0.05, 0, 0)), (1.0, 0.3)))
    spheres, labels = parts.sphere_set(pts, labels)
    assert spheres.count == 1 and labels.max() == 0


@pytest.fixture(scope="module")
def three_fit():
    verts, faces = spheres_mesh()
    pts, labels = labelled(verts, faces)
    return verts, faces, pts, labels, core.run_fit(pts, core.user_settings(**QUICK), labels=labels)


@pytest.mark.slow
def test_separate_pieces_fit_one_sphere_each_and_beat_one_sphere(three_fit):
    verts, faces, pts, labels, result = three_fit
    assert result.model.spheres.count == 3
    assert result.self_intersections == 0
    assert core.count_self_intersections(result.verts, result.faces) == 0
    ours = metrics.surface_metrics(result.model.to_target(result.verts), result.faces, verts, faces,
                                   samples=20_000, thresholds=(0.01,))
    one = core.run_fit(pts, core.user_settings(**QUICK, parts="one"), labels=labels)
    assert one.model.spheres.count == 1
    single = metrics.surface_metrics(one.model.to_target(one.verts), one.faces, verts, faces,
                                     samples=20_000, thresholds=(0.01,))
    assert ours["fscore@0.01"] > 0.9 > single["fscore@0.01"]


@pytest.mark.slow
def test_the_stored_flow_gives_back_the_parts_and_the_mesh(three_fit):
    *_, result = three_fit
    back = storage.from_json(result.flow_json)
    assert back.spheres.count == 3
    verts, faces, _, _ = core.output_mesh(back, result.level)
    assert np.array_equal(faces, result.faces)
    assert np.allclose(verts, result.verts)


@pytest.mark.slow
def test_continuing_with_another_piece_count_is_refused(three_fit):
    verts, faces, pts, labels, result = three_fit
    with pytest.raises(ValueError, match="now has 1 separate part"):
        core.fit(pts, core.user_settings(**dict(QUICK, iterations=2, warm_start=0)), init=result.model)
    with pytest.raises(ValueError, match="Part labels must be"):
        core.fit(pts, core.user_settings(**QUICK), labels=labels[:10])


@pytest.mark.slow
def test_a_continued_fit_pairs_each_piece_with_its_own_sphere(three_fit):
    verts, faces, pts, labels, result = three_fit
    model = result.model
    unit = model.to_normalized(pts)
    # the same pieces numbered the other way round: each still goes to its own sphere
    paired = training._continued_labels(model.spheres, unit, 2 - labels)
    for k in range(3):
        centre = unit[paired == k].mean(axis=0)
        assert np.linalg.norm(centre - model.spheres.centres[k]) < model.spheres.radii[k]
    flow = core.fit(pts, core.user_settings(**dict(QUICK, iterations=20, warm_start=0)),
                    init=model, labels=2 - labels)
    moved, faces = flow.surface(3)
    ours = metrics.surface_metrics(moved, faces, verts, spheres_mesh()[1], samples=20_000,
                                   thresholds=(0.01,))
    assert ours["fscore@0.01"] > 0.9


def test_a_diverging_fit_tries_again_at_half_the_learning_rate(monkeypatch):
    training = importlib.import_module("neural_morph.core.training")
    calls = []
    real = training._check_divergence

    def first_time_diverges(loss, points, limit=20.0):
        if not calls:
            calls.append(1)
            raise training.Diverged(training.DIVERGED)
        return real(loss, points, limit)

    monkeypatch.setattr(training, "_check_divergence", first_time_diverges)
    pts, _ = labelled(*spheres_mesh())
    flow = core.fit(pts, core.user_settings(**dict(QUICK, iterations=5, warm_start=1)))
    assert flow.settings.learning_rate == pytest.approx(0.005)


def test_a_scan_with_hundreds_of_specks_keeps_its_big_pieces():
    # two large spheres and 600 specks around them: the specks join a big piece, fast
    rng = np.random.default_rng(1)
    small, small_faces = core.icosphere(1)
    verts, faces = spheres_mesh(((-2.5, 0, 0), (2.5, 0, 0)), (1.0, 0.8))
    verts, faces = [verts], [faces]
    offset = len(verts[0])
    for centre in rng.uniform(-5, 5, (600, 3)):
        verts.append(small * 0.01 + centre)
        faces.append(small_faces + offset)
        offset += len(small)
    pts, labels = labelled(np.concatenate(verts), np.concatenate(faces))
    assert labels.max() == 1
