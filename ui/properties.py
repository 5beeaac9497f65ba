"""Scene settings shown in the panel (`scene.neural_morph`)."""
import bpy
from bpy.props import PointerProperty

from ..operators.fit import fit_properties


def _is_mesh(self, obj):
    return obj.type == 'MESH'


class NeuralMorphSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        "target": PointerProperty(
            name="Target", type=bpy.types.Object, poll=_is_mesh,
            description="Mesh to fit; empty means the active object"),
        **fit_properties(),
    }


classes = (NeuralMorphSettings,)


def register_properties():
    bpy.types.Scene.neural_morph = PointerProperty(type=NeuralMorphSettings)


def unregister_properties():
    del bpy.types.Scene.neural_morph
