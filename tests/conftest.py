"""Test-wide settings. Hypothesis runs derandomized by default, locally as in CI: the README's
test command is reproducible, takes the time CI takes, and a failure is one anybody can replay.
The property tests' reference (SymPy's diff of the composed loss) grows exponentially with depth
on some specs (a random local run drew depth-4 specs with layer norm that each took over 20 s),
so new examples are explored on request: HYPOTHESIS_PROFILE=explore python -m pytest ..."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
