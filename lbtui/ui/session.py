"""What the app showed and asked for comes back with the store: the shown runs, the form
and the calibration toggles, kept in the store's meta row; a store without a session
opens on its latest audit."""

from __future__ import annotations

import json

from textual.widgets import (
    Checkbox,
    Input,
    Select,
)

from ..analysis.calibrations import METHODS
from ..backends.base import SCORING_MODES
from ..errors import UserError
from .consts import AUDIT_GAP, DEFAULT_FORM, SESSION_KEY


class Sessions:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    FORM = ("shots", "seeds", "orders", "limit", "verbalizers")

    def save_session(self) -> None:
        if self.store is None:
            return
        form = {f: self.query_one(f"#{f}", Input).value for f in self.FORM}
        form["scoring"] = self.query_one("#scoring", Select).value
        doc = {"runs": self.view_runs[-20_000:], "form": form, "methods": self.methods()}
        try:
            self.store.set_meta(SESSION_KEY, json.dumps(doc))
        except UserError:  # a locked or read-only store: the session is not worth an error
            pass

    def restore_session(self) -> None:
        """The runs the app showed and the form as it was when this store was last used,
        unless the command line asked for something."""
        raw = self.store.get_meta(SESSION_KEY)
        if not raw:
            self.show_latest_audit()
            return
        doc = json.loads(raw)
        for m in METHODS:  # the calibration toggles as they were
            if "methods" in doc and (m in doc["methods"]) != self.methods_on[m]:
                self.query_one(f"#m-{m}", Checkbox).value = m in doc["methods"]
        form = doc.get("form", {})
        for f in self.FORM:
            if f in form and self.preset.get(f, "") == DEFAULT_FORM.get(f, ""):
                self.query_one(f"#{f}", Input).value = str(form[f])
        if form.get("scoring") in SCORING_MODES and self.preset["scoring"] == DEFAULT_FORM["scoring"]:
            self.query_one("#scoring", Select).value = form["scoring"]
        known = set(self.store.run_states(list(doc.get("runs", []))))  # runs deleted since are left out
        runs = [r for r in doc.get("runs", []) if r in known]
        if runs:
            self.show_runs(runs)
            self.notify(
                f"{len(runs)} run(s) of your last session on this store are shown; Past runs (F4) lists all.", timeout=6
            )

    def show_latest_audit(self) -> None:
        """A store written by `lbtui run` or lbtui.audit() has no app session: show its latest
        audit (the newest run and the runs scored one after another before it)."""
        runs = latest_audit(self.store.runs())
        if runs:
            self.show_runs([r["id"] for r in runs])
            self.notify(f"the store's latest audit ({len(runs)} run(s)) is shown; Past runs (F4) lists all.", timeout=6)


def latest_audit(runs: list[dict]) -> list[dict]:
    """The newest run and those before it that ran one after another (each created within
    AUDIT_GAP of the previous one's end), oldest first: the store's latest audit."""
    ordered = sorted(runs, key=lambda r: r["id"], reverse=True)
    out = ordered[:1]
    for before in ordered[1:]:
        end = before.get("finished") or before.get("heartbeat") or before.get("created") or 0
        if (out[-1].get("created") or 0) - end > AUDIT_GAP:
            break
        out.append(before)
    return out[::-1]
