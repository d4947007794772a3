"""Parse errors say what to write instead and never show the parser's internals; ``w_{k,j}``
reads as ``w_{kj}``; TeX spacing (``\\,`` ``\\;`` ``\\!`` ``\\quad``) is accepted anywhere."""

import pytest

from derive.check import Checker
from derive.checking.latex_parse import LatexError, parse_equation
from derive.spec import resolve

RIGHT = r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k) x_j"
WRONG = r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k x_j"
INTERNALS = ("Tree(", "Token(", "RULE", "lark", "Lark", "Traceback", "$END")


@pytest.fixture(scope="module")
def checker():
    return Checker(resolve("b"))


def test_a_comma_between_indices_reads_as_no_comma(checker):
    plain = parse_equation(RIGHT).sides[0]
    comma = parse_equation(RIGHT.replace("_{kj}", "_{k,j}")).sides[0]
    assert comma.den.indices == plain.den.indices == ("k", "j")
    assert checker.check(RIGHT.replace("_{kj}", "_{k, j}")).verdict == "correct"
    assert checker.check(WRONG.replace("_{kj}", "_{k,j}")).verdict == "incorrect"


@pytest.mark.parametrize("space", [r"\,", r"\;", r"\!", r"\quad", r"\qquad", r"\:", "~"])
def test_spacing_is_accepted_anywhere_between_tokens(checker, space):
    tokens = ["(a^{(2)} - y)", "w^{(2)}_k", "a^{(1)}_k", "(1 - a^{(1)}_k)", "x_j"]
    left = r"\frac{\partial L}{\partial w^{(1)}_{kj}}"
    space = space + " " if space[-1].isalpha() else space  # \quadw would be another command
    for at in range(len(tokens) + 1):
        right = " ".join(tokens[:at]) + space + " ".join(tokens[at:])
        assert checker.check(f"{left} ={space}{right}").verdict == "correct", (space, at)
    wrong = f"{left} = {space}(a^{{(2)}} - y){space}w^{{(2)}}_k{space}x_j"
    assert checker.check(wrong).verdict == "incorrect"


@pytest.mark.parametrize("text, hint", [
    (r"\frac{\partial L}{\partial b^(2)} = a^{(2)} - y", "write ^{(2)}"),
    (r"\frac{\partial L}{\partial w_(kj)} = 0", "write _{(kj)}"),
    (r"\frac{\partial L}{\partial z^{(2)}} = (a^{(2)} - y", "a '(' is never closed (add ')')"),
    (r"\frac{\partial L}{\partial z^{(2)}} = a^{(2) - y", "a '{' is never closed"),
    (r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)} - y)", "this ')' closes nothing"),
    (r"\frac{\partial L}{\partial z^{(2)}} == a^{(2)} - y", "write a single ="),
    (r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)} -- y", "two signs in a row"),
    (r"\frac{\partial}{\partial z^{(2)}} L = a^{(2)} - y", r"write the quantity after \partial"),
    (r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)} - y, k = 1..K", "put remarks outside the equation"),
])
def test_a_parse_error_says_what_to_write_instead(text, hint):
    with pytest.raises(LatexError) as err:
        parse_equation(text)
    assert hint in str(err.value), str(err.value)


@pytest.mark.parametrize("unicode, latex", [
    (r"∂L/∂z = a - y", r"\frac{\partial L}{\partial z} = a - y"),
    (r"\frac{\partial L}{\partial z} = a^{(2)} − y", r"\frac{\partial L}{\partial z} = a^{(2)} - y"),
    (r"z^{(2)} = σ(z^{(2)})", r"z^{(2)} = \sigma(z^{(2)})"),
    (r"\frac{\partial L}{\partial z} = a^{(2)} · y", r"\frac{\partial L}{\partial z} = a^{(2)} \cdot y"),
])
def test_unicode_that_once_needed_a_hint_is_now_read(checker, unicode, latex):
    """∂, −, σ and · are read as the LaTeX they stand for (derive.checking.plain)."""
    read, twin = checker.check(unicode), checker.check(latex)
    assert read.verdict == twin.verdict != "error" and read.reason == twin.reason


def _mutations(text):
    for i in range(len(text)):
        yield text[:i] + text[i + 1:]  # one character dropped
    for i in range(0, len(text), 3):
        for extra in ("{", "}", "(", ")", "^", "_", ",", "=", "\\", "&", "'", "∂"):
            yield text[:i] + extra + text[i:]


def test_no_message_shows_the_parsers_internals(checker):
    """Every one-character slip of a correct answer gets a verdict in words (parse or bind)."""
    seen = 0
    for text in sorted(set(_mutations(RIGHT))):
        try:
            parse_equation(text)
        except LatexError as exc:
            assert not any(word in str(exc) for word in INTERNALS), (text, str(exc))
            seen += 1
            continue
        result = checker.check(text)
        assert not any(word in result.show() for word in INTERNALS), (text, result.show())
    assert seen > 100


def test_a_left_side_typed_as_a_quotient_is_told_how_to_write_a_derivative(checker):
    # In plain text dL/dz is a derivative (derive.checking.plain); among LaTeX commands it is a
    # quotient, and the writer is told how to write the derivative.
    assert checker.check(r"dL/dz^{(2)} = a^{(2)} - y").verdict == "correct"
    result = checker.check(r"dL/dz^{(2)} = a^{(2)} - y \cdot 1")
    assert result.verdict == "error" and r"\frac{dL}{dz}" in result.reason
    assert r"\frac{dL}{dz}" not in checker.check(r"a^{(2)} + 1 = z^{(2)}").reason


@pytest.mark.parametrize("tail", [r" \text{ by the chain rule}", r" \\", r" \quad \text{(chain rule)}.",
                                  r"\, \mbox{so}"])
def test_a_remark_or_row_break_after_the_equation_is_ignored(checker, tail):
    assert checker.check(r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)} - y" + tail).verdict == "correct"
    assert checker.check(r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)}" + tail).verdict == "incorrect"
