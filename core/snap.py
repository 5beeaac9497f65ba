"""The last millimetre: output vertices moved along their normals onto the target.

The flow brings the sphere near the target; a finite field leaves the surface hovering a
little off it and soft at sharp edges. The stored flow keeps a sample of the target's
surface, with the target's normal at each sample when the caller gave them (a fit from a
Blender object always does), and every output state at t = 1 takes one more step (twice):
each vertex moves along its own normal, fully where the plane it moves onto is within
SNAP_REACH along that normal (SNAP_FACING_REACH for a plane that faces its way), fading to
nothing at twice that (so no vertex moves more than SNAP_FACING_REACH per round).

- With normals: onto the plane of its nearest sample *that faces the same way*
  (normals within SNAP_FACING), among its SNAP_NEIGHBOURS nearest. A vertex on the outside
  of a thin wall (a mug's side, a comb's tooth, a coin's face) lands on the outside, never
  on the far side, and a vertex near a sharp edge lands on the face it looks out of, so
  edges stay sharp.
- Without normals (`nm.fit_points` given only points, flows stored before them), and for a
  vertex none of whose nearest samples faces its way (the back of an open sheet, whose
  normals all point to one side; a target whose normals point inwards there): onto the
  plane through its nearest sample across its own normal, and only where the planes of its
  SNAP_NEIGHBOURS nearest samples agree (not between the two sides of a thin wall).
  With normals, such a vertex stops SNAP_BACK_CLEARANCE short of that plane, on its own
  side: the back of a doubled open sheet lands just behind its front instead of on it, so
  the two layers no longer touch and the untangle need not hold the snap back.

Moving along the normal, never sideways, keeps the triangles as even as the flow made
them. The step is a state of the path like any other, so untangling can take it back
where it would cross.

A plane per vertex cannot put a vertex on a sharp edge, so the triangles across an edge
cut its corner. `crease` then moves a vertex whose nearby target planes meet in an edge or
a corner onto it (the point nearest those planes in least squares, as dual contouring
places its vertices), once the untangled output is final (pipeline.output_mesh, which
takes back any such move that would make faces cross).
"""
import base64
import zlib

import numpy as np
from scipy.spatial import cKDTree

SNAP_REACH = 0.02   # normalised units (the unit ball): full step closer than this
SNAP_ROUNDS = 2     # nearest-sample projections per output
SNAP_NEIGHBOURS = 8  # samples whose planes must agree ...
SNAP_AGREE = 0.005  # ... to within this along the normal for a full step (none at twice it)
SNAP_FACING = 0.5   # with normals: a sample counts when cos(its normal, the vertex's) > this
SNAP_SEARCH = 32    # with normals: nearest samples searched for one facing the vertex's way
# with normals: a full step onto a facing plane closer than this, fading to none at twice it.
# Wider than SNAP_REACH, since a plane that faces the vertex's way cannot be the far side
# of a thin wall: a surface that stayed inside a mug's 3% wall reaches its outside
# (on fixed fits, F@0.5% mug 0.592 -> 0.607, comb 0.592 -> 0.608; the cow, Suzanne, the
# spring, the table and the torus knot within 0.004)
SNAP_FACING_REACH = 0.04
# with normals: a vertex none of whose nearest samples faces its way (the back of a doubled
# open sheet) stops this far short of the plane it lands on, on its own side, a quarter of
# F at 0.1% of the diagonal's tolerance on a shape that fills the unit ball. On the sheet
# both layers used to land on one plane, touch, and have the snap held back (bench quality
# runs at 97363eb against 50856b8, the same fitted flows: plane_wavy F@0.1% 0.193 -> 0.236,
# F@0.5% 0.692 -> 0.722, snap held on 3,590 -> 1,075 vertices; the spring 0.516 -> 0.527;
# the other 20 targets within 0.001)
SNAP_BACK_CLEARANCE = 0.0005
# crease: the CREASE_NEIGHBOURS nearest samples of a vertex whose normals do not face away
# from its own give a plane each; where they span an edge or a corner (the second largest
# eigenvalue of the sum of n·nᵀ at least CREASE_RANK of the largest), the vertex moves to
# the point nearest all of them, if it lies within CREASE_FIT of them (root mean square:
# a rounded surface fits no edge that well) and within CREASE_REACH of the vertex's mean
# edge length. The bench's quality runs before and after it, the same flows (README,
# "Held-out shapes", out/bench_c1 and out/bench_c2): F@0.1% spiky 0.234 -> 0.252,
# fandisk 0.246 -> 0.256, Suzanne 0.257 -> 0.268, the comb 0.114 -> 0.116; nothing
# pulled back, no target lower by more than 0.001
CREASE_NEIGHBOURS = 16
CREASE_RANK = 0.1
CREASE_FIT = 0.0015
CREASE_REACH = 0.6
CREASE_CHUNK = 50_000  # vertices per batch (16 samples each): bounded memory at level 8
_SCALE = 65535.0    # samples are stored as uint16 over [-1, 1]³ (normalised space)
NORMALS_MESSAGE = "Normals must be an (M, 3) array of finite, non-zero vectors, one per target point."
_NORMAL_SCALE = 127.0  # normals are stored as int8 per coordinate, the largest at ±127


def vertex_normals(verts, faces):
    """Area-weighted vertex normals (V, 3) float64 of a triangle mesh (unit, or zero)."""
    v = np.asarray(verts, dtype=np.float64)
    n = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-300)


def snap(verts, faces, samples, tree=None, normals=None):
    """Vertices (V, 3) of a mesh moved along their normals onto the target near them, as
    the module docstring says: (V, 3) float64. `samples` (M, 3) target points and
    `normals` (M, 3) unit target normals there (or None), same space (normalised)."""
    tree = cKDTree(samples) if tree is None else tree
    normal = vertex_normals(verts, faces)
    p = np.asarray(verts, dtype=np.float64)
    for _ in range(SNAP_ROUNDS):
        _, idx = tree.query(p, k=SNAP_NEIGHBOURS if normals is None else SNAP_SEARCH)
        height, weight = _step_agreeing(p, normal, samples, idx[:, :SNAP_NEIGHBOURS])
        if normals is not None:
            found, facing_height, facing_weight = _step_facing(p, normal, samples, normals, idx)
            height = np.where(found, facing_height, height + SNAP_BACK_CLEARANCE)
            weight = np.where(found, facing_weight, weight)
        p = p + (weight * height)[:, None] * normal
    return p


def crease(verts, faces, samples, normals, tree=None):
    """Vertices (V, 3) of a mesh moved onto the edges and corners of the target near them,
    as CREASE_* above says; the others unchanged: (V, 3) float64. `samples` (M, 3) target
    points and `normals` (M, 3) their unit normals, same space (normalised)."""
    tree = cKDTree(samples) if tree is None else tree
    p = np.asarray(verts, dtype=np.float64)
    normal = vertex_normals(p, faces)
    reach = CREASE_REACH * _mean_edge(p, faces)
    out = p.copy()
    for lo in range(0, len(p), CREASE_CHUNK):
        rows = slice(lo, lo + CREASE_CHUNK)
        out[rows] = _crease_points(p[rows], normal[rows], reach[rows], samples, normals, tree)
    return out


def _crease_points(p, normal, reach, samples, normals, tree):
    """`crease` for points p (V, 3) with vertex normals (V, 3) and reach (V,)."""
    _, idx = tree.query(p, k=CREASE_NEIGHBOURS)
    at, n = samples[idx], normals[idx]                            # (V, k, 3)
    w = ((n * normal[:, None]).sum(2) > 0.0).astype(np.float64)   # not the far side of a wall
    offset = (n * at).sum(2)                                      # (V, k) plane offsets n·s
    quad = np.einsum("vk,vki,vkj->vij", w, n, n)                  # (V, 3, 3) Σ n nᵀ
    lam, axes = np.linalg.eigh(quad)                              # ascending
    kept = lam > CREASE_RANK * np.maximum(lam[:, 2:], 1e-12)
    # least squares from p along the kept axes only: a flat neighbourhood (one axis)
    # is the snap's own plane, so only edges (two) and corners (three) move
    rhs = np.einsum("vk,vki,vk->vi", w, n, offset) - np.einsum("vij,vj->vi", quad, p)
    coef = np.einsum("vij,vi->vj", axes, rhs) / np.where(kept, lam, 1.0) * kept
    x = p + np.einsum("vij,vj->vi", axes, coef)
    count = w.sum(1)
    fit = np.sqrt((w * ((n * x[:, None]).sum(2) - offset) ** 2).sum(1) / np.maximum(count, 1.0))
    ok = ((kept.sum(1) >= 2) & (count >= 4) & (fit < CREASE_FIT)
          & (np.linalg.norm(x - p, axis=1) < reach))
    return np.where(ok[:, None], x, p)


def _mean_edge(p, faces):
    """(V,) mean length of the edges at each vertex of a triangle mesh (each edge counted
    once per face it borders)."""
    ends = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    length = np.linalg.norm(p[ends[:, 0]] - p[ends[:, 1]], axis=1)
    total = np.bincount(ends.ravel(), weights=np.repeat(length, 2), minlength=len(p))
    count = np.bincount(ends.ravel(), minlength=len(p))
    return total / np.maximum(count, 1)


def _fade(height, reach=SNAP_REACH):
    """Share (V,) of each vertex's step that it takes: all of it closer than `reach`,
    none from twice that."""
    return np.clip(2.0 - np.abs(height) / reach, 0.0, 1.0)


def _step_agreeing(p, normal, samples, idx):
    """(height (V,), weight (V,)) along the vertex normals onto the planes through the
    nearest samples (`idx` (V, k), nearest first), faded where the k disagree."""
    heights = ((samples[idx] - p[:, None]) * normal[:, None]).sum(2)  # (V, k)
    height = heights[:, 0]
    weight = _fade(height)
    # nearby samples on different sheets (the two sides of a thin wall, the faces of a
    # sharp edge) disagree on the height: there the step fades out instead of picking
    # a sheet per vertex, which would leave ridges where neighbours pick differently
    spread = heights.max(axis=1) - heights.min(axis=1)
    return height, weight * np.clip(2.0 - spread / SNAP_AGREE, 0.0, 1.0)


def _step_facing(p, normal, samples, normals, idx):
    """(found (V,) bool, height (V,), weight (V,)) onto the tangent plane of the nearest
    sample of `idx` that faces the vertex's way; `found` is False where none does."""
    rows = np.arange(len(p))
    cos = (normals[idx] * normal[:, None]).sum(2)              # (V, k)
    facing = cos > SNAP_FACING
    first = np.argmax(facing, axis=1)                          # the nearest facing sample
    pick = idx[rows, first]
    # the height along the vertex normal of that sample's own tangent plane
    height = ((samples[pick] - p) * normals[pick]).sum(1) / np.maximum(cos[rows, first], SNAP_FACING)
    return facing.any(axis=1), height, _fade(height, SNAP_FACING_REACH)


def unit_normals(normals):
    """(M, 3) float64 normals scaled to length 1; ValueError for a zero or non-finite one."""
    n = np.asarray(normals, dtype=np.float64)
    if n.ndim != 2 or n.shape[1] != 3 or not np.isfinite(n).all():
        raise ValueError(NORMALS_MESSAGE)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    if not (length > 0).all():
        raise ValueError(NORMALS_MESSAGE)
    return n / length


def quantize_normals(normals):
    """Unit normals (M, 3) rounded to what `encode_normals` stores, unit again: (M, 3) float64."""
    return _decode_normals(_encode_normals(normals))


def encode_normals(normals):
    """Unit normals (M, 3) -> base64 text (int8 per coordinate)."""
    return _pack(_encode_normals(normals))


def decode_normals(text):
    """`encode_normals` text -> unit normals (M, 3) float64; ValueError when damaged."""
    q = _unpack(text, np.int8)
    if q is None or not (q != 0).any(axis=1).all():
        raise ValueError("the surface normals are damaged")
    return _decode_normals(q)


def _encode_normals(normals):
    # scaled so the largest coordinate is ±127: finer steps, and decoding then encoding
    # gives the same bytes back
    n = unit_normals(normals)
    return np.round(n / np.abs(n).max(axis=1, keepdims=True) * _NORMAL_SCALE).astype(np.int8)


def _decode_normals(q):
    n = q.astype(np.float64)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def quantize(points):
    """Normalised points (M, 3) rounded to what `encode` stores: (M, 3) float64."""
    return _decode_array(_encode_array(points))


def encode(points):
    """Normalised points (M, 3), |coordinates| <= 1 -> base64 text (uint16 per coordinate)."""
    return _pack(_encode_array(points))


def decode(text):
    """`encode` text -> (M, 3) float64; ValueError when damaged."""
    q = _unpack(text, np.dtype("<u2"))
    if q is None:
        raise ValueError("the surface samples are damaged")
    return _decode_array(q)


def _pack(q):
    """(M, 3) integer array -> base64 text of its zlib-compressed bytes."""
    return base64.b64encode(zlib.compress(q.tobytes(), 6)).decode("ascii")


def _unpack(text, dtype):
    """`_pack` text -> (M, 3) array of `dtype`, or None when it does not hold one."""
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except zlib.error:
        return None
    if len(raw) % (3 * np.dtype(dtype).itemsize):
        return None
    return np.frombuffer(raw, dtype=dtype).reshape(-1, 3)


def _encode_array(points):
    p = np.clip(np.asarray(points, dtype=np.float64), -1.0, 1.0)
    return np.round((p + 1.0) * (_SCALE / 2.0)).astype("<u2")


def _decode_array(q):
    return q.astype(np.float64) * (2.0 / _SCALE) - 1.0
