"""`neural_morph.animate`: shape keys along the flow on a morph object."""
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty

from ..blender import guards, props, scene, store
from ..blender.shapekeys import animate
from .base import NeuralMorphOperator


class NEURALMORPH_OT_animate(NeuralMorphOperator, bpy.types.Operator):
    """Animate the morph object from the sphere to its shape with shape keys"""
    bl_idname = "neural_morph.animate"
    bl_label = "Animate Sphere to Shape"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "object": props.object_property(),
        **props.animation_properties(),
        "replace": BoolProperty(
            name="Replace Edits", default=False,
            description="Overwrite changes made by hand to the morph's mesh or shape keys since "
                        "Neural Morph wrote it (otherwise Animate refuses)"),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        # `keys` shadows bpy_struct.keys() for mypy; Blender resolves the property first and
        # the name is public API (animate(keys=8)), so it stays.
        keys: int  # type: ignore[assignment]
        ease: bool
        reverse: bool
        object: str
        replace: bool

    def run(self, context):
        obj, model = store.morph_object(context, self.object)
        guards.check_writable(obj)
        with scene.object_mode(context, obj):
            result = animate(obj, model, self.keys, self.frame_start, self.frame_end, self.ease,
                             self.reverse, replace=self.replace)
        self.report_check(f"Animated '{obj.name}'", result)
        return {'FINISHED'}


classes = (NEURALMORPH_OT_animate,)
