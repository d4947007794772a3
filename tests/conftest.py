"""Test-wide settings. In CI (CI=true) hypothesis runs derandomized, so a run is reproducible and a
failure there is one anybody can replay; locally it keeps exploring new examples."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
