"""Thin bpy operators: read Blender data, call core, write Blender data (through blender/)."""
import bpy

from ..blender import jobs
from . import animate, fit, morph_between, onto, remesh

classes = (fit.classes + animate.classes + morph_between.classes + onto.classes
           + remesh.classes)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_pre.append(jobs.stop_on_load)


def unregister():
    if jobs.stop_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(jobs.stop_on_load)
    jobs.cancel_job()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
