"""The interventions' pure drawing functions, as text without an app."""

from __future__ import annotations

import numpy as np

from lstm_tui.core.interventions import Patch, TokenChange
from lstm_tui.render.interventions import (
    GUTTER,
    badge,
    delta_scale,
    effect_columns,
    effect_lines,
    patch_label,
    top_k_text,
)
from lstm_tui.render.palette import DIVERGING, Scale


def text(line) -> str:
    return "".join(s.text for s in line)


def test_badge_says_what_is_shown():
    assert badge(0, None) == ""
    assert badge(2, None) == "PATCHED (2)"
    assert badge(1, "delta") == "PATCHED (1)  Δ PATCHED − CLEAN"
    assert badge(0, "diff") == "diff source − main"
    assert "not applied" in badge(3, "diff")
    assert badge(1, None, nonfinite=True).endswith("NaN/inf!")


def test_patch_label_is_the_command_line_form_and_words():
    label = patch_label(Patch(1, "f", None, range(4, 9), "src"))
    assert label.startswith("L2:f[*]=src@5-9")
    assert "every unit" in label and "t = 5…9" in label and "source" in label


def test_delta_scale_is_symmetric_and_never_empty():
    assert delta_scale(0.5) == Scale(DIVERGING, -0.5, 0.5)
    for bad in (0.0, float("nan"), float("inf")):
        assert delta_scale(bad) == Scale(DIVERGING, -1.0, 1.0)


def test_top_k_text_shows_before_after_and_the_change():
    t = top_k_text([TokenChange(1, ")", 0.834, 0.661, np.log(0.661 / 0.834)), TokenChange(0, "(", 0.1, 0.3, np.log(3))])
    s = t.plain
    assert f"0.834 → 0.661 {np.log(0.661 / 0.834):+.3f}" in s and "0.100 → 0.300 +1.099" in s


def test_effect_columns_fit_the_width():
    assert effect_columns(10, GUTTER + 100) == (10, 6)
    assert effect_columns(50, GUTTER + 100) == (50, 2)
    assert effect_columns(500, GUTTER + 100) == (100, 1)


def test_effect_lines_mark_cursor_target_pending_and_nonfinite():
    vals = np.array([[0.0, 1.0, -1.0], [np.nan, np.inf, 0.5]])  # units × steps
    lines = effect_lines(vals, Scale(DIVERGING, -1, 1), col=1, unit=1, target=2, cell_width=2)
    assert len(lines) == 1 + 2
    axis = text(lines[0])
    assert axis.index("▼") == GUTTER + 1 * 2 + 1 and axis.index("T") == GUTTER + 2 * 2 + 1
    row1 = text(lines[2])
    assert row1.startswith("   1▶ ")
    assert "·" in row1 and "!" in row1  # not computed yet, and infinite
    # the cursor's cell (unit 1, step 1) is the infinite one: '!' wins over the marker
    cursor = effect_lines(vals, Scale(DIVERGING, -1, 1), col=2, unit=1, cell_width=2)
    assert "◆" in text(cursor[2])
    assert text(lines[1]).startswith("   0  ")
    # colours follow the values: the first unit's three cells differ
    styles = [s.style.bgcolor for s in lines[1][1:]]
    assert len(set(styles)) == 3


def test_a_quantity_set_by_several_patches_is_named_once():
    from lstm_tui.core.interventions import Patch
    from lstm_tui.widgets.state import patched_here

    patches = [Patch(0, "c", 12, range(3, 4), 0.0), Patch(0, "c", None, range(1, 5), "src"),
               Patch(0, "h", 12, range(3, 4), 1.0), Patch(0, "c", 12, range(0, 9), float("inf"))]
    assert patched_here(patches, 0, 3, 12) == ["c", "h"]
    assert patched_here(patches, 0, 3, 11) == ["c"] and patched_here(patches, 1, 3, 12) == []
