"""core/snap.py: the last millimetre, and that the stored flow reproduces it. No bpy."""
import numpy as np
import pytest

from neural_morph import core
from neural_morph.core import metrics, snap, storage

QUICK = dict(iterations=60, points=256, target_samples=20_000, warm_start=15, resolution=3)


def bumpy():
    verts, faces = core.icosphere(5)
    bumps = 1.0 + 0.1 * np.sin(5 * verts[:, 0]) * np.cos(4 * verts[:, 1])
    return verts * bumps[:, None] * [1.0, 0.7, 0.5], faces


@pytest.fixture(scope="module")
def fits():
    verts, faces = bumpy()
    pts, tri = core.sample_surface(verts, faces, 20_000, 0, return_faces=True)
    normals = core.outward_normals(verts, faces)[tri]
    return verts, faces, pts, core.run_fit(pts, core.user_settings(**QUICK), normals=normals), \
        core.run_fit(pts, core.user_settings(**QUICK, snap=False))


@pytest.mark.slow
def test_the_snap_brings_the_output_onto_the_target(fits):
    verts, faces, pts, snapped, plain = fits
    assert plain.model.surface_samples is None and snapped.model.surface_samples is not None
    close = [metrics.surface_metrics(r.model.to_target(r.verts), r.faces, verts, faces,
                                     samples=20_000, thresholds=(0.002,))["fscore@0.002"]
             for r in (snapped, plain)]
    assert close[0] > close[1] + 0.03
    assert snapped.self_intersections == 0
    assert core.count_self_intersections(snapped.verts, snapped.faces) == 0


def test_the_snap_moves_vertices_along_their_normals_only():
    verts, faces = core.icosphere(3)
    fine, fine_faces = core.icosphere(6)
    target = core.sample_surface(fine * 1.01, fine_faces, 20_000, 0)  # a sphere 1% larger
    moved = snap.snap(verts, faces, target)
    radial = np.linalg.norm(moved, axis=1)
    assert np.abs(radial - 1.01).max() < 2e-3 and np.abs(radial - 1.01).mean() < 3e-4
    # the direction of each vertex is kept: no sideways bunching
    assert np.abs(moved / radial[:, None] - verts).max() < 1e-3
    # far from every sample nothing moves
    far = snap.snap(verts, faces, target * 1.5)
    assert np.array_equal(far, verts)


@pytest.mark.slow
def test_the_stored_flow_gives_back_the_snapped_mesh(fits):
    *_, snapped, _ = fits
    again = storage.from_json(snapped.flow_json)
    assert np.array_equal(again.surface_samples, snapped.model.surface_samples)
    assert again.surface_normals is not None
    assert np.array_equal(again.surface_normals, snapped.model.surface_normals)
    verts, faces, _, _ = core.output_mesh(again, snapped.level)
    assert np.array_equal(verts, snapped.verts)
    states = again.trajectory(snapped.level, [1.0], normalized=True)[0]
    assert np.allclose(states[0], again.surface(snapped.level, normalized=True)[0])


def test_samples_survive_quantisation_to_within_a_hundred_thousandth():
    pts = np.random.default_rng(0).uniform(-1, 1, (1000, 3))
    back = snap.decode(snap.encode(pts))
    assert np.abs(back - pts).max() < 2e-5
    with pytest.raises(ValueError):
        snap.decode(snap.encode(pts)[:-8] + "AAAA")


def test_between_the_two_sides_of_a_thin_wall_nothing_moves():
    # samples on two parallel planes 0.02 apart; vertices half way between them
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (40_000, 2))
    samples = np.c_[xy, np.where(np.arange(40_000) % 2, 0.01, -0.01)]
    verts = np.array([[x, y, 0.0] for x in np.linspace(-0.5, 0.5, 11) for y in np.linspace(-0.5, 0.5, 11)])
    faces = np.array([[i * 11 + j, (i + 1) * 11 + j, i * 11 + j + 1]
                      for i in range(10) for j in range(10)])
    moved = snap.snap(verts, faces, samples)
    assert (np.abs(moved[:, 2]) > 1e-3).mean() < 0.05
    # one wall alone: the vertices land on it
    one = snap.snap(verts, faces, samples[samples[:, 2] > 0])
    used = np.unique(faces)
    assert np.abs(one[used, 2] - 0.01).max() < 1e-6


def _two_walls(count=40_000):
    """Samples on the planes z = ±0.01 with their outward normals (±z), and a grid of
    vertices at z = 0 whose triangles face +z."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (count, 2))
    side = np.where(np.arange(count) % 2, 1.0, -1.0)
    samples = np.c_[xy, 0.01 * side]
    normals = np.c_[np.zeros((count, 2)), side]
    verts = np.array([[x, y, 0.0] for x in np.linspace(-0.5, 0.5, 11) for y in np.linspace(-0.5, 0.5, 11)])
    faces = np.array([[i * 11 + j, (i + 1) * 11 + j, i * 11 + j + 1]
                      for i in range(10) for j in range(10)])
    return samples, normals, verts, faces


def test_with_normals_a_vertex_lands_on_the_side_of_a_thin_wall_it_faces():
    samples, normals, verts, faces = _two_walls()
    used = np.unique(faces)
    assert (snap.vertex_normals(verts, faces)[used, 2] > 0.99).all()
    moved = snap.snap(verts, faces, samples, normals=normals)
    # on the +z side (the one they face); only a vertex whose 8 nearest samples all happen
    # to lie on the far side (none facing its way) goes by the planes alone, half way
    # between two walls as here a chance of 1 in 256
    assert (np.abs(moved[used, 2] - 0.01) < 1e-6).mean() > 0.95
    assert np.array_equal(moved[:, :2], verts[:, :2])
    # the same mesh facing -z lands on the -z side
    down = snap.snap(verts, faces[:, [0, 2, 1]], samples, normals=normals)
    assert (np.abs(down[used, 2] + 0.01) < 1e-6).mean() > 0.95
    # without normals the two walls disagree, and almost nothing moves
    assert (np.abs(snap.snap(verts, faces, samples)[used, 2]) > 1e-3).mean() < 0.05


def test_the_back_of_a_sheet_snaps_by_the_planes_alone_and_stops_just_behind_it():
    samples, normals, verts, faces = _two_walls()
    up = samples[:, 2] > 0
    used = np.unique(faces)
    # one open sheet at z = 0.01 whose normals all point up; the mesh below it faces down,
    # so no sample faces its way: it snaps by the planes, as it would without normals, but
    # stops SNAP_BACK_CLEARANCE short on its own side, so a front layer snapped onto the
    # sheet and this back layer do not touch
    below = snap.snap(verts, faces[:, [0, 2, 1]], samples[up], normals=normals[up])
    assert np.abs(below[used, 2] - (0.01 - snap.SNAP_BACK_CLEARANCE)).max() < 1e-6
    assert np.array_equal(below[:, :2], verts[:, :2])
    plain = snap.snap(verts, faces[:, [0, 2, 1]], samples[up])  # without normals: onto it
    assert np.abs(plain[used, 2] - 0.01).max() < 1e-6


def test_outward_normals_turn_round_a_piece_whose_normals_point_inwards():
    verts, faces = core.icosphere(2)
    inside_out = faces[:, [0, 2, 1]]
    second = np.concatenate([verts * 0.5 + [3, 0, 0]])
    both_verts = np.concatenate([verts, second])
    both_faces = np.concatenate([faces, inside_out + len(verts)])  # the second piece inside out
    normals = core.outward_normals(both_verts, both_faces)
    centres = both_verts[both_faces].mean(axis=1)
    pieces_centre = np.where((np.arange(len(both_faces)) < len(faces))[:, None], 0.0, [3, 0, 0])
    assert (np.einsum("ij,ij->i", normals, centres - pieces_centre) > 0).all()


def test_a_mesh_is_closed_when_every_edge_has_two_triangles_after_welding():
    verts, faces = core.icosphere(2)
    assert core.is_closed(verts, faces)
    assert not core.is_closed(verts, faces[1:])  # a hole
    # a seam: the first triangle on vertices of its own at the same places, still closed
    split = np.concatenate([verts, verts[faces[0]]])
    seamed = faces.copy()
    seamed[0] = len(verts) + np.arange(3)
    assert core.is_closed(split, seamed)
    # two triangles of an open sheet
    assert not core.is_closed(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]]),
                              np.array([[0, 1, 3], [0, 3, 2]]))


def test_normals_survive_storage_as_they_are():
    n = np.random.default_rng(1).normal(size=(1000, 3))
    once = snap.quantize_normals(n)
    assert np.allclose(np.linalg.norm(once, axis=1), 1.0)
    assert (np.einsum("ij,ij->i", once, n / np.linalg.norm(n, axis=1, keepdims=True)) > 0.9999).all()
    assert np.array_equal(snap.quantize_normals(once), once)  # a reloaded flow snaps the same
    assert np.array_equal(snap.decode_normals(snap.encode_normals(once)), once)
    with pytest.raises(ValueError, match="surface normals are damaged"):
        snap.decode_normals(snap.encode_normals(once)[:-8] + "AAAA")


@pytest.mark.parametrize("normals", [np.zeros((100, 3)), np.ones((99, 3)), np.full((100, 3), np.nan)])
def test_bad_normals_are_refused_with_a_sentence(normals):
    pts = core.sample_surface(*core.icosphere(2), 100, 0)
    with pytest.raises(ValueError, match=r"Normals must be an \(M, 3\) array"):
        core.fit(pts, core.user_settings(**QUICK), normals=normals)


@pytest.mark.parametrize("backed", [np.ones(99, bool), np.ones(100), np.ones((100, 1), bool)])
def test_a_bad_backed_array_is_refused_with_a_sentence(backed):
    pts = core.sample_surface(*core.icosphere(2), 100, 0)
    with pytest.raises(ValueError, match=r"Backed must be an \(M,\) array of booleans"):
        core.fit(pts, core.user_settings(**QUICK), backed=backed)


def test_a_snap_held_back_is_counted_apart_from_the_flow_pulled_back():
    from neural_morph.core import intersect, pipeline
    verts, faces = core.icosphere(2)
    states = np.stack([verts, verts * 1.1])
    crossing = states[-1].copy()
    crossing[0] = -crossing[0] * 1.5  # the snap throws one vertex through the far side
    assert len(intersect.self_intersecting_faces(crossing, faces))
    report = {}
    out, _ = pipeline.path_mesh(np.concatenate([states, crossing[None]]), faces,
                                intersect.self_intersecting_faces, report, snapped=True)
    assert intersect.count_self_intersections(out, faces) == 0
    assert report["pulled_back"] == 0 and report["snap_held"] >= 1
    # the same states as a flow without a snap: the last state's vertices are pulled back
    report = {}
    pipeline.path_mesh(np.concatenate([states, crossing[None]]), faces,
                       intersect.self_intersecting_faces, report)
    assert report["pulled_back"] >= 1 and report["snap_held"] == 0


def test_an_output_takes_back_what_the_fall_off_gave_up_where_nothing_crosses():
    from neural_morph.core import intersect, pipeline, untangle
    verts, faces = core.icosphere(3)
    states = np.stack([verts * (1 + 0.05 * k) for k in range(9)])
    states[-1, 0] = -states[-1, 0] * 1.5  # at the end one vertex goes through the far side
    _, step, _ = untangle.untangle(states, faces, intersect.self_intersecting_faces)
    untangled_only = int((step < len(states) - 1).sum())
    report = {}
    out, _ = pipeline.path_mesh(states, faces, intersect.self_intersecting_faces, report)
    assert intersect.count_self_intersections(out, faces) == 0
    # the ring of neighbours the fall-off pulled back goes on to the end again
    assert 1 <= report["pulled_back"] < untangled_only / 2
    held = np.linalg.norm(out - states[-1], axis=1) > 0
    assert held[0] and held.sum() == report["pulled_back"]


def test_an_output_is_checked_again_as_stored_and_where_the_user_sees_it():
    from neural_morph.core import pipeline
    verts, faces = core.icosphere(2)
    states = np.stack([verts * (1 + 0.1 * k) for k in range(5)])
    far = states[-1, faces[0]]

    def find(v, f):  # a stand-in check that sees face 0 cross only far from the origin
        moved_away = np.abs(v).max() > 50 and np.allclose(v[f[0]] - 100.0, far, atol=1e-5)
        return np.array([0]) if moved_away else np.zeros(0, dtype=np.int64)
    report = {}
    out, _ = pipeline.path_mesh(states, faces, find, report)
    assert report["pulled_back"] == 0 and np.array_equal(out, states[-1])
    report = {}
    out, _ = pipeline.path_mesh(states, faces, find, report, seen=lambda v: v + 100.0)
    assert report["pulled_back"] >= 3 and not np.allclose(out[faces[0]], far)


def test_two_sheets_laid_on_one_plane_count_as_crossing():
    # two boxes that end face to face on the plane x=0: whether coplanar faces "cross"
    # depends on rounding, so the check as stored gives them a clearance and pulls the
    # touching faces back along their paths, apart
    from neural_morph.core import intersect, pipeline
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    tris = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    right, left = corners, corners - [1.0, 0.0, 0.0]
    faces = np.concatenate([tris, tris + 8])
    end = np.concatenate([left, right])
    start = np.concatenate([left - [0.5, 0, 0], right + [0.5, 0, 0]])
    states = np.stack([start + (end - start) * k / 4 for k in range(5)])
    assert len(intersect.self_intersecting_faces(states[-1], faces)) == 0  # exactly touching
    report = {}
    out, _ = pipeline.path_mesh(states, faces, intersect.self_intersecting_faces, report)
    assert report["pulled_back"] >= 4
    gap = out[8:, 0].min() - out[:8, 0].max()
    assert gap > 10 * pipeline.CLEARANCE
    assert len(intersect.self_intersecting_faces(out, faces)) == 0


def _crumpled_cap():
    """A level-3 icosphere whose cap (z > 0.6) is crumpled by noise: (verts, faces, cap)."""
    from neural_morph.core import intersect
    verts, faces = core.icosphere(3)
    cap = verts[:, 2] > 0.6
    crumpled = verts.copy()
    crumpled[cap] += 0.25 * np.random.default_rng(1).normal(size=(cap.sum(), 3))
    assert len(intersect.self_intersecting_faces(crumpled, faces))
    return crumpled, faces, cap


def test_relax_smooths_a_crumpled_region_until_it_no_longer_crosses_and_leaves_the_rest():
    from neural_morph.core import intersect, untangle
    crumpled, faces, cap = _crumpled_cap()
    out, relaxed = untangle.relax(crumpled, faces, intersect.self_intersecting_faces)
    assert intersect.count_self_intersections(out, faces) == 0
    assert relaxed.any() and np.array_equal(np.linalg.norm(out - crumpled, axis=1) > 0, relaxed)
    assert not relaxed[crumpled[:, 2] < 0].any()  # far from the cap nothing moves
    # vertices on the target stay put unless their own face crosses: fixed everywhere,
    # one round moves only the crossing faces' vertices
    crossing = np.zeros(len(crumpled), dtype=bool)
    crossing[faces[intersect.self_intersecting_faces(crumpled, faces)].ravel()] = True
    same, moved = untangle.relax(crumpled, faces, intersect.self_intersecting_faces,
                                 fixed=lambda v: np.ones(len(v), dtype=bool), rounds=1)
    assert np.array_equal(moved, crossing)
    assert np.array_equal(same[~crossing], crumpled[~crossing])


def test_an_output_relaxes_a_flowed_spheres_crumple_and_reports_it_but_never_a_users_mesh():
    from neural_morph.core import intersect, pipeline
    crumpled, faces, cap = _crumpled_cap()
    level_verts, level_faces = core.icosphere(3)
    assert np.array_equal(level_faces, faces)

    class Flow:  # the part of a FittedFlow that output_mesh uses
        settings = core.FitSettings()
        snaps, from_mesh = False, False

        def path(self, level, t=1.0):
            return np.stack([level_verts, crumpled])

        def sphere(self, level):
            return level_verts, faces

        def sample_distance(self, verts):
            return None  # no samples: every vertex may move

        def to_target(self, verts):
            return verts
    report = {}
    verts, _, _, left = pipeline.output_mesh(Flow(), 3, intersect.self_intersecting_faces, report=report)
    assert left == 0 and intersect.count_self_intersections(verts, faces) == 0
    assert report["relaxed"] > 0 and report["pulled_back"] == 0
    mesh = Flow()
    mesh.from_mesh = True  # Morph Onto: a source mesh, one part, clean at t=0
    mesh.start = type("Source", (), {"crossing": None, "mesh": lambda self: (level_verts, faces, None),
                                     "face_parts": lambda self: np.zeros(len(faces), np.int64)})()
    report = {}
    pipeline.output_mesh(mesh, 3, intersect.self_intersecting_faces, report=report)
    assert "relaxed" not in report and report["pulled_back"] > 0


def _cube_samples(n=60_000, seed=0):
    """Samples (n, 3) of the cube [-0.5, 0.5]³ and their outward normals (n, 3)."""
    rng = np.random.default_rng(seed)
    points, normals = [], []
    for axis in range(3):
        for side in (-0.5, 0.5):
            p = rng.uniform(-0.5, 0.5, (n // 6, 3))
            p[:, axis] = side
            q = np.zeros_like(p)
            q[:, axis] = np.sign(side)
            points.append(p)
            normals.append(q)
    return np.concatenate(points), np.concatenate(normals)


def test_the_crease_puts_vertices_near_a_sharp_edge_on_it_and_leaves_flat_ones():
    samples, normals = _cube_samples()
    verts, faces = core.icosphere(4)
    on_cube = 0.5 * verts / np.abs(verts).max(axis=1, keepdims=True)  # rays onto the cube
    moved = snap.crease(on_cube, faces, samples, normals)
    outside = np.abs(moved).max(axis=1)
    assert np.abs(outside - 0.5).max() < 1e-3  # still on the cube
    on_edge = lambda p: (np.abs(np.abs(p) - 0.5) < 1e-3).sum(axis=1) >= 2  # noqa: E731
    assert on_edge(moved).sum() > 2 * on_edge(on_cube).sum()
    # a vertex in the middle of a face is the snap's business: it stays where it is
    inner = (np.abs(np.abs(on_cube) - 0.5) > 0.1).sum(axis=1) == 2
    assert inner.sum() > 100 and np.array_equal(moved[inner], on_cube[inner])
    # no vertex moves more than CREASE_REACH of its edges' mean length
    step = np.linalg.norm(moved - on_cube, axis=1)
    assert step.max() < snap.CREASE_REACH * snap._mean_edge(on_cube, faces).max()


def test_the_crease_leaves_a_rounded_surface_alone():
    fine, fine_faces = core.icosphere(6)
    samples, tri = core.sample_surface(fine * 0.3, fine_faces, 60_000, 0, return_faces=True)
    normals = core.outward_normals(fine, fine_faces)[tri]
    verts, faces = core.icosphere(4)
    assert np.array_equal(snap.crease(verts * 0.3, faces, samples, normals), verts * 0.3)


def test_clean_moves_takes_back_only_the_moves_that_make_faces_cross():
    from neural_morph.core import intersect, pipeline
    verts, faces = core.icosphere(3)
    goal = verts.copy()
    goal[0] = -1.5 * verts[0]  # through the far side
    goal[5] = 1.01 * verts[5]  # a little outward: crosses nothing
    end = verts.copy()
    end[7] += 0.01  # vertex 7 was held back before the end: it stays put
    goal[7] = 1.01 * verts[7]
    out, count = pipeline.clean_moves(verts, end, goal, faces, intersect.self_intersecting_faces)
    assert count == 1 and np.array_equal(out[5], goal[5])
    assert np.array_equal(out[0], verts[0]) and np.array_equal(out[7], verts[7])
    assert intersect.count_self_intersections(out, faces) == 0
