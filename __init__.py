# SPDX-License-Identifier: GPL-3.0-or-later
"""Neural Morph: flow a unit sphere onto any mesh with a learned Neural ODE."""
from . import operators, ui


def register():
    ui.register()
    operators.register()


def unregister():
    operators.unregister()
    ui.unregister()
