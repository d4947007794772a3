#!/usr/bin/env bash
# PrairieLearn external grader entrypoint (externalGradingOptions.entrypoint); the key in the question's tests/.
derive grade /grade/tests/key.toml /grade/student --format prairielearn -o /grade/results/results.json
