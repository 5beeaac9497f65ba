"""Panels, scene properties and preferences: drawing only."""
import bpy

from . import panel, preferences, presets, properties

classes = properties.classes + preferences.classes + presets.classes + panel.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    properties.register_properties()
    presets.register()


def unregister():
    properties.unregister_properties()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
