"""Hand-written NumPy references (no derive code): models written the way a careful engineer
writes them, for the benchmarks to time generated code against and for the tests to check.

``hand_residual_layernorm`` is examples/residual-layernorm.toml: inputs M; layer 1, K tanh units
after layer norm; layer 2, K relu units after layer norm, plus layer 1's output (skip = 1);
layer 3, C softmax units; cross-entropy; L2 weight decay (l2 / 2) * sum of every weight squared
on the batch's mean loss. Layer norm is PyTorch's (biased variance, eps inside the root), and
its backward the compact CS231n form, dz = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std.
Parameters: W1 (K, M), b1, gamma1, beta1 (K,); W2 (K, K), b2, gamma2, beta2 (K,); W3 (C, K),
b3 (C,). X is (n, M), y one-hot rows (n, C).
"""

from __future__ import annotations

import numpy as np


def layernorm_forward(z, gamma, beta, eps):
    """gamma * (z - mean) / sqrt(var + eps) + beta over each row; (output, (xhat, rstd))."""
    centred = z - z.mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + eps)
    xhat = centred * rstd
    return gamma * xhat + beta, (xhat, rstd)


def layernorm_backward(dout, gamma, cache):
    """(dz, dgamma, dbeta) from the upstream gradient ``dout`` of layernorm_forward's output."""
    xhat, rstd = cache
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dz = rstd * (dxhat - dxhat.mean(axis=1, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
    return dz, dgamma, dbeta


def softmax_ce(z, y):
    """(softmax rows, mean cross-entropy) from one exp shifted by the row maximum."""
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s[:, 0]) + top[:, 0] - (y * z).sum(axis=1)).mean()
    return e / s, loss


def hand_residual_layernorm(params, X, y, l2=1e-3, eps=1e-5):
    """(mean loss + weight decay, gradients keyed like ``params``)."""
    W1, b1, g1, be1 = params["W1"], params["b1"], params["gamma1"], params["beta1"]
    W2, b2, g2, be2 = params["W2"], params["b2"], params["gamma2"], params["beta2"]
    W3, b3 = params["W3"], params["b3"]
    n = X.shape[0]

    u1, cache1 = layernorm_forward(X @ W1.T + b1, g1, be1, eps)
    a1 = np.tanh(u1)
    u2, cache2 = layernorm_forward(a1 @ W2.T + b2, g2, be2, eps)
    a2 = np.maximum(u2, 0.0) + a1
    p, loss = softmax_ce(a2 @ W3.T + b3, y)
    loss += 0.5 * l2 * ((W1 * W1).sum() + (W2 * W2).sum() + (W3 * W3).sum())

    dz3 = (p - y) / n
    da2 = dz3 @ W3
    dz2, dg2, dbe2 = layernorm_backward(da2 * (u2 > 0), g2, cache2)
    da1 = dz2 @ W2 + da2  # the skip: layer 1's output reaches the loss by both paths
    dz1, dg1, dbe1 = layernorm_backward(da1 * (1.0 - a1 * a1), g1, cache1)
    return float(loss), {
        "W1": dz1.T @ X + l2 * W1, "b1": dz1.sum(axis=0), "gamma1": dg1, "beta1": dbe1,
        "W2": dz2.T @ a1 + l2 * W2, "b2": dz2.sum(axis=0), "gamma2": dg2, "beta2": dbe2,
        "W3": dz3.T @ a2 + l2 * W3, "b3": dz3.sum(axis=0),
    }
