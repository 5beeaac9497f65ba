"""The add-on's package name and what its preferences say."""

# The add-on's package name (`neural_morph`, or `bl_ext.<repo>.neural_morph` as an extension).
PACKAGE = __package__.rpartition(".")[0]


def preferred_device(context):
    """The compute device chosen in the add-on preferences ("cpu" when unset)."""
    addon = context.preferences.addons.get(PACKAGE)
    return getattr(addon.preferences, "device", "cpu").lower() if addon and addon.preferences else "cpu"
