"""The last millimetre: output vertices moved along their normals onto the target.

The flow brings the sphere near the target; a finite field leaves the surface hovering a
little off it and soft at sharp edges. The stored flow keeps a sample of the target's
surface, and every output state at t = 1 takes one more step: each vertex moves along its
own normal onto the tangent plane of its nearest target sample (twice), fully where that
plane is within SNAP_REACH along the normal, fading to nothing at twice that (so no vertex
moves more than 2 × SNAP_REACH per round), and only where the planes of its SNAP_NEIGHBOURS
nearest samples agree (not between the two sides of a thin wall). Moving along the normal,
never sideways, keeps the triangles as even as the flow made them. The step is a state of
the path like any other, so untangling can take it back where it would cross.
"""
import base64
import zlib

import numpy as np
from scipy.spatial import cKDTree

SNAP_REACH = 0.02   # normalised units (the unit ball): full step closer than this
SNAP_ROUNDS = 2     # nearest-sample projections per output
SNAP_NEIGHBOURS = 8  # samples whose planes must agree ...
SNAP_AGREE = 0.005  # ... to within this along the normal for a full step (none at twice it)
_SCALE = 65535.0    # samples are stored as uint16 over [-1, 1]³ (normalised space)


def vertex_normals(verts, faces):
    """Area-weighted vertex normals (V, 3) float64 of a triangle mesh (unit, or zero)."""
    v = np.asarray(verts, dtype=np.float64)
    n = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-300)


def snap(verts, faces, samples, tree=None):
    """Vertices (V, 3) of a mesh moved along their normals onto the planes of their nearest
    `samples` (M, 3) (same space, normalised), as the module docstring says: (V, 3) float64."""
    tree = cKDTree(samples) if tree is None else tree
    normal = vertex_normals(verts, faces)
    p = np.asarray(verts, dtype=np.float64)
    for _ in range(SNAP_ROUNDS):
        _, idx = tree.query(p, k=SNAP_NEIGHBOURS)
        heights = ((samples[idx] - p[:, None]) * normal[:, None]).sum(2)  # (V, k)
        height = heights[:, :1]
        weight = np.clip(2.0 - np.abs(height) / SNAP_REACH, 0.0, 1.0)
        # nearby samples on different sheets (the two sides of a thin wall, the faces of a
        # sharp edge) disagree on the height: there the step fades out instead of picking
        # a sheet per vertex, which would leave ridges where neighbours pick differently
        spread = (heights.max(axis=1) - heights.min(axis=1))[:, None]
        weight *= np.clip(2.0 - spread / SNAP_AGREE, 0.0, 1.0)
        p = p + weight * height * normal
    return p


def quantize(points):
    """Normalised points (M, 3) rounded to what `encode` stores: (M, 3) float64."""
    return _decode_array(_encode_array(points))


def encode(points):
    """Normalised points (M, 3), |coordinates| <= 1 -> base64 text (uint16 per coordinate)."""
    return base64.b64encode(zlib.compress(_encode_array(points).tobytes(), 6)).decode("ascii")


def decode(text):
    """`encode` text -> (M, 3) float64; ValueError when damaged."""
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except zlib.error:
        raw = b"-"
    if len(raw) % 6:
        raise ValueError("the surface samples are damaged")
    return _decode_array(np.frombuffer(raw, dtype="<u2").reshape(-1, 3))


def _encode_array(points):
    p = np.clip(np.asarray(points, dtype=np.float64), -1.0, 1.0)
    return np.round((p + 1.0) * (_SCALE / 2.0)).astype("<u2")


def _decode_array(q):
    return q.astype(np.float64) * (2.0 / _SCALE) - 1.0
