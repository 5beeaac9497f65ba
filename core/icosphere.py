"""Unit icosphere at any subdivision level, and its sphere UVs."""
import numpy as np

_PHI = (1.0 + 5.0 ** 0.5) / 2.0

_BASE_VERTS = np.array([
    [-1, _PHI, 0], [1, _PHI, 0], [-1, -_PHI, 0], [1, -_PHI, 0],
    [0, -1, _PHI], [0, 1, _PHI], [0, -1, -_PHI], [0, 1, -_PHI],
    [_PHI, 0, -1], [_PHI, 0, 1], [-_PHI, 0, -1], [-_PHI, 0, 1],
], dtype=np.float64)

_BASE_FACES = np.array([
    [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
    [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
    [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
    [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
], dtype=np.int64)

MAX_LEVEL = 8  # what this module can build; outputs stop at settings.MAX_LEVEL


def icosphere_counts(level):
    """(vertex count, triangle count) of an icosphere at `level`."""
    return 10 * 4 ** level + 2, 20 * 4 ** level


def icosphere(level):
    """Unit icosphere with `level` subdivisions (Blender's ico-sphere `subdivisions=level+1`).

    Returns (verts (10·4^k+2, 3) float64 on the unit sphere, faces (20·4^k, 3) int64, outward
    counter-clockwise winding).
    """
    level = int(level)
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"Icosphere level must be between 0 and {MAX_LEVEL}, got {level}.")
    verts = _BASE_VERTS / np.linalg.norm(_BASE_VERTS, axis=1, keepdims=True)
    faces = _BASE_FACES.copy()
    for _ in range(level):
        verts, faces = _subdivide(verts, faces)
    return verts, faces


def _subdivide(verts, faces):
    """Split every triangle into four, projecting new midpoints onto the unit sphere."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges.sort(axis=1)
    unique, inverse = np.unique(edges, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    mid = verts[unique[:, 0]] + verts[unique[:, 1]]
    mid /= np.linalg.norm(mid, axis=1, keepdims=True)
    n_faces = len(faces)
    m01 = inverse[:n_faces] + len(verts)
    m12 = inverse[n_faces:2 * n_faces] + len(verts)
    m20 = inverse[2 * n_faces:] + len(verts)
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    new_faces = np.concatenate([
        np.stack([a, m01, m20], axis=1),
        np.stack([b, m12, m01], axis=1),
        np.stack([c, m20, m12], axis=1),
        np.stack([m01, m12, m20], axis=1),
    ])
    return np.concatenate([verts, mid]), new_faces


def _equirectangular(verts):
    """Equirectangular UV of unit-sphere points: (N, 3) -> (N, 2) in [0, 1]."""
    v = np.asarray(verts, dtype=np.float64)
    u = 0.5 + np.arctan2(v[:, 1], v[:, 0]) / (2.0 * np.pi)
    w = 0.5 + np.arcsin(np.clip(v[:, 2], -1.0, 1.0)) / np.pi
    return np.stack([u, w], axis=1)


def sphere_uvs(level):
    """Per-corner equirectangular UVs of the level-`level` icosphere, seam fixed: (F·3, 2)
    float32, in the face order of `icosphere(level)` (so of every flowed mesh at that level).

    The one place sphere UVs are made: a texture painted on one morph carries over to every
    other shape flowed from the same sphere.
    """
    return _corner_uvs(*icosphere(level))


def _corner_uvs(verts, faces):
    """Per-corner equirectangular UVs with the seam fixed: (F·3, 2) float32.

    Corners of a face that straddles the u=0/1 seam are unwrapped so the face does not
    span the whole texture; pole vertices take the mean u of their face's other corners.
    """
    uv = _equirectangular(verts)[faces]  # (F, 3, 2)
    u = uv[..., 0]
    span = u.max(axis=1) - u.min(axis=1)
    wrap = span > 0.5
    u[wrap] = np.where(u[wrap] < 0.5, u[wrap] + 1.0, u[wrap])
    pole = np.abs(verts[faces][..., 2]) > 1.0 - 1e-9
    if pole.any():
        others = np.where(pole, np.nan, u)
        mean_u = np.nanmean(others, axis=1, keepdims=True)
        u[:] = np.where(pole, np.broadcast_to(mean_u, u.shape), u)
    uv[..., 0] = u
    return uv.reshape(-1, 2).astype(np.float32)
