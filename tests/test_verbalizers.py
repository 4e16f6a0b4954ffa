"""--verbalizers: the same task under other label words."""

import json

import pytest

from lbtui.tasks import catalog, verbalizers
from lbtui.cli import main
from lbtui.errors import UserError


def test_parse_and_expand():
    sets = verbalizers.parse("bad, good; A,B ;low,mid,high")
    assert sets == [("bad", "good"), ("A", "B"), ("low", "mid", "high")]
    reviews, tickets = catalog.load("reviews"), catalog.load("tickets")
    out = verbalizers.expand([reviews, tickets], sets)
    assert [t.name for t in out] == ["reviews", "reviews[bad/good]", "reviews[A/B]", "tickets", "tickets[low/mid/high]"]
    v = out[1]
    assert v.labels == ("bad", "good") and v.test == reviews.test and v.pool == reviews.pool
    assert v.content_hash != reviews.content_hash != out[2].content_hash


@pytest.mark.parametrize(
    "text, fragment", [("a,,b", "empty word"), ("a,a", "repeats"), ("x,y;w,x,y,z,q", "has 5 words; no task has")]
)
def test_bad_word_sets(text, fragment):
    with pytest.raises(UserError) as e:
        verbalizers.expand([catalog.load("reviews")], verbalizers.parse(text))
    assert e.value.where == "--verbalizers" and fragment in e.value.message


def test_run_reports_where_the_preference_goes(capsys, tmp_path, fake_model, fake_factory):
    code = main(
        [
            "run",
            "-m",
            str(fake_model),
            "-t",
            "reviews",
            "-k",
            "4",
            "--limit",
            "20",
            "--db",
            str(tmp_path / "v.db"),
            "--verbalizers",
            "bad,good;B,A",
            "--json",
        ],
        backend_factory=fake_factory,
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert [r["task"] for r in doc["runs"]] == ["reviews", "reviews[bad/good]", "reviews[B/A]"]
    rows = doc["verbalizers"]
    assert [r["words"] for r in rows] == [["negative", "positive"], ["bad", "good"], ["B", "A"]]
    assert all(r["task"] == "reviews" and abs(sum(r["predicted_share"]) - 1) < 1e-9 for r in rows)
    # The fake model prefers the first label position, whatever it is called: the bias follows the order.
    assert all(r["most_predicted_class"] == 0 and r["same_class_as_original"] for r in rows)


def test_label_words_are_one_line_of_text():
    with pytest.raises(UserError, match=r"--verbalizers: label 'ba\\nd' holds a line break"):
        verbalizers.parse("ba\nd,good")
