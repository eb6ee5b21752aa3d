"""The Python API refuses an argument of the wrong type or range with one InputError line naming it.

Each case once ended in a raw TypeError, IndexError or NumPy error, or was taken silently
(a float unit truncated, a bool read as 0 or 1, steps="12" read as steps 1 and 2).
NumPy integers (np.int64(3)) are whole numbers like ints.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstm_tui
from lstm_tui.core.errors import InputError
from lstm_tui.core.interventions import Patch, intervene


@pytest.fixture(scope="module")
def lm():
    model = lstm_tui.random_model(hidden=6, seed=0)
    return model, model.trace("hello")


def refused(call, *words):
    """``call()`` raises an InputError of one line holding every one of ``words``."""
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message


NOT_WHOLE = [1.5, 2.0, np.float64(1.0), "1", None, True, False, np.True_, [], [1], np.array([1, 2])]
NOT_WHOLE_IDS = ["float", "float2.0", "np.float64", "str", "None", "True", "False", "np.bool", "empty", "list", "array"]


# ---------------------------------------------------------------------------
# Patch


def _patch_fields():
    """(field, bad value) for every field that counts; None is a unit (all units), an array steps."""
    for field in ("layer", "unit", "steps"):
        for bad, name in zip(NOT_WHOLE, NOT_WHOLE_IDS):
            if field == "unit" and bad is None:
                continue
            if field == "steps" and isinstance(bad, (list, np.ndarray)):  # steps may be a list: of floats, refused
                bad = {"empty": [0.5], "list": [1, 1.5], "array": np.array([0.5, 1.0])}[name]
            yield pytest.param(field, bad, id=f"{field}-{name}")


@pytest.mark.parametrize("field,bad", list(_patch_fields()))
def test_patch_refuses_a_field_that_is_not_a_whole_number(field, bad):
    args = {"layer": 0, "quantity": "h", "unit": 0, "steps": 1, "value": 0.0} | {field: bad}
    message = refused(lambda: Patch(**args), f"patch {field} ", "expected")
    if isinstance(bad, bool):
        assert "not a bool" in message


@pytest.mark.parametrize("steps", ["12", b"12", (1, 2.5), [None], [True], 3 + 0j])
def test_patch_refuses_steps_that_are_not_steps(steps):
    refused(lambda: Patch(0, "h", 0, steps, 0.0), "patch steps", "a 0-based step")


@pytest.mark.parametrize("quantity", [1, None, ["h"], b"h"])
def test_patch_refuses_a_quantity_that_is_not_text(quantity):
    refused(lambda: Patch(0, quantity, 0, 1, 0.0), "patch quantity", "expected a quantity's name")


VALUES = [True, np.True_, None, "0", [1.0], np.array([1.0]), 1 + 2j, 10**400]
VALUE_IDS = ["True", "np.bool", "None", "text", "list", "array", "complex", "past-float"]


@pytest.mark.parametrize("value", VALUES, ids=VALUE_IDS)
def test_patch_refuses_a_value_that_is_not_a_number_or_src(value):
    refused(lambda: Patch(0, "h", 0, 1, value), "patch value", "a number or 'src'")


def test_patch_takes_numpy_whole_numbers_as_ints(lm):
    p = Patch(np.int64(0), "h", np.int32(2), np.arange(1, 3), np.float32(0.5))
    assert p == Patch(0, "h", 2, (1, 2), 0.5)
    assert type(p.layer) is int and type(p.unit) is int and all(type(k) is int for k in p.steps)
    assert Patch(0, "h", None, range(2), "src").value == "src"
    assert Patch(0, "h", 0, np.array(3), 0).steps == (3,)  # a 0-d array: one step
    model, clean = lm
    intervene(model, clean, [p])
