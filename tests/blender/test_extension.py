"""Packaging and the headless path, each in a fresh Blender process."""
import subprocess
import sys
import textwrap

import bpy
import pytest

from conftest import ROOT
from tools.build import extension

pytestmark = pytest.mark.slow  # every test here builds a zip or starts a fresh Blender


def run_python(code, *args, timeout=600):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_manifest_passes_blenders_validate():
    out = extension.validate()
    assert "Success" in out


def test_built_zip_installs_enables_and_fits(built_zip, tmp_path):
    out = run_python(f"""
        import os, sys
        os.environ["BLENDER_USER_RESOURCES"] = {str(tmp_path)!r}
        import bpy
        from tools.build import extension  # `-c` in the repository root: the root is on sys.path
        with extension.installed({str(built_zip)!r}):
            assert "fit" in dir(bpy.ops.neural_morph)
            bpy.ops.mesh.primitive_ico_sphere_add()
            bpy.ops.neural_morph.fit(iterations=10, points=64, resolution=2)
            print("MORPH", bpy.context.active_object.name)
        print("OPS_AFTER", "fit" in dir(bpy.ops.neural_morph))
    """)
    assert "MORPH Icosphere Morph" in out
    assert "OPS_AFTER False" in out
    assert (tmp_path / "extensions" / "user_default" / "neural_morph" / "__init__.py").exists()


def test_unregister_leaves_nothing_behind():
    out = run_python(f"""
        import importlib.util, sys, bpy
        spec = importlib.util.spec_from_file_location(
            "neural_morph", {str(ROOT / '__init__.py')!r}, submodule_search_locations=[{str(ROOT)!r}])
        mod = importlib.util.module_from_spec(spec); sys.modules["neural_morph"] = mod
        spec.loader.exec_module(mod)
        classes = mod.ui.classes + mod.operators.classes
        mod.register()
        print("REGISTERED", all(c.is_registered for c in classes), hasattr(bpy.types.Scene, "neural_morph"),
              hasattr(bpy.types, "VIEW3D_PT_neural_morph"))
        mod.unregister()
        print("LEFT", [c.__name__ for c in classes if c.is_registered],
              hasattr(bpy.types.Scene, "neural_morph"), hasattr(bpy.types, "VIEW3D_PT_neural_morph"),
              "fit" in dir(bpy.ops.neural_morph))
    """)
    assert "REGISTERED True True True" in out
    assert "LEFT [] False False False" in out


USER_SCRIPT = """
import bpy
bpy.ops.neural_morph.fit(target="Suzanne", iterations=20, points=128, resolution=2)
bpy.ops.wm.save_mainfile()
"""


def test_headless_user_script_fits_and_saves(built_zip, tmp_path):
    blend = tmp_path / "scene.blend"
    run_python(f"""
        import bpy
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.mesh.primitive_monkey_add()
        bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})
    """)
    script = tmp_path / "user_script.py"
    script.write_text(USER_SCRIPT)
    out = run_python("import runpy; runpy.run_module('tests.launcher', run_name='__main__')",
                     blend, script, built_zip)
    assert "Neural Morph: iteration 20/20" in out
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    try:
        morph = bpy.data.objects["Suzanne Morph"]
        assert morph["neural_morph_iterations"] == 20
        assert len(morph.data.vertices) >= 162
    finally:
        bpy.ops.wm.read_homefile(use_empty=True)


# Run with `python -c` in the repository root (root first on sys.path, as for any module
# run from there) and signalled mid-fit, so it needs a process of its own.
CTRL_C_SCRIPT = """
import bpy
from tests.blender import conftest
conftest.addon.register()
try:
    bpy.ops.mesh.primitive_monkey_add()
    before = len(bpy.data.objects), len(bpy.data.meshes)
    result = bpy.ops.neural_morph.fit(iterations=100000, points=64, resolution=1)
    print("RESULT", result, "UNCHANGED", before == (len(bpy.data.objects), len(bpy.data.meshes)), flush=True)
finally:
    conftest.addon.unregister()
"""


def test_ctrl_c_in_background_stops_without_leaving_anything(tmp_path):
    import signal

    def as_in_a_terminal():
        # a shell's background job (`make test &`, nohup) ignores SIGINT, and a child
        # inherits that: Ctrl+C reaches Blender in a terminal, so the child hears it here
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=str(ROOT),
                            preexec_fn=as_in_a_terminal)
    for line in proc.stdout:
        if "Neural Morph: iteration" in line:
            proc.send_signal(signal.SIGINT)
            break
    out = proc.communicate(timeout=300)[0]  # a loaded machine needs a while to unwind
    assert proc.returncode == 0, out[-2000:]
    assert "RESULT {'CANCELLED'} UNCHANGED True" in out
    assert "cancelled; nothing was created" in out
