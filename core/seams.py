"""The seam where a branch's sphere meets the body it hangs from. No torch, no bpy.

A crowded branch (a comb's tooth, a finger) gets a sphere of its own (branches.py), and
two spheres of one flow never touch: the field cannot move two sheets apart across less
than about a cell of its finest grid, so a tooth can stop short of its bar with air
between them. Once an output is clean, `seam_goals` stretches each such sphere along its
axis until its end meets the body, SEAM_CLEAR short of it; the output step takes back
any move that would make faces cross (pipeline.clean_moves).

A part has a seam only where the target says the two are one surface: among the target's
samples, those nearest the part's output must border those nearest a bigger part's
(SEAM_RING of them at least; separate pieces and a comb's neighbouring teeth never do),
and the gap between the two outputs must lie inside the target. The part's axis runs
from its middle to the middle of that border. Its end moves along the axis up to one
plane across it, SEAM_CLEAR short of where the body comes nearest over the end, and the
vertices behind it by a share that fades out over SEAM_BAND gaps, so the end goes flat
against the body and the sides stretch evenly. The move depends on the position along
the axis alone, so it turns no face over; `unfolded` takes back any that would be (after
the snap of the stretched sides too).
"""
import numpy as np
from scipy.spatial import cKDTree

from .snap import vertex_normals

SEAM_REACH = 0.25    # normalised units: wider gaps are not closed
SEAM_CLEAR = 0.003   # normalised units left between a seamed end and the body
SEAM_BAND = 2.0      # the stretch fades out over this many gaps behind the end
SEAM_RING = 12       # target samples on the border between the two parts, at least
SEAM_RING_K = 8      # a sample borders a part when one of its nearest samples is that part's
SEAM_INSIDE_K = 16   # target samples that vote whether the gap lies inside the target
FOLD_ROUNDS = 100    # rounds of taking back moves that turn faces over (`unfolded`; the comb: 3-32)


def seam_goals(verts, faces, part, shares, samples, normals, tree=None, report=None):
    """(goal (V, 3) float64, sides (V,) bool): `verts` with each part that meets a bigger
    one on the target moved to close the gap, as the module docstring says (the others
    unchanged), and which of the moved vertices lie on the part's sides rather than on
    its end (their normals more than 60 degrees off the axis), for the snap to take back
    onto the target. A move that turns a face over is taken back (`unfolded`).

    verts (V, 3), faces (F, 3): a clean output, normalised; part (V,) int: each vertex's
    sphere; shares (K,): each sphere's share of the target's surface (parts.SphereSet);
    samples (M, 3), normals (M, 3): the target's samples and unit outward normals, same
    space; tree: a cKDTree of `samples`. `report`, a dict, receives "seams": [(part,
    body, gap)] for each part moved."""
    v = np.asarray(verts, dtype=np.float64)
    part = np.asarray(part, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    goal, sides, seams = v.copy(), np.zeros(len(v), dtype=bool), []
    if part.max(initial=0) < 1 or normals is None:
        return goal, sides
    tree = cKDTree(samples) if tree is None else tree
    vertex_normal = vertex_normals(v, faces)
    bodies = _bodies(v, part, shares, samples, tree)
    tris = v[faces]
    face_part = part[faces[:, 0]]
    for i, (j, ring) in bodies.items():
        mine = np.flatnonzero(part == i)
        moved = _stretch(v[mine], ring, tris[face_part == j], samples, normals, tree)
        if moved is not None:
            goal[mine], axis, gap = moved
            sides[mine] = (goal[mine] != v[mine]).any(axis=1) & (vertex_normal[mine] @ axis < 0.5)
            seams.append((int(i), int(j), gap))
    if report is not None:
        report["seams"] = seams
    goal = unfolded(v, goal, faces)
    return goal, sides & (goal != v).any(axis=1)


def unfolded(before, after, faces):
    """(V, 3): `after` with the moves from `before` (both (V, 3)) taken back, vertex by
    vertex, round by round, wherever they turn a face over (its normal more than 90
    degrees from where it was): a stretch or a snap that folds a sheet flat onto itself
    crosses nothing a check can rely on, as its faces lie in one plane."""
    before = np.asarray(before, dtype=np.float64)
    out = np.array(after, dtype=np.float64)
    a = before[faces]
    normal = np.cross(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0])
    for _ in range(FOLD_ROUNDS):
        b = out[faces]
        turned = (normal * np.cross(b[:, 1] - b[:, 0], b[:, 2] - b[:, 0])).sum(axis=1) <= 0
        back = np.zeros(len(out), dtype=bool)
        back[faces[turned].ravel()] = True
        back &= (out != before).any(axis=1)
        if not back.any():
            return out
        out[back] = before[back]
    return before.copy()  # not settled in FOLD_ROUNDS rounds: no move at all


def _bodies(v, part, shares, samples, tree):
    """{part: (the bigger part it borders most on the target, the middle (3,) of the
    samples where they border)}, for the parts that border one along at least SEAM_RING
    samples."""
    label = part[cKDTree(v).query(samples)[1]]
    _, near = tree.query(samples, k=SEAM_RING_K + 1)
    a = np.repeat(label, SEAM_RING_K)
    b = label[near[:, 1:]].ravel()
    keep = (a != b) & (shares[a] < shares[b])
    count = part.max() + 1
    # each sample once per bigger part it borders
    code = np.unique(np.repeat(np.arange(len(samples)), SEAM_RING_K)[keep] * count + b[keep])
    sample, other = code // count, code % count
    pairs = np.bincount(label[sample] * count + other, minlength=count * count)
    pairs = pairs.reshape(count, count)
    found = {}
    for i in np.flatnonzero(pairs.max(axis=1) >= SEAM_RING):
        j = int(np.argmax(pairs[i]))
        ring = sample[(label[sample] == i) & (other == j)]
        found[int(i)] = (j, samples[ring].mean(axis=0))
    return found


def _stretch(mine, ring, body_tris, samples, normals, tree):
    """(moved (n, 3), axis (3,), gap) for one part's vertices `mine` (n, 3) stretched onto the
    body (its triangles (f, 3, 3)) towards `ring` (3,), the middle of where the two border
    on the target; None where there is no seam (the body more than SEAM_REACH ahead)."""
    axis = ring - mine.mean(axis=0)
    if np.linalg.norm(axis) < 1e-9:
        return None
    axis /= np.linalg.norm(axis)
    s = mine @ axis
    top = s.max()
    back = mine[s > top - 0.25 * (top - s.min())]
    centre = back.mean(axis=0) + (top - back.mean(axis=0) @ axis) * axis
    tris_axis = body_tris @ axis
    off = np.linalg.norm(np.cross(body_tris.mean(axis=1) - centre, axis), axis=1)
    size = np.linalg.norm(body_tris - body_tris.mean(axis=1, keepdims=True), axis=2).max(axis=1)
    ahead = (tris_axis.max(axis=1) > top) & (tris_axis.min(axis=1) < top + SEAM_REACH)
    apex = float(_ray_hits(centre[None], axis, body_tris[ahead & (off < size)])[0])
    if not apex < SEAM_REACH:
        return None
    middle = centre + 0.5 * apex * axis
    _, idx = tree.query(middle, k=SEAM_INSIDE_K)
    if np.median(((middle - samples[idx]) * normals[idx]).sum(axis=1)) >= 0:
        return None  # air between them: a real gap of the target
    band = SEAM_BAND * apex
    ramp = np.clip((s - (top - band)) / band, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    rows = np.flatnonzero(ramp > 0)
    # the body's triangles that a ray along the axis from those rows can meet
    width = np.linalg.norm(np.cross(mine[rows] - centre, axis), axis=1).max()
    near = ((tris_axis.max(axis=1) > top - band) & (tris_axis.min(axis=1) < top + SEAM_REACH + band)
            & (off < width + size))
    hit = _ray_hits(mine[rows], axis, body_tris[near])
    # one plane across the axis, where the body comes nearest over the part's end: a
    # stretch that depends on the axial position alone keeps every face's orientation
    plane = min(top + apex, float((s[rows] + hit).min())) - SEAM_CLEAR
    lift = np.zeros(len(mine))
    lift[rows] = plane - s[rows]
    return mine + (ramp * np.maximum(lift, 0.0))[:, None] * axis, axis, apex


def _ray_hits(origins, axis, tris):
    """(n,) distance along the unit `axis` (3,) from each of origins (n, 3) to the first of
    the triangles tris (f, 3, 3) it meets ahead; inf where it meets none (Möller-Trumbore
    on the pairs whose ray passes near the triangle, found across the axis by a KD-tree)."""
    out = np.full(len(origins), np.inf)
    if not len(tris) or not len(origins):
        return out
    across = np.linalg.svd(np.eye(3) - np.outer(axis, axis))[0][:, :2]  # (3, 2) plane basis
    middle = tris.mean(axis=1)
    size = np.linalg.norm((tris - middle[:, None]) @ across, axis=2).max(axis=1)
    near = cKDTree(origins @ across).query_ball_point(middle @ across, size)
    counts = np.fromiter((len(n) for n in near), dtype=np.int64, count=len(near))
    if not counts.sum():
        return out
    ray = np.concatenate(near).astype(np.int64)
    tri = tris[np.repeat(np.arange(len(tris)), counts)]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    p = np.cross(axis, e2)
    det = (e1 * p).sum(axis=1)
    inv = 1.0 / np.where(np.abs(det) > 1e-14, det, np.inf)
    tv = origins[ray] - tri[:, 0]
    q = np.cross(tv, e1)
    u, w, t = (tv * p).sum(axis=1) * inv, (q @ axis) * inv, (q * e2).sum(axis=1) * inv
    hit = (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
    np.minimum.at(out, ray[hit], t[hit])
    return out
