"""Build, install and check the extension zip: extension, wheels, winpaths, check_install."""
