"""Run a user's script the way `blender -b FILE.blend --python SCRIPT` would see it.

    python -m tests.launcher FILE.blend SCRIPT.py EXTENSION.zip      # from the repository root

Opens the .blend, installs and enables the extension from the zip in a throwaway user
repository (like an installed extension that is enabled in the preferences), runs the
unchanged script with runpy, then disables the extension so the process can exit.
"""
import os
import runpy
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="neural_morph_user_"))

import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)

from tools.build import extension  # noqa: E402


def main(blend, script, zip_path):
    with extension.installed(zip_path):
        bpy.ops.wm.open_mainfile(filepath=blend)
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(*sys.argv[1:4])
