"""Models from the Hugging Face Hub (the optional huggingface_hub library), offline: a
model in the local cache is found without any network; one that is not fails clearly."""

import json

import pytest

from conftest import smollm2_path
from lbtui import models
from lbtui.cli import main
from lbtui.errors import ModelError

pytest.importorskip("huggingface_hub")
from huggingface_hub import constants as hub_constants  # noqa: E402

REPO, FILE, COMMIT = "lbtui-tests/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf", "a" * 40


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A Hub cache holding REPO/FILE at COMMIT, laid out as huggingface_hub lays it out
    (the file is a link to the bundled SmolLM2, nothing is copied or downloaded)."""
    cache = tmp_path / "hub"
    repo = cache / ("models--" + REPO.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / FILE).symlink_to(smollm2_path())
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return snap / FILE


def write_models(folder, extra=""):
    (folder / "models.toml").write_text(f'[models.hubbed]\nrepo = "{REPO}"\nfile = "{FILE}"\n{extra}')


def test_a_cached_hub_model_is_found_offline(hub_cache, isolated_home, capsys):
    write_models(isolated_home)
    spec = models.resolve("hubbed")
    assert spec.locate() == hub_cache
    assert main(["models", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "hubbed")
    assert row["source"] == f"hf:{REPO}/{FILE}"


def test_expected_sha256_is_checked(hub_cache, isolated_home):
    digest = models.sha256_file(smollm2_path())
    write_models(isolated_home, f'sha256 = "{digest}"\n')
    assert models.resolve("hubbed").locate() == hub_cache
    write_models(isolated_home, f'sha256 = "{"0" * 64}"\n')
    with pytest.raises(ModelError) as e:
        models.resolve("hubbed").locate()
    assert e.value.where.endswith("models.hubbed.sha256") and digest in e.value.message


def test_uncached_hub_model_offline_is_a_clear_error(isolated_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    write_models(isolated_home)
    code = main(["run", "-m", "hubbed", "-t", "reviews"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "models.hubbed.repo" in err and "not in the local Hugging Face cache" in err and REPO in err


@pytest.mark.parametrize(
    "entry, fragment",
    [
        (f'repo = "{REPO}"', "needs 'file'"),
        (f'repo = "{REPO}"\nfile = "x.gguf"\npath = "y.gguf"', "exactly one of"),
        ('repo = 3\nfile = "x.gguf"', "must be a string"),
    ],
)
def test_bad_hub_entries(isolated_home, entry, fragment, capsys):
    (isolated_home / "models.toml").write_text(f"[models.bad]\n{entry}\n")
    assert main(["models"]) == 2
    assert fragment in capsys.readouterr().err
