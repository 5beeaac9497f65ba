"""core imports neither bpy nor (until a fit is asked for) torch, torchdiffeq or scipy; its
modules import each other without a circle, and no public name is a submodule's. The command
line's bpy-free half (commandline.py) imports core only, and neither bpy nor torch."""
import ast
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


def core_imports():
    """{module: core modules it imports (at the top or inside a function)}."""
    names = {path.stem for path in (ROOT / "core").glob("*.py")}
    graph = {}
    for path in (ROOT / "core").glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= ({node.module.split(".")[0]} if node.module else {a.name for a in node.names})
        graph[path.stem] = found & names
    return graph


def test_core_modules_import_each_other_without_a_circle():
    graph, done = core_imports(), set()
    assert "fitted_flow" in graph["storage"] and "storage" not in graph["fitted_flow"]

    def visit(name, path):
        assert name not in path, "import circle: " + " -> ".join(path[path.index(name):] + [name])
        if name not in done:
            for other in sorted(graph[name]):
                visit(other, path + [name])
            done.add(name)
    for name in sorted(graph):
        visit(name, [])


def test_no_public_name_is_shadowed_by_its_submodule():
    # importing a submodule sets the package attribute of its name: a public function
    # named like its module (core.fit in core/fit.py) would turn into the module
    out = run("import importlib, pathlib, types\n"
              f"for path in pathlib.Path({str(ROOT / 'core')!r}).glob('*.py'):\n"
              "    importlib.import_module('neural_morph.core.' + path.stem)\n"
              "print(sorted(n for n in core.__all__ if isinstance(getattr(core, n), types.ModuleType)))")
    assert out.strip() == "[]"


def test_commandline_imports_core_only_and_neither_bpy_nor_torch():
    out = run("import neural_morph.commandline as cl\n"
              "cl.build_parser().parse_args(['fit', 'x.obj', '-o', 'o'])\n"
              "print(sorted(m for m in ('torch', 'torchdiffeq', 'scipy', 'bpy') if m in sys.modules))")
    assert out.strip() == "[]"
    project = set()
    for node in ast.walk(ast.parse((ROOT / "commandline.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            project |= ({node.module.split(".")[0]} if node.module else {a.name for a in node.names})
    assert project == {"core"}
