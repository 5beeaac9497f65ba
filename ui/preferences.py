"""Add-on preferences: dependency status and versions."""
import bpy

from ..blender import deps
from ..blender.prefs import PACKAGE


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


_DEVICE_ITEMS = []  # Blender needs Python to keep dynamic enum items alive


def device_items(self, context):
    """CPU always; CUDA or MPS when the installed torch can see them."""
    items = [('CPU', "CPU", "Fit on the processor (default)")]
    if not deps.missing():
        import torch
        if torch.cuda.is_available():
            items.append(('CUDA', "CUDA", f"Fit on {torch.cuda.get_device_name(0)}"))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            items.append(('MPS', "Apple GPU (MPS)", "Fit on the Apple GPU"))
    _DEVICE_ITEMS[:] = items
    return _DEVICE_ITEMS


class NeuralMorphPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE
    __annotations__ = {
        "device": bpy.props.EnumProperty(
            name="Compute Device", items=device_items,
            description="Where fits run; results are the same up to floating-point rounding"),
    }

    def draw(self, context):
        draw_dependencies(self.layout)
        if not deps.missing():
            self.layout.prop(self, "device")


classes = (NeuralMorphPreferences,)
