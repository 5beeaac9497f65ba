"""core/source.py and a fit that starts from a user's mesh (Morph Onto). Plain Python."""
import numpy as np
import pytest

from neural_morph import core
from neural_morph.core import fitted_flow, losses, metrics, storage
from neural_morph.core.intersect import self_intersecting_faces
from neural_morph.core.source import MeshSource

QUICK = dict(iterations=60, points=256, target_samples=20_000, resolution=3)


def cube(n=6):
    """A cube of n×n quads per side, each quad split in two: (verts (V, 3), faces (F, 3))."""
    verts, faces, index = [], [], {}

    def vid(p):
        key = tuple(np.round(p, 9))
        if key not in index:
            index[key] = len(verts)
            verts.append(p)
        return index[key]
    g = np.linspace(-1, 1, n + 1)
    for axis in range(3):
        for side in (-1.0, 1.0):
            for i in range(n):
                for j in range(n):
                    quad = []
                    for a, b in ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)):
                        p = np.zeros(3)
                        p[axis], p[(axis + 1) % 3], p[(axis + 2) % 3] = side, g[a], g[b]
                        quad.append(vid(p))
                    if side < 0:
                        quad = quad[::-1]
                    faces += [[quad[0], quad[1], quad[2]], [quad[0], quad[2], quad[3]]]
    return np.array(verts), np.array(faces)


def ellipsoid(offset=(4.0, 1.0, 0.0)):
    v, f = core.icosphere(4)
    return v * np.array([1.6, 1.0, 0.7]) + np.asarray(offset), f


@pytest.fixture(scope="module")
def morph():
    source = cube()
    target = ellipsoid()
    points = core.sample_surface(*target, 20_000, 0)
    result = core.run_fit(points, core.user_settings(**QUICK), source=source)
    return source, target, result


def test_a_fit_from_a_mesh_keeps_its_vertices_and_lands_on_the_target(morph):
    (sv, sf), (tv, tf), result = morph
    model = result.model
    assert model.from_mesh and result.self_intersections == 0
    assert len(result.verts) == len(sv) and np.array_equal(result.faces, sf)
    # t=0 is the source where it is; t=1 is on the target where it is
    start = model.mesh_state(model.sphere(0)[0], 0.0)
    assert np.abs(start - sv).max() < 1e-5
    end = model.mesh_state(result.verts, 1.0)
    moved = metrics.surface_metrics(end, sf, tv, tf, thresholds=(0.02,))
    assert moved["fscore@0.02"] > 0.9
    assert len(self_intersecting_faces(end, sf)) == 0


def test_a_stored_mesh_flow_gives_the_same_morph(morph):
    _, _, result = morph
    back = storage.from_json(result.flow_json)
    assert back.from_mesh
    assert np.array_equal(back.start.faces, result.model.start.faces)
    assert np.allclose(back.start_matrix, result.model.start_matrix)
    verts, _, _, _ = core.output_mesh(back, 3)
    assert np.allclose(verts, result.verts, atol=1e-9)


def test_placement_is_exact_at_both_ends_and_never_singular():
    turn = np.diag([-1.0, -1.0, 1.0])  # half a turn apart: a plain blend is singular halfway
    a, b = np.eye(4), np.eye(4)
    a[:3, :3] = 2.0 * np.eye(3)
    b[:3, :3] = turn @ np.diag([1.0, 3.0, 0.5])
    b[:3, 3] = (5.0, -1.0, 2.0)
    assert np.allclose(fitted_flow._between(a, b, 0.0), a)
    assert np.allclose(fitted_flow._between(a, b, 1.0), b)
    dets = [np.linalg.det(fitted_flow._between(a, b, t)[:3, :3]) for t in np.linspace(0, 1, 21)]
    assert min(dets) > 0.5


def test_a_source_that_crosses_itself_is_never_made_worse():
    v, f = cube(3)
    crossing = np.array([[0.0, -0.5, -0.5], [0.0, 0.5, -0.5], [0.0, 0.0, 0.8],   # a fin through
                         [-0.5, 0.0, 0.0], [0.5, 0.2, 0.0], [0.5, -0.2, 0.1]])   # another fin
    verts = np.concatenate([v, crossing])
    faces = np.concatenate([f, np.array([[0, 1, 2], [3, 4, 5]]) + len(v)])
    before = self_intersecting_faces(verts, faces)
    assert len(before) == 2
    points = core.sample_surface(*ellipsoid((0, 0, 0)), 20_000, 0)
    result = core.run_fit(points, core.user_settings(**dict(QUICK, iterations=20)), source=(verts, faces))
    assert result.source_crossing == 2
    after = self_intersecting_faces(result.verts, faces)
    assert set(after.tolist()) <= set(before.tolist())


def test_the_shape_term_rests_at_the_source_triangles():
    import torch
    v, f = cube(2)
    source = MeshSource(v, f)
    tri = source.faces[:20]
    verts = source.verts[tri].reshape(-1, 3)
    faces, rest = np.arange(len(verts)).reshape(-1, 3), source.rest_shapes(tri)
    batch = losses.Batch(torch.as_tensor(verts, dtype=torch.float32), None, None, None,
                         shape_faces=torch.as_tensor(faces), shape_count=len(verts),
                         shape_rest=torch.as_tensor(rest, dtype=torch.float32))
    assert float(losses.shape(batch)) < 1e-10  # right triangles of the cube: no penalty
    batch.points = batch.points * torch.tensor([3.0, 1.0, 1.0])  # stretched: penalised
    assert float(losses.shape(batch)) > 1e-2


@pytest.mark.parametrize("faces, message", [
    (np.zeros((0, 3), dtype=np.int64), "The source mesh has no faces to morph."),
    (np.array([[0, 1, 2]]), "The source mesh has no surface area (all its faces are degenerate)."),
])
def test_a_source_without_faces_or_area_is_refused(faces, message):
    with pytest.raises(ValueError) as err:
        MeshSource(np.zeros((3, 3)), faces)
    assert str(err.value) == message


def test_advance_takes_back_only_what_stays_clean():
    from neural_morph.core import untangle
    # a triangle that slides down through a fixed one over 8 steps, and a far one that moves freely
    fixed = np.array([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [0.0, 1.5, 0.0]])
    moving = np.array([[-0.2, 0.0, -0.5], [0.2, 0.0, -0.5], [0.0, 0.0, 0.5]])
    free = np.array([[5.0, 0.0, 0.0], [6.0, 0.0, 0.0], [5.0, 1.0, 0.0]])
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    states = np.stack([np.concatenate([fixed, moving + [0.0, 0.0, 1.0 - 0.25 * k],
                                       free + [0.0, 0.0, 0.1 * k]]) for k in range(9)])
    verts, step, _ = untangle.untangle(states, faces, self_intersecting_faces)
    assert len(self_intersecting_faces(verts, faces)) == 0
    more, ahead = untangle.advance(states, faces, self_intersecting_faces, step)
    assert len(self_intersecting_faces(more, faces)) == 0
    assert (ahead >= step).all() and (ahead[6:] == 8).all()  # the free triangle goes all the way
