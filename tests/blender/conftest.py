"""Tests that need Blender: run the add-on inside the real Blender (the `bpy` module).

The repository root is imported as the package `neural_morph`, whatever the clone's
folder is called, and Blender's user resources point at a throwaway folder so nothing
installed by a test outlives the run.
"""
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
_USER = tempfile.mkdtemp(prefix="neural_morph_user_")
os.environ["BLENDER_USER_RESOURCES"] = _USER

import bpy  # noqa: E402  (must come after BLENDER_USER_RESOURCES)
import pytest  # noqa: E402

from tools.build.extension import import_checkout  # noqa: E402


addon = import_checkout()


@pytest.fixture(scope="session", autouse=True)
def registered():
    """Register once for the whole session and always unregister (bpy hangs otherwise)."""
    addon.register()
    yield addon
    addon.unregister()
    shutil.rmtree(_USER, ignore_errors=True)  # the throwaway user resources go with the run


@pytest.fixture
def scene():
    """A fresh empty scene for each test."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy.context.scene


@pytest.fixture
def suzanne(scene):
    bpy.ops.mesh.primitive_monkey_add()
    return bpy.context.active_object


@pytest.fixture(scope="session")
def built_zip(tmp_path_factory):
    """The extension's own zip (no wheels) from tools/build/extension.py, built once per
    session for every test that installs or measures it."""
    from tools.build import extension
    return extension.build(tmp_path_factory.mktemp("dist"))[0]


MORPH_SETTINGS = dict(iterations=40, points=128, resolution=2)  # small, quick fits


@pytest.fixture(scope="session")
def monkey_morph_blend(registered, tmp_path_factory):
    """A .blend holding Suzanne (named "Monkey") and "Monkey Morph", fitted once per session
    with MORPH_SETTINGS through the operator and saved with the morph active. Open it per
    test (test_morph.py's `morph`) and never save over it."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    bpy.context.active_object.name = "Monkey"
    assert bpy.ops.neural_morph.fit(target="Monkey", **MORPH_SETTINGS) == {'FINISHED'}
    path = tmp_path_factory.mktemp("morph") / "monkey_morph.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    return path


def counts():
    """(objects, meshes) in the file: bad input must leave both unchanged."""
    return len(bpy.data.objects), len(bpy.data.meshes)


# bpy 4.x can hang for ever after interpreter teardown: a static destructor waits on its
# audio-device thread when something (glTF export with torch loaded, for one) kept the bpy
# module alive to the end. Every test is reported by then, so leave without C++ teardown.
_exit_status = [0]


def pytest_sessionfinish(session, exitstatus):
    _exit_status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status[0])
