"""The app's virtual table and the snapshot rows it shows: widths fit every row, a
toggle keeps only the chosen methods, repeated group heads are blanked after filtering."""

from lbtui.ui.format import change_style
from lbtui.ui.rowtable import Column, Rows
from lbtui.ui.tabs import MethodRows


def test_widths_fit_every_row_and_wide_characters():
    rows = Rows.build(
        [Column("task"), Column("F1", right=True)], [("reviews", "0.5"), ("評価タスク", "0.125")], ["a", "b"]
    )
    assert rows.widths == (10, 5)  # five wide characters take ten cells; "0.125" is wider than "F1"


def test_only_keeps_the_toggled_methods_and_blanks_repeated_heads():
    cols = [Column("task"), Column("k"), Column("method")]
    cells = [("a", "0", "none"), ("a", "0", "bc"), ("a", "4", "none"), ("a", "4", "bc")]
    mr = MethodRows(Rows.build(cols, cells, ["1", "2", "3", "4"]), ["none", "bc", "none", "bc"], repeat_blank=2)
    bc = mr.only({"bc"})
    assert list(bc.keys) == ["2", "4"] and list(bc.rows) == [("a", "0", "bc"), ("a", "4", "bc")]
    both = mr.only({"none", "bc"})
    assert list(both.rows) == [("a", "0", "none"), ("", "", "bc"), ("a", "4", "none"), ("", "", "bc")]
    assert both.widths == mr.rows.widths  # the layout never moves on a toggle


def test_change_colours_follow_the_metric_direction():
    assert change_style("macro_f1")("+0.100") == "green" and change_style("macro_f1")("-0.100") == "red"
    assert change_style("rsd")("+0.100") == "red" and change_style("rsd")("-0.100") == "green"
    assert change_style("rsd")("+0.000") == "dim" and change_style("rsd")("") == ""
