"""Separate parts: which target samples belong to which piece, and the spheres a flow
starts from (one per piece). No torch, no bpy.

A target made of separate pieces (text, a logo, props) cannot be reached by one sphere
without a membrane between the pieces, since a flow never tears a surface. So every
piece gets its own sphere: disjoint spheres stay disjoint under a flow, and the output
is one mesh whose parts never cross each other.
"""
import dataclasses

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from .icosphere import _corner_uvs, icosphere
from .sampling import face_components

MAX_PARTS = 64            # pieces beyond this are merged into their nearest neighbour
MIN_PART_SHARE = 0.002    # a piece with a smaller share of the surface joins its nearest piece
TOUCH = 0.004             # pieces closer than this share of the bounding-box diagonal touch,
NEAR = 0.05               # or closer than this share of the smaller piece's diagonal (a lid on a pot)
SPHERE_SIZE = 0.5         # a separate piece's sphere radius: this share of its RMS radius ...
SPHERE_GAP = 0.9          # ... and two spheres fill at most this share of their centres' distance
# a part joined to another on the target (a body and its branches: at least JOINED_SAMPLES
# samples with one of their JOINED_NEAR nearest samples in another part) starts as large
# as its RMS radius, so a body keeps the room one sphere had: the cow with a sphere per
# leg, F@0.5% at seed 1 0.917 at half its RMS radius, 0.959 at all of it (README "Limbs:
# a sphere each"); separate pieces never are joined
JOINED_SPHERE_SIZE = 1.0
JOINED_SAMPLES = 12
JOINED_NEAR = 8
# spheres squeezed below this share of their size by their neighbours are a crowded row
# (a comb's teeth, 0.15; separate letters and props keep 0.5) and leave every neighbour
# ROW_GAP of their centres' distance, so their surfaces are not pressed together (comb,
# F@0.5% over seeds 0-2: 0.932 -> 0.939, vertices pulled back 405/233/66 -> 169/100/10
# with a gap of 0.75 for all spheres; README "Crowded branches")
CROWDED_SPHERE = 0.3
ROW_GAP = 0.75
MIN_PART_LEVEL = 2        # a part's icosphere never below this level (162 vertices; at
                          # level 1, 42, a Draft cow's leg was a stick: F@0.5% 0.788 -> 0.804)
MIN_SPHERE = 0.1          # a sphere squeezed below this share of its size merges its part
                          # (a comb's tooth between its neighbours keeps 0.15)


def surface_parts(verts, faces, sample_faces, points, pieces=None):
    """Piece label of every surface sample: (M,) int64, 0..K-1, largest piece first.

    verts (V, 3), faces (F, 3): the target's triangles; sample_faces (M,): the triangle of
    each sample; points (M, 3): the samples (same space). Vertices at the same position
    are welded first (split normals and UV seams do not split a piece); pieces that touch
    or cross (closer than TOUCH of the diagonal) are one piece, tiny pieces join their
    nearest one, and at most MAX_PARTS remain. `pieces`: the triangles' `face_components`
    when the caller has them already.
    """
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    pts = np.asarray(points, dtype=np.float64)
    diag = float(np.linalg.norm(np.ptp(pts, axis=0))) or 1.0
    pieces = face_components(v, f, diag) if pieces is None else np.asarray(pieces)
    label = pieces[np.asarray(sample_faces, dtype=np.int64)]
    _, label = np.unique(label, return_inverse=True)
    label = _merge_touching(pts, label.reshape(-1), TOUCH * diag)
    label = _merge_small(pts, label)
    return _by_size(label)


def _merge_touching(pts, label, tol, probe=20_000):
    """Union pieces that come within `tol` of each other, or within NEAR of the smaller
    one's diagonal (a subsample of each suffices). Separate spheres pay off for pieces
    apart; a lid resting on its pot is better wrapped together with the pot."""
    k = int(label.max()) + 1
    if k == 1:
        return label
    rng = np.random.default_rng(0)
    pick = rng.choice(len(pts), min(probe, len(pts)), replace=False)
    p, lab = pts[pick], label[pick]
    tree = cKDTree(p)
    pairs = tree.query_pairs(tol, output_type="ndarray")
    a, b = [lab[pairs[:, 0]]], [lab[pairs[:, 1]]]
    size = np.zeros(k)
    for j in np.unique(lab):
        size[j] = np.linalg.norm(np.ptp(p[lab == j], axis=0))
    for j in np.unique(lab):  # neighbours at least as large as j, within NEAR of j's size
        if size[j] >= size.max():  # the largest piece has no larger neighbour to find
            continue
        mine = np.flatnonzero(lab == j)
        if len(mine) > 1000:  # enough of its points to find where it comes near another
            mine = rng.choice(mine, 1000, replace=False)
        hits = tree.query_ball_point(p[mine], NEAR * size[j], return_sorted=False)
        near = np.unique(lab[np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])])
        near = near[size[near] >= size[j]]
        a.append(np.full(len(near), j)), b.append(near)
    a, b = np.concatenate(a), np.concatenate(b)
    keep = a != b
    if not keep.any():
        return label
    a, b = a[keep], b[keep]
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(k, k))
    _, group = csgraph.connected_components(graph, directed=False)
    return group[label]


def _merge_small(pts, label):
    """Pieces below MIN_PART_SHARE of the samples, and all but the MAX_PARTS largest, join
    the kept piece whose samples are nearest (by majority of their points). One KD-tree,
    so a scan with thousands of specks costs no more than one with a few."""
    counts = np.bincount(label)
    live = np.flatnonzero(counts)
    order = live[np.argsort(-counts[live], kind="stable")]
    keep = order[:MAX_PARTS]
    keep = keep[counts[keep] >= MIN_PART_SHARE * len(label)]
    if len(keep) == 0:
        keep = order[:1]
    kept = np.isin(label, keep)
    if kept.all():
        return label
    _, idx = cKDTree(pts[kept]).query(pts[~kept])
    nearest = label[kept][idx]
    out = label.copy()
    for piece in np.unique(label[~kept]):
        mine = label[~kept] == piece
        out[np.flatnonzero(~kept)[mine]] = np.bincount(nearest[mine]).argmax()
    return out


def _by_size(label):
    """Relabel 0..K-1, the piece with the most samples first (ties: lower old label)."""
    counts = np.bincount(label)
    live = np.flatnonzero(counts)
    order = live[np.lexsort((live, -counts[live]))]
    remap = np.zeros(len(counts), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[label]


@dataclasses.dataclass
class SphereSet:
    """The surface a flow starts from: K disjoint spheres, normalised space.

    centres (K, 3) float64, radii (K,), shares (K,) each part's share of the target's
    surface (it decides how many output vertices the part gets). One unit sphere at the
    origin is the classic single-sphere fit.
    """
    centres: np.ndarray
    radii: np.ndarray
    shares: np.ndarray

    def __post_init__(self):
        self.centres = np.asarray(self.centres, dtype=np.float64).reshape(-1, 3)
        self.radii = np.asarray(self.radii, dtype=np.float64).reshape(-1)
        self.shares = np.asarray(self.shares, dtype=np.float64).reshape(-1)
        k = len(self.centres)
        if not (k >= 1 and len(self.radii) == k and len(self.shares) == k
                and np.isfinite(self.centres).all() and (self.radii > 0).all()
                and np.isfinite(self.radii).all() and (self.shares > 0).all()):
            raise ValueError("the parts are not K centres, positive radii and shares")

    @classmethod
    def unit(cls, radius=1.0):
        return cls(np.zeros((1, 3)), np.array([radius], dtype=np.float64), np.ones(1))

    @property
    def count(self):
        return len(self.radii)

    def to_list(self):
        """Plain data: [[cx, cy, cz, radius, share], ...]."""
        return [[*map(float, c), float(r), float(s)]
                for c, r, s in zip(self.centres, self.radii, self.shares)]

    @classmethod
    def from_list(cls, rows):
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        return cls(rows[:, :3], rows[:, 3], rows[:, 4])

    def levels(self, level, floor=MIN_PART_LEVEL):
        """Icosphere level of each part for an output at `level`: the parts share about
        the vertices one sphere would get, by their share of the surface (never below
        level - 2, nor `floor`). (K,) int."""
        if self.count == 1:
            return np.array([int(level)])
        lo = min(int(level), max(floor, int(level) - 2))
        raw = level + np.round(np.log(self.shares / self.shares.max()) / np.log(4.0))
        return np.clip(raw, lo, level).astype(np.int64)

    def mesh(self, level, levels=None):
        """The spheres as one mesh: (verts (V, 3) float64, faces (F, 3) int64, part (V,) int),
        parts in order, each an icosphere at its `levels` entry."""
        levels = self.levels(level) if levels is None else levels
        verts, faces, part, offset = [], [], [], 0
        for k, lv in enumerate(levels):
            v, f = icosphere(int(lv))
            verts.append(self.centres[k] + self.radii[k] * v)
            faces.append(f + offset)
            part.append(np.full(len(v), k))
            offset += len(v)
        return np.concatenate(verts), np.concatenate(faces), np.concatenate(part)

    def uvs(self, level):
        """Per-corner sphere UVs (F·3, 2) float32 of `mesh(level)`, each part the
        equirectangular map of its own sphere (the islands overlap)."""
        return np.concatenate([_corner_uvs(*icosphere(int(lv))) for lv in self.levels(level)])

    def project(self, x, part):
        """Points (N, 3) pushed radially onto the sphere of their part (N,)."""
        d = x - self.centres[part]
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        return self.centres[part] + self.radii[part][:, None] * d

    def onto(self, x):
        """Points (N, 3) pushed radially onto the nearest of the spheres (by distance to
        its surface); a point at a centre stays."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        gap = np.abs(np.linalg.norm(x[:, None] - self.centres[None], axis=2) - self.radii[None])
        part = np.argmin(gap, axis=1)
        d = x - self.centres[part]
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        return np.where(norm > 0, self.centres[part] + d / np.maximum(norm, 1e-300)
                        * self.radii[part][:, None], x)

    def uniform(self, n, rng):
        """(n, 3) points uniform on the spheres (split by share), and their parts (n,)."""
        x = rng.standard_normal((n, 3))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        part = np.repeat(np.arange(self.count), self.allot(n))
        return self.centres[part] + self.radii[part][:, None] * x, part

    def area_mesh(self, rng):
        """Triangles whose flowed areas guide the stretch sampling: the spheres at level 4,
        as (verts, faces, face part (F,))."""
        verts, faces, part = self.mesh(4)
        return verts, faces, part[faces[:, 0]]

    def shape_batch(self, budget, rng):
        """The shape term's triangles: (verts (n, 3), faces, part (n,), rest None) of the
        spheres at the finest level (3 at most) with at most `budget` vertices, all turned
        by one random rotation about their centres (rest None: equilateral is the rest)."""
        if getattr(self, "_shape", (None,))[0] != budget:
            for level in range(3, -1, -1):
                # level 1 as the floor: the output's floor would coarsen the whole
                # batch to fit the budget (the cow's F@0.5% 0.958 -> 0.942)
                verts, faces, part = self.mesh(level, self.levels(level, floor=1))
                if len(verts) <= budget:
                    break
            self._shape = (budget, verts, faces, part)
        _, verts, faces, part = self._shape
        q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        centre = self.centres[part]
        return centre + (verts - centre) @ q, faces, part, None

    def allot(self, n, least=8):
        """Split `n` points among the parts by share, at least `least` each: (K,) int."""
        if self.count == 1:
            return np.array([n])
        raw = self.shares / self.shares.sum() * max(n - least * self.count, 0)
        counts = np.floor(raw).astype(np.int64)
        counts[np.argsort(counts - raw)[: max(n - least * self.count, 0) - counts.sum()]] += 1
        return counts + least


def _apart(radii, dist, gap):
    """`radii` (K,) shrunk, each overlapping pair in proportion, until every two spheres
    fill at most `gap` (K, K) of their centres' distance `dist` (K, K, inf on the diagonal)."""
    for _ in range(50):
        over = (radii[:, None] + radii[None]) / (gap * dist)
        factor = 1.0 / np.maximum(over.max(axis=1), 1.0)
        if (factor >= 1.0).all():
            break
        radii = radii * factor
    return radii


def sphere_set(unit_points, labels):
    """SphereSet for labelled target samples in normalised space, and the labels (some
    parts may be merged): a sphere per part at its centroid, SPHERE_SIZE of its RMS
    radius (JOINED_SPHERE_SIZE for a part joined to another), shrunk until every two
    spheres are apart; a part whose sphere would shrink below MIN_SPHERE of its size (a
    piece nested in another) merges into its nearest part. One part gives the unit
    sphere."""
    pts = np.asarray(unit_points, dtype=np.float64)
    label = _by_size(np.asarray(labels, dtype=np.int64).copy())
    nearest = None
    while True:
        k = int(label.max()) + 1
        if k == 1:
            return SphereSet.unit(), label
        if nearest is None:  # each sample's nearest other samples
            near = min(JOINED_NEAR, len(pts) - 1)
            nearest = (cKDTree(pts).query(pts, k=list(range(2, near + 2)))[1] if near > 0
                       else np.zeros((len(pts), 0), dtype=np.int64))
        counts = np.bincount(label, minlength=k).astype(np.float64)
        centres = np.stack([pts[label == j].mean(axis=0) for j in range(k)])
        size = np.array([np.sqrt(((pts[label == j] - centres[j]) ** 2).sum(1).mean())
                         for j in range(k)])
        size = np.maximum(size, 1e-6)
        border = (label[nearest] != label[:, None]).any(axis=1)
        joined = np.bincount(label[border], minlength=k) >= JOINED_SAMPLES
        radii = np.where(joined, JOINED_SPHERE_SIZE, SPHERE_SIZE) * size
        dist = np.linalg.norm(centres[:, None] - centres[None], axis=2)
        np.fill_diagonal(dist, np.inf)
        start, radii = radii, _apart(radii, dist, np.full((k, k), SPHERE_GAP))
        # spheres of a crowded row (a comb's teeth) leave more room to every neighbour
        row = radii / size < CROWDED_SPHERE
        if row.sum() >= 2:
            radii = _apart(start, dist, np.where(row[:, None] | row[None], ROW_GAP, SPHERE_GAP))
        squeezed = radii / size < MIN_SPHERE
        if not squeezed.any():
            return SphereSet(centres, radii, counts / counts.sum()), label
        worst = int(np.flatnonzero(squeezed)[np.argmin(counts[squeezed])])
        label[label == worst] = int(np.argmin(dist[worst]))
        label = _by_size(label)
