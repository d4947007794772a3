"""Vector and matrix notation graded like index notation (issue 11).

Each answer below comes with its verdict worked out by hand and, where index notation can say
the same thing, with its index-notation twin written independently: the vector answer must get
that verdict, and so must its twin (so the verdict is the grader's on the mathematics, not an
accident of the lowering). Wrong answers are real slips: a transpose, a missing sigma', a wrong
product, a wrong shape, a sign, a wrong quantity. A transposed vector (a row where the gradient
is a column) has no index twin: index notation has no rows and columns, so its twin is None and
the reason must say it is the transpose. Conventions: the gradient with respect to a parameter
has that parameter's shape; a Jacobian da/dz has rows indexed by a.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derive.check import Checker
from derive.checking.latex_parse import LatexError, parse_equation
from derive.checking.vector import uses_vector_notation
from derive.spec import resolve

OK, WRONG = "correct", "incorrect"
T = "transpose"  # the reason says the answer is the transpose
SHAPE = "shapes differ"

DLDW1_B = r"\frac{\partial L}{\partial w^{(1)}_{kj}}"
DLDW1_CMLP = r"\frac{\partial L}{\partial W^{(1)}_{kj}}"

CORPUS = [
    # (model, vector notation, the same in index notation (or None), verdict, words in the reason)
    # --- model a: logistic regression ---
    ("a", r"\frac{\partial \mathcal{L}}{\partial \mathbf{w}} = (a - y)\mathbf{x}",
     r"\frac{\partial \mathcal{L}}{\partial w_j} = (a - y) x_j", OK, ""),
    ("a", r"\frac{\partial \mathcal{L}}{\partial \mathbf{w}} = (a - y)\mathbf{x}^\top", None, WRONG, T),
    ("a", r"\frac{\partial \mathcal{L}}{\partial \mathbf{w}} = (y - a)\mathbf{x}",
     r"\frac{\partial \mathcal{L}}{\partial w_j} = (y - a) x_j", WRONG, "sign"),
    ("a", r"\nabla_{\mathbf{w}} \mathcal{L} = \mathbf{x}(a - y)",
     r"\frac{\partial L}{\partial w_j} = x_j (a - y)", OK, ""),
    ("a", r"\nabla_\mathbf{w} L = \mathbf{x}^T (a - y)", None, WRONG, T),
    ("a", r"z = \mathbf{w}^\top \mathbf{x} + b", r"z = \sum_j w_j x_j + b", OK, ""),
    ("a", r"z = \mathbf{x}^T \mathbf{w} + b", r"z = \sum_k x_k w_k + b", OK, ""),
    ("a", r"z = \mathbf{w}^\top \mathbf{x}", r"z = \sum_j w_j x_j", WRONG, ""),
    ("a", r"z = \mathbf{w} \mathbf{x} + b", r"z = w_j x_j + b", WRONG, "cannot multiply"),
    ("a", r"z = \mathbf{w} \cdot \mathbf{x} + b", r"z = \sum_j w_j \cdot x_j + b", OK, ""),  # \cdot of two vectors: a dot product
    ("a", r"z = \mathbf{w} \times \mathbf{x} + b", r"z = w_j \times x_j + b", WRONG, "cannot multiply"),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = (\sigma(\mathbf{w}^\top\mathbf{x} + b) - y)\mathbf{x}",
     r"\frac{\partial L}{\partial w_j} = (\sigma(\sum_k w_k x_k + b) - y) x_j", OK, ""),
    ("a", r"\frac{\partial a}{\partial \mathbf{w}} = \sigma'(z)\mathbf{x}",
     r"\frac{\partial a}{\partial w_j} = \sigma'(z) x_j", OK, ""),
    ("a", r"\frac{\partial a}{\partial \mathbf{w}} = \mathbf{x}", r"\frac{\partial a}{\partial w_j} = x_j", WRONG, ""),
    ("a", r"\frac{\partial z}{\partial \mathbf{x}} = \mathbf{w}", r"\frac{\partial z}{\partial x_j} = w_j", OK, ""),
    ("a", r"\frac{\partial a}{\partial \mathbf{x}} = \sigma'(z)\mathbf{w}^{\intercal}", None, WRONG, T),
    ("a", r"\frac{\partial L}{\partial \vec{w}} = (a - y)\vec{x}", r"\frac{\partial L}{\partial w_j} = (a - y) x_j",
     OK, ""),
    ("a", r"\frac{\partial L}{\partial \bm{w}} = (a - y)\bm{x}", r"\frac{\partial L}{\partial w_j} = (a - y) x_j",
     OK, ""),
    ("a", r"\frac{\partial L}{\partial W} = (a - y)\mathbf{x}^{\mathsf{T}}",  # W: the 1-row weight matrix
     r"\frac{\partial L}{\partial w_j} = (a - y) x_j", OK, ""),
    ("a", r"\frac{\partial L}{\partial W} = (a - y)\mathbf{x}'", r"\frac{\partial L}{\partial w_j} = (a - y) x_j",
     OK, ""),
    ("a", r"\frac{\partial \mathcal{L}}{\partial \mathbf{w}^\top} = (a - y)\mathbf{x}^\top",  # by w^T: a row
     r"\frac{\partial \mathcal{L}}{\partial w_j} = (a - y) x_j", OK, ""),
    ("a", r"\frac{\partial \mathcal{L}}{\partial \mathbf{w}^\top} = (a - y)\mathbf{x}", None, WRONG, T),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = (a - y)\mathbf{w}",
     r"\frac{\partial L}{\partial w_j} = (a - y) w_j", WRONG, ""),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = a - y", r"\frac{\partial L}{\partial w_j} = a - y", WRONG, SHAPE),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = (a - y) + \mathbf{x}", r"\frac{\partial L}{\partial w_j} = (a - y) + x_j", WRONG, "cannot add a number"),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = \mathbf{x} - y", r"\frac{\partial L}{\partial w_j} = x_j - y", WRONG, "cannot add a column vector"),
    # --- model b: two sigmoid layers, one output ---
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = \boldsymbol{\delta}^{(1)} \mathbf{x}^\top",
     rf"{DLDW1_B} = \delta^{{(1)}}_k x_j", OK, ""),
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = \mathbf{x} \boldsymbol{\delta}^{(1)\top}",
     rf"{DLDW1_B} = x_k \delta^{{(1)}}_j", WRONG, T),
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = \boldsymbol{\delta}^{(1)} \otimes \mathbf{x}",
     rf"{DLDW1_B} = \delta^{{(1)}}_k x_j", OK, ""),
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = \mathbf{x} \otimes \boldsymbol{\delta}^{(1)}",
     rf"{DLDW1_B} = x_k \delta^{{(1)}}_j", WRONG, T),
    ("b", r"\boldsymbol{\delta}^{(1)} = \mathbf{w}^{(2)} \delta^{(2)} \odot \sigma'(\mathbf{z}^{(1)})",
     r"\delta^{(1)}_k = w^{(2)}_k \delta^{(2)} \sigma'(z^{(1)}_k)", OK, ""),
    ("b", r"\boldsymbol{\delta}^{(1)} = \mathbf{w}^{(2)} \delta^{(2)}",
     r"\delta^{(1)}_k = w^{(2)}_k \delta^{(2)}", WRONG, "missing the"),
    ("b", r"\boldsymbol{\delta}^{(1)} = W^{(2)\top} \delta^{(2)} \odot \mathbf{a}^{(1)} \odot (\mathbf{1} - \mathbf{a}^{(1)})",
     r"\delta^{(1)}_k = w^{(2)}_k \delta^{(2)} a^{(1)}_k (1 - a^{(1)}_k)", OK, ""),
    ("b", r"\frac{\partial L}{\partial \mathbf{w}^{(2)}} = (a^{(2)} - y)\mathbf{a}^{(1)}",
     r"\frac{\partial L}{\partial w^{(2)}_k} = (a^{(2)} - y) a^{(1)}_k", OK, ""),
    ("b", r"\frac{\partial L}{\partial \mathbf{w}^{(2)}} = (a^{(2)} - y)\mathbf{x}",
     r"\frac{\partial L}{\partial w^{(2)}_k} = (a^{(2)} - y) x_k", WRONG, SHAPE),
    ("b", r"\frac{\partial L}{\partial \mathbf{b}^{(1)}} = (a^{(2)} - y) \mathbf{w}^{(2)} \odot \mathbf{a}^{(1)} "
     r"\odot (1 - \mathbf{a}^{(1)})",
     r"\frac{\partial L}{\partial b^{(1)}_k} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k)", OK, ""),
    ("b", r"\frac{\partial L}{\partial \mathbf{b}^{(1)}} = (a^{(2)} - y) \mathbf{w}^{(2)}",
     r"\frac{\partial L}{\partial b^{(1)}_k} = (a^{(2)} - y) w^{(2)}_k", WRONG, "missing the"),
    ("b", r"\frac{\partial \mathbf{z}^{(1)}}{\partial \mathbf{x}} = W^{(1)}",
     r"\frac{\partial z^{(1)}_k}{\partial x_j} = w^{(1)}_{kj}", OK, ""),
    ("b", r"\frac{\partial \mathbf{z}^{(1)}}{\partial \mathbf{x}} = W^{(1)\top}",
     r"\frac{\partial z^{(1)}_k}{\partial x_j} = w^{(1)}_{jk}", WRONG, T),
    ("b", r"\frac{\partial \mathbf{a}^{(1)}}{\partial \mathbf{z}^{(1)}} = \operatorname{diag}(\sigma'(\mathbf{z}^{(1)}))",
     r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_i} = \sigma'(z^{(1)}_k) \delta_{ki}", OK, ""),
    ("b", r"\frac{\partial \mathbf{a}^{(1)}}{\partial \mathbf{z}^{(1)}} = \mathrm{diag}(\mathbf{a}^{(1)} \odot "
     r"(\mathbf{1} - \mathbf{a}^{(1)}))",
     r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_i} = \delta_{ki} a^{(1)}_i (1 - a^{(1)}_i)", OK, ""),
    ("b", r"\frac{\partial \mathbf{a}^{(1)}}{\partial \mathbf{z}^{(1)}} = \sigma'(\mathbf{z}^{(1)})",
     r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_i} = \sigma'(z^{(1)}_k)", WRONG, SHAPE),
    ("b", r"\mathbf{z}^{(1)} = W^{(1)}\mathbf{x} + \mathbf{b}^{(1)}",
     r"z^{(1)}_k = \sum_j w^{(1)}_{kj} x_j + b^{(1)}_k", OK, ""),
    ("b", r"\mathbf{z}^{(1)} = W^{(1)\top}\mathbf{x} + \mathbf{b}^{(1)}",
     r"z^{(1)}_k = \sum_j w^{(1)}_{jk} x_j + b^{(1)}_k", WRONG, "cannot multiply"),
    ("b", r"z^{(2)} = \mathbf{w}^{(2)\top}\mathbf{a}^{(1)} + b^{(2)}",
     r"z^{(2)} = \sum_k w^{(2)}_k a^{(1)}_k + b^{(2)}", OK, ""),
    ("b", r"z^{(2)} = W^{(2)}\mathbf{a}^{(1)} + b^{(2)}", r"z^{(2)} = \sum_i w^{(2)}_i a^{(1)}_i + b^{(2)}", OK, ""),
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = (a^{(2)} - y)\,(\mathbf{w}^{(2)} \odot \sigma'(\mathbf{z}^{(1)}))"
     r"\,\mathbf{x}^\top", rf"{DLDW1_B} = (a^{{(2)}} - y) w^{{(2)}}_k a^{{(1)}}_k (1 - a^{{(1)}}_k) x_j", OK, ""),
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = (a^{(2)} - y)\,\mathbf{w}^{(2)} \mathbf{x}^\top",
     rf"{DLDW1_B} = (a^{{(2)}} - y) w^{{(2)}}_k x_j", WRONG, "missing the"),
    ("b", r"\frac{\partial L}{\partial W^{(1)}} = \boldsymbol{\delta}^{(1)} \odot \mathbf{x}",
     rf"{DLDW1_B} = \delta^{{(1)}}_k x_k", WRONG, "multiply elementwise"),
    ("b", r"\frac{\partial z^{(2)}}{\partial \mathbf{a}^{(1)}} = \mathbf{w}^{(2)}",
     r"\frac{\partial z^{(2)}}{\partial a^{(1)}_k} = w^{(2)}_k", OK, ""),
    ("b", r"\frac{\partial z^{(2)}}{\partial \mathbf{a}^{(1)}} = W^{(2)}", None, WRONG, T),
    # plain text and Unicode (capital W and transposes mark vector notation)
    ("b", "dL/dW1 = delta1 x^T", rf"{DLDW1_B} = \delta^{{(1)}}_k x_j", OK, ""),
    ("b", "dL/dW1 = x delta1^T", rf"{DLDW1_B} = x_k \delta^{{(1)}}_j", WRONG, T),
    # --- model c: softmax regression ---
    ("c", r"\frac{\partial L}{\partial \mathbf{z}} = \mathbf{a} - \mathbf{y}",
     r"\frac{\partial L}{\partial z_k} = a_k - y_k", OK, ""),
    ("c", r"\frac{\partial L}{\partial \mathbf{z}} = \mathbf{y} - \mathbf{a}",
     r"\frac{\partial L}{\partial z_k} = y_k - a_k", WRONG, "sign"),
    ("c", r"\frac{\partial L}{\partial \mathbf{b}} = \mathbf{a} - \mathbf{y}",
     r"\frac{\partial L}{\partial b_k} = a_k - y_k", OK, ""),
    ("c", r"\frac{\partial L}{\partial W} = (\mathbf{a} - \mathbf{y})\mathbf{x}^\top",
     r"\frac{\partial L}{\partial W_{kj}} = (a_k - y_k) x_j", OK, ""),
    ("c", r"\frac{\partial L}{\partial W} = \mathbf{x}(\mathbf{a} - \mathbf{y})^T",
     r"\frac{\partial L}{\partial W_{kj}} = x_k (a_j - y_j)", WRONG, T),
    ("c", r"\nabla_W L = (\mathbf{a} - \mathbf{y})\mathbf{x}",
     r"\frac{\partial L}{\partial W_{kj}} = (a_k - y_k) x_k", WRONG, "cannot multiply"),
    ("c", r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \operatorname{diag}(\mathbf{a}) - \mathbf{a}\mathbf{a}^\top",
     r"\frac{\partial a_k}{\partial z_j} = a_k \delta_{kj} - a_k a_j", OK, ""),
    ("c", r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \operatorname{diag}(\mathbf{a}) - \mathbf{a}^\top\mathbf{a}",
     r"\frac{\partial a_k}{\partial z_j} = a_k \delta_{kj} - \sum_i a_i a_i", WRONG, "cannot add"),
    ("c", r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \operatorname{diag}(\mathbf{a}) - \mathbf{a} \otimes \mathbf{a}",
     r"\frac{\partial a_k}{\partial z_j} = \delta_{kj} a_j - a_k a_j", OK, ""),
    ("c", r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \operatorname{diag}(\mathbf{a})",
     r"\frac{\partial a_k}{\partial z_j} = a_k \delta_{kj}", WRONG, ""),
    ("c", r"L = -\mathbf{y}^\top \log(\mathbf{a})", r"L = -\sum_k y_k \log a_k", OK, ""),
    ("c", r"L = -\mathbf{1}^\top \log \mathbf{a}", r"L = -\sum_k \log a_k", WRONG, ""),
    ("c", r"L = -\mathbf{y} \cdot \log \mathbf{a}", r"L = -\sum_k y_k \cdot \log a_k", OK, ""),
    ("c", r"\mathbf{z} = W\mathbf{x} + \mathbf{b}", r"z_k = \sum_j W_{kj} x_j + b_k", OK, ""),
    ("c", r"\mathbf{z} = W\mathbf{x}", r"z_k = \sum_j W_{kj} x_j", WRONG, ""),
    ("c", r"\mathbf{a} = \frac{\exp(\mathbf{z})}{\mathbf{1}^\top \exp(\mathbf{z})}",
     r"a_k = \frac{\exp(z_k)}{\sum_c \exp(z_c)}", OK, ""),
    ("c", r"\mathbf{a} = \frac{\exp(\mathbf{z})}{\mathbf{1}_C^\top \exp(\mathbf{z})}",
     r"a_k = \frac{\exp(z_k)}{\sum_{c=1}^{C} \exp(z_c)}", OK, ""),
    ("c", r"\mathbf{a} = \operatorname{softmax}(W\mathbf{x} + \mathbf{b})",
     r"a_k = \frac{\exp(\sum_j W_{kj} x_j + b_k)}{\sum_c \exp(\sum_j W_{cj} x_j + b_c)}", OK, ""),
    ("c", r"\mathbf{a} = \operatorname{softmax}(W\mathbf{x})",
     r"a_k = \frac{\exp(\sum_j W_{kj} x_j)}{\sum_c \exp(\sum_j W_{cj} x_j)}", WRONG, ""),
    ("c", r"\mathbf{a} = \frac{e^{\mathbf{z}}}{\mathbf{1}^\top e^{\mathbf{z}}}", r"a_k = \frac{e^{z_k}}{\sum_c e^{z_c}}", OK, ""),
    ("c", r"\mathbf{a} = \frac{e^{\mathbf{z}}}{\mathbf{1}^\top e^{-\mathbf{z}}}", r"a_k = \frac{e^{z_k}}{\sum_c e^{-z_c}}", WRONG, ""),
    ("c", r"\mathbf{a} = \exp(\mathbf{z}) \oslash \exp(\mathbf{z})", r"a_k = \frac{\exp(z_k)}{\exp(z_k)}", WRONG, ""),
    ("c", r"\frac{\partial L}{\partial \mathbf{a}} = -\mathbf{y} \oslash \mathbf{a}",
     r"\frac{\partial L}{\partial a_k} = -\frac{y_k}{a_k}", OK, ""),
    ("c", r"\frac{\partial L}{\partial \mathbf{a}} = \mathbf{y} \oslash \mathbf{a}",
     r"\frac{\partial L}{\partial a_k} = \frac{y_k}{a_k}", WRONG, "sign"),
    ("c", r"\frac{\partial L}{\partial \mathbf{z}} = \left(\frac{\partial \mathbf{a}}{\partial \mathbf{z}}\right)^\top "
     r"\frac{\partial L}{\partial \mathbf{a}}",
     r"\frac{\partial L}{\partial z_j} = \sum_k \frac{\partial a_k}{\partial z_j} \frac{\partial L}{\partial a_k}", OK, ""),
    ("c", r"\frac{\partial L}{\partial \mathbf{z}} = \frac{\partial L}{\partial \mathbf{a}}^\top "
     r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}}", None, WRONG, T),
    # --- model c-mlp: a sigmoid hidden layer, a softmax output ---
    ("c-mlp", r"\boldsymbol{\delta}^{(1)} = (W^{(2)})^\top \boldsymbol{\delta}^{(2)} \odot \mathbf{a}^{(1)} \odot "
     r"(\mathbf{1} - \mathbf{a}^{(1)})",
     r"\delta^{(1)}_k = \sum_i W^{(2)}_{ik} \delta^{(2)}_i a^{(1)}_k (1 - a^{(1)}_k)", OK, ""),
    ("c-mlp", r"\boldsymbol{\delta}^{(1)} = W^{(2)} \boldsymbol{\delta}^{(2)} \odot \sigma'(\mathbf{z}^{(1)})",
     r"\delta^{(1)}_k = \sum_i W^{(2)}_{ki} \delta^{(2)}_i \sigma'(z^{(1)}_k)", WRONG, "cannot multiply"),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(2)}} = (\mathbf{a}^{(2)} - \mathbf{y}) \mathbf{a}^{(1)\top}",
     r"\frac{\partial L}{\partial W^{(2)}_{ik}} = (a^{(2)}_i - y_i) a^{(1)}_k", OK, ""),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(2)}} = (\mathbf{a}^{(2)} - \mathbf{y}) \mathbf{x}^\top",
     r"\frac{\partial L}{\partial W^{(2)}_{ik}} = (a^{(2)}_i - y_i) x_k", WRONG, SHAPE),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(1)}} = (W^{(2)\top}(\mathbf{a}^{(2)} - \mathbf{y}) \odot "
     r"\sigma'(\mathbf{z}^{(1)})) \mathbf{x}^\top",
     rf"{DLDW1_CMLP} = \sum_i (a^{{(2)}}_i - y_i) W^{{(2)}}_{{ik}} a^{{(1)}}_k (1 - a^{{(1)}}_k) x_j", OK, ""),
    # \odot next to products: grouped as the shapes allow
    ("c-mlp", r"\frac{\partial L}{\partial W^{(1)}} = W^{(2)\top}\boldsymbol\delta^{(2)} \odot \sigma'(\mathbf{z}^{(1)}) \mathbf{x}^\top",
     rf"{DLDW1_CMLP} = \sum_i W^{{(2)}}_{{ik}} \delta^{{(2)}}_i \sigma'(z^{{(1)}}_k) x_j", OK, ""),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(1)}} = \sigma'(\mathbf{z}^{(1)}) \odot W^{(2)\top}\boldsymbol\delta^{(2)} \mathbf{x}^\top",
     rf"{DLDW1_CMLP} = \sigma'(z^{{(1)}}_k) \sum_i W^{{(2)}}_{{ik}} \delta^{{(2)}}_i x_j", OK, ""),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(1)}} = W^{(2)\top}\boldsymbol\delta^{(2)} \odot \mathbf{a}^{(1)} \mathbf{x}^\top",
     rf"{DLDW1_CMLP} = \sum_i W^{{(2)}}_{{ik}} \delta^{{(2)}}_i a^{{(1)}}_k x_j", WRONG, "missing the"),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(1)}} = (W^{(2)\top}(\mathbf{a}^{(2)} - \mathbf{y})) \mathbf{x}^\top",
     rf"{DLDW1_CMLP} = \sum_i (a^{{(2)}}_i - y_i) W^{{(2)}}_{{ik}} x_j", WRONG, "missing the"),
    ("c-mlp", r"\frac{\partial L}{\partial \mathbf{b}^{(1)}} = W^{(2)\top}(\mathbf{a}^{(2)} - \mathbf{y}) \odot "
     r"\sigma'(\mathbf{z}^{(1)})",
     r"\frac{\partial L}{\partial b^{(1)}_k} = \sigma'(z^{(1)}_k) \sum_i W^{(2)}_{ik} (a^{(2)}_i - y_i)", OK, ""),
    ("c-mlp", r"\frac{\partial L}{\partial \mathbf{b}^{(2)}} = \mathbf{a}^{(2)}",
     r"\frac{\partial L}{\partial b^{(2)}_i} = a^{(2)}_i", WRONG, ""),
    ("c-mlp", r"\frac{\partial L}{\partial \mathbf{W}^{(2)}} = \boldsymbol\delta^{(2)} {\mathbf{a}^{(1)}}^\top",
     r"\frac{\partial L}{\partial W^{(2)}_{ik}} = \delta^{(2)}_i a^{(1)}_k", OK, ""),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(2)}} = \mathbf{a}^{(1)} \boldsymbol\delta^{(2)\top}",
     r"\frac{\partial L}{\partial W^{(2)}_{ik}} = a^{(1)}_i \delta^{(2)}_k", WRONG, T),
    ("c-mlp", r"\mathbf{a}^{(2)} = \operatorname{softmax}(W^{(2)} \sigma(W^{(1)}\mathbf{x} + \mathbf{b}^{(1)}) + \mathbf{b}^{(2)})",
     r"a^{(2)}_i = \frac{\exp(\sum_k W^{(2)}_{ik} \sigma(\sum_j W^{(1)}_{kj} x_j + b^{(1)}_k) + b^{(2)}_i)}"
     r"{\sum_c \exp(\sum_k W^{(2)}_{ck} \sigma(\sum_j W^{(1)}_{kj} x_j + b^{(1)}_k) + b^{(2)}_c)}", OK, ""),
    ("c-mlp", "δ⁽¹⁾ = W⁽²⁾ᵀ δ⁽²⁾ ⊙ σ'(z⁽¹⁾)",
     r"\delta^{(1)}_k = \sum_i W^{(2)}_{ik} \delta^{(2)}_i \sigma'(z^{(1)}_k)", OK, ""),
    ("c-mlp", "delta1 = W2^T delta2", r"\delta^{(1)}_k = \sum_i W^{(2)}_{ik} \delta^{(2)}_i", WRONG, "missing the"),
    ("c-mlp", r"\frac{\partial \mathbf{z}^{(2)}}{\partial \mathbf{a}^{(1)}} = W^{(2)}",
     r"\frac{\partial z^{(2)}_i}{\partial a^{(1)}_k} = W^{(2)}_{ik}", OK, ""),
    ("c-mlp", r"\frac{\partial \mathbf{z}^{(2)}}{\partial \mathbf{a}^{(1)}} = W^{(2)\top}",
     r"\frac{\partial z^{(2)}_i}{\partial a^{(1)}_k} = W^{(2)}_{ki}", WRONG, T),
]

MODELS = ("a", "b", "c", "c-mlp")


@pytest.fixture(scope="module")
def checkers():
    return {model: Checker(resolve(model)) for model in MODELS}


@pytest.mark.parametrize("model, vector, twin, expected, words", CORPUS, ids=[c[1] for c in CORPUS])
def test_vector_answer_gets_the_verdict_of_its_index_twin(checkers, model, vector, twin, expected, words):
    checker = checkers[model]
    assert uses_vector_notation(parse_equation(vector))
    if twin is not None:
        assert not uses_vector_notation(parse_equation(twin))
        index = checker.check(twin)
        assert index.verdict == expected, index.show()
    result = checker.check(vector)
    assert result.verdict == expected, result.show()
    assert words in result.reason, result.show()
    if words == T:
        assert result.slip is not None and result.slip.kind == "transpose", result.show()


def test_the_corpus_is_large_and_about_half_wrong():
    assert len(CORPUS) >= 40
    for model in MODELS:
        assert {c[3] for c in CORPUS if c[0] == model} == {OK, WRONG}, model
    wrong = sum(c[3] == WRONG for c in CORPUS)
    assert 0.35 <= wrong / len(CORPUS) <= 0.65
    assert sum(c[4] == T for c in CORPUS) >= 8


def test_the_issue_example_is_correct_and_its_transpose_is_named(checkers):
    right = checkers["a"].check(r"\frac{\partial \mathcal{L}}{\partial \mathbf{w}} = (a - y)\mathbf{x}")
    assert right.verdict == OK, right.show()
    wrong = checkers["b"].check(r"\frac{\partial L}{\partial W^{(1)}} = \mathbf{x} \boldsymbol{\delta}^{(1)\top}")
    assert wrong.verdict == WRONG and wrong.slip is not None and wrong.slip.kind == "transpose"
    assert "transpose of the gradient with respect to W^{(1)}, which is a K×M matrix" in wrong.reason


@pytest.mark.parametrize("text", [r"x^\top", r"x^T", r"x^{T}", r"x^{\top}", r"x^{\mathsf{T}}", r"x^\mathsf{T}",
                                  r"x^{\intercal}", r"x'", r"{x}^\top", r"(x)^T"])
def test_every_transpose_mark_reads_as_a_transpose(checkers, text):
    bold = text.replace("x", r"\mathbf{x}")
    result = checkers["c"].check(rf"\frac{{\partial L}}{{\partial W}} = (\mathbf{{a}} - \mathbf{{y}}){bold}")
    assert result.verdict == OK, result.show()


@pytest.mark.parametrize("model, text", [
    ("b", r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k) x_j"),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_k (\delta_{kj} - a_j)"),
    ("a", r"\frac{\partial L}{\partial w} = (a - y) x"),  # no bold name: index notation, indices missing
    ("a", r"\frac{\partial L}{\partial \mathbf{w}_j} = (a - y) \mathbf{x}_j"),  # bold with indices: an element
])
def test_index_notation_is_not_lowered(model, text):
    assert not uses_vector_notation(parse_equation(text))


@pytest.mark.parametrize("model, text, hint", [
    ("a", r"\nabla \mathcal{L} = (a - y)\mathbf{x}", r"write the gradient as \nabla_{\mathbf{w}} \mathcal{L}"),
    ("a", r"\nabla_{\mathbf{w}} = (a - y)\mathbf{x}", r"write what the gradient is of"),
    ("c", r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \operatorname{diag} \mathbf{a}",
     r"write \operatorname{diag}(\mathbf{v})"),
    ("c", r"\frac{\partial L}{\partial W} = \mathbf{x}^\top \otimes \boldsymbol{\delta}", r"\otimes takes two column vectors"),
    ("c", r"\frac{\partial L}{\partial W} = \boldsymbol{\delta} \mathbf{x}^{\top", "a '{' is never closed"),
    ("c", r"L = -\langle \mathbf{y}, \log \mathbf{a} \rangle", r"write a dot product as \mathbf{u}^\top \mathbf{v}"),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = (a - y)'\mathbf{x}", r"^\top for a transpose"),
    ("c", r"\mathbf{a} = \frac{\exp(\mathbf{z})}{\mathbf{1}_Q^\top \exp(\mathbf{z})}", "not a size of the model"),
    ("c", r"\frac{\partial \mathbf{a}}{\partial W} = 0", "write it in index notation"),
    ("c", r"a_k = \operatorname{softmax}(z_k)", r"\operatorname{softmax} takes a column vector, not a number"),
    ("a", r"L = \operatorname{softmax}(\frac{\mathbf{1}}{2})", r"cannot tell the length of \mathbf{1} in softmax"),
    ("a", r"L = \operatorname{diag}(\mathbf{1} \odot x_j)", r"cannot tell the length of \mathbf{1} in diag"),
    ("c", r"\nabla_{\mathbf{z}} \mathbf{a} = 0", r"write the Jacobian as \frac{\partial \mathbf{a}}"),
])
def test_vector_notation_errors_say_what_to_write(checkers, model, text, hint):
    result = checkers[model].check(text)
    assert result.verdict in ("error", WRONG) and hint in result.reason, result.show()
    assert "\n" not in result.reason
    assert not any(word in result.reason for word in ("Tree(", "Token(", "lark", "Traceback", "$END")), result.reason


def test_a_vector_answer_of_the_wrong_shape_is_incorrect_naming_both_shapes(checkers):
    result = checkers["c-mlp"].check(r"\frac{\partial L}{\partial W^{(2)}} = (\mathbf{a}^{(2)} - \mathbf{y}) \mathbf{x}^\top")
    assert result.reason == ("shapes differ: the gradient with respect to W^{(2)} is a C×K matrix, "
                             "the right side is a C×M matrix")


def test_unreadable_vector_notation_is_a_parse_error_not_a_crash():
    for text in [r"\mathbf{x}^{\top\top} = 0", r"\nabla_{} L = 0", r"\operatorname{diag}() = 0"]:
        with pytest.raises(LatexError):
            parse_equation(text)


def test_a_vector_answer_answers_the_index_question_in_derive_grade(tmp_path):
    from derive.grading.key import load_key
    from derive.grading.run import grade_all

    key = load_key("examples/grade/key.toml")  # model b, questions in index notation
    submission = tmp_path / "vera.tex"
    submission.write_text("\n".join([
        r"\[ \frac{\partial \mathcal{L}}{\partial W^{(1)}} = \boldsymbol{\delta}^{(1)} \mathbf{x}^\top \]",
        r"\[ \nabla_{\mathbf{w}^{(2)}} \mathcal{L} = (a^{(2)} - y) \mathbf{a}^{(1)\top} \]",
        r"\[ \frac{\partial \mathcal{L}}{\partial \mathbf{z}^{(1)}} = (a^{(2)} - y) \mathbf{w}^{(2)} \odot \sigma'(\mathbf{z}^{(1)}) \]",
    ]))
    (graded,) = grade_all(key, [str(submission)], jobs=1)
    verdicts = {q.name: q.verdict for q in graded.questions}
    assert verdicts["dL/dw1"] == "correct" and verdicts["dL/dz1"] == "correct", verdicts
    assert verdicts["dL/dw2"] == "incorrect", verdicts  # a row vector: the transpose of the gradient
    assert "transpose" in next(q.message for q in graded.questions if q.name == "dL/dw2")


# --- the lowering against NumPy: each vector expression's elements, as the grader evaluates them,
# equal the same expression computed with NumPy arrays of the instance's values --------------------

def _arrays(instance):
    n = {str(symbol): value for symbol, value in instance.sizes.items()}

    def vec(key, size):
        return np.array([instance.value((key, (i,))) for i in range(1, n[size] + 1)])

    def mat(key, rows, cols):
        return np.array([[instance.value((key, (i, j))) for j in range(1, n[cols] + 1)]
                         for i in range(1, n[rows] + 1)])

    values = {"x": vec("x", "M"), "y": vec("y", "C"), "W1": mat("W1", "K", "M"), "b1": vec("b1", "K"),
              "z1": vec("z1", "K"), "a1": vec("a1", "K"), "W2": mat("W2", "C", "K"), "b2": vec("b2", "C"),
              "z2": vec("z2", "C"), "a2": vec("a2", "C")}
    return values


def _delta1(v):  # the chain rule by hand: W2^T (a2 - y) * sigma'(z1)
    return (v["W2"].T @ (v["a2"] - v["y"])) * v["a1"] * (1 - v["a1"])


REFERENCE = [
    # (left side of that shape, vector expression, NumPy)
    (r"\mathbf{a}^{(1)}", r"W^{(2)\top} (\mathbf{a}^{(2)} - \mathbf{y})", lambda v: v["W2"].T @ (v["a2"] - v["y"])),
    (r"\mathbf{a}^{(1)}", r"W^{(1)} \mathbf{x} + \mathbf{b}^{(1)}", lambda v: v["W1"] @ v["x"] + v["b1"]),
    (r"\mathbf{a}^{(1)}", r"(W^{(2)})^\top \boldsymbol\delta^{(2)} \odot \sigma'(\mathbf{z}^{(1)})", _delta1),
    (r"\mathbf{a}^{(1)}", r"\frac{\partial \mathcal{L}}{\partial \mathbf{z}^{(1)}}", _delta1),
    (r"\mathbf{a}^{(1)}", r"(\mathbf{a}^{(1)})^2 + 1 - \frac{\mathbf{a}^{(1)}}{2}", lambda v: v["a1"] ** 2 + 1 - v["a1"] / 2),
    (r"\mathbf{a}^{(2)}", r"\exp(\mathbf{z}^{(2)}) \oslash \mathbf{a}^{(2)}", lambda v: np.exp(v["z2"]) / v["a2"]),
    (r"\mathbf{a}^{(2)}", r"\frac{\exp(\mathbf{z}^{(2)})}{\mathbf{1}^\top \exp(\mathbf{z}^{(2)})}",
     lambda v: np.exp(v["z2"]) / np.exp(v["z2"]).sum()),
    (r"\mathbf{a}^{(2)}", r"\operatorname{softmax}(2 \mathbf{z}^{(2)} - \mathbf{y})",
     lambda v: np.exp(2 * v["z2"] - v["y"]) / np.exp(2 * v["z2"] - v["y"]).sum()),
    (r"L", r"\mathbf{x}^\top W^{(1)\top} W^{(1)} \mathbf{x}", lambda v: v["x"] @ v["W1"].T @ v["W1"] @ v["x"]),
    (r"L", r"-\mathbf{y}^\top \log \mathbf{a}^{(2)}", lambda v: -v["y"] @ np.log(v["a2"])),
    (r"\frac{\partial \mathcal{L}}{\partial W^{(1)}}", r"\boldsymbol\delta^{(1)} \mathbf{x}^\top",
     lambda v: np.outer(_delta1(v), v["x"])),
    (r"\frac{\partial \mathcal{L}}{\partial W^{(2)}}", r"W^{(2)} \operatorname{diag}(\mathbf{a}^{(1)})",
     lambda v: v["W2"] @ np.diag(v["a1"])),
    (r"\frac{\partial \mathbf{a}^{(2)}}{\partial \mathbf{z}^{(2)}}",
     r"\operatorname{diag}(\mathbf{a}^{(2)}) - \mathbf{a}^{(2)} \mathbf{a}^{(2)\top}",
     lambda v: np.diag(v["a2"]) - np.outer(v["a2"], v["a2"])),
    (r"\frac{\partial \mathbf{a}^{(2)}}{\partial \mathbf{z}^{(2)}}", r"\frac{\partial \mathbf{a}^{(2)}}{\partial \mathbf{z}^{(2)}}",
     lambda v: np.diag(v["a2"]) - np.outer(v["a2"], v["a2"])),
    (r"\frac{\partial \mathbf{z}^{(2)}}{\partial \mathbf{x}}", r"W^{(2)} \operatorname{diag}(\sigma'(\mathbf{z}^{(1)})) W^{(1)}",
     lambda v: v["W2"] @ np.diag(v["a1"] * (1 - v["a1"])) @ v["W1"]),
    (r"\frac{\partial \mathbf{z}^{(2)}}{\partial \mathbf{x}}", r"\frac{\partial \mathbf{z}^{(2)}}{\partial \mathbf{x}}",
     lambda v: v["W2"] @ np.diag(v["a1"] * (1 - v["a1"])) @ v["W1"]),
]


@pytest.mark.parametrize("left, text, reference", REFERENCE, ids=[r[1] for r in REFERENCE])
def test_lowered_elements_equal_numpy(checkers, left, text, reference):
    from derive.checking.binding import Binder
    from derive.checking.evaluate import Deadline, Evaluator
    from derive.checking.latex_parse import WrittenPartial
    from derive.checking.vector import lower

    checker = checkers["c-mlp"]
    lowered = lower(parse_equation(f"{left} = {text}"), checker.table)
    assert lowered is not None
    binder = Binder(checker.table)
    free = binder.bind(lowered.equation)
    side = lowered.equation.sides[0]
    letters = (side.num.indices + side.den.indices) if isinstance(side, WrittenPartial) else side.indices
    for instance in checker.instances():
        expected = np.atleast_1d(reference(_arrays(instance)))
        evaluate = Evaluator(binder, instance, Deadline(10))
        ranges = [range(1, instance.size(free[letter]) + 1) for letter in letters]
        for values in itertools.product(*ranges):
            got = evaluate(lowered.equation.sides[1], dict(zip(letters, values, strict=True)))
            want = expected[tuple(v - 1 for v in values)] if values else expected[0]
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (values, got, want)


@pytest.mark.parametrize("model, text, hint", [
    ("c", "dL/dz = a - y", r"for the whole vector write \mathbf{z}"),
    ("b", r"\frac{\partial L}{\partial w^{(1)}} = \delta^{(1)} x", "for the whole matrix write W^{(1)}"),
    ("b", r"\frac{\partial L}{\partial \delta^{(1)}} = 0", r"for the whole vector write \boldsymbol{\delta}^{(1)}"),
])
def test_a_plain_name_without_indices_says_how_to_write_the_whole_vector(checkers, model, text, hint):
    result = checkers[model].check(text)  # plain names stay index notation: the indices are missing
    assert result.verdict == WRONG and "written with 0 indices" in result.reason and hint in result.reason


def test_the_shipped_vector_example_grades_as_worked_by_hand():
    from derive.check import _file_equations, check_all

    results = check_all("b", _file_equations("examples/vector-answers.tex"))
    assert [r.verdict for r in results] == [OK] * 5 + [WRONG] * 2, [r.show() for r in results]
    assert results[5].slip is not None and results[5].slip.kind == "transpose"
    assert results[6].slip is not None and results[6].slip.kind == "missing-factor"


def test_random_vector_expressions_never_crash(checkers):
    """Random combinations of every construct: a verdict or a one-line reason, never an internal error."""
    import random

    rng = random.Random(11)
    atoms = [r"\mathbf{x}", r"W", r"W^{(1)}", r"W^{(2)}", r"\mathbf{a}^{(1)}", r"\boldsymbol\delta", r"a", r"\mathbf{y}",
             r"\mathbf{1}", r"\mathbf{1}_K", "2", r"x_j", r"\delta_{kj}", "M"]
    ops = [" ", r" \odot ", r" \oslash ", " + ", " - ", r" \cdot ", " / "]
    wraps = [r"({})^\top", r"{}^T", r"\sigma'({})", r"\log({})", r"\operatorname{{diag}}({})", r"{}'", r"\frac{{{}}}{{2}}",
             r"\sum_k {}", r"({})^2", r"\operatorname{{softmax}}({})", r"e^{{{}}}"]
    lefts = [r"\frac{\partial L}{\partial \mathbf{w}}", r"\nabla_{W} L", r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}}",
             r"\boldsymbol\delta^{(1)}", "L", r"\frac{\partial \mathbf{a}^{(2)}}{\partial W}", r"\mathbf{1}"]

    def expr(depth):
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(atoms)
        if rng.random() < 0.4:
            return rng.choice(wraps).format(expr(depth - 1))
        return expr(depth - 1) + rng.choice(ops) + expr(depth - 1)

    verdicts = set()
    for _ in range(800):
        result = checkers[rng.choice(MODELS)].check(rng.choice(lefts) + " = " + expr(3))
        verdicts.add(result.verdict)
        assert "internal error" not in result.reason and "\n" not in result.reason, result.show()
    assert verdicts >= {WRONG, "error"}


@pytest.mark.parametrize("model, text, message", [
    ("b", r"\boldsymbol{\delta}^{(1)} = \mathbf{w}^{(2)} \delta^{(2)}",
     r"missing the elementwise factor \mathbf{a}^{(1)} \odot (\mathbf{1} - \mathbf{a}^{(1)})"),
    ("c-mlp", r"\boldsymbol\delta^{(1)} = W^{(2)\top} \boldsymbol\delta^{(2)} \odot \mathbf{a}^{(1)}",
     r"missing the elementwise factor (\mathbf{1} - \mathbf{a}^{(1)})"),
    ("a", r"\frac{\partial a}{\partial \mathbf{w}} = \mathbf{x}", "missing the factor a (1 - a)"),
    ("c", r"\frac{\partial L}{\partial \mathbf{z}} = \mathbf{y} - \mathbf{a}", "the sign is wrong"),
    ("c-mlp", r"\frac{\partial L}{\partial W^{(1)}} = (W^{(2)\top}(\mathbf{a}^{(2)} - \mathbf{y})) \mathbf{x}^\top",
     "in index notation, missing the factor a_{k}^{(1)} (1 - a_{k}^{(1)})"),  # a matrix: said of its element
])
def test_a_slip_in_vector_notation_is_named_in_its_words(checkers, model, text, message):
    result = checkers[model].check(text)
    assert result.verdict == WRONG and result.slip is not None and result.slip.message == message, result.show()


def test_a_transposed_vector_answer_earns_the_keys_partial_credit_for_a_transpose(tmp_path):
    from derive.grading.key import load_key
    from derive.grading.run import grade_all

    key = tmp_path / "key.toml"
    key.write_text("\n".join([
        'model = "c"', "", "[[question]]", 'name = "dL/dW"',
        r"quantity = '\frac{\partial L}{\partial W_{kj}}'", "points = 2", "",
        "[[question.partial]]", 'slip = "transpose"', "points = 1",
    ]))
    points = {}
    for name, answer in [("right", r"(\mathbf{a} - \mathbf{y}) \mathbf{x}^\top"),
                         ("transposed", r"\mathbf{x} (\mathbf{a} - \mathbf{y})^\top"),
                         ("wrong", r"(\mathbf{y} - \mathbf{a}) \mathbf{x}^\top")]:
        submission = tmp_path / f"{name}.tex"
        submission.write_text(rf"\[ \frac{{\partial L}}{{\partial W}} = {answer} \]")
        (graded,) = grade_all(load_key(key), [str(submission)], jobs=1)
        points[name] = graded.questions[0].points
    assert points == {"right": 2.0, "transposed": 1.0, "wrong": 0.0}
