"""Thin bpy operators: read Blender data, call core, write Blender data."""
import bpy

from . import fit, morph

classes = fit.classes + morph.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_pre.append(fit.stop_on_load)


def unregister():
    if fit.stop_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(fit.stop_on_load)
    fit.cancel_job()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
