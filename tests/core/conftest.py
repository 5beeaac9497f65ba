"""core/ tests run in plain Python: the repository root becomes the package `neural_morph`
without running its __init__.py (which registers Blender classes), so nothing here can
import bpy by accident."""
import pathlib
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _package():
    if "neural_morph" not in sys.modules:
        package = types.ModuleType("neural_morph")
        package.__path__ = [str(ROOT)]
        sys.modules["neural_morph"] = package
    return sys.modules["neural_morph"]


_package()
