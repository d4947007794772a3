"""Benchmark: generated recurrent ``loss_and_grad`` vs hand-written NumPy backpropagation through time.

The two example specs (examples/rnn-many-to-one.toml: tanh recurrent layer, sigmoid on h_T,
binary cross-entropy; examples/rnn-many-to-many.toml: softmax at every step, cross-entropy summed
over the steps) against a careful hand-written NumPy implementation of each: the input part
``X U^T + b`` in one product for all steps, one matrix product per step each way, the weight
gradients as one product over the (example, step) rows, softmax shifted by its row maximum, the
1/n of the mean applied once. Interleaved in one process on the same inputs (rotating which goes
first); medians of many calls; the generated code keeps its argument checks.

    python bench/bench_rnn.py            # prints the table
    python bench/bench_rnn.py --write    # also writes its section of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# One BLAS thread: on a shared machine, threads contending for cores swamp the ratio being measured.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import write_section  # noqa: E402

from derive import derive  # noqa: E402
from derive.render.numpy import module_source  # noqa: E402
from derive.verify import load_module  # noqa: E402

HEADING = "## Recurrent layer, generated code (issue 10)"
TARGET = 1.10
SIZES = {"small": dict(n=16, T=8, M=8, K=16, C=4), "medium": dict(n=64, T=32, M=16, K=64, C=10)}


def _states(X, W, U, b):
    n, T, _ = X.shape
    K = W.shape[0]
    inputs = X @ U.T + b
    H = np.empty((n, T, K))
    h = np.zeros((n, K))
    for t in range(T):
        h = np.tanh(inputs[:, t] + h @ W.T)
        H[:, t] = h
    return H


def _through_time(dH_head, H, X, W, last: bool):
    """BPTT: dH_head is dL/dh from the head ((n, K) for the last step, or (n, T, K))."""
    n, T, K = H.shape
    D = np.empty_like(H)
    dz = np.zeros((n, K))
    for t in reversed(range(T)):
        dh = dz @ W
        if not last:
            dh += dH_head[:, t]
        elif t == T - 1:
            dh += dH_head
        dz = dh * (1 - H[:, t] ** 2)
        D[:, t] = dz
    dW = D[:, 1:].reshape(-1, K).T @ H[:, :-1].reshape(-1, K)
    dU = D.reshape(-1, K).T @ X.reshape(-1, X.shape[2])
    return dW, dU, D.sum(axis=(0, 1))


def hand_last(params, X, y):
    W, U, b, w2, b2 = (params[k] for k in ("W", "U", "b", "w2", "b2"))
    n = X.shape[0]
    H = _states(X, W, U, b)
    h = H[:, -1]
    z = h @ w2 + b2
    loss = np.logaddexp(0.0, (1.0 - 2.0 * y) * z).sum() / n
    e = np.exp(-np.abs(z))
    a = np.where(z >= 0, 1.0, e) / (1.0 + e)
    d2 = (a - y) / n
    dW, dU, db = _through_time(np.outer(d2, w2), H, X, W, last=True)
    return loss, {"W": dW, "U": dU, "b": db, "w2": h.T @ d2, "b2": np.asarray(d2.sum())}


def hand_all(params, X, y):
    W, U, b, W2, b2 = (params[k] for k in ("W", "U", "b", "W2", "b2"))
    n, T, _ = X.shape
    K = W.shape[0]
    H = _states(X, W, U, b)
    rows = H.reshape(-1, K)
    z = rows @ W2.T + b2
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    Y = y.reshape(n * T, -1)
    loss = (lse - (Y * z).sum(axis=1)).sum() / n
    d2 = (np.exp(z - lse[:, None]) - Y) / n
    dW, dU, db = _through_time((d2 @ W2).reshape(n, T, K), H, X, W, last=False)
    return loss, {"W": dW, "U": dU, "b": db, "W2": d2.T @ rows, "b2": d2.sum(axis=0)}


def instance(module, example: str, sizes: dict, rng: np.random.Generator):
    params = {k: v + rng.normal(scale=0.3, size=np.shape(v))
              for k, v in module.init_params({"M": sizes["M"], "K": sizes["K"], "C": sizes["C"]}).items()}
    n, T = sizes["n"], sizes["T"]
    X = rng.normal(size=(n, T, sizes["M"]))
    if example == "last":
        return params, X, rng.integers(0, 2, size=n).astype(np.float64)
    return params, X, np.eye(sizes["C"])[rng.integers(0, sizes["C"], size=(n, T))]


def median_times(functions, args, calls: int) -> list[float]:
    samples: list[list[float]] = [[] for _ in functions]
    for call in range(calls):
        order = list(range(len(functions)))
        order = order[call % len(order):] + order[:call % len(order)]
        for i in order:
            start = time.perf_counter()
            functions[i](*args)
            samples[i].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def run(calls: int) -> tuple[str, bool]:
    rng = np.random.default_rng(0)
    lines = ["| model | sizes | generated (ms) | hand-written (ms) | ratio | target |",
             "|---|---|---|---|---|---|"]
    ok = True
    for example, hand in (("last", hand_last), ("all", hand_all)):
        path = ROOT / "examples" / f"rnn-many-to-{'one' if example == 'last' else 'many'}.toml"
        module = load_module(module_source(derive(str(path))), f"bench_rnn_{example}")
        for sizes in SIZES.values():
            args = instance(module, example, sizes, rng)
            got, want = module.loss_and_grad(*args), hand(*args)
            assert abs(got[0] - want[0]) <= 1e-12 * abs(want[0])
            for name in want[1]:
                # Norm-wise: through 32 steps an element near 0 carries the rounding of its larger
                # neighbours (BLAS's summation order varies by machine), 4e-12 of a 3.6 maximum.
                error = np.linalg.norm(got[1][name] - want[1][name])
                assert error <= 1e-10 * np.linalg.norm(want[1][name]), (name, error)
            generated, handwritten = median_times([module.loss_and_grad, hand], args, calls)
            ratio = generated / handwritten
            ok &= ratio <= TARGET
            shown = ", ".join(f"{k}={v}" for k, v in sizes.items() if example == "all" or k != "C")
            lines.append(f"| {path.name} | {shown} | {generated * 1e3:.3f} | {handwritten * 1e3:.3f} | "
                         f"{ratio:.2f}x | <= {TARGET}x {'PASS' if ratio <= TARGET else 'FAIL'} |")
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    table, ok = run(args.calls)
    text = NOTES.format(calls=args.calls, python=platform.python_version(), numpy=np.__version__, table=table)
    print(text)
    if args.write:
        write_section(HEADING, text)
    return 0 if ok else 1


NOTES = f"""{HEADING}

`python bench/bench_rnn.py`: the generated `loss_and_grad` of the two recurrent examples (argument
checks included) against hand-written NumPy backpropagation through time (bench/bench_rnn.py),
median of {{calls}} interleaved calls each, float64, one BLAS thread (the machine is shared),
Python {{python}}, NumPy {{numpy}}. Both give the same loss and gradients (checked first: the loss to 1e-12,
each gradient to 1e-10 of its norm).

{{table}}
"""


if __name__ == "__main__":
    sys.exit(main())
