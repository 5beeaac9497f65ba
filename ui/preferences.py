"""Add-on preferences: dependency status and versions."""
import bpy

from ..operators import deps

# The add-on's package name (`neural_morph`, or `bl_ext.<repo>.neural_morph` as an extension).
PACKAGE = __package__.rpartition(".")[0]


def draw_dependencies(layout):
    """Rows listing each dependency with its version, or what to do when it is missing."""
    col = layout.column(align=True)
    for name, version in deps.versions().items():
        col.label(text=f"{name}: {version}" if version else f"{name}: missing",
                  icon='CHECKMARK' if version else 'ERROR')
    if deps.missing():
        box = layout.box()
        box.label(text="Neural Morph cannot fit until these are installed:", icon='INFO')
        for line in _wrap(deps.INSTALL_HINT, 60):
            box.label(text=line)


def _wrap(text, width):
    import textwrap
    return textwrap.wrap(text, width)


class NeuralMorphPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    def draw(self, context):
        draw_dependencies(self.layout)


classes = (NeuralMorphPreferences,)
