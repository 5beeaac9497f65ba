"""Area-weighted uniform sampling of points on triangle meshes, and their normals."""
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def triangle_areas(verts, faces):
    """Areas of triangles: verts (V, 3), faces (F, 3) -> (F,) float64."""
    v = np.asarray(verts, dtype=np.float64)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def triangle_normals(verts, faces):
    """Unit normals (F, 3) float64 of triangles (right-handed: counter-clockwise corners
    face the viewer), zero for a degenerate triangle."""
    n = _crosses(np.asarray(verts, dtype=np.float64), faces)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def _crosses(v, faces):
    return np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])


def _welded(verts, faces, diag=None):
    """(faces (F, 3) int64 over welded vertices, welded vertex count): vertices closer than
    1e-6 of `diag` (default the bounding-box diagonal) are one."""
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if diag is None:
        diag = float(np.linalg.norm(np.ptp(v, axis=0))) or 1.0
    _, weld = np.unique(np.round(v / (1e-6 * diag)), axis=0, return_inverse=True)
    weld = weld.reshape(-1)
    return weld[f], int(weld.max()) + 1


def is_closed(verts, faces):
    """Whether a triangle mesh is closed: every edge, its vertices welded as
    face_components welds them, is shared by exactly two triangles (no hole, no open
    sheet, no edge where three triangles meet)."""
    fw, n = _welded(verts, faces)
    a = np.concatenate([fw[:, 0], fw[:, 1], fw[:, 2]])
    b = np.concatenate([fw[:, 1], fw[:, 2], fw[:, 0]])
    keys = np.minimum(a, b) * n + np.maximum(a, b)
    _, counts = np.unique(keys, return_counts=True)
    return bool((counts == 2).all())


def face_components(verts, faces, diag=None):
    """Connected piece of every triangle: (F,) int64 labels. Vertices closer than 1e-6 of
    `diag` (the mesh's size; default its bounding-box diagonal) are welded first, so split
    normals and UV seams do not split a piece."""
    fw, n = _welded(verts, faces, diag)
    edges = np.concatenate([fw[:, [0, 1]], fw[:, [1, 2]]])
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, vertex_label = csgraph.connected_components(graph, directed=False)
    return vertex_label[fw[:, 0]].astype(np.int64)


def outward_normals(verts, faces, pieces=None):
    """`triangle_normals` (F, 3), turned round on every connected piece whose triangles
    enclose a negative volume (a mesh whose normals point inwards, e.g. with its winding
    reversed), so they point out of each closed piece. `pieces`: `face_components` of the
    mesh when the caller has them already."""
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    piece = face_components(v, f) if pieces is None else np.asarray(pieces)
    cross = _crosses(v, f)
    a = v[f[:, 0]]
    # each piece's volume as cones from the mean of its triangles' first corners
    count = np.bincount(piece).astype(np.float64)
    origin = np.stack([np.bincount(piece, a[:, k]) for k in range(3)], axis=1) / count[:, None]
    volume = np.bincount(piece, np.einsum("ij,ij->i", a - origin[piece], cross))
    normals = cross / np.maximum(np.linalg.norm(cross, axis=1, keepdims=True), 1e-300)
    return np.where((volume[piece] < 0)[:, None], -normals, normals)


def sample_surface(verts, faces, count, rng=None, return_faces=False):
    """`count` points uniformly distributed by area on a triangle mesh.

    verts: (V, 3) float, faces: (F, 3) int. Returns (count, 3) float64 in the mesh's
    space, and with `return_faces` also the (count,) index of each point's triangle.
    Fully vectorised: a 1M-triangle mesh samples in a fraction of a second.
    """
    rng = np.random.default_rng(rng)
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    areas = triangle_areas(verts, faces)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0.0:
        raise ValueError("The mesh has no surface area to sample (all faces are degenerate).")
    cdf = np.cumsum(areas)
    tri = np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right")
    np.minimum(tri, len(faces) - 1, out=tri)
    r1 = np.sqrt(rng.random(count))
    r2 = rng.random(count)
    f = faces[tri]
    a, b, c = verts[f[:, 0]], verts[f[:, 1]], verts[f[:, 2]]
    pts = (1.0 - r1)[:, None] * a + (r1 * (1.0 - r2))[:, None] * b + (r1 * r2)[:, None] * c
    return (pts, tri) if return_faces else pts

