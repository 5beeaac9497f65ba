"""Mesh data and arrays: reading and writing meshes, matrices, Blender's BVH
self-intersection check (the one every output is cleaned with)."""
import bpy
import numpy as np
from mathutils import Matrix
from mathutils.bvhtree import BVHTree


def matrix(array):
    """A mathutils Matrix from a (4, 4) array, e.g. FittedFlow.matrix() (normalised -> world)."""
    return Matrix([list(map(float, row)) for row in array])


def transform_points(matrix, points):
    """Points (..., 3) through the affine (4, 4) `matrix` (array or mathutils Matrix), e.g.
    mesh space -> world space with matrix_world. Returns float64 (..., 3)."""
    m = np.asarray(matrix, dtype=np.float64)
    return np.asarray(points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


def transform_normals(matrix, normals):
    """Normals (N, 3) through the affine (4, 4) `matrix` as the surface they belong to is
    moved by it (the inverse transpose, so a mirror keeps them pointing outwards), unit
    length: (N, 3) float64."""
    m = np.asarray(matrix, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64) @ np.linalg.inv(m[:3, :3])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def write_mesh(name, verts, faces, uvs=None, mesh=None):
    """Fill `mesh` (or a new mesh named `name`) with triangles, smooth shading and UVs.

    verts (V, 3), faces (F, 3) int, uvs (F·3, 2) per corner. Returns the mesh.
    """
    if mesh is None:
        mesh = bpy.data.meshes.new(name)
    else:
        mesh.clear_geometry()
    n_v, n_f = len(verts), len(faces)
    mesh.vertices.add(n_v)
    mesh.loops.add(n_f * 3)
    mesh.polygons.add(n_f)
    mesh.vertices.foreach_set("co", np.asarray(verts, dtype=np.float32).ravel())
    mesh.loops.foreach_set("vertex_index", np.asarray(faces, dtype=np.int32).ravel())
    mesh.polygons.foreach_set("loop_start", np.arange(0, n_f * 3, 3, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(n_f, dtype=bool))
    mesh.update(calc_edges=True)
    if uvs is not None:
        layer = mesh.uv_layers.get("Sphere UV") or mesh.uv_layers.new(name="Sphere UV")
        layer.data.foreach_set("uv", np.asarray(uvs, dtype=np.float32).ravel())
    mesh.validate(verbose=False)
    return mesh


def mesh_vertices(mesh):
    """Vertex coordinates of a mesh: (V, 3) float64 in mesh space."""
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3).astype(np.float64)


def mesh_triangles(mesh):
    """(F, 3) int64 vertex indices of a mesh's loop triangles in a fixed order: each
    triangle turned to start at its smallest vertex index (its orientation kept), then
    sorted by its vertex indices.

    Blender may number the polygons of the same mesh differently from one session to the
    next (a UV sphere gave 4 orders of the same triangles in 4 processes); the fit samples
    the surface by triangle order, so without this a seed would not give the same result
    twice."""
    mesh.calc_loop_triangles()
    tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
    mesh.loop_triangles.foreach_get("vertices", tris)
    tris = tris.reshape(-1, 3)
    turn = (np.argmin(tris, axis=1)[:, None] + np.arange(3)) % 3
    tris = np.take_along_axis(tris, turn, 1)
    return tris[np.lexsort((tris[:, 2], tris[:, 1], tris[:, 0]))]


def self_intersecting_faces_bvh(verts, faces, pairs=False):
    """Blender's check: (K,) sorted indices of the faces in BVHTree.overlap pairs that share
    no vertex (vertices at the same position count as shared); with `pairs`, those pairs
    (P, 2) int64 (i < j).

    Pure mathutils on arrays (no Blender data), so a fitting thread may call it too."""
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tree = BVHTree.FromPolygons(verts.tolist(), _faces_list(faces), all_triangles=True)
    overlap = tree.overlap(tree)  # type: ignore[attr-defined]  # the 4.2 stub says FromPolygons returns None
    found = np.sort(np.array(overlap, dtype=np.int64).reshape(-1, 2), axis=1)
    found = found[found[:, 0] != found[:, 1]]
    if len(found) == 0:
        return np.zeros((0, 2) if pairs else 0, dtype=np.int64)
    _, same = np.unique(verts, axis=0, return_inverse=True)
    ids = same.reshape(-1)[faces]
    shared = (ids[found[:, 0]][:, :, None] == ids[found[:, 1]][:, None, :]).any(axis=(1, 2))
    return np.unique(found[~shared], axis=0) if pairs else np.unique(found[~shared])


# (faces' bytes, faces as lists) of the last check: the untangle checks one mesh's faces
# tens of times per output, and their tolist() was about a third of each check (the cow's
# output, 20,480 faces: 18 ms of 58 per check). One tuple, swapped whole,
# so a fitting thread and the main thread never see half of it. Only meshes up to
# _CACHED_FACES faces are kept (level 6, about 14 MB of lists): a level-8 remesh's
# 1.3 million faces would hold about 200 MB for as long as Blender runs.
_last_faces: tuple = (b"", [])
_CACHED_FACES = 100_000


def _faces_list(faces):
    """`faces` (F, 3) int64 as nested lists for BVHTree.FromPolygons, the last call's own
    when the faces are the same."""
    global _last_faces
    if len(faces) > _CACHED_FACES:
        return faces.tolist()
    key = faces.tobytes()
    last = _last_faces
    if last[0] == key:
        return last[1]
    listed = faces.tolist()
    _last_faces = (key, listed)
    return listed


def backed_faces(verts, faces, normals, which):
    """(len(which),) bool: whether a ray from the centre of each face in `which` (int
    indices) into the target, against its `normals` (F, 3) unit, meets the target again.
    A closed surface is backed everywhere; an open sheet (a cloth, a leaf, a terrain) is
    not, and has two outsides (core/losses.py `outside`). Blender's BVH ray cast; pure
    mathutils on arrays, like self_intersecting_faces_bvh."""
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    which = np.asarray(which, dtype=np.int64)
    tree = BVHTree.FromPolygons(verts.tolist(), faces.tolist(), all_triangles=True)
    centre = verts[faces[which]].mean(axis=1)
    inward = -np.asarray(normals, dtype=np.float64)[which]
    span = float(np.ptp(verts, axis=0).max()) if len(verts) else 1.0
    origin = centre + BACKED_OFFSET * span * inward  # off the face itself
    ray_cast = tree.ray_cast  # type: ignore[attr-defined]  # the 4.2 stub says FromPolygons returns None
    return np.fromiter((ray_cast(o, d)[0] is not None for o, d in zip(origin.tolist(), inward.tolist())),
                       dtype=bool, count=len(which))


# backed_faces starts each ray this share of the target's size inside its face, so the ray
# does not meet the face it starts from (far below the thinnest wall the bench has, 1%)
BACKED_OFFSET = 1e-6


def count_self_intersections_bvh(verts, faces):
    """Number of self-intersecting faces by Blender's check (self_intersecting_faces_bvh)."""
    return int(len(self_intersecting_faces_bvh(verts, faces)))
