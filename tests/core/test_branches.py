"""core/branches.py: crowded thin branches get spheres of their own. Plain Python: no bpy."""
import numpy as np
import pytest

from neural_morph import core
from neural_morph.core import branches, parts


def box(lo, hi):
    """A closed box: (verts (8, 3), faces (12, 3)), outward winding."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    verts = np.array([[hi[0] if i & 1 else lo[0], hi[1] if i & 2 else lo[1],
                       hi[2] if i & 4 else lo[2]] for i in range(8)])
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    faces = [(a, b, c) for a, b, c, d in quads] + [(a, c, d) for a, b, c, d in quads]
    return verts, np.array(faces)


def joined(boxes):
    """Boxes as one mesh (they may overlap, as joined primitives do)."""
    verts, faces = [], []
    for k, (v, f) in enumerate(boxes):
        verts.append(v)
        faces.append(f + 8 * k)
    return np.concatenate(verts), np.concatenate(faces)


def comb(teeth=8, gap=0.12, width=0.05, length=0.8):
    """A bar with `teeth` thin teeth hanging from it, pushed into it (one piece)."""
    span = (teeth - 1) * (width + gap)
    boxes = [box((-span / 2 - 0.1, -0.06, 0.0), (span / 2 + 0.1, 0.06, 0.2))]
    for i in range(teeth):
        x = -span / 2 + i * (width + gap)
        boxes.append(box((x - width / 2, -0.05, -length), (x + width / 2, 0.05, 0.05)))
    return joined(boxes)


def table():
    """A top on four thin legs at its corners: branches, but far apart."""
    boxes = [box((-1, -0.6, 0.0), (1, 0.6, 0.1))]
    for x in (-0.9, 0.9):
        for y in (-0.5, 0.5):
            boxes.append(box((x - 0.04, y - 0.04, -1.0), (x + 0.04, y + 0.04, 0.02)))
    return joined(boxes)


def animal(leg=0.1, head=0.36, foot=-1.0):
    """A long body on four thin legs, with a thick head on a neck: lone branches."""
    boxes = [box((-1.0, -0.4, 0.0), (1.0, 0.4, 0.8))]
    for x in (-0.8, 0.8):
        for y in (-0.25, 0.25):
            boxes.append(box((x - leg / 2, y - leg / 2, foot), (x + leg / 2, y + leg / 2, 0.05)))
    boxes.append(box((0.95, -head / 2, 0.5), (1.9, head / 2, 0.5 + head)))  # neck and head
    return joined(boxes)


def split(verts, faces, n=30_000):
    pts, tri = core.sample_surface(verts, faces, n, 0, return_faces=True)
    labels = core.surface_parts(verts, faces, tri, pts)
    return pts, labels, core.split_branches(verts, faces, tri, pts, labels)


def test_each_tooth_of_a_comb_gets_a_piece_of_its_own():
    pts, pieces, labels = split(*comb())
    assert pieces.max() == 0  # the teeth touch the bar: one piece
    assert labels.max() == 8  # the bar and eight teeth
    bar = np.bincount(labels).argmax()
    assert (pts[labels == bar, 2] > -0.1).all()  # the bar keeps no tooth
    for k in set(range(9)) - {bar}:
        mine = pts[labels == k]
        below = mine[mine[:, 2] < -0.02]  # below the bar: one tooth, 0.05 wide, never two
        assert np.ptp(below[:, 0]) < 0.06
        assert mine[:, 2].min() < -0.75  # the whole length, down to its tip
        assert mine[:, 2].max() > -0.03  # and up to the bar
    # each tooth's sphere is apart from every other one, with room between them (a row)
    to_unit = np.linalg.inv(core.normalization(pts))  # the fit's space
    spheres, kept = parts.sphere_set(pts @ to_unit[:3, :3].T + to_unit[:3, 3], labels)
    assert spheres.count == 9 and np.array_equal(np.unique(kept), np.arange(9))
    teeth = [k for k in range(9) if k != np.bincount(kept).argmax()]
    c, r = spheres.centres, spheres.radii
    for i in teeth:
        for j in teeth:
            if i < j:
                assert r[i] + r[j] <= parts.ROW_GAP * np.linalg.norm(c[i] - c[j]) + 1e-9


def test_separate_pieces_apart_keep_their_sphere_size():
    # three balls far apart: not a row, each sphere half its piece's size
    verts = np.concatenate([core.icosphere(3)[0] * 0.5 + (3.0 * k, 0, 0) for k in range(3)])
    faces = np.concatenate([core.icosphere(3)[1] + k * len(core.icosphere(3)[0]) for k in range(3)])
    pts, tri = core.sample_surface(verts, faces, 20_000, 0, return_faces=True)
    labels = core.surface_parts(verts, faces, tri, pts)
    spheres, _ = parts.sphere_set(pts, labels)
    assert np.allclose(spheres.radii, parts.SPHERE_SIZE * 0.5, rtol=0.02)


def test_lone_branches_and_round_shapes_stay_one_piece():
    _, pieces, labels = split(*table())
    assert np.array_equal(labels, pieces)  # legs far apart: one sphere reaches them
    _, pieces, labels = split(*core.icosphere(4))
    assert np.array_equal(labels, pieces)


def test_a_lone_limb_far_thinner_than_its_body_gets_a_sphere_and_a_head_does_not():
    pts, pieces, labels = split(*animal())
    assert pieces.max() == 0 and labels.max() == 4  # the body with its head, four legs
    body = np.bincount(labels).argmax()
    assert (pts[labels == body, 0] > 1.5).any()  # the head stays with the body
    for k in set(range(5)) - {body}:
        mine = pts[labels == k]
        assert np.ptp(mine[:, 0]) < 0.11 and np.ptp(mine[:, 1]) < 0.11  # one leg, never two
        # from its foot up to the margin it was cut at; the body keeps the junction
        assert mine[:, 2].min() < -0.95 and -0.15 < mine[:, 2].max() < -0.05
    # legs as thick as a third of the body's half-width are not limbs: one sphere
    _, pieces, labels = split(*animal(leg=0.3))
    assert np.array_equal(labels, pieces)
    # legs half as thick again as the first ones are limbs as they are slender (a horse's)
    pts, pieces, labels = split(*animal(leg=0.15))
    assert labels.max() == 4 and (pts[labels == np.bincount(labels).argmax(), 0] > 1.5).any()


def test_a_sheet_with_no_inside_is_left_alone():
    # an open grid of triangles: nothing encloses a volume
    g = np.linspace(-1, 1, 9)
    x, y = np.meshgrid(g, g, indexing="ij")
    verts = np.stack([x.ravel(), y.ravel(), 0.1 * np.sin(3 * x.ravel())], axis=1)
    idx = np.arange(81).reshape(9, 9)
    faces = np.concatenate([np.stack([idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()], 1),
                            np.stack([idx[:-1, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()], 1)])
    _, pieces, labels = split(verts, faces)
    assert np.array_equal(labels, pieces)


@pytest.mark.parametrize("kind", ["affine", "similarity"])
def test_branches_are_found_in_the_fit_s_own_space(kind):
    verts, faces = comb()
    pts, tri = core.sample_surface(verts, faces, 30_000, 0, return_faces=True)
    labels = core.split_branches(verts, faces, tri, pts, np.zeros(len(pts), dtype=np.int64), kind)
    assert labels.max() == 8
    assert branches.CROWDED < 0.5
