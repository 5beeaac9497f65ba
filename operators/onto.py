"""`neural_morph.morph_onto`: the user's own mesh flowed onto a target shape, as a new object.

The work is in blender/onto.py (`morph_onto`, the one function of every entry point) and
core/; this module holds the operator and what it reports.
"""
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from ..blender import fitting, onto, props
from ..core.settings import ONTO_SETTINGS as SETTINGS  # the fit settings Morph Onto offers
from .base import NeuralMorphOperator


class NEURALMORPH_OT_morph_onto(NeuralMorphOperator, bpy.types.Operator):
    """Morph the selected mesh onto the active object's shape: a new object keeps the mesh's
    topology, UVs, materials and vertex groups, with shape keys from it to the target"""
    bl_idname = "neural_morph.morph_onto"
    bl_label = "Morph Onto"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "source": StringProperty(
            name="Source", default="",
            description="Mesh to morph; empty means the selected object that is not active"),
        "target": StringProperty(
            name="Target", default="",
            description="Object whose shape the mesh takes; empty means the active object"),
        **{name: prop for name, prop in props.fit_properties().items() if name in SETTINGS},
        "keys": props.keys_property(),
        "frame_start": IntProperty(name="Start Frame", default=1),
        "frame_end": IntProperty(name="End Frame", default=100),
        "ease": BoolProperty(name="Ease In/Out", default=True,
                             description="Start and end the morph slowly"),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        source: str
        target: str
        iterations: int
        points: int
        learning_rate: float
        steps: int
        normalization: str
        seed: int
        keys: int  # type: ignore[assignment]  # see animate.py
        ease: bool

    def run(self, context):
        progress = fitting.console_progress(self.iterations) if bpy.app.background else None
        wm = context.window_manager
        if progress is None and context.window is not None:  # the cursor shows the fit's progress
            wm.progress_begin(0, self.iterations)
            progress = lambda iteration, loss: wm.progress_update(iteration)  # noqa: E731
        try:
            obj, figures, keys = onto.morph_onto(context, self, progress)
        except KeyboardInterrupt:
            self.report({'WARNING'}, "Neural Morph fit cancelled; nothing was created.")
            return {'CANCELLED'}
        finally:
            if context.window is not None and not bpy.app.background:
                wm.progress_end()
        fitting.report_result(self, figures)
        if figures["source_self_intersections"]:
            self.report({'WARNING'}, onto.SOURCE_CROSSES.format(
                name=figures["morphed_mesh"], count=figures["source_self_intersections"]))
        self.report_check(f"Morphed '{figures['morphed_mesh']}' onto '{figures['source']}'", keys)
        return {'FINISHED'}


classes = (NEURALMORPH_OT_morph_onto,)
