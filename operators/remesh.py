"""`neural_morph.remesh`: re-evaluate a morph object's stored flow at another level."""
import json
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty

from .. import core
from ..blender import guards, meshes, props, scene, shapekeys, store
from ..blender.shapekeys import SETTINGS, animate, animation_names
from .base import NeuralMorphOperator


# Figures the fit measured on its own mesh, at its level: the target samples the Chamfer
# distance needs are not stored, so a mesh at another level cannot be measured again
FIT_FIGURES = ("chamfer", "seconds")
REMOVED_NOTE = " The fit's Chamfer and seconds (measured on the fit's mesh) were removed."
REMEASURED_NOTE = (" Chamfer measured again at this level against the stored target samples; "
                   "the fit's seconds were removed.")


def remesh(obj, model, level):
    """Replace the object's mesh data in place with the flow evaluated at `level`, and its
    figures with the new mesh's. At another level than the mesh's, the fit's Chamfer and
    seconds no longer describe it: the Chamfer is measured again against the flow's stored
    target samples (flows made before they were stored: removed), the seconds removed.
    Returns (self-intersecting faces left, the names of the figures removed)."""
    verts, faces, _, bad = core.output_mesh(model, level, meshes.self_intersecting_faces_bvh)
    previous = obj.get(store.PREFIX + "resolution")
    meshes.write_mesh(obj.data.name, verts, faces, model.sphere_uvs(level), mesh=obj.data)
    removed, figures = [], {"resolution": level, "vertices": len(verts), "self_intersections": bad}
    if previous is None or int(previous) != level:  # the same level: the fit's mesh again
        chamfer = model.chamfer(verts, faces)
        if chamfer is not None:
            figures["chamfer"] = chamfer
        removed = [name for name in FIT_FIGURES
                   if store.PREFIX + name in obj.keys() and name not in figures]
        for name in removed:
            del obj[store.PREFIX + name]
    store.store_figures(obj, figures)
    store.mark_written(obj)
    return bad, removed


def stored_animation(obj):
    """The settings of the animation animate() made, if the object still has exactly its
    shape keys; None when there is none or the user removed them (never resurrected)."""
    text = obj.get(store.ANIMATION_KEY)
    if text is None or obj.data.shape_keys is None:
        return None
    settings = json.loads(str(text))
    names = [kb.name for kb in obj.data.shape_keys.key_blocks]
    made = settings.get("names") or animation_names(settings["keys"])  # stored since keys are added
    return {key: settings[key] for key in SETTINGS} if names == made else None


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
        obj, model = store.morph_object(context, self.object)
        if model.from_mesh:
            raise guards.InputError(
                f"'{obj.name}' was morphed from a mesh whose own topology is the point, so Remesh "
                "does not apply: morph a denser version of that mesh instead.")
        guards.check_writable(obj)
        animation = stored_animation(obj)
        if obj.data.shape_keys is not None and animation is None:
            raise guards.InputError(
                f"'{obj.name}' has shape keys that Animate did not make: remove them first "
                "(Remesh replaces the mesh and cannot rebuild them).")
        if obj.data.shape_keys is not None and not self.rebuild_animation:
            raise guards.InputError(
                f"'{obj.name}' has shape keys: enable Rebuild Animation, or remove them first.")
        with scene.object_mode(context, obj):
            shapekeys.clear_animation(obj)  # also forgets an animation whose keys the user removed
            bad, removed = remesh(obj, model, level)
            rebuilt = animate(obj, model, **animation) if animation else None
        note = "" if not removed else REMOVED_NOTE if "chamfer" in removed else REMEASURED_NOTE
        if bad:
            self.report({'WARNING'},
                        f"Remeshed '{obj.name}' at level {level}: {bad} self-intersecting faces.{note}")
        else:
            self.report({'INFO'}, f"Remeshed '{obj.name}' at level {level} "
                                  f"({len(obj.data.vertices)} vertices), clean.{note}")
        if rebuilt is not None:  # the rebuilt keys are checked on every frame, like Animate's
            self.report_check(f"Rebuilt the animation of '{obj.name}'", rebuilt)
        return {'FINISHED'}


classes = (NEURALMORPH_OT_remesh,)
