"""`neural_morph.remesh`: re-evaluate a morph object's stored flow at another level."""
import json
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty

from .. import core
from ..blender import data, props
from .animate import animate
from .base import NeuralMorphOperator


def remesh(obj, model, level):
    """Replace the object's mesh data in place with the flow evaluated at `level`."""
    verts, faces, _, bad = core.output_mesh(model, level, data.self_intersecting_faces_bvh)
    data.write_mesh(obj.data.name, verts, faces, core.sphere_uvs(level), mesh=obj.data)
    data.store_figures(obj, {"resolution": level, "vertices": len(verts), "self_intersections": bad})
    return bad


class NEURALMORPH_OT_remesh(NeuralMorphOperator, bpy.types.Operator):
    """Re-evaluate the stored flow at another icosphere level, without retraining"""
    bl_idname = "neural_morph.remesh"
    bl_label = "Remesh Morph"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "object": props.object_property(),
        "resolution": props.level_property(
            description="Icosphere level (5: 10,242 vertices, 7: 163,842)"),
        "rebuild_animation": BoolProperty(
            name="Rebuild Animation", default=False,
            description="If the object is animated, rebuild its shape keys at the new level"),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        object: str
        resolution: int
        rebuild_animation: bool

    def run(self, context):
        level = core.settings.check_level(self.resolution)
        obj, model = data.morph_object(context, self.object)
        animation = obj.get(data.ANIMATION_KEY)
        if obj.data.shape_keys is not None and not (self.rebuild_animation and animation):
            raise data.InputError(
                f"'{obj.name}' has shape keys: enable Rebuild Animation, or remove them first.")
        if obj.data.users > 1:
            raise data.InputError(
                f"'{obj.name}' shares its mesh with {obj.data.users - 1} other user(s): "
                "make it single-user first (Object > Relations > Make Single User).")
        if obj.data.shape_keys is not None:
            data.clear_animation(obj)
        bad = remesh(obj, model, level)
        if animation:
            animate(obj, model, **json.loads(animation))
        if bad:
            self.report({'WARNING'}, f"Remeshed '{obj.name}' at level {level}: {bad} self-intersecting faces.")
        else:
            self.report({'INFO'}, f"Remeshed '{obj.name}' at level {level} ({len(obj.data.vertices)} vertices), clean.")
        return {'FINISHED'}


classes = (NEURALMORPH_OT_remesh,)
