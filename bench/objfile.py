"""Triangles of an .obj file in plain Python (no bpy), for the benches that fit through
core alone (busy, fit_profile, seeds)."""
import numpy as np


def read_obj(path):
    """(verts (V, 3) float64, faces (F, 3) int64) of an .obj file's `v` and `f` records,
    polygons split into fans."""
    verts, faces = [], []
    with open(path) as lines:
        for line in lines:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                idx = [int(x.split("/")[0]) - 1 for x in line.split()[1:]]
                faces += [[idx[0], idx[i], idx[i + 1]] for i in range(1, len(idx) - 1)]
    return np.array(verts, dtype=np.float64), np.array(faces, dtype=np.int64)
