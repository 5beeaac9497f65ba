"""`neural_morph.morph_between`: a new object morphing one fitted shape into another."""
from typing import TYPE_CHECKING

import bpy
import numpy as np
from bpy.props import EnumProperty, IntProperty, StringProperty

from .. import core
from ..blender import data, props
from ..core.settings import MAX_LEVEL
from .base import NeuralMorphOperator, select_only


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
            raise data.InputError("Set both Source and Target morph objects.")
        obj_a, model_a = data.morph_object(context, self.source)
        obj_b, model_b = data.morph_object(context, self.target)
        self.check_frames()
        level = self.resolution if self.resolution >= 0 else data.output_level(obj_a)
        states, faces, s_values = core.blend_states(model_a, model_b, level, self.keys, self.path,
                                                  data.self_intersecting_faces_bvh)
        # mesh space = A's normalised space, so the object sits over A and ends over B
        to_world = model_a.matrix()
        local = (states - to_world[:3, 3]) @ np.linalg.inv(to_world[:3, :3]).T
        name = f"{obj_a.name} to {obj_b.name}"
        obj = bpy.data.objects.new(name, data.write_mesh(name, local[0], faces, core.sphere_uvs(level)))
        obj.matrix_world = data.matrix(to_world)
        data.output_collection(context, obj_a).objects.link(obj)
        frames = core.eased_frames(len(local), self.frame_start, self.frame_end, self.ease)
        data.build_shape_keys(obj, local, s_values, frames, self.reverse, label="s")
        worst, bad = core.check_states(local, faces, data.count_self_intersections_bvh)
        data.store_figures(obj, {"morph_source": obj_a.name, "morph_target": obj_b.name,
                                 "morph_path": self.path, "resolution": level,
                                 "vertices": len(local[0]), "animation_self_intersections": worst})
        select_only(context, obj)
        self.report_check(f"Morph '{name}'", self.keys, bad)
        return {'FINISHED'}


classes = (NEURALMORPH_OT_morph_between,)
