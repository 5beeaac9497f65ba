"""The scene around a morph: modes, selection, the collection a new object goes to, and
its name (main thread only)."""
import contextlib

import bpy

from .targets import in_view_layer


MAX_ID_NAME = 63  # bytes of a Blender object or mesh name


def to_object_mode(context):
    """Leave Edit Mode (or any other mode) on the active object before the selection or the
    active object changes, so no object is left in a half state."""
    active = context.view_layer.objects.active
    if active is not None and active.mode != 'OBJECT':
        with context.temp_override(active_object=active, object=active):
            bpy.ops.object.mode_set(mode='OBJECT')


@contextlib.contextmanager
def object_mode(context, obj):
    """Leave Edit Mode (or any other mode) on `obj` while it is read and written, so edits
    are flushed to the mesh and mesh writes are allowed, then come back to that mode."""
    mode = obj.mode
    if mode == 'OBJECT':
        yield
        return
    with context.temp_override(active_object=obj, object=obj):
        bpy.ops.object.mode_set(mode='OBJECT')
    try:
        yield
    finally:
        if context.view_layer.objects.active == obj or in_view_layer(context, obj):
            with context.temp_override(active_object=obj, object=obj):
                bpy.ops.object.mode_set(mode=mode)


def output_collection(context, target):
    """The target's first editable (non-library) collection in the view layer, else the
    active collection, else the scene's: a new object is always editable and selectable."""
    included = _included_collections(context.view_layer.layer_collection)
    for coll in target.users_collection:
        if coll.library is None and coll in included:
            return coll
    coll = context.collection
    if coll is not None and coll.library is None and coll in included:
        return coll
    return context.scene.collection


def _included_collections(layer_collection):
    """Collections of the view layer that are not excluded (the scene collection first)."""
    if layer_collection.exclude:
        return []
    found = [layer_collection.collection]
    for child in layer_collection.children:
        found += _included_collections(child)
    return found


def morph_name(target_name, suffix=" Morph"):
    """`<target> Morph`, its target part shortened to fit Blender's 63-byte names (with room
    for Blender's `.001` when the name is taken), so the name always says it is a morph."""
    def fit(limit):
        head = target_name.encode("utf-8")[:limit - len(suffix.encode("utf-8"))]
        return head.decode("utf-8", errors="ignore") + suffix
    name = fit(MAX_ID_NAME)
    if name in bpy.data.objects or name in bpy.data.meshes:
        name = fit(MAX_ID_NAME - len(".001"))
    return name


def select_only(context, obj):
    """Make `obj` the only selected object and the active one (left in Object Mode)."""
    to_object_mode(context)
    for other in context.view_layer.objects:
        if other.select_get():
            other.select_set(False)
    if in_view_layer(context, obj):
        obj.select_set(True)
        context.view_layer.objects.active = obj
