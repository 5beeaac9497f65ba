"""Scene settings shown in the panel (`scene.neural_morph`)."""
import bpy
from bpy.props import IntProperty, PointerProperty

from ..operators.blender_data import FLOW_KEY
from ..operators.fit import fit_properties


def _is_mesh(self, obj):
    return obj.type == 'MESH'


def _is_morph(self, obj):
    return obj.type == 'MESH' and FLOW_KEY in obj.keys()


class NeuralMorphSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        "target": PointerProperty(
            name="Target", type=bpy.types.Object, poll=_is_mesh,
            description="Mesh to fit; empty means the active object"),
        **fit_properties(),
        "morph_source": PointerProperty(name="From", type=bpy.types.Object, poll=_is_morph,
                                        description="Morph object to start from"),
        "morph_target": PointerProperty(name="To", type=bpy.types.Object, poll=_is_morph,
                                        description="Morph object to end at"),
        "keys": IntProperty(name="Keys", default=8, min=2, max=256,
                            description="Shape keys along the morph, both ends included"),
        "remesh_level": IntProperty(name="Level", default=5, min=0, max=7,
                                    description="Icosphere level for Remesh"),
    }


classes = (NeuralMorphSettings,)


def register_properties():
    bpy.types.Scene.neural_morph = PointerProperty(type=NeuralMorphSettings)


def unregister_properties():
    del bpy.types.Scene.neural_morph
