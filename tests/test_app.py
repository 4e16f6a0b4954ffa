"""The real Textual app driven by its pilot: with the fake backend for the UI's
behaviour, and with the real SmolLM2 model for an audit end to end."""

import asyncio
import json
import time

import numpy as np
import pytest
from rich.table import Table
from textual.widgets import DataTable, Input, Static

from lbtui.report import views as analysis
from lbtui import paths

from conftest import FakeAudit
from lbtui.backends.fake import FakeBackend
from lbtui.cli import build_parser
from lbtui.analysis import baselines, diagnose
from lbtui.analysis.calibrations import METHODS, REGISTRY
from lbtui.results import Results, report, run_scores
from lbtui.report.reading import reading
from lbtui.store import Store
from lbtui.ui.app import LbtuiApp, make_app
from lbtui.ui.rowtable import RowTable
from lbtui.ui.screens import DiagnosisScreen, ExportScreen, HelpScreen, RunScreen, TextScreen


@pytest.fixture(autouse=True)
def said(monkeypatch):
    """Every notification an app shows, as ``app.said`` (its text), through Textual's
    public ``notify``."""
    shown = LbtuiApp.notify

    def notify(self, message, *args, **kwargs):
        self.__dict__.setdefault("said", []).append(str(message))
        return shown(self, message, *args, **kwargs)

    monkeypatch.setattr(LbtuiApp, "notify", notify)


SIZE = (160, 50)


def cells(app, table_id):
    table = app.query_one(table_id, RowTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def run(coro):
    return asyncio.run(coro)


def plain(renderable) -> str:
    """What a rich renderable shows, as text."""
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def fake_app(argv: list[str], **backend):
    """The app as `lbtui ARGV` opens it, scoring with the fake backend (``backend``: its
    options, e.g. a delay per input)."""
    return make_app(build_parser().parse_args(argv), backend_factory=lambda s, p: FakeBackend(**backend))


async def until_text(app, pilot, widget_id: str, *needles: str, tries: int = 100) -> str:
    """Wait (0.1 s steps) until the Static ``widget_id`` shows every needle (its lines
    joined); its text, or AssertionError naming what never showed."""
    for _ in range(tries):
        await pilot.pause(0.1)
        shown = " ".join(plain(app.query_one(widget_id, Static).content).split())
        if all(n in shown for n in needles):
            return shown
    raise AssertionError(f"{widget_id} never showed {needles}: {shown!r}")


async def until_scored(pilot, db, at_least: int = 1, tries: int = 200) -> None:
    """Wait (0.05 s steps) until some run in the store at ``db`` holds ``at_least`` scores;
    AssertionError when it never does (a test must not pass on nothing scored)."""
    for _ in range(tries):
        await pilot.pause(0.05)
        if db.exists() and any(Store(db).count_scores(r["id"]) >= at_least for r in Store(db).runs()):
            return
    raise AssertionError(f"no run in {db} held {at_least} scores after {tries * 0.05:g} s")


async def until(pilot, condition, what: str, timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds, the app handling its messages between looks;
    AssertionError naming ``what`` at the deadline."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        await pilot.pause(0.02)


async def open_first_run(app, pilot) -> RunScreen:
    """The audit settled, Enter on the per-run table's first row: its drill-down."""
    await settled(app, pilot)
    app.query_one("#per-run", RowTable).focus()
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, RunScreen), "the drill-down opened")
    return app.screen


async def drawn(app, pilot) -> None:
    """What the last key asked for is on screen: its messages handled, then the visible
    tab's snapshot built and laid out (views_settled raises on its deadline)."""
    await pilot.pause()
    await app.views_settled()


async def settled(app, pilot) -> None:
    """The audit's workers done and every view drawn from the newest snapshot."""
    await app.workers_done()
    await drawn(app, pilot)


def test_audit_fills_the_tables_and_toggles_recompute(tmp_path):
    db = tmp_path / "app.db"

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0,4", "--limit", "12", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            rows = cells(app, "#per-run")
            n = len(METHODS)
            assert len(rows) == 2 * n
            assert [r[6] for r in rows[:n]] == list(METHODS)
            # the numbers are the engine's
            store = Store(db)
            rid = int(rows[n][0])
            rep = report(store, rid)
            looc_row = next(r for r in rows if r[0] == str(rid) and r[6] == "looc")
            assert looc_row[8] == f"{rep.metrics['looc'].macro_f1:.3f}"
            assert rows[0][6] == "none" and rows[4][7] == "—"  # k=0: LOOC cannot apply, and says why
            assert rows[4][-1] == "LOOC needs at least 2 demonstrations" and rows[0][-1] == ""
            mean = cells(app, "#mean")
            assert len(mean) == 2 * n
            # toggling CC off removes its rows, on again brings them back; no model involved
            await pilot.press("2")
            await drawn(app, pilot)
            assert [r[6] for r in cells(app, "#per-run")[: n - 1]] == [m for m in METHODS if m != "cc"]
            await pilot.press("2")
            await drawn(app, pilot)
            assert len(cells(app, "#per-run")) == 2 * n
            # the change against none is shown for calibrated rows
            bc = next(r for r in cells(app, "#per-run") if r[6] == "bc")
            assert bc[9].startswith(("+", "-"))

    run(scenario())


def test_drill_down_errors_and_prompt(tmp_path):
    async def scenario():
        app = fake_app(["-t", "tickets", "-k", "4", "--limit", "20", "--db", str(tmp_path / "a.db")])
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_first_run(app, pilot)
            examples = screen.query_one("#examples", DataTable)
            assert examples.row_count == 20
            from rich.console import Console
            from sklearn.metrics import precision_recall_fscore_support

            console = Console(record=True, width=200)
            console.print(screen.query_one("#classwise", Static).content)
            shown = console.export_text()
            rs = run_scores(Store(tmp_path / "a.db"), screen.run_id)
            p, r, f, n = precision_recall_fscore_support(
                rs.test_gold, rs.test.argmax(axis=1), labels=range(3), zero_division=0
            )
            for j, lab in enumerate(["low", "medium", "high"]):  # scikit-learn's per-class numbers, uncalibrated
                assert f"{lab}" in shown and f"{p[j]:.3f}" in shown and f"{f[j]:.3f}" in shown
            acc = report(Store(tmp_path / "a.db"), screen.run_id).metrics["none"].accuracy
            await pilot.press("e")
            await until(pilot, lambda: examples.row_count == round(20 * (1 - acc)), "only the errors listed")
            await pilot.press("4")  # BC
            await until(pilot, lambda: screen.method == "bc", "BC chosen")
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "the prompt shown")
            assert "Output:" in app.screen.text
            await pilot.press("escape", "d")
            await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen), "the diagnosis shown")
            said, priors, following = app.screen.parts
            run_id = screen.run_id
            rs = run_scores(Store(tmp_path / "a.db"), run_id)
            expected = reading(
                Store(tmp_path / "a.db").run(run_id)["labels"], diagnose.prior_table(rs), diagnose.demo_effects(rs)
            )
            assert str(said).splitlines()[1:] == [f"• {line}" for line in expected]  # the CLI's sentences
            shown = str(app.screen.query_one("#diagnosis-0", Static).render())
            assert "What this says" in shown and "Uncalibrated, the model answers" in shown
            assert [str(c) for c in priors.columns[0].cells] == [
                "uniform",
                "gold (test set)",
                "predicted (none)",
                *[m for m in METHODS if m != "none" and REGISTRY[m].kind == "prior"],
            ]
            assert [str(c) for c in following.columns[0].cells] == list(METHODS)
            assert str(list(following.columns[3].cells)[0]).startswith(("+", "-"))  # excess with its interval
            await pilot.press("escape", "escape")
            await until(pilot, lambda: not isinstance(app.screen, (RunScreen, DiagnosisScreen)), "back on the tables")
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help shown")

    run(scenario())


def test_cancel_then_resume_from_past_runs(tmp_path):
    db = tmp_path / "c.db"

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "4", "--limit", "40", "--db", str(db)], delay=0.02)
        async with app.run_test(size=SIZE) as pilot:
            # cancel once some inputs are stored (a loaded CI machine starts slowly)
            await until_scored(pilot, db)
            await pilot.press("escape")  # goes back, never cancels
            assert not app.cancel_event.is_set()
            await pilot.press("ctrl+x")
            assert app.cancel_event.is_set()  # handled while scoring: the run below ends cancelled, partly scored
            await app.workers_done()
            await drawn(app, pilot)
            store = Store(db)
            (run_row,) = store.runs()
            assert run_row["status"] == "cancelled"
            partial = store.count_scores(run_row["id"])
            assert 0 < partial < run_row["n_items"]
            await pilot.press("f4")
            await drawn(app, pilot)
            await pilot.press("u")
            await app.workers_done()
            await drawn(app, pilot)
            assert store.run(run_row["id"])["status"] == "done"
            assert store.count_scores(run_row["id"]) == run_row["n_items"]

    run(scenario())


def test_waiting_for_workers_waits_for_those_started_meanwhile(tmp_path):
    """A finished worker's message can start the next (a snapshot, a verdict): waiting for
    the workers waits for those too (CI once found one still running after the wait)."""
    started = []

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0", "--limit", "12", "--db", str(tmp_path / "m.db")])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)

            async def second():
                await asyncio.sleep(0.05)

            async def first():
                started.append(app.run_worker(second(), group="second"))

            app.run_worker(first(), group="first")
            await app.workers_done()
            return started[0].is_finished, [w for w in app.workers if not w.is_finished]

    second_finished, running = run(scenario())
    assert second_finished and running == []


def test_waiting_for_workers_passes_superseded_ones_and_raises_for_failed_ones(tmp_path):
    """Moving the cursor cancels the row-interval worker before it (exclusive group): that is
    not a failure (CI once failed on Textual's wait_for_complete raising WorkerCancelled)."""
    from textual.worker import WorkerCancelled, WorkerFailed

    db = tmp_path / "w.db"

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0", "--limit", "12", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            rid = int(cells(app, "#per-run")[0][0])
            first = app.show_row_ci(rid, "none")
            app.show_row_ci(rid, "cc")  # cancels the first
            with pytest.raises(WorkerCancelled):
                await app.workers.wait_for_complete()
            assert first.is_cancelled
            app.show_row_ci(rid, "none")
            app.show_row_ci(rid, "dc")
            await app.workers_done()
            assert all(w.is_finished for w in app.workers)

            def broken():
                raise RuntimeError("boom")

            app.run_worker(broken, thread=True, exit_on_error=False)
            with pytest.raises(WorkerFailed):
                await app.workers_done()

    run(scenario())


def test_quit_mid_audit_stops_and_leaves_the_run_cancelled_and_resumable(tmp_path):
    """ctrl+q while scoring: "stopping..." shows at once, the run is marked cancelled (not
    left "running" with a dead owner), and what was scored stays stored."""
    db = tmp_path / "q.db"
    shown = []

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0,4", "--limit", "40", "--db", str(db)], delay=0.02)
        async with app.run_test(size=SIZE) as pilot:
            await until_scored(pilot, db)
            # the progress of a scored call, not only the run's start (copies of the handle:
            # the database can hold scores before the app has their progress message)
            await until(pilot, lambda: any(h.phase for h, _ in app.live.values()), "a scored call's progress")
            app.draw_progress()
            shown.append(plain(app.query_one("#progress", Static).content))
            app.action_cancel()
            shown.append(plain(app.query_one("#progress", Static).content))
            await pilot.press("ctrl+q")

    run(scenario())
    assert "run 1 of 2" in shown[0] and "audit" in shown[0] and "ctrl+x stops" in shown[0]
    assert any(phase in shown[0] for phase in ("content-free", "domain context", "bias set", "test"))
    assert "stopping..." in shown[1]
    store = Store(db)
    (row,) = store.runs()
    assert row["status"] == "cancelled" and row["owner"] is None
    assert 0 < store.count_scores(row["id"]) < row["n_items"]


def test_a_form_field_that_is_not_a_number_is_said_at_once_and_starts_nothing(tmp_path):
    async def scenario():
        app = make_app(db=tmp_path / "b.db", backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            app.query_one("#limit", Input).value = "ten"
            await pilot.press("ctrl+r")
            await drawn(app, pilot)
            assert "Test size: 'ten' is not a whole number" in app.said  # the form's words, not --limit
            assert not app.running and not any(w.group == "audit" for w in app.workers)
            assert Store(tmp_path / "b.db").runs() == []

    run(scenario())


def test_bad_input_is_shown_in_the_app(tmp_path):
    async def scenario():
        app = make_app(db=tmp_path / "b.db", backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            app.query_one("#shots", Input).value = "-1"
            await pilot.press("ctrl+r")
            await app.workers_done()
            await drawn(app, pilot)
            assert "Shots: must be >= 0, got -1" in app.said  # the form's words, not --shots
            assert app.is_running and Store(tmp_path / "b.db").runs() == []

    run(scenario())


@pytest.mark.model
def test_real_model_audit_in_the_app(tmp_path):
    """The issue's check: SmolLM2, a bundled task, 4 shots, 20 examples, all five methods."""
    db = tmp_path / "real.db"

    async def scenario():
        app = make_app(
            build_parser().parse_args(
                ["--model", "smollm2-135m-instruct", "-t", "reviews", "-k", "4", "--limit", "20", "--db", str(db)]
            )
        )
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            rows = cells(app, "#mean")
            assert [r[7] for r in rows] == list(METHODS)
            assert {(r[2], r[3], r[4], r[5]) for r in rows} == {
                ("full", "1", "1", "20")
            }  # scoring, tasks, runs, test n
            gold = Store(db).scored_set(Store(db).runs()[0]["id"], "test").gold
            assert {r[6] for r in rows} == {f"{baselines.better(baselines.both(gold, 2)):.3f}"}  # what F1 must beat
            for r in rows:
                for col in (9, 11, 13):  # Macro-F1, RSD, BiasScore
                    float(r[col])
            before = cells(app, "#per-run")
            await pilot.press("1")
            await drawn(app, pilot)
            after = cells(app, "#per-run")
            assert len(after) == len(before) - 1 and all(r[6] != "none" for r in after)
            # the prompt view shows the tokens the model read, as `lbtui prompt` does
            app.query_one("#per-run", RowTable).focus()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the drill-down opened")
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "the prompt shown")
            text = app.screen.text
            assert "KV-cache prefix ends here" in text and "labels (scored after the prompt):" in text
            assert "'negative' (text ' negative'):" in text and "' negative'" in text.split("labels (scored")[1]

    run(scenario())


def test_label_words_from_the_setup_form(tmp_path):
    """Other label words typed in the form run the task again under them, side by side."""
    db = tmp_path / "w.db"

    async def scenario():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            app.query_one("#shots", Input).value = "4"
            app.query_one("#limit", Input).value = "12"
            app.query_one("#verbalizers", Input).value = "bad,good;A,B"
            await pilot.press("ctrl+r")
            await settled(app, pilot)
            tasks = [r["task_name"] for r in Store(db).runs()]
            assert tasks == ["reviews", "reviews[bad/good]", "reviews[A/B]"]
            shown = {r[2] for r in cells(app, "#per-run")}
            assert {"reviews", "reviews[bad/good]", "reviews[A/B]"} <= shown
            await pilot.press("f5")  # the Compare tab: where the predictions go under each set of words
            await drawn(app, pilot)
            words = app.query_one("#words-table", Static)
            assert words.display and isinstance(words.content, Table)
            assert [str(c) for c in words.content.columns[4].cells] == ["negative/positive", "bad/good", "A/B"]
            assert not app.query_one("#ladder-table", Static).display
            app.query_one("#verbalizers", Input).value = "a,b,c"
            await pilot.press("ctrl+r")
            await app.workers_done()
            await drawn(app, pilot)
            assert any(n.startswith("Other label words:") for n in app.said)

    run(scenario())


def test_orders_from_the_setup_form_fill_the_stability_tab_and_plot_bands(tmp_path):
    """Seeds 2 x Orders 2 in the form: four runs, their spread in the Stability tab (the
    engine's numbers) and the range in the plots."""
    db = tmp_path / "o.db"

    async def scenario():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await drawn(app, pilot)
            await pilot.press("f6")  # only the visible tab is drawn
            await drawn(app, pilot)
            text = str(app.query_one("#stability-hint", Static).content)
            assert "Orders > 1" in text  # what to do before there is anything to show
            await pilot.press("f2")
            app.query_one("#shots", Input).value = "4"
            app.query_one("#limit", Input).value = "12"
            app.query_one("#seeds", Input).value = "2"
            app.query_one("#orders", Input).value = "2"
            await pilot.press("ctrl+r")
            await settled(app, pilot)
            runs = Store(db).runs()
            assert sorted((r["seed"], r["demo_order"]) for r in runs) == [(0, 0), (0, 1), (1, 0), (1, 1)]
            assert any(r[4] == "0 o1" for r in cells(app, "#per-run"))
            await pilot.press("f6")
            await drawn(app, pilot)
            rows = analysis.stability_rows(app.cache, app.view_runs, app.methods())
            assert {r["across"] for r in rows} == {"seeds", "orders", "all"}
            shown = cells(app, "#stability-table")
            assert len(shown) == len(rows)
            f1 = next(r for r in rows if r["across"] == "all" and r["method"] == "none")["macro_f1"]
            assert any(r[5] == "none" and r[6].startswith(f"{f1.mean:.3f}") for r in shown)
            bands = analysis.curve_bands(app.cache, app.view_runs, ["none"], "macro_f1")["none"]
            assert bands[0][2] <= bands[0][1] <= bands[0][3]
            await pilot.press("f3")
            await drawn(app, pilot)
            assert "range across seeds and orderings" in str(app.query_one("#plot-legend", Static).content)

    run(scenario())


def test_quantization_ladder_in_the_compare_tab(tmp_path, fake_model):
    """Two registered variants of one model (MODEL@TYPE): side by side by bits per weight."""
    db = tmp_path / "l.db"
    low = tmp_path / "fake-q2.gguf"
    low.write_bytes(b"GGUF" + bytes(61))  # another file, so another model identity
    reg = paths.config_dir() / "models.toml"
    reg.parent.mkdir(parents=True, exist_ok=True)
    reg.write_text(f'[models.fake]\npath = "{fake_model}"\n[models."fake@q2_k"]\npath = "{low}"\n', encoding="utf-8")

    def factory(spec, path):
        b = FakeBackend()
        b.info = {**b.info, "bits_per_weight": 3.2 if spec.name.endswith("@q2_k") else 5.7}
        return b

    async def scenario():
        app = make_app(
            build_parser().parse_args(
                ["-m", "fake,fake@q2_k", "-t", "reviews", "-k", "4", "--limit", "12", "--db", str(db)]
            ),
            backend_factory=factory,
        )
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            await pilot.press("f5")
            await drawn(app, pilot)
            ladder = app.query_one("#ladder-table", Static)
            assert ladder.display
            table = ladder.content
            assert isinstance(table, Table)
            text = "".join(str(c) for col in table.columns for c in col.cells)
            assert "fake (reference)" in text and "fake@q2_k" in text and "3.20" in text and "5.70" in text

    run(scenario())


def test_brackets_in_names_and_texts_are_shown_as_written(tmp_path):
    """Task names such as reviews[A/B] and example texts with brackets are text, not console
    markup: an example reading "[/b]" once stopped the drill-down with a markup error."""
    rows = [{"text": f"so [/b] good [{i}]", "label": "positive" if i % 2 else "negative"} for i in range(140)]
    data = tmp_path / "brackets.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    db = tmp_path / "b.db"

    async def scenario():
        app = fake_app(["-t", str(data), "-k", "2", "--limit", "6", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            app.query_one("#per-run", RowTable).focus()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the drill-down opened")
            assert "so [/b] good [" in app.export_screenshot().replace("&#160;", " ")

    run(scenario())


def test_the_app_reads_task_data_with_the_command_lines_data_options(tmp_path):
    """`lbtui -t task.toml --data-dir DIR`: the app resolves the task's data against DIR, as
    `lbtui run` does (it used to ignore --data-dir and the plain-file options)."""
    data = tmp_path / "elsewhere" / "mood"
    data.mkdir(parents=True)
    lines = [json.dumps({"body": f"text {i}", "mood": "up" if i % 3 else "down"}) for i in range(150)]
    (data / "all.jsonl").write_text("\n".join(lines), encoding="utf-8")
    task = tmp_path / "mood.toml"
    task.write_text(
        'name = "mood"\ndefinition = "Is the mood up or down?"\nlabels = ["down", "up"]\n'
        '[data]\nfile = "mood/all.jsonl"\ninput = "{body}"\nlabel_field = "mood"\n',
        encoding="utf-8",
    )
    db = tmp_path / "d.db"

    async def scenario():
        args = build_parser().parse_args(
            ["-t", str(task), "--data-dir", str(tmp_path / "elsewhere"), "-k", "2", "--limit", "5", "--db", str(db)]
        )
        app = make_app(args, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await app.workers_done()
            await drawn(app, pilot)
            assert [r["task_name"] for r in Store(db).runs()] == ["mood"]

    run(scenario())


def test_resuming_a_cancelled_label_word_run_resumes_that_run(fake_audit):
    """A cancelled reviews[bad/good] run resumed from Past runs is finished as it was
    (its label words), not replaced by a new plain reviews run."""
    from lbtui.tasks import catalog, verbalizers

    db, store = fake_audit.db, fake_audit.store
    (task,) = verbalizers.expand([catalog.load("reviews")], [("bad", "good")])[1:]
    (rid,) = fake_audit.run([task], [4], limit=10)
    store.db.execute("DELETE FROM scores WHERE run_id = ? AND \"set\" = 'test' AND idx >= 5", [rid])
    store.update_run(rid, status="cancelled")

    async def scenario():
        app = make_app(build_parser().parse_args(["--db", str(db)]), backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await drawn(app, pilot)
            app.query_one("#history-table", RowTable).focus()
            await pilot.press("u")
            await pilot.pause()  # the key's worker started
            await app.workers_done()
            await drawn(app, pilot)

    run(scenario())
    runs = Store(db).runs()
    assert [(r["id"], r["task_name"], r["status"]) for r in runs] == [(rid, "reviews[bad/good]", "done")]
    assert Store(db).count_scores(rid) == runs[0]["n_items"]


def test_drill_down_under_fitted_calibrations_lists_the_examples(fake_audit):
    """Keys 6 and 7 (ProCa, SC) show every test example with its calibrated probabilities,
    as the prior-based methods do."""
    from lbtui.results import run_scores
    from lbtui.analysis.results import calibrators
    from lbtui.analysis.metrics import softmax

    store = fake_audit.store
    (rid,) = fake_audit.run(["tickets"], [4], limit=30)
    cache = analysis.ResultCache(store)
    maps, _ = calibrators(run_scores(store, rid), ["proca", "sc"])
    for method in ("proca", "sc"):
        d = analysis.run_detail(cache, rid, method)
        assert d.metrics is not None and len(d.examples) == 30
        want = maps[method](softmax(run_scores(store, rid).test))
        assert np.allclose([e["probs"] for e in d.examples], want)
        assert d.prior is None  # a fitted map, not a prior
    assert analysis.run_detail(cache, rid, "none").prior is None  # uniform: nothing to show


def test_a_run_seen_running_with_every_score_gets_its_fitted_calibrations_once_done(fake_audit):
    """The results cache follows a run's status, not only its score count."""
    store = fake_audit.store
    (rid,) = fake_audit.run(["reviews"], [4], limit=20)
    store.update_run(rid, status="running")
    cache = analysis.ResultCache(store)
    assert cache.get(rid).metrics["proca"] is None
    store.update_run(rid, status="done")
    got = cache.get(rid)
    assert got.metrics["proca"] is not None and got.metrics["sc"] is not None and got.record["status"] == "done"


def test_a_refresh_costs_a_few_queries_whatever_the_number_of_runs(tmp_path):
    """Finished runs' metrics (fitted calibrations included) are computed once and kept in
    the store; a refresh of every table then reads the runs' state in a few statements,
    with no fitting on the UI thread."""
    from lbtui.ui import bench as bench_app

    db = tmp_path / "many.db"
    ids = bench_app.write_store(db, 24)
    store = Store(db)
    statements = []
    store.db.conn.set_trace_callback(statements.append)
    cache = analysis.ResultCache(store)
    cache.refresh(ids)
    rows = analysis.per_run_rows(cache, ids, list(analysis.cal.METHODS))
    analysis.mean_rows(cache, ids, list(analysis.cal.METHODS))
    analysis.curves(cache, ids, list(analysis.cal.METHODS), "macro_f1")
    assert len(statements) <= 5 and cache.unanalysed == []
    assert len(rows) == 24 * len(METHODS) and all(
        r["macro_f1"] is not None for r in rows if r["method"] == "proca" or r["method"] == "sc" and r["shots"] >= 2
    )
    # the stored numbers are the engine's
    from lbtui.results import report

    assert cache.get(ids[5]).metrics["proca"].macro_f1 == pytest.approx(report(store, ids[5]).metrics["proca"].macro_f1)
    statements.clear()
    cache.refresh(ids)
    assert len(statements) <= 2  # nothing changed: the runs' state only


def test_finished_runs_without_stored_metrics_are_analysed_off_the_ui_thread(tmp_path):
    """A store from before the metrics cache: the app shows the runs at once as being
    analysed, a worker fits them, and the tables fill in."""
    from lbtui.ui import bench as bench_app

    db = tmp_path / "old.db"
    ids = bench_app.write_store(db, 6)
    Store(db).db.execute("DELETE FROM run_metrics")

    asked: list[list[int]] = []  # each snapshot's runs handed to the analysis worker
    real = LbtuiApp.analyse

    def analyse(self, run_ids):
        asked.append(list(run_ids))
        return real(self, run_ids)

    async def scenario():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        app.analyse = analyse.__get__(app)
        async with app.run_test(size=SIZE):
            app.show_runs(ids)
            await app.views_settled()  # the analysis worker, then a fresh snapshot
            # the first snapshot showed every run as pending and handed all of them to the
            # worker (a later one, built while it worked, may already hold some numbers)
            assert asked and set(asked[0]) == set(ids)
            # every number is in; where a method does not apply (LOOC at k = 0, ...) the row says why
            assert all(r[8] != "—" or r[-1] not in ("", analysis.ANALYSING) for r in cells(app, "#per-run"))
            assert (
                any(r[8] == "—" for r in cells(app, "#per-run"))
                and sum(r[8] != "—" for r in cells(app, "#per-run")) > 20
            )

    run(scenario())
    assert len(Store(db).cached_metrics(ids, analysis.analysis_version())) == 6


def test_the_per_run_table_holds_every_run_and_draws_only_what_is_on_screen(tmp_path):
    """No paging: every shown run is in the per-run table, end reaches the last; the table
    draws the lines on screen, not its rows; the mean table covers every run."""
    from lbtui.ui import bench as bench_app

    db = tmp_path / "p.db"
    ids = bench_app.write_store(db, 30)

    async def scenario():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            app.show_runs(ids)
            await app.views_settled()
            table = app.query_one("#per-run", RowTable)
            assert sorted({int(r[0]) for r in cells(app, "#per-run")}) == ids and table.row_count == 30 * len(METHODS)
            table.focus()
            await pilot.press("end")
            assert table.cursor == table.row_count - 1 and table.cursor_key == f"{ids[-1]}:{METHODS[-1]}"
            await drawn(app, pilot)
            before = table.lines
            table.refresh()
            await until(pilot, lambda: table.lines > before, "the table drawn again")
            assert 0 < table.lines - before <= table.size.height  # one screen of lines, not 210 rows
            await pilot.press("2")  # a toggle filters the snapshot's rows and keeps the cursor's run
            assert table.row_count == 30 * (len(METHODS) - 1) and table.cursor_key == f"{ids[-1]}:{METHODS[-1]}"
            assert [r[3] for r in cells(app, "#mean") if r[1] == "0" and r[7] == "none"] == [
                "4"
            ]  # 30 runs: 4 tasks reach k = 0

    run(scenario())


def test_a_relaunch_on_the_same_store_shows_the_last_session(tmp_path):
    """The runs shown and the form come back with the store; Past runs still lists all."""
    db = tmp_path / "session.db"

    async def first():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            app.query_one("#shots", Input).value = "0,2"
            app.query_one("#limit", Input).value = "12"
            await pilot.press("ctrl+r")
            await app.workers_done()
            await app.views_settled()
            return list(app.view_runs)

    async def second(shown):
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await drawn(app, pilot)
            assert app.view_runs == shown and len(cells(app, "#per-run")) == len(shown) * len(METHODS)
            assert app.query_one("#shots", Input).value == "0,2" and app.query_one("#limit", Input).value == "12"
            assert any("last session" in n for n in app.said)

    shown = run(first())
    assert len(shown) == 2
    run(second(shown))


def test_the_mean_counts_only_finished_runs_of_the_tasks_themselves(fake_audit):
    """A cancelled run, a reordering and a label-word variant stay out of the headline mean
    (they have their own views); the row says how many tasks, runs and test examples it
    averages, and a partial run shows how many of its inputs are scored."""
    from lbtui.tasks import catalog

    store, engine, spec = fake_audit.store, fake_audit.engine(), fake_audit.model
    reviews, tickets = catalog.load("reviews"), catalog.load("tickets")
    ids = engine.execute(engine.plan([spec], [reviews, tickets], [4], [0], limit=20))
    (reordered,) = engine.execute(engine.plan([spec], [reviews], [4], [0], limit=20, orders=2)[1:])
    from lbtui.tasks.verbalizers import variant

    (words,) = engine.execute(engine.plan([spec], [variant(reviews, ("bad", "good"))], [4], [0], limit=20))
    store.update_run(ids[1], status="cancelled")
    for rid in (ids[0], reordered, words):
        analysis.analyse_finished(store, rid)
    cache = analysis.ResultCache(store)
    cache.refresh(ids + [reordered, words])
    rows = analysis.mean_rows(cache, ids + [reordered, words], ["none"])
    assert [(r["tasks"], r["runs"], r["n_test"]) for r in rows] == [(1, 1, 20)]
    alone = analysis.mean_rows(cache, ids[:1], ["none"])
    assert rows[0]["macro_f1"] == alone[0]["macro_f1"]
    (only,) = analysis.per_run_rows(cache, [ids[1]], ["none"])
    assert only["status"] == f"cancelled {store.count_scores(ids[1])}/{store.run(ids[1])['n_items']}"
    # another scoring mode or --limit is its own mean row, never pooled (issue 27)
    first = engine.execute(engine.plan([spec], [tickets], [4], [0], limit=20, scoring="first-token"))
    other = engine.execute(engine.plan([spec], [tickets], [4], [0], limit=12))
    both = [ids[0]] + first + other
    for rid in first + other:
        analysis.analyse_finished(store, rid)
    cache.refresh(both)
    rows = analysis.mean_rows(cache, both, ["none"])
    assert sorted((r["scoring"], r["limit"], r["tasks"]) for r in rows) == [
        ("first-token", 20, 1),
        ("full", 12, 1),
        ("full", 20, 1),
    ]


def test_tab_keys_focus_the_tab_table_and_m_cycles_the_plots(tmp_path):
    async def scenario():
        app = make_app(db=tmp_path / "f.db", backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            assert app.focused is app.query_one("#history-table")
            await pilot.press("f2")
            assert app.focused is app.query_one("#per-run")  # no twenty Tabs to reach it
            await pilot.press("f3")
            plots = [app.query_one(f"#plot-{k}") for k in ("macro_f1", "rsd", "bias_score")]
            assert all(p.display for p in plots)
            await pilot.press("m")
            assert [p.display for p in plots] == [True, False, False]
            await pilot.press("m", "m", "m")
            assert all(p.display for p in plots)

    run(scenario())


def test_the_plots_legend_sits_beside_the_plots_in_each_methods_colour(tmp_path):
    """The legend is a line above the plots (plotext's own covered the lines): one entry per
    drawn method in the colour of its line, none inside a plot."""
    from lbtui.analysis.calibrations import METHODS, REGISTRY
    from lbtui.ui.consts import RICH_COLORS

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0,4", "--limit", "12", "--db", str(tmp_path / "p.db")])
        async with app.run_test(size=SIZE) as pilot:
            await app.workers_done()
            await pilot.press("f3")
            await drawn(app, pilot)
            legend = app.query_one("#plot-legend", Static).content
            canvas = app.query_one("#plot-macro_f1").plt.build()
            return legend, canvas

    legend, canvas = run(scenario())
    assert plain(legend).split() == [w for m in METHODS for w in ("━━", m.upper())]
    colours = [str(span.style) for span in legend.spans]
    assert colours == [RICH_COLORS.get(REGISTRY[m].color, REGISTRY[m].color) for m in METHODS]
    assert len(set(colours)) == len(METHODS)  # no two methods share a colour
    assert not any(m in canvas for m in ("none", "looc", "proca"))  # no legend drawn over the data


def test_past_runs_filter_sort_columns_add_all_and_live_status(fake_audit):
    """Past runs: test size and label-word columns, / filters, s sorts, A adds every shown
    run; and a resumed run's status there follows the audit without a tab change."""
    from lbtui.tasks import catalog
    from lbtui.tasks.verbalizers import variant

    db, store, engine, spec = fake_audit.db, fake_audit.store, fake_audit.engine(), fake_audit.model
    reviews = catalog.load("reviews")
    tasks = [reviews, catalog.load("tickets"), variant(reviews, ("bad", "good"))]
    ids = engine.execute(engine.plan([spec], tasks, [0], [0], limit=30))
    store.db.execute("DELETE FROM scores WHERE run_id = ? AND idx >= 10", [ids[1]])
    store.db.conn.commit()
    store.update_run(ids[1], status="cancelled")
    store.close()

    async def scenario():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend(delay=0.05))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await drawn(app, pilot)
            rows = cells(app, "#history-table")
            assert {(r[2], r[3]) for r in rows} == {("reviews", ""), ("reviews", "bad,good"), ("tickets", "")}
            assert {r[6] for r in rows} == {"30"}  # test examples of each run
            await pilot.press("slash")
            assert app.focused is app.query_one("#history-filter")
            await pilot.press(*"tickets", "enter")
            await drawn(app, pilot)
            (only,) = cells(app, "#history-table")
            assert only[2] == "tickets" and only[8] == "cancelled" and app.focused is app.query_one("#history-table")
            app.view_runs.clear()
            await pilot.press("A")
            assert app.view_runs == [ids[1]]
            await pilot.press("u")  # resume it; its row follows on this tab
            seen = set()
            for _ in range(300):
                await pilot.pause(0.05)
                seen |= {r[8] for r in cells(app, "#history-table")}
                if "done" in seen:
                    break
            assert {"running", "done"} <= seen
            await app.workers_done()
            await pilot.press("slash", "escape")  # clears the filter
            await drawn(app, pilot)
            assert len(cells(app, "#history-table")) == 3
            await pilot.press("s", "s")  # newest -> model -> task
            await drawn(app, pilot)
            assert [r[2] for r in cells(app, "#history-table")] == ["reviews", "reviews", "tickets"]

    run(scenario())


def test_the_verdict_starts_once_the_table_of_its_runs_is_shown(fake_audit, monkeypatch):
    """The verdict's bootstrap holds the GIL for seconds (a store at the paper's scale): it
    starts once the snapshot worker has built the table of the same runs, not beside it,
    and once for those runs."""
    from lbtui.report import verdict
    from lbtui.ui.snapshot import SnapshotBuilder

    ids = fake_audit.run(["reviews", "tickets"], limit=20)
    events = []
    real_build, real_verdict = SnapshotBuilder.build, verdict.build

    def slow_build(self, tab, run_ids, seq, *a, **k):
        time.sleep(0.2)  # a table of many runs takes a while to build
        snap = real_build(self, tab, run_ids, seq, *a, **k)
        events.append(("table", tuple(run_ids)))
        return snap

    def counted_verdict(results, run_ids, **k):
        events.append(("verdict", tuple(run_ids)))
        return real_verdict(results, run_ids, **k)

    monkeypatch.setattr(SnapshotBuilder, "build", slow_build)
    monkeypatch.setattr(verdict, "build", counted_verdict)

    async def scenario():
        app = make_app(db=fake_audit.db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            events.clear()
            app.show_runs(ids[:1])
            await settled(app, pilot)
            return list(events), plain(app.query_one("#verdict", Static).content)

    got, text = run(scenario())
    asked = tuple(ids[:1])
    assert got.count(("verdict", asked)) == 1 and ("table", asked) in got[: got.index(("verdict", asked))]
    assert "recommended" in text or "best" in text, text


def test_the_verdict_names_the_best_method_with_intervals_as_report_does(tmp_path):
    from lbtui.report import summary, verdict

    db = tmp_path / "v.db"

    async def scenario():
        app = fake_app(["-t", "reviews,tickets", "-k", "0,4", "--limit", "30", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await app.workers_done()
            await until_text(app, pilot, "#verdict", "best macro-F1")
            return plain(app.query_one("#verdict", Static).content), list(app.view_runs)

    text, ids = run(scenario())
    store = Store(db)
    expected = verdict.verdicts(summary.summarize(Results(store), [store.run(i) for i in ids]))
    assert len(expected) == 2  # k = 0 and k = 4, each over two tasks
    for v in expected:
        lines = verdict.describe(v)
        assert len(lines) >= 5 and lines[1].startswith("  recommended: ")
        assert all(line.strip() in text for line in lines)
    assert "2 tasks · 60 test (small)" in text


def test_at_100x30_the_setup_folds_away_and_every_tab_table_has_room(tmp_path):
    """Under 120 columns the setup form folds by itself (ctrl+b brings it back); every
    tab's main table then shows rows at 100x30, the label-words table included."""
    db = tmp_path / "s.db"

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0,4", "--limit", "12", "--db", str(db)])
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(app, pilot)
            assert not app.query_one("#setup").display
            heights = {}
            for key, table in (
                ("f2", "#per-run"),
                ("f4", "#history-table"),
                ("f5", "#compare-more"),
                ("f6", "#stability-table"),
            ):
                await pilot.press(key)
                await drawn(app, pilot)
                heights[table] = app.query_one(table).size.height
            assert all(h >= 5 for h in heights.values()), heights
            await pilot.press("ctrl+b")
            assert app.query_one("#setup").display
            await pilot.press("ctrl+b")
            assert not app.query_one("#setup").display

    run(scenario())


def test_stop_scores_at_most_one_more_small_batch(tmp_path):
    """ctrl+x while scoring: the engine stops after the call in flight (8 inputs with the
    fake backend, as with llama.cpp on a CPU); counted, not timed."""
    db = tmp_path / "x.db"
    at_key = []

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "4", "--limit", "60", "--db", str(db)], delay=0.03)
        async with app.run_test(size=SIZE) as pilot:
            await until_scored(pilot, db, at_least=16, tries=300)
            store = Store(db)
            (row,) = store.runs()
            at_key.append(store.count_scores(row["id"]))
            await pilot.press("ctrl+x")
            await app.workers_done()
            return row["id"]

    rid = run(scenario())
    store = Store(db)
    assert store.run(rid)["status"] == "cancelled"
    assert at_key[0] <= store.count_scores(rid) <= at_key[0] + 8


def test_answers_that_land_while_the_app_closes_are_dropped(tmp_path):
    """A worker can answer after quitting has begun to take the widgets down (CI saw the
    app crash at exit on a verdict): the verdict's and a snapshot's answers, as the app's
    message loop hands them over then, are dropped."""
    from lbtui.ui.messages import SnapshotReady, VerdictReady

    snapshots = []

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0", "--limit", "12", "--db", str(tmp_path / "v.db")])
        hook = lambda m: snapshots.append(m) if isinstance(m, SnapshotReady) else None  # noqa: E731
        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            await settled(app, pilot)
        return app

    app = run(scenario())
    old = snapshots[0].snapshot  # an answer the app has since replaced
    assert not app.is_running and app.snapshots[old.tab] is not old
    before = dict(app.snapshots)
    app.on_verdict_ready(VerdictReady(app.verdict_seq, []))  # raised NoMatches: the verdict panel was gone
    app.on_snapshot_ready(snapshots[0])
    assert app.snapshots == before  # dropped, not taken in


def test_ctrl_e_writes_the_report_of_the_shown_runs_beside_the_store(tmp_path):
    from lbtui.report import formats, summary

    db = tmp_path / "e.db"

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0", "--limit", "20", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            await pilot.press("ctrl+e")  # asks for the format
            await until(pilot, lambda: isinstance(app.screen, ExportScreen), "the format asked for")
            await pilot.press("m")
            await until(
                pilot, lambda: any(m.startswith("wrote ") for m in getattr(app, "said", [])), "the report written"
            )
            return list(app.said), list(app.view_runs)

    notes, ids = run(scenario())
    (out,) = tmp_path.glob("lbtui-report-*.md")
    assert any(m == f"wrote {out}" for m in notes)
    store = Store(db)
    rows = summary.summarize(Results(store), [store.run(i) for i in ids])
    want = formats.render(rows, {"runs": 1, "resamples": 1000, "seed": 0, "level": 0.95, "against": "none"}, "md")
    assert out.read_text() == want + "\n"  # the numbers of `lbtui report`


def test_the_committed_screenshots_show_the_app_s_tabs(tmp_path):
    """docs/screenshots are regenerated when the app's tabs change (tools/screenshots.py):
    the Results screenshot's tab row names every tab the app has, and each tab has one."""
    import html
    import re
    from pathlib import Path

    from textual.widgets import TabPane

    async def scenario():
        app = make_app(db=tmp_path / "t.db", backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE):
            return [(p.id, str(p._title)) for p in app.query(TabPane)]

    tabs = run(scenario())
    shots = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    svg = (shots / "results.svg").read_text()
    shown = html.unescape(" ".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")
    files = {
        "results": "results",
        "plots": "plots",
        "history": "past-runs",
        "compare": "compare",
        "stability": "stability",
    }
    for tab_id, title in tabs:
        assert title in shown, f"the Results screenshot has no tab {title!r}: run python tools/screenshots.py"
        assert (shots / f"{files[tab_id]}.svg").is_file(), f"no screenshot of {title}"


def test_the_highlighted_row_shows_its_intervals_as_report_does(tmp_path):
    """Moving the per-run table's cursor shows that run and method's 95% intervals and
    change against none, from the same bootstrap as `lbtui report --run ID`."""
    from lbtui.report import summary, verdict

    db = tmp_path / "r.db"

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "4", "--limit", "30", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            table = app.query_one("#per-run", RowTable)
            await until_text(app, pilot, "#row-ci", "· NONE ·")  # the first row's, before any key is pressed
            table.focus()
            want = next(k for k in table.keys() if k.endswith(":cc"))
            table.move_cursor(table.keys().index(want))
            return await until_text(
                app, pilot, "#row-ci", "CC", "Δ"
            ), want  # lines joined: it wraps at the table's width

    shown, key = run(scenario())
    run_id = int(key.split(":")[0])
    store = Store(db)
    rows = [r for r in summary.build(Results(store), [store.run(run_id)]) if r.method == "cc"]
    f1 = next(r for r in rows if r.metric == "macro_f1")
    assert (
        f"Macro-F1 {f1.value:.3f} [{f1.lo:.3f}, {f1.hi:.3f}] Δ {f1.diff:+.3f} [{f1.diff_lo:+.3f}, {f1.diff_hi:+.3f}]"
        in shown
    )
    assert shown.startswith(
        verdict.describe_run(store.run(run_id), "cc", verdict.run_rows(Results(store), run_id, "cc"))
    )
    assert "30 test (small)" in shown


def test_the_footer_shows_the_focused_views_keys(tmp_path):
    """Past runs' keys show while its table has focus, the per-run table's Enter on
    Results, m on Plots only, ctrl+x only while an audit runs; all fit at 100 columns."""
    from textual.widgets._footer import FooterKey

    db = tmp_path / "k.db"

    def footer(app) -> list[str]:
        return [k.description for k in app.screen.query(FooterKey)]

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0", "--limit", "12", "--db", str(db)])
        seen = {}
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(app, pilot)
            for key, tab in (("f2", "results"), ("f3", "plots"), ("f4", "history")):
                await pilot.press(key)
                await drawn(app, pilot)
                seen[tab] = footer(app)
            await pilot.press("s")  # a binding now, not a key handler: still sorts
            await pilot.pause()  # the binding's action run
            seen["sort"] = app.history_sort
            from textual.widgets import Footer

            parts = list(app.screen.query_one(Footer).query("*"))
            seen["fits"] = max(w.region.right for w in parts) <= 100 and all(w.region.width > 0 for w in parts)
        return seen

    seen = run(scenario())
    assert "Open run" in seen["results"] and "Resume" not in seen["results"] and "Plot metric" not in seen["results"]
    assert "Plot metric" in seen["plots"] and "Open run" not in seen["plots"]
    assert {"Add", "Remove", "Resume", "Sort", "Filter"} <= set(seen["history"])
    assert "Remove run" in seen["results"]
    assert "Stop audit" not in seen["history"]  # nothing to stop
    assert seen["sort"] == 1 and seen["fits"]


def test_the_drill_down_classifies_a_typed_input_in_a_worker_as_classify_does(tmp_path, monkeypatch):
    """The "try it" line scores off the UI thread, keeps the score in the store and shows
    what lbtui.Classifier gives for the shown method."""
    import threading

    from lbtui.results.classifier import Classifier

    db = tmp_path / "t.db"
    threads = []
    real = Classifier.raw_proba
    monkeypatch.setattr(
        Classifier, "raw_proba", lambda self, *a, **k: threads.append(threading.current_thread()) or real(self, *a, **k)
    )

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "4", "--limit", "20", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_first_run(app, pilot)
            await pilot.press("4", "t")  # BC, then the input
            await pilot.press(*"absolutely wonderful", "enter")
            await app.workers_done()
            shown = await until_text(app.screen, pilot, "#try-out", "BC:")
            return screen.run_id, shown

    run_id, shown = run(scenario())
    assert threads and threading.main_thread() not in threads
    with Classifier.from_run(run_id, "bc", db, backend_factory=lambda s, p: FakeBackend()) as clf:
        q = clf.predict_proba(["absolutely wonderful"])[0]
        assert clf.evaluated == 0  # the screen's score is in the store
        raw = clf.raw_proba(["absolutely wonderful"])[0]
    want = f"BC: {clf.labels[int(q.argmax())]} " + " ".join(
        f"{lab} {b:.3f} (raw {a:.3f})" for lab, a, b in zip(clf.labels, raw, q)
    )
    assert shown == want


def test_a_run_still_scoring_says_its_methods_wait_not_a_reason_of_another_run(fake_audit):
    """During a k = 4 run the leave-one-out inputs come last: LOOC waits for them; it is
    not a run "with fewer than 2 demonstrations" (issue 27)."""
    store = fake_audit.store
    (rid,) = fake_audit.run(["reviews"], [4], limit=20)
    store.db.execute("DELETE FROM scores WHERE run_id = ? AND \"set\" = 'looc'", [rid])
    store.update_run(rid, status="running")
    got = analysis.ResultCache(store).get(rid)
    assert got.reasons["looc"] == analysis.WAITING and got.metrics["looc"] is None
    assert got.metrics["bc"] is not None


def test_a_store_written_by_lbtui_run_opens_on_its_latest_audit_and_toggles_survive_a_relaunch(
    tmp_path, fake_model, capsys
):
    from lbtui.cli import main

    db = tmp_path / "cli.db"
    assert (
        main(
            [
                "run",
                "-m",
                str(fake_model),
                "-t",
                "reviews,tickets",
                "-k",
                "0",
                "--limit",
                "12",
                "--db",
                str(db),
                "--json",
            ],
            backend_factory=lambda s, p: FakeBackend(),
        )
        == 0
    )
    capsys.readouterr()
    ids = [r["id"] for r in Store(db).runs()]

    async def first():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            shown = list(app.view_runs)
            verdict_text = await until_text(app, pilot, "#verdict", "recommended:")
            await pilot.press("2")  # CC off
            await settled(app, pilot)
            return shown, verdict_text

    async def again():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            return list(app.view_runs), app.methods()

    shown, verdict_text = run(first())
    assert sorted(shown) == sorted(ids) and "chance (uniform guess)" in verdict_text
    shown, methods = run(again())
    assert sorted(shown) == sorted(ids) and "cc" not in methods and "dc" in methods


def test_the_latest_audit_is_the_runs_scored_one_after_another_before_the_newest():
    from lbtui.ui.consts import AUDIT_GAP
    from lbtui.ui.session import latest_audit

    runs = [
        {"id": 1, "created": 0, "finished": 50},
        {"id": 2, "created": 5000, "finished": 5100},
        {"id": 3, "created": 5100 + AUDIT_GAP / 2, "finished": 5300},
        {"id": 4, "created": 5310, "finished": None},
    ]
    assert [r["id"] for r in latest_audit(runs)] == [2, 3, 4]
    assert latest_audit([]) == []


def _audit_elsewhere(db, task: str, limit: int = 12, resume: int | None = None) -> list[int]:
    """Another process's `lbtui run` (or a resume of run ``resume``): its own store
    connection, the fake backend."""
    gguf = db.parent / "fake.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    elsewhere = FakeAudit(db, gguf)
    try:
        if resume is not None:
            return [elsewhere.engine().resume(resume)]
        return elsewhere.run([task], limit=limit)
    finally:
        elsewhere.close()


async def until_rows(app, pilot, table_id: str, n: int, tries: int = 100) -> list[list[str]]:
    """Wait (0.1 s steps, no key pressed) until ``table_id`` shows ``n`` rows."""
    for _ in range(tries):
        await pilot.pause(0.1)
        rows = cells(app, table_id)
        if len(rows) == n:
            return rows
    raise AssertionError(f"{table_id} shows {len(rows)} rows, never {n}")


def test_past_runs_and_the_verdict_follow_runs_another_process_writes(tmp_path):
    db = tmp_path / "o.db"
    (first,) = _audit_elsewhere(db, "reviews")
    (second,) = _audit_elsewhere(db, "tickets")
    store = Store(db)  # the second one was stopped part way
    store.db.execute("DELETE FROM scores WHERE run_id = ? AND idx >= 5", [second])
    store.update_run(second, status="cancelled")
    store.close()

    async def scenario():
        app = make_app(db=db, backend_factory=lambda s, p: FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            app.show_runs([first, second])
            await until_text(app, pilot, "#verdict", "1 task · 12 test")  # the finished one only
            await pilot.press("f4")
            await until_rows(app, pilot, "#history-table", 2)
            (third,) = await asyncio.to_thread(_audit_elsewhere, db, "tickets", 20)
            rows = await until_rows(app, pilot, "#history-table", 3)  # while shown, without a key
            assert sorted(r[2] for r in rows) == ["reviews", "tickets", "tickets"] and third not in app.view_runs
            # a shown run that another process finishes gets its verdict, unasked
            await asyncio.to_thread(_audit_elsewhere, db, "tickets", resume=second)
            await until_text(app, pilot, "#verdict", "2 tasks · 24 test")

    run(scenario())


def test_runs_leave_the_results_from_either_table_and_the_store_keeps_them(tmp_path):
    db = tmp_path / "x.db"

    async def scenario():
        app = fake_app(["-t", "reviews,tickets", "-k", "0,4", "--limit", "12", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            ids = list(app.view_runs)
            assert len(ids) == 4
            table = app.query_one("#per-run", RowTable)
            table.focus()
            target = int(table.cursor_key.split(":")[0])
            await pilot.press("x")  # the highlighted row's run leaves the results
            await settled(app, pilot)
            assert target not in app.view_runs and len(app.view_runs) == 3
            assert {r[0] for r in cells(app, "#per-run")} == {str(i) for i in app.view_runs}
            # Past runs: filter to one task, X removes every shown run from the results
            await pilot.press("f4", "slash", *"tickets", "enter")
            await drawn(app, pilot)
            shown = {int(r[0]) for r in cells(app, "#history-table")}
            assert len(shown) == 2
            await pilot.press("X")
            await settled(app, pilot)
            assert app.view_runs == [i for i in ids if i != target and i not in shown]
            await pilot.press("a")  # and a brings the highlighted one back
            assert len(app.view_runs) == len(ids) - len(shown - {target}) - (target not in shown) + 1
            verdict_runs = app.verdict_for
        return ids, verdict_runs

    ids, verdict_runs = run(scenario())
    assert sorted(r["id"] for r in Store(db).runs()) == sorted(ids)  # nothing deleted from the store
    assert json.loads(Store(db).get_meta("app_session"))["runs"] == list(verdict_runs)


def test_stored_runs_are_summed_in_one_notice_by_the_notes_kind(tmp_path):
    """An audit whose runs are all stored: one notice counting them (the engine's notes
    carry their kind; the app never reads their text), not one notice per run."""
    db = tmp_path / "s.db"
    argv = ["-t", "reviews", "-k", "0,4", "--limit", "12", "--db", str(db)]

    async def scenario(seen):
        app = fake_app(argv)
        real = app.notify
        app.notify = lambda message, **kw: seen.append(message) or real(message, **kw)
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)

    run(scenario([]))
    seen = []
    run(scenario(seen))
    assert sum("were stored already" in m for m in seen) == 1 and any(
        m.startswith("2 run(s) were stored") for m in seen
    )
    assert not any("is stored; nothing to evaluate" in m for m in seen), seen


def test_a_task_with_repeated_texts_is_said_once_in_the_apps_notes(tmp_path):
    rows = [{"text": f"message number {i}", "label": "a" if i % 2 else "b"} for i in range(160)]
    task = tmp_path / "dups.jsonl"
    task.write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:15]))
    seen = []

    async def scenario():
        app = fake_app(["-t", str(task), "-k", "0", "--seeds", "2", "--limit", "12", "--db", str(tmp_path / "d.db")])
        real = app.notify
        app.notify = lambda message, **kw: seen.append((message, kw.get("severity"))) or real(message, **kw)
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)

    run(scenario())
    said = [(m, s) for m, s in seen if "repeat another input's text" in m]
    assert len(said) == 1 and said[0][1] == "warning" and "task dups: 15 input(s)" in said[0][0], seen


def test_the_ui_thread_never_reads_the_store_or_the_results(tmp_path, monkeypatch, fake_audit):
    """Once the app is up, every read of the store and every metric, fit or bootstrap
    happens in a worker: through an audit, toggles, every tab, a drill-down under several
    methods, its prompt and its diagnosis, and a past run opened from F4 that the tables do
    not show. Allowed on the UI thread: SQLite's data_version (a counter, read each tick to
    notice other writers) and saving the session (a write)."""
    import threading

    allowed = {"data_version", "set_meta", "close"}
    hits: dict[str, int] = {}
    armed = [False]

    def guarded(cls, name):
        real = getattr(cls, name)

        def call(*args, **kwargs):
            if armed[0] and threading.current_thread() is threading.main_thread():
                hits[f"{cls.__name__}.{name}"] = hits.get(f"{cls.__name__}.{name}", 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(cls, name, call)

    for cls in (Results, Store):
        for name, value in list(vars(cls).items()):
            if callable(value) and not name.startswith("_") and name not in allowed:
                guarded(cls, name)
    db = fake_audit.db
    (past,) = fake_audit.run(["tickets"], limit=12)  # in the store before the app opens; never shown
    fake_audit.close()

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0,4", "--limit", "12", "--db", str(db)])
        async with app.run_test(size=SIZE) as pilot:
            armed[0] = True
            await settled(app, pilot)
            for key in ("2", "2", "f3", "f4", "f5", "f6", "f2"):
                await pilot.press(key)
                await drawn(app, pilot)
            app.query_one("#per-run", RowTable).focus()
            await pilot.press("down", "down", "enter")
            await app.workers_done()
            assert isinstance(app.screen, RunScreen) and app.screen.detail is not None
            await pilot.press("right", "4", "e")
            await app.workers_done()
            assert app.screen.detail.method == "bc"
            await pilot.press("p")
            await app.workers_done()
            assert isinstance(app.screen, TextScreen)
            await pilot.press("escape", "d")
            await app.workers_done()
            assert isinstance(app.screen, DiagnosisScreen)
            await pilot.press("escape", "escape")
            await app.workers_done()
            await pilot.press("f4")
            await drawn(app, pilot)
            history = app.query_one("#history-table", RowTable)
            history.focus()
            history.cursor = list(history.data.keys).index(str(past))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the past run opened")
            await app.workers_done()
            assert app.screen.run_id == past and past not in app.view_runs
            await pilot.press("escape")
            await app.workers_done()
            armed[0] = False

    run(scenario())
    assert hits == {}, f"read on the UI thread: {hits}"


def test_the_label_bars_are_read_again_only_when_what_they_show_changed(tmp_path):
    """Every snapshot draws the plots tab; a finished run's bars are read once, and again
    only when the methods shown change (a worker per snapshot stalled the UI at scale)."""

    async def scenario():
        app = fake_app(["-t", "reviews", "-k", "0", "--limit", "12", "--db", str(tmp_path / "b.db")])
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            await pilot.press("f3")
            await drawn(app, pilot)
            await app.workers_done()
            assert "Predicted (magenta)" in plain(app.query_one("#label-bars", Static).content)
            reads = []
            real = app.load_label_bars
            app.load_label_bars = lambda *a: reads.append(a) or real(*a)
            for _ in range(3):
                app.draw_label_bars()
            assert reads == []
            await pilot.press("2")  # CC off: the bars lose a column
            await drawn(app, pilot)
            assert len(reads) == 1 and "cc" not in reads[0][1]

    run(scenario())
