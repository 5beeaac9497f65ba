"""`neural_morph.fit`: sample the target, fit a sphere flow, write a new morph object."""
import time

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty, BoolProperty

from . import blender_data as data
from . import deps

# One fit at a time, shared by the modal operator and the panel's progress bar.
_state = {"job": None, "target": None, "props": None, "preview": None}


def fit_properties():
    """The fit settings as bpy properties; shared by the operator and the scene settings."""
    return {
        "iterations": IntProperty(
            name="Iterations", default=800, min=1, max=100_000, soft_max=5_000,
            description="Optimiser steps. The schedule is fixed, so a seed reproduces a result"),
        "resolution": IntProperty(
            name="Resolution", default=5, min=0, max=7,
            description="Icosphere subdivision level of the output (5: 10,242 vertices). "
                        "Raised automatically, up to 7, if the mesh would self-intersect"),
        "points": IntProperty(
            name="Points", default=1024, min=16, max=65_536,
            description="Sphere points flowed per iteration"),
        "learning_rate": FloatProperty(
            name="Learning Rate", default=3e-3, min=1e-6, max=1.0, precision=4, step=0.01,
            description="Peak learning rate of the one-cycle Adam schedule"),
        "steps": IntProperty(
            name="Solver Steps", default=4, min=1, max=256,
            description="Fixed RK4 steps from the sphere (t=0) to the shape (t=1)"),
        "seed": IntProperty(name="Seed", default=0, min=0, description="Random seed of the fit"),
    }


def settings_from(props):
    """core.FitSettings from any object with the `fit_properties` attributes."""
    from .. import core
    return core.FitSettings(
        iterations=props.iterations, resolution=props.resolution, points=props.points,
        learning_rate=props.learning_rate, steps=props.steps, seed=props.seed,
        warm_start=min(core.FitSettings.warm_start, props.iterations // 4),
        max_resolution=max(props.resolution, core.FitSettings.max_resolution),
    ).validate()


def prepare(context, props):
    """Validate input and sample the target. Returns (target object, points, settings)."""
    deps.require()
    from .. import core
    target = data.resolve_target(context, props.target)
    verts, faces = data.evaluated_triangles(context, target)
    try:
        settings = settings_from(props)
        points = core.sample_surface(verts, faces, settings.target_samples, settings.seed)
        core.normalization(points)
    except ValueError as exc:
        raise data.InputError(f"'{target.name}': {exc}") from None
    return target, points, settings


def write_result(context, target, result, seconds):
    """Create `<target> Morph` from a core.MorphResult; make it active and selected."""
    from .. import core
    model = result.model
    name = f"{target.name} Morph"
    sphere_verts, _ = core.icosphere(result.level)
    mesh = data.write_mesh(name, result.verts, result.faces,
                           core.face_corner_uvs(sphere_verts, result.faces))
    obj = bpy.data.objects.new(name, mesh)
    obj.matrix_world = data.normalization_matrix(model.center, model.scale)
    data.output_collection(context, target).objects.link(obj)
    data.store_flow(obj, model)
    checked = data.count_self_intersections_bvh(result.verts, result.faces)
    figures = {
        "source": target.name,
        "iterations": model.iterations,
        "seconds": round(seconds, 3),
        "chamfer": result.chamfer,
        "self_intersections": checked,
        "resolution": result.level,
        "vertices": len(result.verts),
        "seed": model.settings.seed,
    }
    data.store_figures(obj, figures)
    for other in context.view_layer.objects:
        if other.select_get():
            other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj, figures


def summary(figures):
    return (f"Neural Morph: {figures['iterations']} iterations in {figures['seconds']:.1f} s, "
            f"Chamfer {figures['chamfer']:.2e}, level {figures['resolution']} "
            f"({figures['vertices']} vertices), {figures['self_intersections']} self-intersecting faces")


def report_result(op, figures):
    if figures["self_intersections"]:
        op.report({'WARNING'}, summary(figures) + " (not clean: raise Resolution or Iterations)")
    else:
        op.report({'INFO'}, summary(figures))


def _console_progress(total):
    """A progress callback that prints iteration, loss and time left to stdout."""
    start = time.perf_counter()
    every = max(1, total // 20)

    def progress(iteration, loss):
        if iteration % every == 0 or iteration == total:
            spent = time.perf_counter() - start
            left = spent / iteration * (total - iteration)
            print(f"Neural Morph: iteration {iteration}/{total}  loss {loss:.4g}  "
                  f"{left:.0f} s left", flush=True)
    return progress


# -- the job the modal operator forwards to -------------------------------------------------
def active_job():
    """The running core.FitJob, or None."""
    job = _state["job"]
    return job if job is not None and job.state == "running" else None


def start_job(context, props):
    """Validate, sample and start a background fit. InputError if one is running."""
    from .. import core
    if active_job() is not None:
        raise data.InputError("A fit is already running: wait for it or press Esc to cancel it.")
    target, points, settings = prepare(context, props)
    job = core.FitJob(points, settings).start()
    _state.update(job=job, target=target.name)
    return job


def finish_job(context, job):
    """Write the finished job's result; returns (object, figures). Main thread only."""
    _state["job"] = None
    target = bpy.data.objects.get(_state["target"] or "")
    if job.state != "done":
        return None, None
    if target is None:
        raise data.InputError("The target was deleted during the fit; nothing was created.")
    return write_result(context, target, job.result(), time.perf_counter() - job.started_at)


def cancel_job():
    """Stop the running fit, if any, and forget it."""
    job = _state["job"]
    if job is not None:
        job.cancel(wait=True)
    _state["job"] = None


class NEURALMORPH_OT_fit(bpy.types.Operator):
    """Fit a sphere flow to the target mesh and add the result as a new object"""
    bl_idname = "neural_morph.fit"
    bl_label = "Fit Neural Morph"
    bl_options = {'UNDO'}
    __annotations__ = {
        "target": StringProperty(
            name="Target", default="",
            description="Name of the mesh object to fit; empty means the active object"),
        **fit_properties(),
    }

    def execute(self, context):
        start = time.perf_counter()
        try:
            target, points, settings = prepare(context, self)
        except (data.InputError, RuntimeError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        from .. import core
        progress = _console_progress(settings.iterations) if bpy.app.background else None
        try:
            result = core.build_morph(points, settings, progress=progress)
        except KeyboardInterrupt:
            self.report({'WARNING'}, "Neural Morph fit cancelled; nothing was created.")
            return {'CANCELLED'}
        obj, figures = write_result(context, target, result, time.perf_counter() - start)
        report_result(self, figures)
        return {'FINISHED'}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        try:
            start_job(context, self)
        except (data.InputError, RuntimeError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        job = _state["job"]
        if event.type == 'ESC' or job is None:
            cancel_job()
            return self._end(context, {'CANCELLED'}, ('WARNING', "Neural Morph fit cancelled."))
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        state, iteration, loss = job.poll()
        context.workspace.status_text_set(
            f"Neural Morph: iteration {iteration}/{job.total}, loss {loss:.4g} (Esc to cancel)")
        _redraw(context)
        if state == "running":
            return {'PASS_THROUGH'}
        try:
            obj, figures = finish_job(context, job)
        except Exception as exc:
            return self._end(context, {'CANCELLED'}, ('ERROR', str(exc)))
        if state == "failed" or obj is None:
            return self._end(context, {'CANCELLED'}, ('ERROR', f"Neural Morph fit failed: {job.error}"))
        report_result(self, figures)
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
