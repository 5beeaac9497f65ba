"""`neural_morph.fit`: sample the target, fit a sphere flow, write a new morph object.

The work is in blender/ (fitting.fit_objects, the one fit of every entry point; jobs.py, the
same steps on a worker thread) and core/; this module holds the operator and its modal loop.
"""
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty, StringProperty

from ..blender import fitting, jobs, props
from .base import NeuralMorphOperator


class NEURALMORPH_OT_fit(NeuralMorphOperator, bpy.types.Operator):
    """Fit a sphere flow to the target mesh and add the result as a new object"""
    bl_idname = "neural_morph.fit"
    bl_label = "Fit Neural Morph"
    bl_options = {'UNDO'}
    __annotations__ = {
        "target": StringProperty(
            name="Target", default="",
            description="Name of the mesh object to fit; empty means the active object"),
        "continue_fit": BoolProperty(
            name="Continue", default=False,
            description="Target is a morph object: train its stored flow further against "
                        "the object it was fitted to, and update it in place"),
        "source": StringProperty(
            name="Source", default="",
            description="When the target is a morph object: the object to fit against instead "
                        "of the one(s) it was fitted to; empty uses the stored ones"),
        **props.fit_properties(),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        target: str
        continue_fit: bool
        source: str
        iterations: int
        resolution: int
        points: int
        learning_rate: float
        steps: int
        normalization: str
        parts: str
        seed: int

    def run(self, context):
        progress = fitting.console_progress(self.iterations) if bpy.app.background else None
        try:
            _, figures = fitting.fit_objects(context, self, progress)
        except KeyboardInterrupt:
            self.report({'WARNING'}, "Neural Morph fit cancelled; nothing was created.")
            return {'CANCELLED'}
        fitting.report_result(self, figures)
        return {'FINISHED'}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        return self.guarded(self._start, context)

    def _start(self, context):
        jobs.start_job(context, self)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        job = jobs.current_job()
        if event.type == 'ESC' or job is None:
            jobs.cancel_job()
            return self._end(context, {'CANCELLED'}, ('WARNING', "Neural Morph fit cancelled."))
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        state, iteration, loss = job.poll()
        jobs.update_preview(context)
        context.workspace.status_text_set(
            f"Neural Morph: iteration {iteration}/{job.total}, loss {loss:.4g} (Esc to cancel)")
        _redraw(context)
        if state == "running":
            return {'PASS_THROUGH'}
        try:
            obj, figures = jobs.finish_job(context, job)
        except Exception as exc:
            self._end(context, {'CANCELLED'}, None)
            self.report_error(exc)
            return {'CANCELLED'}
        if state == "failed" or obj is None:
            failed = f"Neural Morph fit failed: {job.error} (its traceback is printed in the system console)"
            return self._end(context, {'CANCELLED'}, ('ERROR', failed))
        fitting.report_result(self, figures)
        return self._end(context, {'FINISHED'}, None)

    def _end(self, context, status, message):
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        _redraw(context)
        if message:
            self.report({message[0]}, message[1])
        return status


def _redraw(context):
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == 'VIEW_3D':
                area.tag_redraw()


classes = (NEURALMORPH_OT_fit,)
