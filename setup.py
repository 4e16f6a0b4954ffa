"""The build carries the repository's models.toml and tasks/ into the package (as
lbtui/_data/), so that every install finds them through importlib.resources: a wheel, a
--user install, another prefix. A checkout or an editable install reads them where they
are (lbtui/paths.py)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithData(build_py):
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "lbtui" / "_data"
        shutil.rmtree(dest, ignore_errors=True)
        (dest / "tasks").mkdir(parents=True)
        shutil.copy2(HERE / "models.toml", dest / "models.toml")
        for f in sorted((HERE / "tasks").iterdir()):
            if f.suffix in (".toml", ".jsonl"):
                shutil.copy2(f, dest / "tasks" / f.name)


setup(cmdclass={"build_py": BuildWithData})
