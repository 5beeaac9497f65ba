"""core imports neither bpy nor (until a fit is asked for) torch, torchdiffeq or scipy."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

IMPORT_CORE = f"""
import sys, types
package = types.ModuleType("neural_morph"); package.__path__ = [{str(ROOT)!r}]
sys.modules["neural_morph"] = package
import neural_morph.core as core
"""


def run(code):
    proc = subprocess.run([sys.executable, "-c", IMPORT_CORE + code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_core_never_imports_bpy():
    out = run("core.fit; core.FittedFlow; core.FitJob; core.run_fit; core.blend_states\n"
              "import neural_morph.core.metrics, neural_morph.core.losses\n"
              "print('bpy' in sys.modules)")
    assert out.strip() == "False"


def test_import_core_leaves_torch_out():
    out = run("core.user_settings(iterations=30); core.sphere_uvs(2); core.FitSettings\n"
              "print(sorted(m for m in ('torch', 'torchdiffeq', 'scipy', 'bpy') if m in sys.modules))")
    assert out.strip() == "[]"


def test_torch_backed_names_load_on_first_use():
    out = run("import inspect; print(inspect.isfunction(core.fit), core.FittedFlow.__name__, "
              "'torch' in sys.modules)")
    assert out.split() == ["True", "FittedFlow", "True"]
