# SPDX-License-Identifier: GPL-3.0-or-later
"""Neural Morph: flow a unit sphere onto any mesh with a learned Neural ODE."""
import sys

from . import api, operators, ui
from .blender import cli


def register():
    ui.register()
    operators.register()
    sys.modules[api.ALIAS] = api  # `import neural_morph_api` wherever the extension lives
    cli.register()  # blender -c neural_morph ...


def unregister():
    cli.unregister()
    if sys.modules.get(api.ALIAS) is api:
        del sys.modules[api.ALIAS]
    operators.unregister()
    ui.unregister()
