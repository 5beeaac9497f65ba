"""Crowded thin branches: the teeth of a comb, the fingers of a hand. No torch, no bpy.

One flowed sphere cannot open a row of narrow gaps: the sheet across a gap would have to
draw back through it, and it never does (README, "Held-out shapes"). So each branch of
such a row gets a sphere of its own, as a separate piece does (parts.py): disjoint
spheres stay disjoint under the flow, so the branches come out apart and never cross
the body they hang from.

A branch is found on a voxel grid of the piece in the fit's normalised space: the
piece's inside (everything a flood from the grid's border through empty voxels does not
reach), its thick body (the union of balls of radius BODY_RADIUS of its thickest ball
that fit inside), and what reaches further than BRANCH_MARGIN of that radius from the
body. A branch counts when it is long (BRANCH_LENGTH radii) and either crowded (another
branch comes closer than CROWDED of its length) or a limb (thinner than LIMB_THICKNESS
body radii: a cow's legs, whose one sphere webs the hind legs together; or slender,
SLENDER times longer than thick and thinner than SLENDER_THICKNESS: a horse's legs).
Other lone branches (a head, Suzanne's ears, a table's legs under its thin top) stay
with their body.

A crowded branch also takes the margin it was cut at, so it reaches its body across the
narrow gaps of its row; a limb's sphere ends at the margin, the body's sphere keeps the
wide junction (a thigh), and the output's seam step (seams.py) closes the rest.
"""
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .normalize import normalization
from .parts import MAX_PARTS

BRANCH_GRID = 96       # voxels along the longest side of a piece's box (normalised space)
BODY_RADIUS = 0.5      # the body: balls of this share of the piece's thickest ball
BRANCH_MARGIN = 0.5    # a branch starts this many body radii away from the body
BRANCH_LENGTH = 2.0    # and reaches at least this many body radii further
CROWDED = 0.2          # and another branch comes closer than this share of its length
MIN_BRANCH_SHARE = 0.005   # of the piece's volume; smaller ones stay with the body
MIN_PIECE_SHARE = 0.05     # pieces with a smaller share of the samples are not searched
MAX_BRANCHES = 32          # per piece; more (a brush, fur) are left to the body
MIN_THICKNESS = 3.0        # voxels: a thinner piece (a sheet, a thin shell) is not searched
LIMB_THICKNESS = 0.32      # a long branch thinner than this many body radii is a limb (a
                           # cow's legs 0.27-0.28; its head 0.37, Suzanne's ear 0.72)
SLENDER = 8.0              # so is one this many times longer than thick ...
SLENDER_THICKNESS = 0.5    # ... and thinner than this many body radii


def split_branches(verts, faces, sample_faces, points, labels, kind="affine"):
    """Labels (M,) int64 with each crowded branch and limb of every piece a piece of its own
    (numbered after the existing ones; `labels` itself when none is found).

    verts (V, 3), faces (F, 3): the target's triangles; sample_faces (M,): the triangle
    of each sample; points (M, 3): the samples, same space; labels (M,): the pieces
    (parts.surface_parts); kind: the fit's normalisation (its voxels are cubes there).
    """
    labels = np.asarray(labels, dtype=np.int64)
    pts = np.asarray(points, dtype=np.float64)
    matrix = np.linalg.inv(normalization(pts, kind))
    to_unit = lambda x: x @ matrix[:3, :3].T + matrix[:3, 3]  # noqa: E731
    unit_pts, unit_verts = to_unit(pts), to_unit(np.asarray(verts, dtype=np.float64))
    faces = np.asarray(faces, dtype=np.int64)
    sample_faces = np.asarray(sample_faces, dtype=np.int64)
    out, next_label = labels.copy(), int(labels.max()) + 1
    counts = np.bincount(labels)
    for piece in np.flatnonzero(counts >= MIN_PIECE_SHARE * len(labels)):
        mine = labels == piece
        tris = faces[np.unique(sample_faces[mine])]
        branch = _piece_branches(unit_verts, tris, unit_pts[mine])
        found = np.unique(branch[branch > 0])
        if next_label + len(found) > MAX_PARTS:  # the fit's cap on spheres
            continue
        for b in found:
            out[np.flatnonzero(mine)[branch == b]] = next_label
            next_label += 1
    return out


def _piece_branches(verts, faces, points):
    """Branch of every sample of one piece: (m,) int, 0 for the body, 1.. for crowded
    branches and limbs. verts/faces/points in normalised space."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    h = float((hi - lo).max()) / (BRANCH_GRID - 8)
    if h <= 0:
        return np.zeros(len(points), dtype=np.int64)
    origin = lo - 4 * h
    shape = tuple(int(s) for s in np.ceil((hi - origin) / h).astype(np.int64) + 5)
    inside = _inside(_surface_voxels(verts, faces, origin, h, shape))
    depth = ndimage.distance_transform_edt(inside)
    if depth.max() < MIN_THICKNESS:
        return np.zeros(len(points), dtype=np.int64)
    radius = BODY_RADIUS * depth.max()
    body = ndimage.distance_transform_edt(~(depth > radius)) <= radius
    reach = ndimage.distance_transform_edt(~body)
    comp, k = ndimage.label(inside & (reach > BRANCH_MARGIN * radius), structure=np.ones((3, 3, 3)))
    if k < 1:
        return np.zeros(len(points), dtype=np.int64)
    ids = np.arange(1, k + 1)
    volume = ndimage.sum(np.ones(comp.shape), comp, index=ids)
    length = ndimage.maximum(reach, comp, index=ids)
    long = ids[(length >= BRANCH_LENGTH * radius) & (volume >= MIN_BRANCH_SHARE * inside.sum())]
    crowded = _crowded(comp, long, length)
    if len(crowded) < 2:  # a row needs two
        crowded = crowded[:0]
    thickness = np.asarray(ndimage.maximum(depth, comp, index=long)).reshape(-1)
    slender = (length[long - 1] >= SLENDER * thickness) & (thickness < SLENDER_THICKNESS * radius)
    limbs = np.setdiff1d(long[(thickness < LIMB_THICKNESS * radius) | slender], crowded)
    chosen = np.concatenate([crowded, limbs]).astype(np.int64)
    if len(chosen) < 1 or len(chosen) > MAX_BRANCHES:
        return np.zeros(len(points), dtype=np.int64)
    keep = np.zeros(k + 1, dtype=np.int64)
    keep[chosen] = np.arange(1, len(chosen) + 1)
    branch = keep[comp]
    # a crowded branch reaches back to the body: the margin it was cut at goes to its
    # nearest crowded branch, so its sphere meets the body's across its row's narrow gaps
    if len(crowded):
        row = np.where(np.isin(comp, crowded), branch, 0)
        gap, nearest = ndimage.distance_transform_edt(row == 0, return_indices=True)
        neck = inside & ~body & (branch == 0) & (gap <= BRANCH_MARGIN * radius + 1.5)
        branch[neck] = row[tuple(axis[neck] for axis in nearest)]
    # a sample on a face that lies on a voxel boundary may round into the empty voxel
    # beside it: it takes the label of the first voxel half a voxel away that is inside
    top = np.array(shape) - 1
    found = np.zeros(len(points), dtype=bool)
    label = np.zeros(len(points), dtype=np.int64)
    for offset in np.concatenate([np.zeros((1, 3)), 0.5 * np.eye(3), -0.5 * np.eye(3)]):
        v = np.clip(np.floor((points - origin) / h + offset).astype(np.int64), 0, top)
        take = ~found & inside[v[:, 0], v[:, 1], v[:, 2]]
        label[take] = branch[v[take, 0], v[take, 1], v[take, 2]]
        found |= take
    return label


def _crowded(comp, ids, length):
    """The components among `ids` that another of them comes within CROWDED of their
    length (voxels; `length` indexed by id - 1)."""
    if len(ids) < 2:
        return np.array([], dtype=np.int64)
    where = {j: np.argwhere(comp == j) for j in ids}
    found = []
    for j in ids:
        others = np.concatenate([where[i] for i in ids if i != j])
        gap, _ = cKDTree(others).query(where[j][:: max(1, len(where[j]) // 4000)])
        if gap.min() < CROWDED * length[j - 1]:
            found.append(j)
    return np.array(found, dtype=np.int64)


def _surface_voxels(verts, faces, origin, h, shape):
    """(shape) bool: the voxels the triangles pass through (points on each at most h/2
    apart, so a flood cannot slip between them)."""
    surface = np.zeros(shape, dtype=bool)
    tri = verts[faces]
    edge = np.max(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2), axis=1)
    steps = np.maximum(np.ceil(edge / (0.5 * h)).astype(np.int64), 1)
    top = np.array(shape) - 1
    for n in np.unique(steps):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        a, b = i[keep] / n, j[keep] / n
        weights = np.stack([1 - a - b, a, b], axis=1)
        chosen = tri[steps == n]
        for start in range(0, len(chosen), max(1, 2_000_000 // len(weights))):
            p = np.einsum("pk,fkd->fpd", weights, chosen[start:start + max(1, 2_000_000 // len(weights))])
            v = np.clip(np.floor((p.reshape(-1, 3) - origin) / h).astype(np.int64), 0, top)
            surface[v[:, 0], v[:, 1], v[:, 2]] = True
    return surface


def _inside(surface):
    """(shape) bool: voxels a flood from the grid's border through empty voxels (6-connected)
    does not reach: the surface and everything it encloses."""
    empty, _ = ndimage.label(~surface)
    faces = [empty[0], empty[-1], empty[:, 0], empty[:, -1], empty[:, :, 0], empty[:, :, -1]]
    outside = np.zeros(int(empty.max()) + 1, dtype=bool)
    outside[np.concatenate([f.ravel() for f in faces])] = True
    outside[0] = False  # the surface itself
    return ~outside[empty]
