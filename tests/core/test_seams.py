"""The seam step (core/seams.py): a branch's sphere stretched onto the body it joins on the
target, and never onto a part the target keeps apart."""
import numpy as np

from core import seams
from core.icosphere import icosphere
from core.intersect import self_intersecting_faces

LEG_RADIUS, SLAB_BOTTOM, SLAB_TOP = 0.1, 0.3, 0.5


def _outputs(branch_top=0.15):
    """A slab-like body (part 0) and a leg-like branch (part 1) below it, each a flowed
    sphere: (verts, faces, part, shares). The branch's end stops `branch_top` high."""
    v, f = icosphere(4)
    body = v * [0.6, 0.6, 0.5 * (SLAB_TOP - SLAB_BOTTOM)] + [0, 0, 0.5 * (SLAB_TOP + SLAB_BOTTOM)]
    half = 0.5 * (branch_top + 0.6)
    leg = v * [LEG_RADIUS, LEG_RADIUS, half] + [0, 0, branch_top - half]
    verts = np.concatenate([body, leg])
    faces = np.concatenate([f, f + len(v)])
    part = np.repeat([0, 1], len(v))
    return verts, faces, part, np.array([0.8, 0.2])


def _target(joined, n=40_000, seed=0):
    """Samples (M, 3) and outward normals of a slab with a round leg under it: the leg
    reaches the slab (`joined`) or stops 0.15 short of it with a flat end."""
    rng = np.random.default_rng(seed)
    top = SLAB_BOTTOM if joined else 0.15
    # slab: six faces of the box [-0.6, 0.6]² × [SLAB_BOTTOM, SLAB_TOP]
    a = rng.uniform(-0.6, 0.6, (n, 2))
    slab = [np.c_[a, np.full(n, SLAB_TOP)], np.c_[a, np.full(n, SLAB_BOTTOM)]]
    slab_n = [np.tile([0, 0, 1.0], (n, 1)), np.tile([0, 0, -1.0], (n, 1))]
    under = slab[1]
    keep = (not joined) | (np.linalg.norm(under[:, :2], axis=1) > LEG_RADIUS)
    slab[1], slab_n[1] = under[keep], slab_n[1][keep]
    b = rng.uniform(SLAB_BOTTOM, SLAB_TOP, n // 4)
    c = rng.uniform(-0.6, 0.6, n // 4)
    for axis in (0, 1):
        for sign in (-1.0, 1.0):
            side = np.zeros((n // 4, 3))
            side[:, axis], side[:, 1 - axis], side[:, 2] = sign * 0.6, c, b
            normal = np.zeros((n // 4, 3))
            normal[:, axis] = sign
            slab.append(side)
            slab_n.append(normal)
    # leg: a cylinder from z = -0.6 to `top`, with its bottom (and its top when apart)
    angle = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(-0.6, top, n)
    ring = np.c_[np.cos(angle), np.sin(angle), np.zeros(n)]
    parts, normals = slab + [LEG_RADIUS * ring + np.c_[np.zeros((n, 2)), z]], slab_n + [ring]
    caps = [-0.6] if joined else [-0.6, top]
    for height in caps:
        r = LEG_RADIUS * np.sqrt(rng.uniform(0, 1, n // 8))
        t = rng.uniform(0, 2 * np.pi, n // 8)
        parts.append(np.c_[r * np.cos(t), r * np.sin(t), np.full(n // 8, height)])
        normals.append(np.tile([0, 0, 1.0 if height == top else -1.0], (n // 8, 1)))
    return np.concatenate(parts), np.concatenate(normals)


def test_a_branch_joined_on_the_target_is_stretched_onto_its_body():
    verts, faces, part, shares = _outputs()
    samples, normals = _target(joined=True)
    report = {}
    goal, sides = seams.seam_goals(verts, faces, part, shares, samples, normals, report=report)
    leg = part == 1
    assert [s[:2] for s in report["seams"]] == [(1, 0)]
    # the end meets the body's underside, SEAM_CLEAR short of it; the foot stays put
    assert abs(goal[leg, 2].max() - (SLAB_BOTTOM - seams.SEAM_CLEAR)) < 0.01
    assert np.allclose(goal[leg, 2].min(), verts[leg, 2].min())
    assert np.array_equal(goal[~leg], verts[~leg])  # the body never moves
    # the leg stretched along its own axis (towards the middle of where leg and slab
    # border among the samples): hardly anything moved sideways, and nothing crosses
    assert np.abs(goal[:, :2] - verts[:, :2]).max() < 0.01
    assert len(self_intersecting_faces(goal, faces)) == 0
    # the sides that moved are marked for the snap, the tip that faces the slab is not
    tip = np.flatnonzero(leg)[np.argmax(verts[leg, 2])]
    assert sides[leg].any() and not sides[tip] and not sides[~leg].any()


def test_parts_the_target_keeps_apart_never_move():
    verts, faces, part, shares = _outputs()
    samples, normals = _target(joined=False)
    report = {}
    goal, sides = seams.seam_goals(verts, faces, part, shares, samples, normals, report=report)
    assert report["seams"] == []
    assert np.array_equal(goal, verts) and not sides.any()


def test_one_sphere_or_no_normals_is_left_alone():
    verts, faces, part, shares = _outputs()
    samples, normals = _target(joined=True)
    goal, sides = seams.seam_goals(verts, faces, np.zeros_like(part), shares[:1], samples, normals)
    assert np.array_equal(goal, verts) and not sides.any()
    goal, sides = seams.seam_goals(verts, faces, part, shares, samples, None)
    assert np.array_equal(goal, verts) and not sides.any()


def test_ray_hits_finds_the_nearest_triangle_ahead():
    tris = np.array([[[-1, -1, 1.0], [1, -1, 1.0], [0, 1, 1.0]],
                     [[-1, -1, 2.0], [1, -1, 2.0], [0, 1, 2.0]]])
    origins = np.array([[0, 0, 0.0], [0, 0, 1.5], [5, 5, 0.0], [0, 0, 3.0]])
    hits = seams._ray_hits(origins, np.array([0, 0, 1.0]), tris)
    assert np.allclose(hits[:2], [1.0, 0.5]) and np.isinf(hits[2:]).all()


def test_unfolded_takes_back_the_moves_that_turn_a_face_over():
    before = np.array([[0, 0, 0.0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    after = before.copy()
    after[3] = [-0.2, -0.2, 0.0]   # folds the second face flat back over the first
    after[0] = [0, 0, 0.1]         # a move that turns nothing over
    out = seams.unfolded(before, after, faces)
    assert np.array_equal(out[3], before[3]) and np.array_equal(out[0], after[0])
    assert np.array_equal(seams.unfolded(before, before, faces), before)
