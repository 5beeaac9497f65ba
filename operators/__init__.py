"""Thin bpy operators: read Blender data, call core, write Blender data."""
import bpy

from . import fit, morph

classes = fit.classes + morph.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    fit.cancel_job()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
