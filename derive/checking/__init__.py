"""The parts of ``derive check``, one promise per module, in the order an equation meets them.

``quantities``: written names -> the model's quantities. ``binding``: indices and sum ranges,
decided statically. ``instances``: random model-consistent instances and the model's own numeric
derivatives. ``evaluate``: a side's value at one instance and index assignment. ``compare``:
agreement of two sides and the kind of difference. ``symbolic`` and ``proof``: the same sides as
SymPy expressions at small concrete sizes and the time-limited proof attempt. ``derive.check``
orchestrates them and reports.
"""
