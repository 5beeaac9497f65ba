"""Count self-intersecting faces of a triangle mesh without Blender."""
import inspect

import numpy as np
from scipy.spatial import cKDTree

_CHUNK = 200_000


def self_intersecting_faces(verts, faces, pairs=False):
    """Indices of triangles that intersect another triangle they share no vertex with.

    Vertices at identical positions count as shared; touching is not crossing.

    verts: (V, 3) float, faces: (F, 3) int. Returns a sorted (K,) int64 array, or with
    `pairs` the crossing pairs (P, 2) int64 (i < j) themselves.
    Candidate pairs come from KD-trees on triangle centroids (`_candidate_pairs`), then
    an exact segment-triangle test in float64.
    """
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    # Vertices at the same position count as one: triangles meeting there share a vertex.
    _, same = np.unique(v, axis=0, return_inverse=True)
    f_id = same.reshape(-1)[f]
    if len(f) < 2:
        return np.zeros((0, 2) if pairs else 0, dtype=np.int64)
    tri = v[f]
    centroid, radius = _face_spheres(tri)
    i, j = _candidate_pairs(centroid, radius)
    dist = np.linalg.norm(centroid[i] - centroid[j], axis=1)
    keep = dist <= radius[i] + radius[j]
    i, j = i[keep], j[keep]
    shared = (f_id[i][:, :, None] == f_id[j][:, None, :]).any(axis=(1, 2))
    i, j = i[~shared], j[~shared]
    overlap = (np.maximum(tri[i].min(1), tri[j].min(1)) <= np.minimum(tri[i].max(1), tri[j].max(1))).all(1)
    i, j = i[overlap], j[overlap]
    bad = np.zeros(len(f), dtype=bool)
    crossing = []
    for s in range(0, len(i), _CHUNK):
        a, b = i[s:s + _CHUNK], j[s:s + _CHUNK]
        hit = _triangles_intersect(tri[a], tri[b])
        bad[a[hit]] = True
        bad[b[hit]] = True
        crossing.append(np.stack([a[hit], b[hit]], axis=1))
    if pairs:
        return np.concatenate(crossing) if crossing else np.zeros((0, 2), dtype=np.int64)
    return np.flatnonzero(bad)


def _candidate_pairs(centroid, radius):
    """Pairs (i < j) of triangles whose bounding spheres may touch: two (P,) int64 arrays.

    Most triangles are small: their pairs come from one fixed-radius KD-tree search with
    array output. Each of the few largest (top 5%) searches within twice its own radius,
    which finds every triangle no larger than itself that it could touch; a pair of two
    large triangles is found by the larger one. The work stays proportional to the pairs.
    """
    cut = float(np.percentile(radius, 95))
    small = np.flatnonzero(radius <= cut)
    pairs = cKDTree(centroid[small]).query_pairs(2.0 * cut * (1 + 1e-9) + 1e-12, output_type="ndarray")
    i, j = small[pairs[:, 0]], small[pairs[:, 1]]
    big = np.flatnonzero(radius > cut)
    if len(big):
        hits = cKDTree(centroid).query_ball_point(centroid[big], 2.0 * radius[big] * (1 + 1e-9) + 1e-12)
        counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
        bi = np.repeat(big, counts)
        bj = np.fromiter((k for h in hits for k in h), dtype=np.int64, count=counts.sum())
        i, j = np.concatenate([i, bi]), np.concatenate([j, bj])
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    key = np.unique(lo[keep] * len(radius) + hi[keep])
    return key // len(radius), key % len(radius)


def count_self_intersections(verts, faces):
    """Number of distinct self-intersecting triangles (see `self_intersecting_faces`)."""
    return int(len(self_intersecting_faces(verts, faces)))


def _triangles_intersect(t1, t2):
    """Do the triangle pairs (P, 3, 3) and (P, 3, 3) cross? -> (P,) bool."""
    hit = np.zeros(len(t1), dtype=bool)
    for src, dst in ((t1, t2), (t2, t1)):
        for k in range(3):
            hit |= _segment_hits_triangle(src[:, k], src[:, (k + 1) % 3], dst)
    return hit


def _segment_hits_triangle(p0, p1, tri, eps=1e-12):
    # A proper crossing only: segments that touch a triangle at a point count as clean.
    """Möller–Trumbore for segments p0→p1 against triangles: (P, 3), (P, 3), (P, 3, 3) -> (P,)."""
    d = p1 - p0
    e1 = tri[:, 1] - tri[:, 0]
    e2 = tri[:, 2] - tri[:, 0]
    h = np.cross(d, e2)
    a = np.einsum("ij,ij->i", e1, h)
    scale = np.linalg.norm(d, axis=1) * np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1)
    ok = np.abs(a) > eps * (scale + 1e-300)
    inv = np.where(ok, 1.0 / np.where(ok, a, 1.0), 0.0)
    s = p0 - tri[:, 0]
    u = inv * np.einsum("ij,ij->i", s, h)
    q = np.cross(s, e1)
    w = inv * np.einsum("ij,ij->i", d, q)
    t = inv * np.einsum("ij,ij->i", e2, q)
    tol = 1e-9  # touching (shared corner positions, end points on an edge) is not crossing
    return ok & (u > tol) & (w > tol) & (u + w < 1 - tol) & (t > tol) & (t < 1 - tol)


# `local_checks`: a check again after some vertices moved looks again only near the faces
# that moved, unless more than LOCAL_SHARE of the faces did; the last LOCAL_MEMORY checks are
# remembered, one per surface the output step checks in turn (the path's state, and the
# check as stored: rounded, moved out, moved in, and in the space a user sees), at most
# LOCAL_BYTES of them (a level-8 remesh, 1.3 million faces, keeps 3 of about 58 MB each)
LOCAL_SHARE = 0.5
LOCAL_MEMORY = 6
LOCAL_BYTES = 200_000_000


def local_checks(find):
    """`find(verts, faces, pairs=False)` (this module's or Blender's) giving the same answers,
    each check made again only where vertices moved since the most alike of the last
    LOCAL_MEMORY checks of the same faces: a pair of faces that did not move crosses as it
    did, and a face that moved can cross only faces whose bounding spheres its own reaches.
    The untangle step checks one mesh tens of times with a few vertices moved each time
    (on the comb's output, 129 checks of 82k faces). A `find` without `pairs` comes back as
    it is."""
    if isinstance(find, _LocalChecks) or find is None:
        return find
    try:
        takes_pairs = "pairs" in inspect.signature(find).parameters
    except (TypeError, ValueError):
        takes_pairs = False
    return _LocalChecks(find) if takes_pairs else find


class _LocalChecks:
    """`local_checks`' wrapper. It remembers, per check, (verts (V, 3) float64, faces (F, 3),
    crossing pairs (P, 2), face centroids (F, 3), face radii (F,))."""

    def __init__(self, find):
        self.find = find
        self.memory = []

    def __call__(self, verts, faces, pairs=False):
        verts = np.asarray(verts, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64)
        last, moved = self._closest(verts, faces)
        if last is None:
            centroid, radius = _face_spheres(verts[faces])
            found = self._pairs(verts, faces)
        else:
            moved_face = np.flatnonzero(moved[faces].any(axis=1))
            centroid, radius = last[3].copy(), last[4].copy()
            centroid[moved_face], radius[moved_face] = _face_spheres(verts[faces[moved_face]])
            near = _faces_near(centroid, radius, moved_face)
            if len(near) > LOCAL_SHARE * len(faces):
                found = self._pairs(verts, faces)
            elif not len(near):
                found = last[2]
            else:
                is_moved = np.zeros(len(faces), dtype=bool)
                is_moved[moved_face] = True
                found = last[2][~is_moved[last[2]].any(axis=1)]  # pairs that did not move
                used, sub_faces = np.unique(faces[near], return_inverse=True)
                local = near[self._pairs(verts[used], sub_faces.reshape(-1, 3))]
                local = local[is_moved[local].any(axis=1)]
                found = np.unique(np.concatenate([found, local]), axis=0)
        self.memory = [m for m in self.memory if m is not last][-(LOCAL_MEMORY - 1):]
        self.memory.append((verts.copy(), faces, found, centroid, radius))
        while len(self.memory) > 1 and sum(_bytes(m) for m in self.memory) > LOCAL_BYTES:
            self.memory.pop(0)
        return found if pairs else np.unique(found)

    def _pairs(self, verts, faces):
        """(P, 2) int64 crossing pairs (i < j) by the wrapped check."""
        return np.asarray(self.find(verts, faces, pairs=True), dtype=np.int64).reshape(-1, 2)

    def _closest(self, verts, faces):
        """(the remembered check of these faces whose vertices moved least, moved (V,) bool),
        or (None, None) when none is remembered or more than LOCAL_SHARE of them moved."""
        best, moved = None, None
        for m in self.memory:
            if m[0].shape != verts.shape or not (m[1] is faces or np.array_equal(m[1], faces)):
                continue
            differ = (m[0] != verts).any(axis=1)
            if moved is None or differ.sum() < moved.sum():
                best, moved = m, differ
        if best is None or moved.mean() > LOCAL_SHARE:
            return None, None
        return best, moved


def _bytes(remembered):
    """Bytes of one remembered check's own arrays (the faces are the caller's)."""
    return sum(a.nbytes for k, a in enumerate(remembered) if k != 1)


def _face_spheres(tri):
    """(centroids (F, 3), radii (F,)) of triangles `tri` (F, 3, 3): the farthest corner."""
    centroid = tri.mean(axis=1)
    return centroid, np.linalg.norm(tri - centroid[:, None], axis=2).max(axis=1)


def _faces_near(centroid, radius, which):
    """(K,) sorted int64 indices of the faces, by centroid (F, 3) and radius (F,), whose
    bounding spheres may reach that of a face in `which` (M,) int (those faces included),
    a superset of the only faces a moved one can cross: those within their own and the
    widest moved face's radius of a moved face's centroid. A face no wider than the widest
    moved one can reach a moved face only from the next cell of a grid twice that width,
    so only those and the wider faces are measured."""
    if not len(which):
        return which
    widest = radius[which].max()
    cell = np.floor(centroid / (2.0 * widest * (1 + 1e-9) + 1e-12)).astype(np.int64)
    cell -= cell.min(axis=0) - 1
    span = cell.max(axis=0) + 2
    key = (cell[:, 0] * span[1] + cell[:, 1]) * span[2] + cell[:, 2]
    step = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1)
    around = (step[0] * span[1] + step[1]) * span[2] + step[2]
    maybe = np.isin(key, (np.unique(key[which])[:, None] + around).ravel()) | (radius > widest)
    maybe = np.flatnonzero(maybe)
    dist, _ = cKDTree(centroid[which]).query(
        centroid[maybe], distance_upper_bound=(radius[maybe].max() + widest) * (1 + 1e-9) + 1e-12)
    near = np.zeros(len(centroid), dtype=bool)
    near[maybe] = dist <= (radius[maybe] + widest) * (1 + 1e-9) + 1e-12
    near[which] = True
    return np.flatnonzero(near)
