"""Blender's standard preset menu for the fit settings (`scene.neural_morph`).

Presets are small Python files in the user's preset folder
(`<user scripts>/presets/neural_morph/fit/`), applied by `script.execute_preset` and
added or removed with the `+`/`-` buttons next to the menu, as for Blender's own presets.
The bundled Draft, Default and Detailed (core.presets) are written there when missing,
at registration, so the extension's own folder is never written to.
"""
import os

import bpy
from bl_operators.presets import AddPresetBase

from ..core.presets import PRESET_SETTINGS, presets

PRESET_SUBDIR = os.path.join("neural_morph", "fit")
DEFINE = "settings = bpy.context.scene.neural_morph"


class NEURALMORPH_MT_fit_presets(bpy.types.Menu):
    bl_label = "Fit Presets"
    preset_subdir = PRESET_SUBDIR
    preset_operator = "script.execute_preset"

    def draw(self, context):
        bpy.types.Menu.draw_preset(self, context)


class NEURALMORPH_OT_fit_preset_add(AddPresetBase, bpy.types.Operator):  # type: ignore[misc]  # stubs disagree
    """Add or remove a Neural Morph fit preset"""
    bl_idname = "neural_morph.fit_preset_add"
    bl_label = "Add Fit Preset"
    preset_menu = "NEURALMORPH_MT_fit_presets"
    preset_subdir = PRESET_SUBDIR
    preset_defines = [DEFINE]
    preset_values = [f"settings.{name}" for name in PRESET_SETTINGS]


def draw_menu(layout):
    """The preset row: menu, add, remove (as in Blender's own preset menus)."""
    row = layout.row(align=True)
    row.menu(NEURALMORPH_MT_fit_presets.__name__, text=NEURALMORPH_MT_fit_presets.bl_label)
    row.operator(NEURALMORPH_OT_fit_preset_add.bl_idname, text="", icon='ADD')
    row.operator(NEURALMORPH_OT_fit_preset_add.bl_idname, text="", icon='REMOVE').remove_active = True


def preset_folder(create=False):
    """The user's preset folder for the fit settings ('' if Blender has none)."""
    return bpy.utils.user_resource('SCRIPTS', path=os.path.join("presets", PRESET_SUBDIR), create=create)


def preset_text(values):
    """A preset file in the format AddPresetBase writes."""
    lines = ["import bpy", DEFINE, ""]
    lines += [f"settings.{name} = {values[name]!r}" for name in PRESET_SETTINGS]
    return "\n".join(lines) + "\n"


def install_bundled():
    """Write each bundled preset into the user preset folder unless a file of that name is
    there (a user's edit wins). Returns the paths written. Never raises for a read-only home."""
    written = []
    try:
        folder = preset_folder(create=True)
        if not folder:
            return written
        for name, values in presets().items():
            path = os.path.join(folder, f"{name}.py")
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(preset_text(values))
                written.append(path)
    except OSError as exc:
        print(f"Neural Morph: could not write the bundled fit presets: {exc}")
    return written


classes = (NEURALMORPH_MT_fit_presets, NEURALMORPH_OT_fit_preset_add)


def register():
    """After the classes: install the bundled presets into the user preset folder."""
    install_bundled()
