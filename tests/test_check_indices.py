"""Index arithmetic in answers: ``h_{t-1}``, ``\\delta_{t+1,k}`` (an index letter moved by a number)."""

import pytest

from derive.check import Checker
from derive.checking.latex_parse import Shifted, parse_equation
from derive.spec import resolve


@pytest.mark.parametrize("text, indices", [
    (r"h_{t+1,k} = 0", (Shifted((("t", 1),), 1), "k")),
    (r"h_{t-1} = 0", (Shifted((("t", 1),), -1),)),
    (r"x_{c,t+r-1} = 0", ("c", Shifted((("t", 1), ("r", 1)), -1))),
    (r"x_{c,s-r+1} = 0", ("c", Shifted((("s", 1), ("r", -1)), 1))),
    (r"x_{c,i+p-1,j+q-1} = 0", ("c", Shifted((("i", 1), ("p", 1)), -1), Shifted((("j", 1), ("q", 1)), -1))),
    (r"x_{t,m} = 0", ("t", "m")),
    (r"x_{tm} = 0", ("t", "m")),
])
def test_shifted_indices_are_read(text, indices):
    assert parse_equation(text).sides[0].indices == indices


def test_a_shifted_index_evaluates_at_the_moved_position():
    """In model c (softmax, C classes), a_{k+1} is the next class's output: wrong for dL/dz_k,
    and past the last class it names an entry the model does not have."""
    checker = Checker(resolve("c"))
    assert checker.check(r"\delta_{k} = a_{k} - y_{k}").verdict == "correct"
    result = checker.check(r"\delta_{k} = a_{k+1} - y_{k+1}")
    assert result.verdict == "incorrect", result.show()
    # with k+1 - 1 written as a shift of 0, the answer is right again
    assert checker.check(r"\delta_{k} = a_{k+0} - y_{k-0}").verdict == "correct"
