"""Issue 17 item 10: tools/docs/render.py frames each object by its world-space vertex
extents, so a morph (matrix rotated and scaled per axis) is drawn at its true size."""
import math

import bpy
import numpy as np
from mathutils import Matrix

from neural_morph import core
from neural_morph.blender import meshes
from tools.docs import render


def world_vertices(obj, matrix=None):
    mw = np.array(matrix if matrix is not None else obj.matrix_world)
    return meshes.mesh_vertices(obj.data) @ mw[:3, :3].T + mw[:3, 3]


def test_a_rotated_and_stretched_sphere_fills_its_slot(scene):
    verts, faces = core.icosphere(3)
    obj = bpy.data.objects.new("Stretched", meshes.write_mesh("Stretched", verts, faces))
    scene.collection.objects.link(obj)
    # like a morph's matrix: a rotation onto principal axes and a scale per axis
    obj.matrix_world = (Matrix.Translation((3, -1, 2)) @ Matrix.Rotation(0.7, 4, 'Z')
                        @ Matrix.Rotation(0.4, 4, 'X') @ Matrix.Diagonal((2.0, 0.5, 1.0, 1.0)))
    world = world_vertices(obj)
    lo, hi = render._world_bounds(obj)
    assert np.allclose(lo, world.min(0), atol=1e-5) and np.allclose(hi, world.max(0), atol=1e-5)
    for i, n in ((0, 1), (2, 3)):
        placed = world_vertices(obj, render.placement(obj, i, n))
        assert abs(np.ptp(placed, axis=0).max() - 1.0) < 1e-5  # full size, not ~0.7 of it
        slot = np.array([(i - (n - 1) / 2) * 1.25, 0.0, 0.0])
        assert np.allclose((placed.min(0) + placed.max(0)) / 2, slot, atol=1e-5)
        turned = world_vertices(obj, render.placement(obj, i, n, rotation_z=math.pi / 7))
        assert np.allclose(np.linalg.norm(turned - slot, axis=1),
                           np.linalg.norm(placed - slot, axis=1), atol=1e-5)  # turned about it
        tilted = world_vertices(obj, render.placement(obj, i, n, tilt=math.pi / 4))
        top = placed[:, 2].argmax()  # the highest point comes towards the camera (at -y)
        assert tilted[top, 1] < placed[top, 1] - 0.1
        assert np.allclose(np.linalg.norm(tilted - slot, axis=1),
                           np.linalg.norm(placed - slot, axis=1), atol=1e-5)


def test_without_rotation_the_largest_extent_is_exactly_one(scene):
    verts, faces = core.icosphere(2)
    obj = bpy.data.objects.new("Morphish", meshes.write_mesh("Morphish", verts, faces))
    scene.collection.objects.link(obj)
    obj.matrix_world = Matrix.Rotation(0.9, 4, 'Y') @ Matrix.Diagonal((1.5, 0.3, 0.8, 1.0))
    placed = world_vertices(obj, render.placement(obj, 0, 1))
    assert abs(np.ptp(placed, axis=0).max() - 1.0) < 1e-5
    assert np.allclose((placed.min(0) + placed.max(0)) / 2, 0.0, atol=1e-5)
