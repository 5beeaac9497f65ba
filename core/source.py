"""A user's mesh as the surface a flow starts from (Morph Onto). No torch, no bpy.

A fit from the sphere starts from parts.SphereSet; a morph of the user's own mesh starts
from a MeshSource instead. The fit (training.py's mesh sampler) flows its vertices and
measures its flowed triangles; the stored flow (fitted_flow.py) takes its t=0 mesh from
`mesh`, and `onto` puts a point back on it. The flow carries all of space, so every
vertex of the source moves, whatever its topology: quads and n-gons (triangulated here
only for the fit and the checks), open and non-manifold meshes, loose parts.
"""
import base64
import zlib

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from .sampling import sample_surface, triangle_areas

ONTO_SAMPLES = 50_000   # surface samples that `onto` snaps a point to (plus the vertices)


class MeshSource:
    """The t=0 surface of a morph from a mesh: verts (V, 3) float64 normalised space,
    faces (F, 3) int64 triangles (of the mesh's polygons, in its vertex order)."""

    count = 1

    def __init__(self, verts, faces):
        self.verts = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
        self.faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        if (len(self.faces) == 0 or not np.isfinite(self.verts).all()
                or self.faces.min() < 0 or self.faces.max() >= len(self.verts)):
            raise ValueError("The source mesh has no faces to morph.")
        self.areas = triangle_areas(self.verts, self.faces)
        if not self.areas.sum() > 0:
            raise ValueError("The source mesh has no surface area (all its faces are degenerate).")
        self._onto = None   # KD-tree and points for `onto`
        self.crossing = None  # (P, 2) pairs of parts that cross at t=0 (pipeline.output_mesh fills it)
        self.crossing_faces = 0  # how many faces cross at t=0
        self._face_parts = None

    # -- the same questions SphereSet answers ---------------------------------------------
    def mesh(self, level=None):
        """The source itself (any level): (verts (V, 3), faces (F, 3), part (V,) zeros)."""
        return self.verts, self.faces, np.zeros(len(self.verts), dtype=np.int64)

    def uniform(self, n, rng):
        """(n, 3) points uniform by area on the source, and their parts (n,) zeros."""
        return sample_surface(self.verts, self.faces, n, rng), np.zeros(n, dtype=np.int64)

    def face_parts(self):
        """(F,) int64 the connected part (by shared vertices) of each triangle."""
        if self._face_parts is None:
            n = len(self.verts)
            f = self.faces
            edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]]])
            graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
            _, label = csgraph.connected_components(graph, directed=False)
            self._face_parts = label[f[:, 0]].astype(np.int64)
        return self._face_parts

    def rest_shapes(self, faces):
        """(F, 3) squared edge lengths of `faces` (F, 3) over their mean: the shapes the
        shape term keeps (losses.shape)."""
        v = self.verts
        sq = np.stack([((v[faces[:, 0]] - v[faces[:, 1]]) ** 2).sum(1),
                       ((v[faces[:, 1]] - v[faces[:, 2]]) ** 2).sum(1),
                       ((v[faces[:, 2]] - v[faces[:, 0]]) ** 2).sum(1)], axis=1)
        return sq / np.maximum(sq.mean(axis=1, keepdims=True), 1e-300)

    def onto(self, x):
        """Points (N, 3) moved to the nearest of the source's vertices and ONTO_SAMPLES
        surface samples (within a sample spacing of the surface)."""
        if self._onto is None:
            points = np.concatenate([self.verts, sample_surface(self.verts, self.faces, ONTO_SAMPLES, 0)])
            self._onto = (cKDTree(points), points)
        tree, points = self._onto
        return points[tree.query(np.asarray(x, dtype=np.float64).reshape(-1, 3))[1]]

    # -- storage --------------------------------------------------------------------------
    def to_dict(self):
        """Plain data: vertices as float32 and triangles as int32, base64 zlib."""
        return {"kind": "mesh", "vertex_count": len(self.verts),
                "verts": _encode(self.verts.astype("<f4")), "faces": _encode(self.faces.astype("<i4"))}

    @classmethod
    def from_dict(cls, data):
        verts = _decode(data["verts"], "<f4").reshape(-1, 3).astype(np.float64)
        if len(verts) != int(data["vertex_count"]):
            raise ValueError("the source mesh's vertex count does not match")
        return cls(verts, _decode(data["faces"], "<i4").reshape(-1, 3).astype(np.int64))


def _encode(array):
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 6)).decode("ascii")


def _decode(text, dtype):
    return np.frombuffer(zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True)), dtype=dtype)
