"""`neural_morph.animate`: shape keys along the flow on a morph object."""
import json
from typing import TYPE_CHECKING

import bpy
import numpy as np
from bpy.props import BoolProperty

from .. import core
from ..blender import guards, meshes, props, scene, shapekeys, store
from .base import NeuralMorphOperator


SETTINGS = ("keys", "frame_start", "frame_end", "ease", "reverse")  # what ANIMATION_KEY stores for rebuilds


def animate(obj, model, keys, frame_start, frame_end, ease, reverse, replace=True):
    """Shape keys from the sphere (t=0) to the shape (t=1), clean on every frame from
    `frame_start` to `frame_end` (core.clean_keys adds keys where a frame's blend crosses).
    Returns core.AnimationKeys.

    The mesh becomes the flow's shape at t=1 (the Basis). Hand edits made since Neural
    Morph last wrote the mesh are refused unless `replace`."""
    if frame_end <= frame_start:
        raise guards.InputError("End Frame must come after Start Frame.")
    core.settings.check_keys(keys)
    guards.check_writable(obj)
    level = store.output_level(obj, model)
    if not replace and store.edited_by_hand(obj):
        raise guards.InputError(
            f"'{obj.name}' was edited since Neural Morph wrote it, and Animate would overwrite the "
            "edits with the flow's shape: enable Replace Edits to do that, or keep the edits and "
            "do not animate.")
    faces = model.sphere(level)[1]
    result = core.clean_keys(
        lambda t: core.output_mesh(model, level, meshes.self_intersecting_faces_bvh, t)[0],
        np.linspace(0.0, 1.0, keys), core.Timing(frame_start, frame_end, ease, reverse),
        lambda verts: meshes.count_self_intersections_bvh(verts, faces), basis_time=1.0)
    shapekeys.clear_animation(obj)
    obj.data.vertices.foreach_set("co", result.states[-1].astype(np.float32).ravel())
    obj.data.update()
    shapekeys.build_shape_keys(obj, result.states, result.times, result.frames)
    names = [kb.name for kb in obj.data.shape_keys.key_blocks]
    obj[store.ANIMATION_KEY] = json.dumps(dict(keys=keys, frame_start=frame_start, frame_end=frame_end,
                                              ease=ease, reverse=reverse, names=names))
    store_check(obj, result)
    store.mark_written(obj)
    return result


def store_check(obj, result):
    """The figures of an animation's check (core.AnimationKeys) on the object."""
    store.store_figures(obj, {"animation_keys": len(result.times),
                             "animation_keys_added": len(result.added),
                             "animation_frames_checked": f"{result.first}-{result.last}",
                             "animation_self_intersections": result.worst})


def animation_names(keys):
    """Names of the shape key blocks animate() made for `keys` keys (Basis first) before it
    stored the names (files saved by earlier versions)."""
    return ["Basis", *(f"t={t:.3f}" for t in np.linspace(0.0, 1.0, keys))]


class NEURALMORPH_OT_animate(NeuralMorphOperator, bpy.types.Operator):
    """Animate the morph object from the sphere to its shape with shape keys"""
    bl_idname = "neural_morph.animate"
    bl_label = "Animate Sphere to Shape"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "object": props.object_property(),
        **props.animation_properties(),
        "replace": BoolProperty(
            name="Replace Edits", default=False,
            description="Overwrite changes made by hand to the morph's mesh or shape keys since "
                        "Neural Morph wrote it (otherwise Animate refuses)"),
    }
    if TYPE_CHECKING:  # the properties above, as mypy sees them
        # `keys` shadows bpy_struct.keys() for mypy; Blender resolves the property first and
        # the name is public API (animate(keys=8)), so it stays.
        keys: int  # type: ignore[assignment]
        ease: bool
        reverse: bool
        object: str
        replace: bool

    def run(self, context):
        obj, model = store.morph_object(context, self.object)
        guards.check_writable(obj)
        with scene.object_mode(context, obj):
            result = animate(obj, model, self.keys, self.frame_start, self.frame_end, self.ease,
                             self.reverse, replace=self.replace)
        self.report_check(f"Animated '{obj.name}'", result)
        return {'FINISHED'}


classes = (NEURALMORPH_OT_animate,)
