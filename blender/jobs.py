"""The running fit: one job at a time, shared by the modal fit operator and the panel's
progress bar, and its live preview object. Main thread only (the job itself runs on a
worker thread and never touches Blender data)."""
import time
from typing import Any

import bpy

from .. import core
from ..core.settings import PREVIEW_LEVEL
from . import fitting, guards, meshes, store

_state: dict[str, Any] = {"job": None, "request": None, "preview": None, "preview_version": 0}


def active_job():
    """The running core.FitJob, or None."""
    job = _state["job"]
    return job if job is not None and job.state == "running" else None


def start_job(context, props):
    """Validate, sample and start a background fit. InputError if one is running."""
    if active_job() is not None:
        raise guards.InputError("A fit is already running: wait for it or press Esc to cancel it.")
    request = fitting.prepare_fit(context, props)
    job = core.FitJob(request.points, request.settings, init=request.init,
                      # a Morph Onto flow lives in its object's space: no preview of it
                      preview_level=None if request.init is not None and request.init.from_mesh
                      else PREVIEW_LEVEL, find=meshes.self_intersecting_faces_bvh,
                      labels=request.labels, normals=request.normals,
                      backed=request.backed).start()
    _state.update(job=job, request=request, preview_version=0)
    return job


def update_preview(context):
    """Show the running job's latest preview as `<target> Morph Preview`. Main thread.

    The preview carries no flow and no figures, and its name says what it is, so an
    autosave during a fit cannot pass it off as a result. Returns the preview object.
    """
    job, request = _state["job"], _state["request"]
    if job is None or job.preview is None or job.preview_version == _state["preview_version"]:
        return bpy.data.objects.get(_state["preview"] or "")
    verts = job.preview
    obj = bpy.data.objects.get(_state["preview"] or "")
    if obj is None:
        name = f"{request.target_name} Morph Preview"
        obj = bpy.data.objects.new(name, meshes.write_mesh(name, verts, job.preview_faces))
        obj[store.PREFIX + "preview"] = True
        context.scene.collection.objects.link(obj)
        _state["preview"] = obj.name
    else:
        obj.data.vertices.foreach_set("co", verts.ravel())
        obj.data.update()
    obj.matrix_world = meshes.matrix(job.transform)
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
    """Write the finished job's result; returns (object, figures), or (None, None) when it
    did not finish (a failed job's traceback is printed to the console). Main thread only."""
    _state["job"] = None
    remove_preview()
    request = _state["request"]
    if job.state == "failed" and job.traceback:
        print(f"Neural Morph: the fit of '{request.target_name}' failed:\n{job.traceback}",
              end="", flush=True)
    if job.state != "done":
        return None, None
    target = bpy.data.objects.get(request.target_name)
    morph = bpy.data.objects.get(request.morph_name) if request.morph_name else None
    if target is None or (request.morph_name and morph is None):
        raise guards.InputError("An object of the fit was deleted during the fit; nothing was created.")
    return fitting.write_fit_result(context, target, job.result(), time.perf_counter() - job.started_at,
                                 morph, request.sources)


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


def current_job():
    """The job the modal operator follows (running or just finished), or None."""
    return _state["job"]


@bpy.app.handlers.persistent
def stop_on_load(*_args):
    """load_pre handler: loading another file stops a running fit cleanly."""
    cancel_job()
