"""`neural_morph.morph_between`: a new object morphing one fitted shape into another."""
from typing import TYPE_CHECKING

import bpy
import numpy as np
from bpy.props import EnumProperty, IntProperty, StringProperty

from .. import core
from ..blender import guards, meshes, props, scene, shapekeys, store
from ..core.settings import MAX_LEVEL
from ..blender.shapekeys import store_check
from .base import NeuralMorphOperator


class NEURALMORPH_OT_morph_between(NeuralMorphOperator, bpy.types.Operator):
    """Morph one fitted shape into another, as a new shape-key animated object"""
    bl_idname = "neural_morph.morph_between"
    bl_label = "Morph Between"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "source": StringProperty(name="Source", description="Morph object to start from (A)"),
        "target": StringProperty(name="Target", description="Morph object to end at (B)"),
        "path": EnumProperty(
            name="Path", default='DIRECT',
            items=[('DIRECT', "Direct", "Flow the sphere with the blended field (1-s)·f_A + s·f_B"),
                   ('THROUGH_SPHERE', "Through Sphere", "Back along A to the sphere, then along B")]),
        "resolution": IntProperty(name="Resolution", default=-1, min=-1, max=MAX_LEVEL,
                                  description="Icosphere level; -1 uses the source's level"),
        **props.animation_properties(),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        keys: int  # type: ignore[assignment]  # see animate.py
        ease: bool
        reverse: bool
        source: str
        target: str
        path: str
        resolution: int

    def run(self, context):
        if not self.source or not self.target:
            raise guards.InputError("Set both Source and Target morph objects.")
        obj_a, model_a = store.morph_object(context, self.source)
        obj_b, model_b = store.morph_object(context, self.target)
        self.check_frames()
        core.settings.check_keys(self.keys)
        for obj, model in ((obj_a, model_a), (obj_b, model_b)):
            if model.from_mesh:
                raise guards.InputError(
                    f"'{obj.name}' was morphed from a mesh (Morph Onto), and Morph Between blends "
                    "morphs from a sphere: morph that mesh onto the other target with Morph Onto.")
            if model.spheres.count > 1:
                raise guards.InputError(
                    f"'{obj.name}' was fitted with {model.spheres.count} separate parts, and Morph "
                    "Between blends morphs of one sphere each: refit it with Parts set to One.")
        level = self.resolution if self.resolution >= 0 else store.output_level(obj_a, model_a)
        world_a, world_b = _world_matrix(obj_a), _world_matrix(obj_b)
        # blend_state works where each flow was fitted; each object may have moved since
        # (its matrix_world no longer the flow's matrix), so carry the states along with the
        # moves, blended with s, and put the result in A's current object space.
        moved_a = world_a @ np.linalg.inv(model_a.matrix())
        moved_b = world_b @ np.linalg.inv(model_b.matrix())
        to_local = np.linalg.inv(world_a)

        def state_at(s):
            state = core.blend_state(model_a, model_b, level, s, self.path,
                                     meshes.self_intersecting_faces_bvh)
            return meshes.transform_points(to_local @ ((1.0 - s) * moved_a + s * moved_b), state)

        faces = model_a.sphere(level)[1]
        result = core.clean_keys(
            state_at, np.linspace(0.0, 1.0, self.keys),
            core.Timing(self.frame_start, self.frame_end, self.ease, self.reverse),
            lambda verts: meshes.count_self_intersections_bvh(verts, faces), basis_time=0.0)
        name = f"{obj_a.name} to {obj_b.name}"
        mesh = meshes.write_mesh(name, result.states[0], faces, model_a.sphere_uvs(level))
        obj = bpy.data.objects.new(name, mesh)
        obj.matrix_world = meshes.matrix(world_a)
        shapekeys.build_shape_keys(obj, result.states, result.times, result.frames, label="s")
        store.store_figures(obj, {"morph_source": obj_a.name, "morph_target": obj_b.name,
                                 "morph_path": self.path, "resolution": level,
                                 "vertices": len(result.states[0])})
        store_check(obj, result)
        scene.output_collection(context, obj_a).objects.link(obj)  # last: nothing partial is left
        scene.select_only(context, obj)
        self.report_check(f"Morph '{name}'", result)
        return {'FINISHED'}


def _world_matrix(obj):
    """The object's matrix_world as a (4, 4) array; InputError when it cannot be inverted."""
    m = np.array(obj.matrix_world, dtype=np.float64)
    if not np.isfinite(m).all():
        raise guards.InputError(f"'{obj.name}' has a non-finite transform.")
    if abs(np.linalg.det(m[:3, :3])) < 1e-30:
        raise guards.InputError(f"'{obj.name}' has a zero scale: give it a non-zero scale first.")
    return m


classes = (NEURALMORPH_OT_morph_between,)
