"""`neural_morph.fit`: sample the target, fit a sphere flow, write a new morph object."""
import time

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty, BoolProperty

from . import blender_data as data
from . import deps

# One fit at a time, shared by the modal operator and the panel's progress bar.
_state = {"job": None, "request": None, "preview": None, "preview_version": 0}
PREVIEW_LEVEL = 3


def fit_properties():
    """The fit settings as bpy properties; shared by the operator and the scene settings.

    Hard limits are wide on purpose: core.FitSettings.validate() refuses absurd values
    with a message before any work starts, rather than Blender clamping them silently.
    """
    return {
        "iterations": IntProperty(
            name="Iterations", default=1300, soft_min=1, soft_max=5_000,
            description="Optimiser steps. The schedule is fixed, so a seed reproduces a result"),
        "resolution": IntProperty(
            name="Resolution", default=5, soft_min=0, soft_max=7,
            description="Icosphere subdivision level of the output (5: 10,242 vertices). "
                        "Raised automatically, up to 7, if the mesh would self-intersect"),
        "points": IntProperty(
            name="Points", default=1024, soft_min=16, soft_max=65_536,
            description="Sphere points flowed per iteration"),
        "learning_rate": FloatProperty(
            name="Learning Rate", default=1e-2, soft_min=1e-5, soft_max=0.1, precision=4, step=0.01,
            description="Peak learning rate of the one-cycle Adam schedule"),
        "steps": IntProperty(
            name="Solver Steps", default=2, soft_min=1, soft_max=64,
            description="Fixed RK4 steps from the sphere (t=0) to the shape (t=1)"),
        "seed": IntProperty(name="Seed", default=0, min=0, description="Random seed of the fit"),
    }


def settings_from(props, device="cpu"):
    """core.FitSettings from any object with the `fit_properties` attributes.

    Raises ValueError with a sentence for values outside the supported ranges."""
    from .. import core
    return core.FitSettings(
        iterations=props.iterations, resolution=props.resolution, points=props.points,
        learning_rate=props.learning_rate, steps=props.steps, seed=props.seed,
        warm_start=min(core.FitSettings.warm_start, max(props.iterations, 0) // 4),
        max_resolution=max(props.resolution, core.FitSettings.max_resolution),
        device=device,
    ).validate()


def prepare(context, props):
    """Validate settings and input, then sample the target(s). Returns a FitRequest.

    An empty `target` with the active object selected together with other meshes fits
    their union; the active one names the result.
    """
    deps.require()
    from .. import core
    try:
        settings = settings_from(props, preferred_device(context))
    except ValueError as exc:
        raise data.InputError(str(exc)) from None
    target = data.resolve_target(context, props.target)
    init = morph = None
    targets = [target]
    if getattr(props, "continue_fit", False):
        morph, init = target, data.load_flow(target)
        if target.data.shape_keys is not None:
            raise data.InputError(f"'{target.name}' has shape keys: remove them before continuing the fit.")
        names = str(target.get(data.PREFIX + "source", "")).split(", ")
        targets = [bpy.data.objects.get(n) for n in names]
        if None in targets:
            raise data.InputError(f"The object(s) '{', '.join(names)}' this morph was fitted to no longer exist.")
        target = targets[0]
    elif not props.target and target.select_get():
        targets += [o for o in context.selected_objects if o != target and o.type in data.SURFACE_TYPES]
    verts, faces = data.evaluated_triangles_of(context, targets)
    try:
        points = core.sample_surface(verts, faces, settings.target_samples, settings.seed)
        core.normalization(points)
    except ValueError as exc:
        raise data.InputError(f"'{target.name}': {exc}") from None
    request = FitRequest(target, points, settings, init, morph)
    request.source = ", ".join(t.name for t in targets)
    return request


def preferred_device(context):
    """The compute device chosen in the add-on preferences ("cpu" when unset)."""
    from ..ui.preferences import PACKAGE
    addon = context.preferences.addons.get(PACKAGE)
    return getattr(addon.preferences, "device", "cpu").lower() if addon and addon.preferences else "cpu"


class FitRequest:
    """Validated input of one fit: target object, samples (M, 3) world space, settings,
    and for a continued fit the stored flow and the morph object to update."""

    def __init__(self, target, points, settings, init=None, morph=None):
        self.target, self.points, self.settings = target, points, settings
        self.init, self.morph = init, morph
        self.target_name = target.name
        self.morph_name = morph.name if morph is not None else None
        self.source = target.name


def write_result(context, target, result, seconds, morph=None, source=None):
    """Create `<target> Morph` from a core.MorphResult, or update `morph` in place for a
    continued fit; make it active and selected. Returns (object, figures)."""
    from .. import core
    model = result.model
    name = f"{target.name} Morph"
    sphere_verts, _ = core.icosphere(result.level)
    uvs = core.face_corner_uvs(sphere_verts, result.faces)
    if morph is None:
        obj = bpy.data.objects.new(name, data.write_mesh(name, result.verts, result.faces, uvs))
        obj.matrix_world = data.normalization_matrix(model.center, model.scale)
        data.output_collection(context, target).objects.link(obj)
    else:
        obj = morph
        data.write_mesh(obj.data.name, result.verts, result.faces, uvs, mesh=obj.data)
    data.store_flow(obj, result.flow_json)
    figures = {
        "source": source or target.name,
        "iterations": model.iterations,
        "seconds": round(seconds, 3),
        "chamfer": result.chamfer,
        "self_intersections": result.self_intersections,
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
    every = max(1, min(total // 20, 50))

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
    request = prepare(context, props)
    job = core.FitJob(request.points, request.settings, init=request.init,
                      preview_level=PREVIEW_LEVEL, count=data.count_self_intersections_bvh).start()
    _state.update(job=job, request=request, preview_version=0)
    return job


def update_preview(context):
    """Show the running job's latest preview as `<target> Morph Preview`. Main thread.

    The preview carries no flow and no figures, and its name says what it is, so an
    autosave during a fit cannot pass it off as a result. Returns the preview object.
    """
    from .. import core
    job, request = _state["job"], _state["request"]
    if job is None or job.preview is None or job.preview_version == _state["preview_version"]:
        return bpy.data.objects.get(_state["preview"] or "")
    verts = job.preview
    obj = bpy.data.objects.get(_state["preview"] or "")
    if obj is None:
        _, faces = core.icosphere(PREVIEW_LEVEL)
        name = f"{request.target_name} Morph Preview"
        obj = bpy.data.objects.new(name, data.write_mesh(name, verts, faces))
        obj[data.PREFIX + "preview"] = True
        context.scene.collection.objects.link(obj)
        _state["preview"] = obj.name
    else:
        obj.data.vertices.foreach_set("co", verts.ravel())
        obj.data.update()
    obj.matrix_world = data.normalization_matrix(*job.transform)
    _state["preview_version"] = job.preview_version
    return obj


def remove_preview():
    """Delete the live preview object and its mesh, if any."""
    obj = bpy.data.objects.get(_state["preview"] or "")
    _state["preview"] = None
    if obj is not None:
        mesh = obj.data
        bpy.data.objects.remove(obj)
        if mesh is not None and mesh.users == 0:
            bpy.data.meshes.remove(mesh)


def finish_job(context, job):
    """Write the finished job's result; returns (object, figures). Main thread only."""
    _state["job"] = None
    remove_preview()
    request = _state["request"]
    if job.state != "done":
        return None, None
    target = bpy.data.objects.get(request.target_name)
    morph = bpy.data.objects.get(request.morph_name) if request.morph_name else None
    if target is None or (request.morph_name and morph is None):
        raise data.InputError("An object of the fit was deleted during the fit; nothing was created.")
    return write_result(context, target, job.result(), time.perf_counter() - job.started_at, morph,
                        request.source)


def cancel_job():
    """Stop the running fit, if any, and forget it."""
    job = _state["job"]
    if job is not None:
        job.cancel(wait=True)
    _state["job"] = None
    try:
        remove_preview()
    except (ReferenceError, RuntimeError, AttributeError):
        _state["preview"] = None  # Blender data already gone (quitting or loading)


@bpy.app.handlers.persistent
def stop_on_load(*_args):
    """load_pre handler: loading another file stops a running fit cleanly."""
    cancel_job()


class NEURALMORPH_OT_fit(bpy.types.Operator):
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
        **fit_properties(),
    }

    def execute(self, context):
        start = time.perf_counter()
        try:
            request = prepare(context, self)
        except (data.InputError, RuntimeError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        from .. import core
        settings = request.settings
        progress = _console_progress(settings.iterations) if bpy.app.background else None
        try:
            result = core.build_morph(request.points, settings, progress=progress, init=request.init,
                                      count=data.count_self_intersections_bvh)
        except KeyboardInterrupt:
            self.report({'WARNING'}, "Neural Morph fit cancelled; nothing was created.")
            return {'CANCELLED'}
        obj, figures = write_result(context, request.target, result,
                                    time.perf_counter() - start, request.morph, request.source)
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
        update_preview(context)
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
