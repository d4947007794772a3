"""An independent reference for generated code: a spec's model in PyTorch float64, by autograd.

The forward pass is written here from the spec alone with ``torch.nn.functional`` (never from
derive's derivation): for each layer ``z = a_prev W^T (+ b)``, then ``F.layer_norm`` with weight
``gamma`` and bias ``beta`` when ``norm = "layer"``, then the activation, then ``+ a^(skip)`` when
the layer has a skip (``a^(0)`` is the inputs). The loss is the batch's mean of the per-example
loss, plus ``(l2 / 2) * sum of every weight squared`` (biases, gamma and beta excluded) once per
batch. A conv model (``kind = "conv"``) runs ``F.conv1d`` / ``F.conv2d`` (stride 1, no padding)
and its activation per conv layer, ``torch.flatten(start_dim=1)``, then its dense layers. Only the
parameter *names* come from derive (``derive.naming``), as generated code uses them.

    loss, grads = loss_and_grad(spec, {"M": 3, "K": 4, "C": 3}, params, X, y)

``grads`` is keyed and shaped like ``params``, as a generated ``loss_and_grad`` returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from derive.naming import LayerNames, names
from derive.spec import ModelSpec

Tensor = torch.Tensor

# name -> (the activation's parameters, as the spec sets them) -> elementwise (or row) function.
TORCH_ACTIVATIONS: dict[str, Callable[[Mapping[str, float]], Callable[[Tensor], Tensor]]] = {
    "identity": lambda p: lambda z: z,
    "sigmoid": lambda p: torch.sigmoid,
    "tanh": lambda p: torch.tanh,
    "relu": lambda p: F.relu,  # relu'(0) = 0
    "softplus": lambda p: F.softplus,
    "softmax": lambda p: lambda z: F.softmax(z, dim=1),
    "leaky_relu": lambda p: lambda z: F.leaky_relu(z, p.get("alpha", 0.01)),
    "elu": lambda p: lambda z: F.elu(z, p.get("alpha", 1.0)),
    "silu": lambda p: F.silu,
    "gelu": lambda p: F.gelu,  # approximate="none": the erf form
    "softsign": lambda p: F.softsign,
}

LOSSES = ("bce", "ce", "mse", "svm", "hinge", "huber")


def torch_activation(name: str, parameters: Mapping[str, float]) -> Callable[[Tensor], Tensor]:
    """The activation ``name`` with the spec's parameter values (``alpha``), in PyTorch."""
    if name not in TORCH_ACTIVATIONS:
        raise KeyError(f"no PyTorch reference for activation {name!r}; known: {', '.join(TORCH_ACTIVATIONS)}")
    return TORCH_ACTIVATIONS[name](parameters)


def _labels(y: Tensor) -> Tensor:
    """Class labels from one-hot rows (n, C), or from (n,) labels as they are."""
    if y.ndim == 1:
        return y.long()
    if not bool(((y == 0) | (y == 1)).all() and (y.sum(dim=1) == 1).all()):
        raise ValueError("the reference takes one-hot rows (or integer labels) for this loss")
    return y.argmax(dim=1)


def torch_loss(loss: str, a: Tensor, y: Tensor) -> Tensor:
    """Per-example loss of output ``a`` ((n,) or (n, C)) against ``y``, from PyTorch's own loss
    functions where it has them. svm, hinge and huber read an identity output, so ``a`` is z."""
    n = a.shape[0]
    if loss == "mse":
        return 0.5 * ((a - y) ** 2).reshape(n, -1).sum(dim=1)
    if loss == "bce":
        return F.binary_cross_entropy(a, y, reduction="none")
    if loss == "ce":
        if y.ndim == 2:  # rows of class probabilities: -sum_c y_c log a_c
            return -(y * torch.log(a)).sum(dim=1)
        return F.nll_loss(torch.log(a), y.long(), reduction="none")
    if loss == "svm":  # PyTorch's multi-class margin loss averages over the classes; ours sums
        return F.multi_margin_loss(a, _labels(y), margin=1.0, reduction="none") * a.shape[1]
    if loss == "hinge":  # max(0, .) as PyTorch's relu, whose derivative at 0 is 0
        return F.relu(1 - (2 * y - 1) * a)
    if loss == "huber":
        return F.huber_loss(a, y, delta=1.0, reduction="none").reshape(n, -1).sum(dim=1)
    raise KeyError(f"no PyTorch reference for loss {loss!r}; known: {', '.join(LOSSES)}")


# --- parameters: names from derive.naming, shapes from the spec ----------------------------------


def norm_names(layer: LayerNames) -> tuple[str, str]:
    """``(gamma{l}, beta{l})`` of a normalised layer, suffixed as the layer's other quantities
    (``z{l}``): by its number when the model has more than one layer."""
    suffix = layer.z.name[1:]
    return f"gamma{suffix}", f"beta{suffix}"


def _width(value: int | str, sizes: Mapping[str, int]) -> int:
    if isinstance(value, int):
        return value
    if value not in sizes:
        raise ValueError(f"no value for size {value!r} (sizes given: {dict(sizes)})")
    return int(sizes[value])


def _conv_shapes(spec: ModelSpec, sizes: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    """A conv model's parameters: per conv layer W (K, C, *kernel) and b (K,), numbered 1, 2, ...;
    then the dense layers after flatten as a dense model over the flattened width (C order)."""
    from derive.conv import conv_layers

    shape = [_width(s, sizes) for s in spec.input_shape]
    channels, spatial = shape[0], shape[1:]
    shapes: dict[str, tuple[int, ...]] = {}
    convs = [layer for layer in spec.layers if layer.kind == "conv"]
    for layer, named in zip(convs, conv_layers(spec), strict=True):
        kernel = [_width(r, sizes) for r in layer.kernel]
        units = _width(layer.units, sizes)
        shapes[named.w.name] = (units, channels, *kernel)
        if layer.bias:
            shapes[named.b.name] = (units,)
        channels, spatial = units, [n - r + 1 for n, r in zip(spatial, kernel, strict=True)]
    head = ModelSpec(spec.name, int(channels * np.prod(spatial)), tuple(layer for layer in spec.layers
                     if layer.kind == "dense"), spec.loss)
    dense = parameter_shapes(head, sizes, after=len(convs))
    return {**shapes, **dense}


def parameter_shapes(spec: ModelSpec, sizes: Mapping[str, int], after: int = 0) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape at ``sizes``: per layer its weight, bias (if any), then
    ``gamma`` and ``beta`` (if normalised). A side of width 1 is dropped, as generated code does.
    A conv model: ``_conv_shapes``; ``after``: a dense head numbered after that many conv layers."""
    if spec.convolutional:
        return _conv_shapes(spec, sizes)
    widths = [_width(w, sizes) for w in spec.sizes()]
    shapes: dict[str, tuple[int, ...]] = {}
    named_layers = names(spec, offset=after).layers
    for position, (layer, named) in enumerate(zip(spec.layers, named_layers, strict=True), start=1):
        units, fan_in = widths[position], widths[position - 1]
        unit_dims = (units,) if units != 1 else ()
        shapes[named.w.name] = unit_dims + ((fan_in,) if fan_in != 1 else ())
        if layer.bias:
            shapes[named.b.name] = unit_dims
        if layer.norm is not None:
            gamma, beta = norm_names(named)
            shapes[gamma] = shapes[beta] = unit_dims  # shaped as the bias
    return shapes


def weight_names(spec: ModelSpec) -> tuple[str, ...]:
    """The parameters weight decay applies to: every weight, no bias, gamma or beta."""
    return tuple(layer.w.name for layer in names(spec).layers)


def random_params(spec: ModelSpec, sizes: Mapping[str, int], rng: np.random.Generator,
                  scale: float = 0.8) -> dict[str, np.ndarray]:
    """Parameters of order one: weights and biases N(0, scale^2), gamma 1 + N(0, scale^2)."""
    params = {}
    for name, shape in parameter_shapes(spec, sizes).items():
        centre = 1.0 if name.startswith("gamma") else 0.0
        params[name] = np.asarray(centre + rng.normal(scale=scale, size=shape))
    return params


def random_data(spec: ModelSpec, sizes: Mapping[str, int], n: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X (n, M) normal; y as the loss takes it (0/1 labels, one-hot rows, or reals)."""
    inputs = [_width(s, sizes) for s in spec.input_shape] or [_width(spec.inputs, sizes)]
    outputs = _width(spec.layers[-1].units, sizes)
    X = rng.normal(size=(n, *inputs))
    if spec.loss in ("bce", "hinge"):
        return X, rng.integers(0, 2, size=n).astype(np.float64)
    if spec.loss in ("ce", "svm"):
        return X, np.eye(outputs)[rng.integers(0, outputs, size=n)]
    y = rng.normal(scale=2.0, size=(n, outputs) if outputs != 1 else n)  # huber: both sides of 1
    return X, y


def _check(spec: ModelSpec, sizes: Mapping[str, int], params: Mapping[str, np.ndarray]) -> None:
    expected = parameter_shapes(spec, sizes)
    if set(params) != set(expected):
        raise ValueError(f"params have {sorted(params)}; the spec's are {sorted(expected)}")
    for name, shape in expected.items():
        if np.shape(params[name]) != shape:
            raise ValueError(f"{name} is {np.shape(params[name])}; the spec at {dict(sizes)} needs {shape}")


# --- the model ----------------------------------------------------------------------------------


def _conv_forward(spec: ModelSpec, tensors: Mapping[str, Tensor], X: np.ndarray) -> Tensor:
    """A conv model: F.conv1d / F.conv2d (stride 1, no padding) and the activation per conv layer,
    torch.flatten(start_dim=1), then each dense layer ``a W^T + b`` and its activation."""
    h = torch.as_tensor(np.asarray(X, dtype=np.float64))
    number = 0
    for layer in spec.layers:
        if layer.kind == "flatten":
            h = torch.flatten(h, start_dim=1)
            continue
        number += 1
        w = tensors[f"W{number}"] if f"W{number}" in tensors else tensors[f"w{number}"]
        b = tensors.get(f"b{number}")
        if layer.kind == "conv":
            z = (F.conv1d if h.ndim == 3 else F.conv2d)(h, w, b)
        else:
            z = h @ w.reshape(-1, h.shape[1]).T
            z = z + b.reshape(-1) if b is not None else z
        h = torch_activation(layer.activation, dict(layer.parameters))(z)
    return h


def _forward(spec: ModelSpec, tensors: Mapping[str, Tensor], X: np.ndarray) -> Tensor:
    """The output layer's activation, (n, C), from the spec's layers in order."""
    if spec.convolutional:
        return _conv_forward(spec, tensors, X)
    x = torch.as_tensor(np.asarray(X, dtype=np.float64))
    outputs = [x.reshape(x.shape[0], -1)]  # a^(0), a^(1), ...: the skips' sources
    for layer, named in zip(spec.layers, names(spec).layers, strict=True):
        h = outputs[-1]
        z = h @ tensors[named.w.name].reshape(-1, h.shape[1]).T
        if layer.bias:
            z = z + tensors[named.b.name].reshape(-1)
        if layer.norm == "layer":
            gamma, beta = norm_names(named)
            z = F.layer_norm(z, (z.shape[1],), weight=tensors[gamma], bias=tensors[beta], eps=layer.eps)
        elif layer.norm == "batch":  # training mode: the batch's statistics, the biased variance
            gamma, beta = norm_names(named)
            z = F.batch_norm(z, None, None, weight=tensors[gamma].reshape(-1), bias=tensors[beta].reshape(-1),
                             training=True, eps=layer.eps)
        elif layer.norm is not None:
            raise KeyError(f"no PyTorch reference for norm {layer.norm!r}")
        a = torch_activation(layer.activation, dict(layer.parameters))(z)
        if layer.skip is not None:
            a = a + outputs[layer.skip]
        outputs.append(a)
    return outputs[-1]


def _tensors(params: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
    return {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}


def forward(spec: ModelSpec, sizes: Mapping[str, int], params: Mapping[str, np.ndarray],
            X: np.ndarray) -> np.ndarray:
    """The model's predictions: (n, C), or (n,) for an output of one unit."""
    _check(spec, sizes, params)
    with torch.no_grad():
        a = _forward(spec, _tensors(params), X)
    return (a if a.shape[1] != 1 else a[:, 0]).numpy()


def loss_and_grad(
    spec: ModelSpec,
    sizes: Mapping[str, int],
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    l2: float | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """(mean loss + weight decay, gradients keyed and shaped like ``params``) by PyTorch float64
    autograd. ``l2`` is the value of a symbolic ``l2`` (required then); a numeric one is the spec's."""
    _check(spec, sizes, params)
    if isinstance(spec.l2, str) and l2 is None:
        raise ValueError(f"the spec's l2 is the symbol {spec.l2!r}: pass its value as l2=")
    if isinstance(spec.l2, float) and l2 is not None and l2 != spec.l2:
        raise ValueError(f"the spec's l2 is {spec.l2}; got l2={l2}")
    strength = spec.l2 if isinstance(spec.l2, float) else l2
    tensors = _tensors(params)
    a = _forward(spec, tensors, X)
    if a.shape[1] == 1:
        a = a[:, 0]
    target = torch.as_tensor(np.asarray(y, dtype=np.float64))
    total = torch_loss(spec.loss, a, target).mean()
    if strength is not None:
        total = total + strength / 2 * sum((tensors[w] ** 2).sum() for w in weight_names(spec))
    total.backward()
    grads = {}
    for name, tensor in tensors.items():
        assert tensor.grad is not None, name  # every parameter reaches the loss
        grads[name] = tensor.grad.numpy().copy()
    return float(total.item()), grads
