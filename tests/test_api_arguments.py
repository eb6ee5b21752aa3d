"""The Python API refuses an argument of the wrong type or range with one InputError line naming it.

Each case once ended in a raw TypeError, IndexError or NumPy error, or was taken silently
(a float unit truncated, a bool read as 0 or 1, steps="12" read as steps 1 and 2).
NumPy integers (np.int64(3)) are whole numbers like ints.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lstm_tui
from lstm_tui.core.errors import InputError
from lstm_tui.core.interventions import EffectMap, Patch, difference, intervene, top_k_change


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
    run = intervene(model, clean, [p])
    assert (run.states["h"][0][1:3, 2] == np.float32(0.5)).all()  # set at steps 1 and 2, unit 2
    np.testing.assert_array_equal(run.states["h"][0][:1], clean.states["h"][0][:1])  # before them: the clean run
    np.testing.assert_array_equal(run.states["h"][0], intervene(model, clean, [Patch(0, "h", 2, (1, 2), 0.5)]).states["h"][0])


@pytest.mark.parametrize("field,bad,words", [
    ("layer", -1, "expected a layer from 1 to 1"),
    ("layer", 10**30, "expected a layer from 1 to 1"),
    ("unit", -1, "has units 0 to 5"),
    ("unit", 6, "has units 0 to 5"),
    ("steps", -1, "expected a step from 1 to 5"),
    ("steps", [2, 5], "expected a step from 1 to 5"),
    ("steps", [], "no steps"),
])
def test_intervene_names_a_patch_out_of_range(lm, field, bad, words):
    model, clean = lm
    args = {"layer": 0, "quantity": "h", "unit": 0, "steps": 1, "value": 0.0} | {field: bad}
    refused(lambda: intervene(model, clean, [Patch(**args)]), words)


# ---------------------------------------------------------------------------
# intervene


@pytest.mark.parametrize("patches,words", [
    (None, "not NoneType"),
    (1, "not int"),
    ("abc", "not str"),
    (Patch(0, "h", 0, 1, 0.0), "put a lone patch in a list"),
    ([1], "1 is not a Patch"),
    ([Patch(0, "h", 0, 1, 0.0), "h[0]=0@1"], "is not a Patch"),
])
def test_intervene_refuses_patches_that_are_not_a_list_of_patch(lm, patches, words):
    model, clean = lm
    refused(lambda: intervene(model, clean, patches), "patches", words)


def test_intervene_refuses_a_base_that_is_not_a_trace(lm):
    model, clean = lm
    patch = Patch(0, "h", 0, 1, 0.0)
    refused(lambda: intervene(model, clean, [patch], base=1), "base: expected a Trace")
    refused(lambda: intervene(model, clean, [patch], base=clean, base_patches=None), "base_patches: expected a list")


# ---------------------------------------------------------------------------
# EffectMap


@pytest.mark.parametrize("bad", NOT_WHOLE, ids=NOT_WHOLE_IDS)
@pytest.mark.parametrize("field", ["layer", "step"])
def test_effect_map_refuses_a_layer_or_step_that_is_not_a_whole_number(lm, field, bad):
    model, clean = lm
    args = {"layer": 0, "step": 2} | {field: bad}
    refused(lambda: EffectMap(model, clean, "h", value=0.0, **args), f"{field} ", "expected a 0-based")


@pytest.mark.parametrize("token", [1.0, 1.5, np.float64(2.0), True, False, [], np.array([1, 2])],
                         ids=["float", "float1.5", "np.float64", "True", "False", "empty", "array"])
def test_effect_map_refuses_a_token_that_is_neither_text_nor_an_id(lm, token):
    model, clean = lm
    refused(lambda: EffectMap(model, clean, "h", 0, 0.0, 2, token=token), "token ", "an output id")


@pytest.mark.parametrize("value", VALUES, ids=VALUE_IDS)
def test_effect_map_refuses_a_value_that_is_not_a_number_or_src(lm, value):
    model, clean = lm
    refused(lambda: EffectMap(model, clean, "h", 0, value, 2), "value ", "a number or 'src'")


@pytest.mark.parametrize("clean", [None, "hello", 1])
def test_effect_map_refuses_a_clean_run_that_is_not_a_trace(lm, clean):
    model, _ = lm
    refused(lambda: EffectMap(model, clean, "h", 0, 0.0, 2), "clean: expected a Trace")


def test_effect_map_takes_numpy_whole_numbers(lm):
    model, clean = lm
    em = EffectMap(model, clean, "h", np.int64(0), np.float32(0.0), np.int64(2), token=np.int64(3))
    assert (em.layer, em.step, em.token) == (0, 2, 3) and type(em.step) is int
    assert em.run().shape == (5, 6)


# ---------------------------------------------------------------------------
# top_k_change, difference


@pytest.mark.parametrize("k", NOT_WHOLE + [-1, 5, 10**30], ids=NOT_WHOLE_IDS + ["negative", "T", "huge"])
def test_top_k_change_refuses_a_step_out_of_range_or_not_whole(lm, k):
    model, clean = lm
    refused(lambda: top_k_change(model, clean, clean, k), "top_k_change k", "a 0-based step from 0 to 4")


@pytest.mark.parametrize("top", NOT_WHOLE + [0, -1], ids=NOT_WHOLE_IDS + ["zero", "negative"])
def test_top_k_change_refuses_a_count_below_one_or_not_whole(lm, top):
    model, clean = lm
    refused(lambda: top_k_change(model, clean, clean, 1, top=top), "top_k_change top", "a whole number from 1")


def test_top_k_change_takes_numpy_ints_and_lists_every_output_when_asked_for_more(lm):
    model, clean = lm
    V = model.head_W.shape[0]
    assert len(top_k_change(model, clean, clean, np.int64(4), top=np.int64(3))) == 3
    assert len(top_k_change(model, clean, clean, 0, top=V + 10)) == V


@pytest.mark.parametrize("other", [None, "hello", 1])
def test_difference_and_top_k_change_refuse_what_is_not_a_trace(lm, other):
    model, clean = lm
    refused(lambda: difference(clean, other), "difference before: expected a Trace")
    refused(lambda: difference(other, clean), "difference after: expected a Trace")
    refused(lambda: top_k_change(model, clean, other, 0), "top_k_change patched: expected a Trace")


# ---------------------------------------------------------------------------
# Model.trace, random_model, load_model, write_npz


@pytest.mark.parametrize("inputs,words", [
    (None, "inputs None: expected text, a list of tokens"),
    (1.5, "inputs 1.5: expected text"),
    (3, "inputs 3: expected text"),
    (True, "inputs True: expected text"),
    (b"abc", "inputs b'abc': expected text"),
    ([1, 2], "inputs: token 0 is 1, not text"),
    (["a", None], "inputs: token 1 is None, not text"),
    ([[0.0] * 4], "inputs: token 0 is [0.0, 0.0, 0.0, 0.0], not text"),
    (np.array(["a", "b"]), "input frames of <U1: expected numbers"),
], ids=["None", "float", "int", "bool", "bytes", "ints", "None-token", "frames-as-list", "str-array"])
def test_trace_refuses_inputs_that_are_not_text_tokens_or_frames(lm, inputs, words):
    model, _ = lm
    refused(lambda: model.trace(inputs), words)
    refused(lambda: intervene(model, inputs, []), words)  # intervene traces its inputs and source
    if inputs is not None:  # (no source)
        refused(lambda: intervene(model, "hello", [], source=inputs), words)


def test_trace_takes_tokens_from_any_iterable_of_text(lm):
    model, clean = lm
    assert model.trace(iter("hello")).tokens == clean.tokens == model.trace(np.array(list("hello")).tolist()).tokens


@pytest.mark.parametrize("bad", NOT_WHOLE + [0, -1], ids=NOT_WHOLE_IDS + ["zero", "negative"])
@pytest.mark.parametrize("field", ["hidden", "layers", "embed"])
def test_random_model_refuses_a_size_that_is_not_a_whole_number_from_1(field, bad):
    refused(lambda: lstm_tui.random_model(**{field: bad}), f"{field} ", "expected a whole number from 1")
    if field != "embed" and bad is not None:  # (load_model's hidden None: 24)
        refused(lambda: lstm_tui.load_model("random", **{field: bad}), f"{field} ", "expected a whole number from 1")


@pytest.mark.parametrize("bad", [b for b in NOT_WHOLE if b is not None] + [-1],
                         ids=[i for i in NOT_WHOLE_IDS if i != "None"] + ["negative"])
def test_random_model_refuses_a_seed_that_is_not_a_whole_number_from_0(bad):
    refused(lambda: lstm_tui.random_model(hidden=4, seed=bad), "seed ", "a whole number from 0, or None")
    refused(lambda: lstm_tui.load_model(seed=bad), "seed ", "a whole number from 0, or None")


@pytest.mark.parametrize("dtype", ["int8", "float16", "nonsense", None, 1, [np.float32]])
def test_random_model_refuses_a_dtype_other_than_float32_or_float64(dtype):
    refused(lambda: lstm_tui.random_model(hidden=4, dtype=dtype), "dtype ", "expected float32 or float64")


def test_random_model_takes_numpy_whole_numbers_and_dtypes():
    model = lstm_tui.random_model(hidden=np.int64(4), seed=np.uint8(3), layers=np.int32(2), embed=np.int16(5),
                                  dtype=np.float64)
    assert (model.width("h", 0), model.num_layers, model.input_size, model.dtype) == (4, 2, 5, np.float64)
    assert np.array_equal(model.layers[0].W_ih, lstm_tui.random_model(hidden=4, seed=3, layers=2, embed=5,
                                                                       dtype="f8").layers[0].W_ih)


@pytest.mark.parametrize("spec", [1, 1.5, True, ["random"], b"random"], ids=["int", "float", "bool", "list", "bytes"])
def test_load_model_refuses_a_spec_that_is_not_a_name_or_path(spec):
    refused(lambda: lstm_tui.load_model(spec), "model ", "expected a built-in model's name or a weights file's path")


@pytest.mark.parametrize("option", ["prefix", "vocab_path", "head_activations", "head_pool"])
@pytest.mark.parametrize("bad", [1, True, ["relu"]], ids=["int", "bool", "list"])
def test_load_model_refuses_a_file_option_that_is_not_text(option, bad):
    refused(lambda: lstm_tui.load_model("charlm", **{option: bad}), f"{option} ", "or None")


def test_load_model_takes_a_pathlib_path(tmp_path):
    path = tmp_path / "nowhere" / "model.safetensors"
    with pytest.raises(lstm_tui.UserError) as info:  # a path, read as one: refused for the file, not its type
        lstm_tui.load_model(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("path", [1, None, 2.5, ["x.npz"]], ids=["int", "None", "float", "list"])
def test_write_npz_refuses_a_path_that_is_not_a_file_name(lm, tmp_path, path):
    _, clean = lm
    refused(lambda: lstm_tui.write_npz(clean, path), "path ", "expected a file name")


@pytest.mark.parametrize("trace", [None, "hello", {"h": []}], ids=["None", "str", "dict"])
def test_write_npz_refuses_what_is_not_a_trace(tmp_path, trace):
    refused(lambda: lstm_tui.write_npz(trace, tmp_path / "t.npz"), "write_npz trace: expected a Trace")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# The readers of a trace (model.trace(...)) and of one kept as checkpoints


@pytest.fixture(scope="module", params=["Trace", "CheckpointedTrace"])
def read(request, lm):
    """A run of 5 steps, 1 layer of 6 units, as a Trace and as a CheckpointedTrace (windows of 2 steps)."""
    from lstm_tui.core.checkpoint import checkpointed

    model, clean = lm
    return clean if request.param == "Trace" else checkpointed(model, "hello", window=2)


READERS = {  # name -> (call with the bad argument, the argument's name, what the message expects)
    "width-layer": (lambda t, b: t.width("h", b), "layer", "a 0-based layer from 0 to 0"),
    "state_before-layer": (lambda t, b: t.state_before("h", b, 1), "layer", "a 0-based layer from 0 to 0"),
    "state_before-k": (lambda t, b: t.state_before("c", 0, b), "k", "a 0-based step from 0 to 5 (5: after the last"),
    "value-layer": (lambda t, b: t.value("h", b, 1), "layer", "a 0-based layer"),
    "value-k": (lambda t, b: t.value("h_prev", 0, b), "k", "a 0-based step from 0 to 4"),
    "series-j": (lambda t, b: t.series("h", 0, b), "j", "a unit from 0 to 5"),
    "series-start": (lambda t, b: t.series("h", 0, 1, b), "start", "a 0-based step"),
    "states_before-start": (lambda t, b: t.states_before("h", 0, b, 3), "start", "a 0-based step"),
    "states_before-stop": (lambda t, b: t.states_before("h", 0, 0, b), "stop", "a 0-based step, or None"),
    "window-start": (lambda t, b: t.window(b, 3), "start", "a 0-based step"),
    "window-stop": (lambda t, b: t.window(0, b), "stop", "a 0-based step"),
    "abs_max-layer": (lambda t, b: t.abs_max("c", b), "layer", "a 0-based layer"),
    "reverse_flags-layer": (lambda t, b: t.reverse_flags(b), "layer", "a 0-based layer"),
}


def _reader_cases():
    for reader, (_, arg, _) in READERS.items():
        for bad, name in zip(NOT_WHOLE, NOT_WHOLE_IDS):
            if bad is None and arg == "stop" and reader.startswith("states_before"):
                continue  # (None: to the end)
            yield pytest.param(reader, bad, id=f"{reader}-{name}")


@pytest.mark.parametrize("reader,bad", list(_reader_cases()))
def test_a_trace_reader_refuses_an_argument_that_is_not_a_whole_number(read, reader, bad):
    call, arg, expected = READERS[reader]
    message = refused(lambda: call(read, bad), f"{arg} ", expected)
    if isinstance(bad, bool):
        assert "not a bool" in message


@pytest.mark.parametrize("reader,bad", [
    ("width-layer", 1), ("width-layer", -2), ("width-layer", 10**30), ("value-layer", 1),
    ("state_before-layer", 3), ("abs_max-layer", -2), ("reverse_flags-layer", 1),
    ("state_before-k", 6), ("state_before-k", -1), ("value-k", 5), ("value-k", -1), ("value-k", np.int64(9)),
    ("series-j", 6), ("series-j", -1),
])
def test_a_trace_reader_names_a_layer_step_or_unit_out_of_range(read, reader, bad):
    call, arg, expected = READERS[reader]
    refused(lambda: call(read, bad), f"{arg} {bad!r}: expected {expected}")


@pytest.mark.parametrize("q", ["zz", None, 1, ["h"], np.array(["h", "c"]), "y_prev"])
@pytest.mark.parametrize("reader", ["width", "value", "abs_max", "series", "state_before"])
def test_a_trace_reader_refuses_a_name_it_does_not_know(read, reader, q):
    call = {"width": lambda: read.width(q, 0), "value": lambda: read.value(q, 0, 1),
            "abs_max": lambda: read.abs_max(q, 0), "series": lambda: read.series(q, 0, 1),
            "state_before": lambda: read.state_before(q, 0, 1)}[reader]
    refused(call, "q ", "expected one of", "h")


def test_a_gru_trace_has_no_c_in_one_line():
    model = lstm_tui.random_model(hidden=4, cell="gru", seed=0)
    trace = model.trace("hello")
    refused(lambda: trace.state_before("c", 0, 1), "q 'c'", "gru", "no cell state c")
    from lstm_tui.core.checkpoint import checkpointed

    long = checkpointed(model, "hello", window=2)  # the same words (it said "expected one of h")
    for k in (1, 5):
        assert refused(lambda: long.state_before("c", 0, k), "q 'c'") == refused(lambda: trace.state_before("c", 0, k), "q 'c'")
    refused(lambda: trace.value("c_prev", 0, 1), "q 'c_prev'", "expected one of r, z, n, h")
    refused(lambda: trace.width("c", 0), "q 'c'")


def test_a_trace_reader_keeps_its_documented_and_internal_forms(read, lm):
    _, clean = lm
    T = clean.steps
    same = np.testing.assert_allclose  # (a window recomputed may differ from the whole run in the last bit)
    same(read.state_before("c", 0, T), clean.states["c"][0][T - 1], rtol=1e-6)  # after the last step
    same(read.state_before("h", np.int64(0), np.int64(0)), clean.h0[0])
    assert read.width("h", -1) == read.width("h", 0) == 6 and read.reverse_flags(-1) == (False,)
    assert read.window(-3, 2).steps == 2 and read.window(3, 10**30).steps == 2 and read.window(4, 2).steps == 0
    assert read.states_before("h", 0, -1, None).shape == (T, 6)
    same(read.series("h", 0, np.int64(2), 1, 99), clean.states["h"][0][1:, 2], rtol=1e-6)
    same(read.abs_max("x", -1), clean.abs_max("x", 0), rtol=1e-6)


def test_a_trace_reads_its_layers_input_and_layers_counted_from_the_last():
    model = lstm_tui.random_model(hidden=4, layers=2, seed=0)
    trace = model.trace("hello")
    assert np.shares_memory(trace.layer_input(-1), trace.states["h"][0]) and trace.layer_input(-2) is trace.x
    refused(lambda: trace.layer_input(2), "layer 2: expected a 0-based layer from 0 to 1")
    one = lstm_tui.random_model(hidden=4, seed=0).trace("hi")
    assert one.layer_input(-1) is one.x  # (once the h of layer -2: an IndexError)


# ---------------------------------------------------------------------------
# A model that is not one, a run of another model, a patch of endless steps


@pytest.mark.parametrize("model", [None, "charlm", 1], ids=["None", "str", "int"])
def test_the_model_argument_must_be_a_model(lm, model):
    _, clean = lm
    patch = Patch(0, "h", 0, 1, 0.0)
    refused(lambda: intervene(model, clean, [patch]), "model: expected a Model")
    refused(lambda: EffectMap(model, clean, "h", 0, 0.0, 2), "model: expected a Model")
    refused(lambda: top_k_change(model, clean, clean, 0), "top_k_change model: expected a Model")


@pytest.mark.parametrize("other", [dict(hidden=7), dict(hidden=6, cell="gru"), dict(hidden=6, layers=2),
                                   dict(hidden=6, embed=5)], ids=["wider", "gru", "deeper", "embed"])
def test_a_run_of_a_model_of_other_shapes_is_refused_in_one_line(lm, other):
    """Once NumPy's broadcasting or matmul errors, or a KeyError, from deep inside."""
    model, clean = lm
    theirs = lstm_tui.random_model(seed=0, **other).trace("hello")
    patch = Patch(0, "h", 0, 1, 0.0)
    refused(lambda: intervene(model, theirs, [patch]), "inputs: a run of another model", "than 'random-lstm'")
    refused(lambda: intervene(model, clean, [Patch(0, "h", 0, 1, "src")], source=theirs), "source: a run of another")
    refused(lambda: EffectMap(model, theirs, "h", 0, 0.0, 2), "clean: a run of another model")
    refused(lambda: EffectMap(model, clean, "h", 0, "src", 2, source=theirs), "source: a run of another model")
    refused(lambda: top_k_change(model, clean, theirs, 0), "top_k_change patched: a run of another model")
    refused(lambda: difference(theirs, clean), "difference after and before are runs of different models")


def test_a_run_of_another_input_and_length_is_still_a_source_and_a_difference(lm):
    model, clean = lm
    other = model.trace("hello there")
    assert intervene(model, clean, [Patch(0, "h", 0, 1, "src")], source=other).steps == 5
    assert difference(other, clean).steps == 5


@pytest.mark.parametrize("steps", [range(10**12), range(10**30, 10**31), "count"], ids=["range", "huge", "endless"])
def test_patch_refuses_more_steps_than_any_trace_before_making_them(steps):
    """range(10**12) once filled the memory until the kernel killed Python; itertools.count() never ended."""
    import itertools

    steps = itertools.count() if steps == "count" else steps
    refused(lambda: Patch(0, "h", 0, steps, 0.0), "patch steps: more than 10,000,000")
    assert Patch(0, "h", 0, itertools.islice(itertools.count(3), 2), 0.0).steps == (3, 4)


@pytest.mark.parametrize("bad", [["lstm"], {"lstm": 1}, {"lstm"}], ids=["list", "dict", "set"])
def test_random_model_refuses_a_cell_that_is_not_a_name(bad):
    """Once a TypeError (unhashable type), the cells being a dict's keys."""
    refused(lambda: lstm_tui.random_model(hidden=4, cell=bad), "unknown cell ", "expected one of lstm, gru")
    refused(lambda: lstm_tui.load_model("random", cell=bad), "unknown cell ", "expected one of lstm, gru")


@pytest.mark.parametrize("spec,options,words", [
    ("charlm", {"hidden": 64}, "hidden: only for the random model, not for model 'charlm'"),
    ("charlm", {"seed": 1, "layers": 2}, "seed, layers: only for the random model"),
    ("brackets", {"cell": "gru"}, "cell: only for the random model"),
    ("brackets", {"tokenizer": "word"}, "tokenizer: only for the random model"),
    ("charlm", {"head_pool": "mean"}, "head_pool: only for a weights file, not for model 'charlm'"),
    ("random", {"prefix": "rnn", "vocab_path": "v.json"}, "prefix, vocab_path: only for a weights file"),
    (None, {"head_activations": "relu"}, "head_activations: only for a weights file"),
])
def test_load_model_refuses_an_option_of_another_kind_of_model(spec, options, words):
    """Each was ignored: load_model("charlm", hidden=64) gave charlm as it is. The command line refuses them too."""
    refused(lambda: lstm_tui.load_model(spec, **options), words)


def test_load_model_defaults_the_random_models_options():
    model = lstm_tui.load_model("random", layers=None, cell=None, tokenizer=None)
    assert (model.num_layers, model.cell, model.width("h", 0)) == (1, "lstm", 24)
    refused(lambda: lstm_tui.load_model("random", layers=0), "layers 0: expected a whole number from 1")


# ---------------------------------------------------------------------------
# Model.trace's initial states, Model.logits_of


@pytest.mark.parametrize("given,words", [
    (float("nan"), "initial {q} nan: expected one vector per layer (1 layer(s))"),
    (1, "initial {q} 1: expected one vector per layer"),
    ("0000", "initial {q} '0000': expected one vector per layer"),
    ([["a"] * 6], "initial {q} of layer 0 ['a', 'a', 'a', 'a', 'a', 'a']: expected numbers"),
    ([None], "initial {q} of layer 0 None: expected numbers"),
    ([[0.0] * 5 + [[1.0]]], "initial {q} of layer 0"),
    (np.zeros((1, 6), dtype=complex), "expected numbers"),
    ([[float("nan")] * 6], "initial {q} of layer 0 holds NaN or Inf values"),
    (np.full((1, 6), -np.inf), "initial {q} of layer 0 holds NaN or Inf values"),
    ([[1e39] * 6], "initial {q} of layer 0 holds values too large for float32"),
], ids=["nan", "int", "str", "str-list", "None", "ragged", "complex", "nan-row", "inf", "past-float32"])
@pytest.mark.parametrize("q", ["h", "c"])
def test_trace_refuses_initial_states_that_are_not_finite_vectors(lm, q, given, words):
    """Each was a raw TypeError or ValueError, a ComplexWarning or an overflow warning, or (NaN) a trace of NaN."""
    model, _ = lm
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and not a warning on the way
        refused(lambda: model.trace("hello", **{f"{q}0": given}), words.format(q=q))


def test_trace_takes_initial_states_as_lists_or_arrays_and_refuses_c0_without_a_cell_state(lm):
    model, clean = lm
    h0 = np.linspace(-1, 1, 6)
    a = model.trace("hello", h0=[h0], c0=np.zeros((1, 6)))
    b = model.trace("hello", h0=[list(h0)], c0=[[0] * 6])
    np.testing.assert_array_equal(a.states["h"], b.states["h"])
    gru = lstm_tui.random_model(hidden=4, cell="gru", seed=0)
    refused(lambda: gru.trace("hi", c0=[np.zeros(4)]), "c0: a gru has no cell state c")  # (once ignored)


def test_trace_refuses_frames_too_large_for_the_model_without_a_warning(lm):
    model, _ = lm
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused(lambda: model.trace(np.full((2, model.input_size), 1e39)), "too large for float32")


@pytest.mark.parametrize("h,words", [
    (None, "h None: expected numbers"),
    ("h", "h 'h': expected numbers"),
    (np.zeros(5), "h of shape (5,): expected (..., 6), the last layer's h"),
    (np.zeros((3, 7)), "h of shape (3, 7): expected (..., 6)"),
    ([[1, 2], [3]], "expected numbers"),
], ids=["None", "str", "short", "wide", "ragged"])
def test_logits_of_refuses_what_is_not_the_last_layers_h(lm, h, words):
    model, _ = lm
    refused(lambda: model.logits_of(h), words)


def test_logits_of_takes_a_list_and_refuses_a_model_without_a_head(lm):
    model, clean = lm
    np.testing.assert_allclose(model.logits_of(clean.states["h"][0][2].tolist()), clean.logits[2], rtol=1e-5)
    import dataclasses

    headless = dataclasses.replace(model, head_W=None, head_b=None)
    refused(lambda: headless.logits_of(np.zeros(6)), "has no output head")


@pytest.mark.parametrize("field,bad,words", [
    ("layer", 1, "layer 1: expected a 0-based layer from 0 to 0"),
    ("layer", -1, "layer -1: expected a 0-based layer from 0 to 0"),
    ("step", 5, "step 5: expected a 0-based step from 0 to 4"),
    ("step", -1, "step -1: expected a 0-based step from 0 to 4"),
])
def test_effect_map_names_a_layer_or_step_out_of_range_as_it_was_given(lm, field, bad, words):
    """As the command line's, 1-based, once: EffectMap(..., step=-1) was 'step 0 out of range: expected a step
    from 1 to 5', though 0 is a step here."""
    model, clean = lm
    args = {"layer": 0, "step": 2} | {field: bad}
    refused(lambda: EffectMap(model, clean, "h", value=0.0, **args), words)
    if field == "step":
        refused(lambda: EffectMap(model, model.trace(""), "h", 0, 0.0, 0), "step 0: expected a 0-based step (clean has")


@pytest.mark.parametrize("kw,words", [
    ({"force": "no"}, "force 'no': expected True or False"),
    ({"force": 1}, "force 1: expected True or False"),
    ({"force": None}, "force None: expected True or False"),
    ({"extra": "x"}, "extra 'x': expected a dict of arrays, or None"),
    ({"extra": [("a", 1)]}, "extra [('a', 1)]: expected a dict"),
])
def test_write_npz_refuses_a_force_or_extra_of_the_wrong_type(lm, tmp_path, kw, words):
    """force="no" overwrote the file; extra="x" ended in a raw ValueError."""
    _, clean = lm
    path = lstm_tui.write_npz(clean, tmp_path / "t.npz")
    before = path.read_bytes()
    refused(lambda: lstm_tui.write_npz(clean, path, **kw), words)
    assert path.read_bytes() == before
    assert lstm_tui.write_npz(clean, path, force=np.True_) == path


@pytest.mark.parametrize("name", ["t.csv", "t.JSON"])
def test_write_npz_refuses_a_text_formats_name(lm, tmp_path, name):
    """It wrote an .npz (a zip) under the name, silently."""
    _, clean = lm
    refused(lambda: lstm_tui.write_npz(clean, tmp_path / name), "write_npz writes .npz files (write_trace writes")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(float).max, reason="longdouble is a float here")
def test_a_number_past_floats_range_is_refused_in_numpys_longdouble_too(lm):
    """float(np.longdouble("1e4000")) is inf, quietly: the patch set its unit to inf. An int that large was refused."""
    model, clean = lm
    big = np.longdouble("1e4000")
    refused(lambda: Patch(0, "h", 0, 1, big), "patch value", "too large for a float")
    refused(lambda: Patch(0, "h", 0, 1, -big), "patch value", "too large for a float")
    refused(lambda: EffectMap(model, clean, "h", 0, big, 2), "value ", "too large for a float")
    assert Patch(0, "h", 0, 1, np.longdouble("inf")).value == float("inf")  # inf itself is a value, as with floats
    assert Patch(0, "h", 0, 1, np.longdouble("nan")).value != 0  # (NaN too)


@pytest.mark.parametrize("tokens", [{"hello", "world"}, frozenset("ab")], ids=["set", "frozenset"])
def test_trace_refuses_tokens_in_no_order(lm, tokens):
    """A set was traced in whatever order it iterated, which changes with PYTHONHASHSEED."""
    model, _ = lm
    refused(lambda: model.trace(tokens), "of tokens has no order: expected a list of tokens")
    assert model.trace({"a": 0, "b": 1}.keys()).tokens == ("a", "b")  # (keys keep their order)


# ---------------------------------------------------------------------------
# Model, Layer and Bidirectional made by hand


def _layer(E=3, H=4, dtype=np.float32, **over):
    arrays = {"W_ih": np.zeros((4 * H, E), dtype), "W_hh": np.zeros((4 * H, H), dtype),
              "b_ih": np.zeros(4 * H, dtype), "b_hh": np.zeros(4 * H, dtype)} | over
    return lstm_tui.Layer("lstm", **arrays)


@pytest.mark.parametrize("make,words", [
    (lambda: lstm_tui.Model(layers=None), "layers None: expected a list of Layer or Bidirectional"),
    (lambda: lstm_tui.Model(layers=_layer()), "put a lone layer in a list"),
    (lambda: lstm_tui.Model(layers=[1]), "layers: layer 0 is 1, not a Layer or a Bidirectional"),
    (lambda: lstm_tui.Model(layers=[lstm_tui.Bidirectional(_layer(), None)]), "its backward direction None"),
    (lambda: lstm_tui.Model(layers=[_layer(W_ih=[[0.0] * 3] * 16)]), "layer 0: W_ih is a list: expected a NumPy array"),
    (lambda: lstm_tui.Model(layers=[_layer(dtype=np.int64)]), "layer 0: W_ih is an array of int64"),
    (lambda: lstm_tui.Model(layers=[_layer(b_hh=np.zeros(16))]), "mix float32 (layer 0 W_ih) and float64 (layer 0 b_hh)"),
    (lambda: lstm_tui.Model(layers=[_layer()], embedding=[[0.0] * 3]), "the embedding is a list"),
    (lambda: lstm_tui.Model(layers=[_layer()], head_W=np.zeros((2, 4), np.float32)), "head_W and head_b: expected both"),
    (lambda: lstm_tui.Model(layers=[_layer()], head_W=np.zeros((2, 4), np.float32), head_b=np.zeros(3, np.float32)),
     "head_b has shape [3]: expected [2]"),
    (lambda: lstm_tui.Model(layers=[_layer()], tokenizer="zz"), "tokenizer 'zz': expected one of char, word"),
    (lambda: lstm_tui.Model(layers=[_layer()], embedding=np.zeros((2, 3), np.float32), vocab=("a", "b", "c")),
     "the vocabulary has 3 tokens, the embedding 2 rows"),
], ids=["None", "lone", "int", "bidi-None", "list", "int64", "mixed", "embedding-list", "no-bias", "bias-shape",
        "tokenizer", "vocab-long"])
def test_a_model_made_by_hand_is_refused_in_one_line_when_its_parts_do_not_fit(make, words):
    """Each was a raw TypeError or AttributeError when made, or a NumPy error (a UFuncTypeError, 'output array
    is not acceptable', None + float, an IndexError) at its first trace."""
    refused(make, words)


def test_a_model_made_by_hand_traces():
    model = lstm_tui.Model(layers=[_layer(), _layer(E=4)], embedding=np.ones((3, 3), np.float32), vocab=("a", "b", "c"),
                           head_W=np.ones((3, 4), np.float32), head_b=np.zeros(3, np.float32))
    assert model.trace("abca").y.shape == (4, 3)
    assert lstm_tui.Model(layers=(_layer(dtype=np.float64),)).trace(np.zeros((2, 3))).steps == 2


@pytest.mark.parametrize("make,words", [
    (lambda: _layer(activations=[None] * 3), "activations [None, None, None]: expected (name, alpha, beta)"),
    (lambda: _layer(clip="x"), "clip must be a positive number, got x"),
    (lambda: _layer(reverse="no"), "reverse 'no': expected True or False"),
    (lambda: _layer(linear_before_reset=None), "linear_before_reset None: expected True or False"),
], ids=["activations", "clip", "reverse", "linear_before_reset"])
def test_a_layer_made_by_hand_refuses_options_of_the_wrong_type(make, words):
    """A TypeError each ('NoneType' object is not subscriptable, '>' between str and int), or (reverse="no") a
    layer read backwards."""
    refused(lambda: lstm_tui.Model(layers=[make()]), "layer 0: ", words)


@pytest.mark.parametrize("make,words", [
    (lambda d: [d(activation=None)], "the head's hidden layer 0: activation None: expected (name, alpha, beta)"),
    (lambda d: [1], "head_hidden: layer 0 is 1, not a Dense"),
    (lambda d: None, "head_hidden None: expected a list of Dense, () for none"),
], ids=["activation", "int", "None"])
def test_a_head_made_by_hand_refuses_hidden_layers_that_are_not_dense(make, words):
    from lstm_tui.core.model import Dense

    def dense(**over):
        return Dense(**{"W": np.zeros((2, 4), np.float32), "b": np.zeros(2, np.float32)} | over)

    refused(lambda: lstm_tui.Model(layers=[_layer()], head_W=np.zeros((2, 2), np.float32), head_b=np.zeros(2, np.float32),
                                   head_hidden=make(dense)), words)


@pytest.mark.parametrize("vocab,words", [
    (("a", 1, "c"), "vocabulary is not a list of token strings"),
    (("a", "a", "b"), "vocabulary repeats the token 'a' (ids 0 and 1)"),
], ids=["int", "repeated"])
def test_a_model_made_by_hand_refuses_a_vocabulary_of_non_text_or_repeated_tokens(vocab, words):
    """A repeated token was read as its last id, silently; a number was never matched."""
    refused(lambda: lstm_tui.Model(layers=[_layer()], embedding=np.zeros((3, 3), np.float32), vocab=vocab), words)


@pytest.mark.parametrize("call,words", [
    (lambda m: m.width("zz", 0), "q 'zz': expected one of i, f, g, o, c, h, xW, hW"),
    (lambda m: m.widths(None), "q None: expected one of"),
    (lambda m: m.width("h", 5), "layer 5: expected a 0-based layer from 0 to 0"),
    (lambda m: m.width("h", 0.0), "layer 0.0: expected a 0-based layer"),
    (lambda m: m.astype(None), "dtype None: expected float32 or float64"),
    (lambda m: m.astype("x"), "dtype 'x': expected float32 or float64"),
    (lambda m: m.astype("int8"), "dtype 'int8': expected float32 or float64"),
    (lambda m: m.tokens(None), "text None: expected text"),
    (lambda m: m.tokens(["a"]), "text ['a']: expected text"),
], ids=["width-name", "widths-None", "width-layer", "width-float", "astype-None", "astype-name", "astype-int",
        "tokens-None", "tokens-list"])
def test_a_models_methods_refuse_arguments_of_the_wrong_type_or_range(lm, call, words):
    """width('zz', 0) answered H, silently; astype(None) gave float64 (NumPy's default); the rest raw errors."""
    model, _ = lm
    refused(lambda: call(model), words)
    assert model.width("h", -1) == model.widths("h")[0] == 6 and model.astype(np.float64).dtype == np.float64


def test_effect_map_run_refuses_a_progress_that_is_not_a_function(lm):
    model, clean = lm
    emap = EffectMap(model, clean, "h", 0, 0.0, 2)
    refused(lambda: emap.run(progress="x"), "progress 'x': expected a function")
    assert emap.run(progress=lambda f: False).shape == (5, 6)


@pytest.mark.parametrize("start,stop,arg", [(-2, None, "start -2"), (0, -1, "stop -1"), (-1, -1, "start -1")])
def test_series_refuses_a_negative_start_or_stop_rather_than_reading_it_otherwise_than_numpy(read, start, stop, arg):
    # (main read them from the end as NumPy does; clipping them gave all 5 steps, or none for stop=-1)
    refused(lambda: read.series("h", 0, 1, start, stop), f"{arg}: expected a 0-based step from 0")
