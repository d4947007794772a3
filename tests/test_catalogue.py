"""The course catalogue on the existing engine (issue 9): activations, losses and options added as
local registry rules, checked against PyTorch float64 autograd and SymPy's ``diff``.

- Registering an activation changes no other activation's derivation or code: an activation is
  known by the entry its applied function carries, never by matching its formula.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

import derive
from derive import activations
from derive.render.latex import fragment
from derive.render.numpy import module_source
from derive.spec import parse_spec

RELU_SPEC = """
name = "relu-net"
inputs = "M"
loss = "mse"
[[layers]]
units = "K"
activation = "relu"
[[layers]]
units = 1
activation = "softplus"
"""


def _outputs() -> tuple[str, str, str]:
    d = derive.derive(parse_spec(RELU_SPEC))
    return module_source(d), fragment(d), str(d.to_dict())


def test_registering_an_activation_changes_no_other_derivation(monkeypatch):
    before = _outputs()
    # An entry whose formula, matched as a pattern, would match parts of others (the 0 of
    # relu's Heaviside(z, 0), softplus's sigmoid): registering it must change nothing else.
    extra = dataclasses.replace(
        activations.ACTIVATIONS["identity"],
        name="probe",
        forward=lambda z: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
        derivative=lambda z, a: (1 + sp.erf(z / sp.sqrt(2))) / 2
        + z * sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi),
    )
    monkeypatch.setitem(activations.ACTIVATIONS, "probe", extra)
    assert _outputs() == before
