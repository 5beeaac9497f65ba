"""The fit presets: Blender's preset menu over files in the user's preset folder."""
import os

import bpy
import pytest

from neural_morph import core
from neural_morph.core import presets
from neural_morph.core import settings as core_settings
from neural_morph.ui import presets as ui_presets

MENU = ui_presets.NEURALMORPH_MT_fit_presets.__name__


def preset_file(name):
    for folder in bpy.utils.preset_paths(ui_presets.PRESET_SUBDIR):
        path = os.path.join(folder, f"{name}.py")
        if os.path.isfile(path):
            return path
    raise AssertionError(f"no preset file {name}.py in {bpy.utils.preset_paths(ui_presets.PRESET_SUBDIR)}")


def current(settings):
    return {name: getattr(settings, name) for name in presets.PRESET_SETTINGS}


def test_default_preset_is_the_settings_defaults_and_draft_is_quicker():
    table = presets.presets()
    assert list(table) == ["Draft", "Default", "Detailed"]
    defaults = core.FitSettings()
    assert table["Default"] == {n: getattr(defaults, n) for n in presets.PRESET_SETTINGS}
    for name, values in table.items():
        core.user_settings(**values)  # every preset is valid
    work = {n: v["iterations"] * v["points"] * v["steps"] for n, v in table.items()}
    assert work["Draft"] < work["Default"] < work["Detailed"]
    with pytest.raises(ValueError, match="Draft, Default, Detailed"):
        presets.preset("Nope")


@pytest.mark.parametrize("name", list(presets.presets()))
def test_applying_a_bundled_preset_sets_the_scene_settings(scene, name):
    settings = scene.neural_morph
    for prop in presets.PRESET_SETTINGS:  # start away from every preset
        value = getattr(settings, prop)
        if isinstance(value, str):
            away = next(c for c in core_settings.USER_CHOICES[prop] if c != value)
        else:
            away = value + (1 if prop != "learning_rate" else 0.5)
        setattr(settings, prop, away)
    settings.seed = 7
    assert bpy.ops.script.execute_preset(filepath=preset_file(name), menu_idname=MENU) == {'FINISHED'}
    assert current(settings) == pytest.approx(presets.preset(name))
    assert settings.seed == 7  # a preset leaves the seed alone
    # The bundled files live in the user's preset folder, not in the extension.
    assert not preset_file(name).startswith(os.path.dirname(os.path.dirname(ui_presets.__file__)))


def test_add_a_preset_then_apply_and_remove_it(scene):
    settings = scene.neural_morph
    settings.iterations, settings.points = 333, 444
    assert bpy.ops.neural_morph.fit_preset_add(name="Studio Rocks") == {'FINISHED'}
    path = preset_file("Studio_Rocks")
    settings.iterations, settings.points = 1, 16
    bpy.ops.script.execute_preset(filepath=path, menu_idname=MENU)
    assert (settings.iterations, settings.points) == (333, 444)
    getattr(bpy.types, MENU).bl_label = "Studio Rocks"  # the menu names the active preset
    assert bpy.ops.neural_morph.fit_preset_add(name="Studio Rocks", remove_active=True) == {'FINISHED'}
    assert not os.path.exists(path)


def test_bundled_presets_are_rewritten_only_when_missing():
    path = preset_file("Draft")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("# edited by the user\n")
    assert ui_presets.install_bundled() == []
    os.remove(path)
    assert ui_presets.install_bundled() == [path]
    with open(path, encoding="utf-8") as handle:
        assert "edited" not in handle.read()
