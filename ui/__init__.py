"""Panels, scene properties and preferences: drawing only."""
import bpy

from . import panel, preferences, properties

classes = properties.classes + preferences.classes + panel.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    properties.register_properties()


def unregister():
    properties.unregister_properties()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
