"""Scene settings shown in the panel (`scene.neural_morph`)."""
import bpy
from bpy.props import BoolProperty, PointerProperty

from ..blender.store import FLOW_KEY
from ..blender.props import fit_properties, keys_property, level_property


def _is_mesh(self, obj):
    return obj.type == 'MESH'


def _is_morph(self, obj):
    return obj.type == 'MESH' and FLOW_KEY in obj.keys()


def _poll(function):
    """`poll=function` where Blender survives it: bpy 4.2 crashes when it quits after a
    PointerProperty with a Python poll was unregistered (seen with 4.2.23, not with 4.5 or
    5.0). On 4.2 the pickers list every object and the operators refuse wrong ones."""
    return {"poll": function} if bpy.app.version >= (4, 5, 0) else {}


class NeuralMorphSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        "target": PointerProperty(
            name="Target", type=bpy.types.Object, **_poll(_is_mesh),
            description="Mesh to fit; empty means the active object"),
        **fit_properties(),
        "morph_source": PointerProperty(name="From", type=bpy.types.Object, **_poll(_is_morph),
                                        description="Morph object to start from"),
        "morph_target": PointerProperty(name="To", type=bpy.types.Object, **_poll(_is_morph),
                                        description="Morph object to end at"),
        "keys": keys_property("Shape keys along the morph, both ends included"),
        "remesh_level": level_property("Level", hard=True, description="Icosphere level for Remesh"),
        "fit_source": PointerProperty(
            name="Source", type=bpy.types.Object, **_poll(_is_mesh),
            description="Continue Fit against this object; empty uses the one(s) the morph was fitted to"),
        "replace_edits": BoolProperty(
            name="Replace Edits", default=False,
            description="Let Animate overwrite hand edits to the morph's mesh or shape keys"),
    }


classes = (NeuralMorphSettings,)


def register_properties():
    bpy.types.Scene.neural_morph = PointerProperty(type=NeuralMorphSettings)  # type: ignore[attr-defined]


def unregister_properties():
    del bpy.types.Scene.neural_morph  # type: ignore[attr-defined]
