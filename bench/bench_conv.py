"""Benchmark: generated conv ``loss_and_grad`` vs hand-written NumPy and PyTorch CPU (issue 10).

The model: inputs (C, H, W), one 2-D conv layer (16 channels, kernel 3, relu), flatten, a dense
softmax layer of 10 units, cross-entropy; at a small size and a CIFAR-like one (n = 64, 3 x 32 x 32).
The hand-written version is what a careful engineer writes with NumPy: the window through
``sliding_window_view``, the convolution and the weight gradient by ``np.einsum(optimize=True)``,
softmax shifted by its row maximum, the gradient of the mean loss scaled by 1/n once; it checks no
argument (the generated module does). PyTorch: ``F.conv2d``, ``F.linear``, ``F.cross_entropy`` and
``backward()`` on CPU, with one thread and with its default threads. Everything in float32 and
float64 (the arithmetic follows the inputs' dtype); all run interleaved in one process on the same
inputs, and the reported numbers are ratios of medians. The generated and hand-written results are
checked equal before timing.

    python bench/bench_conv.py            # prints the table and writes it into bench/RESULTS.md
    python bench/bench_conv.py --quick    # fewer repetitions, nothing written
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import write_section  # noqa: E402

from derive import derive  # noqa: E402
from derive.render.dispatch import module_source  # noqa: E402
from derive.spec import parse_spec  # noqa: E402
from derive.verify import load_module  # noqa: E402

SECTION = "## Generated convolution code (issue 10)"
TARGET = 1.5
SIZES = {
    "small": dict(n=16, C=2, H=12, W=12, K=4, R=3, classes=10),
    "CIFAR-like": dict(n=64, C=3, H=32, W=32, K=16, R=3, classes=10),
}
REPEATS = {"small": 400, "CIFAR-like": 30}
SPEC = """name = "bench-conv"
inputs = ["C", "H", "V"]
loss = "ce"

[[layers]]
kind = "conv"
channels = "K"
kernel = "R"
activation = "relu"

[[layers]]
kind = "flatten"

[[layers]]
units = "J"
activation = "softmax"
"""


def hand_conv(params, X, y):
    """(mean cross-entropy, gradients): conv (valid, stride 1) + relu, flatten, dense softmax."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(X, W1.shape[2:], axis=(2, 3))
    z1 = np.einsum("nchwrs,kcrs->nkhw", windows, W1, optimize=True) + b1[:, None, None]
    a1 = np.maximum(z1, 0.0)
    flat = a1.reshape(n, -1)
    z2 = flat @ W2.T + b2
    top = z2.max(axis=1, keepdims=True)
    e = np.exp(z2 - top)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s[:, 0]) + top[:, 0] - (y * z2).sum(axis=1)).mean()
    d2 = (e / s - y) / n
    dW2 = d2.T @ flat
    db2 = d2.sum(axis=0)
    d1 = (d2 @ W2).reshape(a1.shape) * (z1 > 0)
    dW1 = np.einsum("nkhw,nchwrs->kcrs", d1, windows, optimize=True)
    db1 = d1.sum(axis=(0, 2, 3))
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def torch_step(torch, F):
    def step(tensors, X, labels):
        for t in tensors.values():
            t.grad = None
        z1 = F.conv2d(X, tensors["W1"], tensors["b1"])
        z2 = F.linear(torch.flatten(F.relu(z1), 1), tensors["W2"], tensors["b2"])
        loss = F.cross_entropy(z2, labels)
        loss.backward()
        return loss

    return step


def timings(functions: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, interleaved (the order rotated every round)."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    names = list(functions)
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.perf_counter()
            functions[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def run(quick: bool) -> tuple[str, bool]:
    spec = parse_spec(SPEC)
    module = load_module(module_source(derive(spec)), "bench_conv_generated")
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:  # pragma: no cover - torch is optional here
        torch = None
    lines = ["| size | dtype | generated (ms) | hand-written (ms) | ratio | target | "
             "PyTorch 1 thread (ms) | generated / PyTorch 1 | PyTorch default (ms) | "
             "generated / PyTorch default |", "|---|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for label, size in SIZES.items():
        sizes = {"C": size["C"], "H": size["H"], "V": size["W"], "K": size["K"], "R": size["R"],
                 "J": size["classes"]}
        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            params = {k: v.astype(dtype) for k, v in module.init_params(sizes, seed=1).items()}
            X = rng.normal(size=(size["n"], size["C"], size["H"], size["W"])).astype(dtype)
            labels = rng.integers(0, size["classes"], size=size["n"])
            y = np.eye(size["classes"], dtype=dtype)[labels]
            loss, grads = module.loss_and_grad(params, X, y)
            hand_loss, hand = hand_conv(params, X, y)
            tol = 1e-4 if dtype == np.float32 else 1e-10
            assert abs(loss - hand_loss) <= tol * abs(hand_loss)
            for name in grads:
                assert np.allclose(grads[name], hand[name], rtol=tol, atol=tol * 1e-2), name
            functions = {
                "generated": lambda p=params, X=X, y=y: module.loss_and_grad(p, X, y),
                "hand": lambda p=params, X=X, y=y: hand_conv(p, X, y),
            }
            if torch is not None:
                tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
                tX, tl = torch.tensor(X), torch.tensor(labels)
                step = torch_step(torch, F)
                functions["torch"] = lambda t=tensors, a=tX, b=tl, s=step: s(t, a, b)
            repeats = max(5, REPEATS[label] // (10 if quick else 1))
            threads = torch.get_num_threads() if torch is not None else 0
            one = {}
            if torch is not None:
                torch.set_num_threads(1)
                one = timings(functions, repeats)
                torch.set_num_threads(threads)
            default = timings(functions, repeats)
            gen, hand_t = default["generated"], default["hand"]
            ratio = gen / hand_t
            ok &= ratio <= TARGET
            verdict = "PASS" if ratio <= TARGET else "FAIL"
            torch_cells = ["n/a"] * 4
            if torch is not None:
                torch_cells = [f"{one['torch'] * 1e3:.2f}", f"{one['generated'] / one['torch']:.2f}x",
                               f"{default['torch'] * 1e3:.2f} ({threads} threads)",
                               f"{gen / default['torch']:.2f}x"]
            lines.append(f"| {label} (n={size['n']}, {size['C']}x{size['H']}x{size['W']}, "
                         f"{size['K']} channels, kernel {size['R']}) | {np.dtype(dtype).name} | "
                         f"{gen * 1e3:.2f} | {hand_t * 1e3:.2f} | {ratio:.2f}x | <= {TARGET}x {verdict} | "
                         + " | ".join(torch_cells) + " |")
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    table, ok = run(args.quick)
    text = NOTES.format(python=platform.python_version(), numpy=np.__version__, table=table)
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0 if ok else 1


NOTES = f"""{SECTION}

`python bench/bench_conv.py`: generated `loss_and_grad` of a conv model (conv 2-D, relu, flatten,
dense softmax, cross-entropy) against hand-written NumPy (`sliding_window_view` + `np.einsum`) and
PyTorch CPU (`F.conv2d` forward and `backward()`), medians of interleaved runs in one process,
Python {{python}}, NumPy {{numpy}}. The generated module also checks its arguments at the door.
"generated / PyTorch 1" compares the two in the one-thread round. Measured on a 2-core machine
shared with other jobs: ratios move by 0.2-0.3 from run to run.

{{table}}
"""


if __name__ == "__main__":
    sys.exit(main())
