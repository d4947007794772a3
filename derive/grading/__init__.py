"""``derive grade``: a class's submissions graded against a TOML answer key.

``key`` reads and validates the key (exit 2 naming the file and line for a bad one), ``answers``
finds each question's answer in a submission by its left side, ``run`` grades submissions in
parallel with per-submission limits (one bad submission is reported for that student only), and
``report`` writes the gradebook, feedback and the Gradescope / PrairieLearn results files. The
verdicts are ``derive check``'s (``derive.check.Checker``); nothing here re-derives anything.
"""
