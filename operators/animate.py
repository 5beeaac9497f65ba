"""`neural_morph.animate`: shape keys along the flow on a morph object."""
import json
from typing import TYPE_CHECKING

import bpy
import numpy as np

from .. import core
from ..blender import data, props
from .base import NeuralMorphOperator


def animate(obj, model, keys, frame_start, frame_end, ease, reverse):
    """Shape keys from the sphere (t=0) to the shape (t=1). Returns (worst, bad list)."""
    if frame_end <= frame_start:
        raise data.InputError("End Frame must come after Start Frame.")
    level = data.output_level(obj)
    times = np.linspace(0.0, 1.0, keys)
    states, faces = core.clean_trajectory(model, level, times, data.self_intersecting_faces_bvh)
    data.clear_animation(obj)
    obj.data.vertices.foreach_set("co", states[-1].astype(np.float32).ravel())
    obj.data.update()
    data.build_shape_keys(obj, states, times, core.eased_frames(keys, frame_start, frame_end, ease),
                          reverse)
    obj[data.ANIMATION_KEY] = json.dumps(dict(keys=keys, frame_start=frame_start, frame_end=frame_end,
                                              ease=ease, reverse=reverse))
    worst, bad = core.check_states(states, faces, data.count_self_intersections_bvh)
    obj[data.PREFIX + "animation_self_intersections"] = worst
    return worst, bad


class NEURALMORPH_OT_animate(NeuralMorphOperator, bpy.types.Operator):
    """Animate the morph object from the sphere to its shape with shape keys"""
    bl_idname = "neural_morph.animate"
    bl_label = "Animate Sphere to Shape"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "object": props.object_property(),
        **props.animation_properties(),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        # `keys` shadows bpy_struct.keys() for mypy; Blender resolves the property first and
        # the name is public API (animate(keys=8)), so it stays.
        keys: int  # type: ignore[assignment]
        ease: bool
        reverse: bool
        object: str

    def run(self, context):
        obj, model = data.morph_object(context, self.object)
        _, bad = animate(obj, model, self.keys, self.frame_start, self.frame_end, self.ease,
                         self.reverse)
        self.report_check(f"Animated '{obj.name}'", self.keys, bad)
        return {'FINISHED'}


classes = (NEURALMORPH_OT_animate,)
