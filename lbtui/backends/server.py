"""A backend for OpenAI-compatible completion servers (llama.cpp's llama-server,
llama-cpp-python's server, vLLM, and others that honour ``logit_bias`` and return
``logprobs``), spread over one or more base URLs.

How a score is read. For every scored token t of a continuation, one request sends the
prompt plus the continuation's tokens before t, asks for one generated token with
``logit_bias {t: +100}`` at temperature 0 and ``logprobs``: the server must then
generate t and reports its log-probability from the unbiased distribution after the
prompt. The reported token (its id where the server gives one) and the server's prompt
token count are checked on every answer, so a server that tokenizes the prompt
differently, or ignores logit_bias, is refused instead of scored. Full mode also needs
the end token's log-probability: llama-server reports it, llama-cpp-python's server never
does (generation stops first), and there full mode is refused.

Exactness. By default every request evaluates its whole prompt (``cache_prompt: false``)
and each server gets one request at a time (``per_server = 1``): a llama.cpp server that
reuses its prompt cache re-evaluates the last prompt token alone, and one that batches
several requests into one decode splits them otherwise; both take other CPU kernels and
move scores (0.1-0.3 nats for SmolLM2). ``prompt_cache = true`` or ``per_server > 1``
trade that for speed, and are part of the scores' content address.

Servers that take only text get the exact text of each whole string lbtui tokenized
(the backend keeps it); servers that take token ids (llama-server, vLLM) get the ids.
Tokenization is local when models.toml names the same GGUF (``path`` or ``package``:
exact, with the chat template and end token), else the server's tokenize endpoint.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Request
from .http import ANSWER_PER_PROB, MAX_ANSWER, OPENER, RETRY_STATUS, ServerError, failure, read_answer
from .places import NoPlace, Places

FORCE = 100.0  # logit bias that makes the scored token the greedy one
END_TOKEN_NOTE = " (the end token: generation stops before it is recorded, as in llama-cpp-python's server)"


class ServerBackend:
    # the served model, whether requests were exact, whose tokens were scored
    numbers_keys = ("backend", "model", "numbers", "tokenizer", "allow_retokenize")

    def __init__(
        self,
        urls: Sequence[str],
        *,
        model: str | None = None,
        tokenizer_path: Path | None = None,
        n_ctx: int | None = None,
        max_in_flight: int | None = None,
        per_server: int = 1,
        prompt_cache: bool = False,
        retries: int = 3,
        timeout: float = 120.0,
        allow_retokenize: bool = False,
        where: str = "--model",
    ):
        self.urls = [u.rstrip("/") for u in urls]
        self.where = where
        self.retries = retries
        self.timeout = timeout
        self.per_server = max(1, per_server)
        self.prompt_cache = prompt_cache
        self.max_in_flight = max(
            1, min(max_in_flight or len(self.urls) * self.per_server, len(self.urls) * self.per_server)
        )
        self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="lbtui-server")
        self.places = Places(self.urls, self.per_server)  # at most per_server requests a server; failover
        self._lock = threading.Lock()
        self.allow_retokenize = allow_retokenize
        self._send_ids: bool | None = None  # token ids in "prompt" (vLLM, llama-server); found on first use
        self._llama_server: bool | None = None  # llama.cpp's own server (its /props); found on first use
        self._probe_lock = threading.Lock()
        self._texts: dict[tuple[int, ...], str] = {}  # token ids of each tokenized piece -> its text
        self._longest = 1
        self.tokens_evaluated = 0  # tokens the server was asked to read (it may reuse its cache)
        self.requests_sent = 0
        self.retried = 0  # before the first request: the constructor's own requests count too
        self.model = model or self._model_id()
        self._vocab = None
        if tokenizer_path is not None:
            self._load_vocab(tokenizer_path)
        else:
            self.metadata = {}
            self._bos = self._remote_tokenize("")  # [] or [BOS]: what the server adds by itself
            self.eos = None
        self.n_ctx = n_ctx or int(
            self.metadata.get(f"{self.metadata.get('general.architecture', '')}.context_length", 0) or 4096
        )
        self.name = f"{self.model} @ {', '.join(self.urls)}"
        self.requests_per_call = 8 * self.max_in_flight
        self.info = self._info()

    def _info(self) -> dict:
        """What the backend is and how it scores; "numbers": "whole-prompt" when each request
        evaluates its whole prompt alone, as the local backend's scores are defined (a
        server's prompt cache, its last token re-evaluated alone, or requests it batches
        together take other CPU kernels and move scores: docs/MODELS.md)."""
        exact = not self.prompt_cache and self.per_server == 1
        return {
            "backend": "openai-completions",
            "servers": self.urls,
            "model": self.model,
            "max_in_flight": self.max_in_flight,
            "per_server": self.per_server,
            "prompt_cache": self.prompt_cache,
            "numbers": "whole-prompt" if exact else f"prompt_cache={self.prompt_cache}, per_server={self.per_server}",
            "tokenizer": "local GGUF" if self._vocab else "server",
            "allow_retokenize": self.allow_retokenize,
        }

    # --- tokens ----------------------------------------------------------------------------

    def _load_vocab(self, path: Path) -> None:
        from .llama_common import Vocab

        self._vocab = Vocab(path, where=self.where)
        self.metadata = self._vocab.metadata
        self.eos = self._vocab.eos
        self._bos = list(self._vocab.bos_ids)
        # Special tokens as text, so that a prompt holding them (chat markers, the end
        # token of a full-mode continuation) is sent as the server will parse it.
        for t in {self.eos, self._vocab.bos} - {None}:
            self._remember((t,), self._piece(t, special=True))

    def _piece(self, token: int, *, special: bool) -> str:
        return self._vocab.piece(token, special=special)

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        if not text:
            return list(self._bos) if bos else []
        if self._vocab is not None:
            ids = self._vocab.tokenize(text, bos=bos, special=special)
        else:
            ids = self._remote_tokenize(text)
            if not bos and self._bos and ids[:1] == self._bos:
                ids = ids[1:]
        body = ids[1:] if bos and self._bos and ids[:1] == self._bos else ids
        self._remember(tuple(body), text)
        return ids

    def _remember(self, ids: tuple[int, ...], text: str) -> None:
        if ids:
            with self._lock:
                self._texts.setdefault(ids, text)
                self._longest = max(self._longest, len(ids))

    def text_of(self, ids: Sequence[int]) -> str:
        """The text whose pieces tokenized to ``ids`` (longest known piece first). A leading
        BOS that the server adds by itself is left out."""
        ids = tuple(ids)
        if self._bos and ids[:1] == tuple(self._bos):
            ids = ids[1:]
        out, i = [], 0
        while i < len(ids):
            for n in range(min(self._longest, len(ids) - i), 0, -1):
                piece = self._texts.get(ids[i : i + n])
                if piece is not None:
                    out.append(piece)
                    i += n
                    break
            else:
                if self._vocab is None:
                    raise ServerError(self.where, f"token {ids[i]} came from no text this backend tokenized")
                out.append(self._piece(ids[i], special=True))
                i += 1
        return "".join(out)

    # --- HTTP ------------------------------------------------------------------------------

    def _post(self, path: str, body: dict) -> dict:
        """POST to a server with a free place (``places.take``). A server that cannot be
        reached rests (``places.rest``) and another that is up takes the request, spending no retry;
        429/5xx answers, and failures while no other server is up, are retried ``retries``
        times with exponential backoff. A validation error is final whatever its status
        (llama-cpp-python's server sends those as 500)."""
        last, attempt = "", 0
        while True:
            base = self._take()
            url = base + path
            req = urllib.request.Request(
                url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            unreachable = False
            cap = MAX_ANSWER + ANSWER_PER_PROB * int(body.get("n_probs") or 0)
            try:
                deadline = time.monotonic() + self.timeout
                with OPENER.open(req, timeout=self.timeout) as resp:
                    got = json.loads(read_answer(resp, deadline=deadline, cap=cap, timeout=self.timeout))
                self.places.answered(base)
                return got
            except urllib.error.HTTPError as e:
                detail = e.read()[:300].decode("utf-8", errors="replace").replace("\n", " ")
                if e.code not in RETRY_STATUS or "validation error" in detail.lower():
                    raise ServerError(self.where, f"{url} answered {e.code}: {detail}") from None
                last = f"{url} answered {e.code}"
            except ValueError as e:  # past the size cap, or not JSON: the same answer again would not help
                if not isinstance(e, json.JSONDecodeError):
                    raise ServerError(self.where, f"{url}: {e}") from None
                last = f"{url}: not JSON ({e})"
            except (OSError, http.client.HTTPException) as e:  # refused, reset, cut off, timed out, not HTTP
                last = f"{url}: {failure(e)}"
                unreachable = True
                self.places.rest(base)
            finally:
                self.places.give_back(base)
            with self._lock:
                self.retried += 1
            if unreachable and self.places.others_up(base):  # failover: no retry spent
                continue
            attempt += 1
            if attempt > self.retries:
                raise ServerError(self.where, f"no server answered after {self.retries + 1} attempts (last: {last})")
            time.sleep(min(0.25 * 2 ** (attempt - 1), 8.0))

    def _take(self) -> str:
        try:
            return self.places.take(self.timeout)
        except NoPlace:
            raise ServerError(self.where, f"no server had a free place for {self.timeout:g} s") from None

    @property
    def sent_to(self) -> dict[str, int]:
        """Answered requests per server."""
        return self.places.sent_to

    def _get(self, path: str) -> dict:
        url = self.urls[0] + path
        try:
            with OPENER.open(url, timeout=self.timeout) as resp:
                got = json.loads(
                    read_answer(resp, deadline=time.monotonic() + self.timeout, cap=MAX_ANSWER, timeout=self.timeout)
                )
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts, not JSON, too big
            raise ServerError(self.where, f"{url}: {failure(e)}") from None
        if not isinstance(got, dict):
            raise ServerError(
                self.where, f"{url} answered a JSON {type(got).__name__}, not an object; is it a completion server?"
            )
        return got

    def _model_id(self) -> str:
        data = self._get("/v1/models").get("data") or []
        if not data:
            raise ServerError(self.where, f"{self.urls[0]}/v1/models lists no model")
        return str(data[0].get("id"))

    def _remote_tokenize(self, text: str) -> list[int]:
        try:
            return self._tokens(
                self._post("/extras/tokenize", {"input": text, "model": self.model})
            )  # llama-cpp-python
        except ServerError:
            got = self._post(
                "/tokenize",
                {"prompt": text, "content": text, "model": self.model, "add_special_tokens": True, "add_special": True},
            )  # vLLM, llama-server
            return self._tokens(got)

    def _tokens(self, got) -> list[int]:
        tokens = got.get("tokens") if isinstance(got, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise ServerError(self.where, "malformed answer to tokenize: no list of token ids")
        return tokens

    # --- scoring ---------------------------------------------------------------------------

    def _takes_ids(self, context: tuple[int, ...]) -> bool:
        """Whether the servers take token ids as the prompt: asked once, with one request.
        llama-cpp-python's server takes only text and refuses ids with a validation error."""
        with self._probe_lock:  # the first jobs arrive together; one of them asks
            if self._send_ids is None:
                try:
                    self._post("/v1/completions", {"model": self.model, "prompt": list(context[:8]), "max_tokens": 1})
                    self._send_ids = True
                except ServerError as e:
                    if "string" not in e.message:
                        raise
                    self._send_ids = False
        return self._send_ids

    def _prompt(self, ids: tuple[int, ...]):
        return list(ids) if self._takes_ids(ids) else self.text_of(ids)

    def _check_prompt(self, n_prompt, ids: tuple[int, ...]) -> None:
        """The server read as many prompt tokens as lbtui sent (``n_prompt``: its count, or
        None where it gives none); counts the request."""
        expected = len(ids) + (0 if ids[:1] == tuple(self._bos) else len(self._bos))
        if n_prompt is not None and n_prompt != expected and not self.allow_retokenize:
            raise ServerError(
                self.where,
                f"the server read {n_prompt} prompt tokens where lbtui has {expected}: it takes text"
                " and tokenized it otherwise than lbtui's tokenizer (docs/METHODS.md, Tokens); use a server that"
                " takes token ids (vLLM, llama-server), name the model's GGUF in models.toml so that lbtui tokenizes"
                " as the server does, or allow_retokenize = true to score the server's tokens",
            )
        with self._lock:
            self.tokens_evaluated += len(ids)
            self.requests_sent += 1

    def _forced(self, context: tuple[int, ...], token: int) -> float | None:
        """log p(token | context), read as the forced greedy continuation of the context;
        None when the server reports nothing for it (a stop token ends the completion
        before llama-cpp-python's server records it). Prompt log-probabilities (``echo``) are
        not used: llama.cpp's llama-server has none, llama-cpp-python's server reports them
        one token late for prompts that do not start with BOS, and sorts the vocabulary at
        every prompt position (about 30 s a request for a 200-token prompt here)."""
        got = self._post(
            "/v1/completions",
            {
                "model": self.model,
                "prompt": self._prompt(context),
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": 1,
                "logit_bias": {str(token): FORCE},
                "seed": 0,
                "cache_prompt": self.prompt_cache,
            },
        )
        lp = self._logprobs(got)
        self._check_prompt((got.get("usage") or {}).get("prompt_tokens"), context)
        if "content" in lp:  # llama-server: one entry per generated token, with its id
            content = lp["content"] or []
            if not isinstance(content, list) or not all(isinstance(c, dict) for c in content):
                raise ServerError(self.where, "malformed answer: logprobs.content is not a list of objects")
            if not content:
                return None
            said = content[0].get("id")
            if said != token:
                raise ServerError(
                    self.where,
                    f"the server generated token {said!r}, not the forced token {token}: it ignores logit_bias",
                )
            value = content[0].get("logprob")
        else:  # the legacy OpenAI form (llama-cpp-python, vLLM): parallel lists
            values = lp.get("token_logprobs") or []
            if not isinstance(values, list):
                raise ServerError(
                    self.where, f"malformed answer: token_logprobs is {type(values).__name__}, not a list"
                )
            if not values or values[0] is None:
                return None
            if self._vocab is not None:
                want = self._piece(token, special=False)
                said = (lp.get("tokens") or [""])[0]
                if str(said).strip() != want.strip() and want.strip():
                    raise ServerError(
                        self.where,
                        f"the server generated {said!r}, not the forced token {want!r}: it ignores logit_bias",
                    )
            value = values[0]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ServerError(self.where, f"malformed answer: a log-probability of {value!r}")
        return float(value)

    def _logprobs(self, got) -> dict:
        """The first choice's logprobs of an OpenAI-style completion, or a one-line error
        saying what is malformed about the answer."""
        if not isinstance(got, dict):
            raise ServerError(self.where, f"malformed answer: a JSON {type(got).__name__}, not an object")
        choices = got.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ServerError(self.where, "malformed answer: no choices")
        if not isinstance(got.get("usage") or {}, dict):
            raise ServerError(self.where, "malformed answer: usage is not an object")
        lp = choices[0].get("logprobs") or {}
        if not isinstance(lp, dict):
            raise ServerError(self.where, "malformed answer: logprobs is not an object")
        return lp

    def _job(self, context: tuple[int, ...], token: int) -> float:
        v = self._forced(context, token)
        if v is None:
            raise ServerError(
                self.where,
                f"the server reported no log-probability for token {token}"
                f"{END_TOKEN_NOTE if token == self.eos else ''}; full scoring needs it: use --scoring first-token"
                " with this server, or a server that reports it (vLLM)",
            )
        return v

    # --- llama-server: a context's whole next-token distribution in one request ----------

    def _whole_distribution(self) -> bool:
        """llama-server's own /completion answers the log-probability of every token after a
        prompt (``n_probs`` = the vocabulary) from the unbiased logits: one request then
        reads every label token that follows the same context, instead of one forced
        request each. Used for exact scoring (whole prompts), where a request's cost is its
        prompt, not its 4-5 MB answer; needs the local vocabulary to know its size."""
        with self._probe_lock:
            if self._llama_server is None:
                try:
                    props = self._get("/props")
                    self._llama_server = isinstance(props, dict) and "total_slots" in props
                except ServerError:
                    self._llama_server = False
        return self._llama_server and self._vocab is not None and not self.prompt_cache

    def _distribution(self, context: tuple[int, ...]) -> dict[int, float]:
        """{token id: log p(token | context)} for the whole vocabulary."""
        n_vocab = self._vocab.n_vocab
        got = self._post(
            "/completion",
            {
                "prompt": list(context),
                "n_predict": 1,
                "temperature": 0.0,
                "n_probs": n_vocab,
                "post_sampling_probs": False,
                "cache_prompt": False,
                "seed": 0,
            },
        )
        probs = got.get("completion_probabilities") if isinstance(got, dict) else None
        if not isinstance(probs, list) or not probs or not isinstance(probs[0], dict):
            raise ServerError(self.where, "malformed answer: no completion_probabilities")
        top = probs[0].get("top_logprobs")
        if not isinstance(top, list) or len(top) != n_vocab:
            raise ServerError(
                self.where,
                f"the server gave {len(top) if isinstance(top, list) else 'no'} log-probabilities"
                f" where the vocabulary has {n_vocab}: another model than models.toml names?",
            )
        out = {}
        for e in top:
            t, v = (e.get("id"), e.get("logprob")) if isinstance(e, dict) else (None, None)
            if isinstance(t, bool) or not isinstance(t, int) or isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ServerError(self.where, f"malformed answer: a log-probability entry {str(e)[:80]}")
            out[t] = float(v)
        self._check_prompt(got.get("tokens_evaluated"), context)
        return out

    def score(self, requests: Sequence[Request], *, mode: str) -> np.ndarray:
        jobs = []  # (request index, label index, context, token)
        for r, req in enumerate(requests):
            for k, cont in enumerate(req.continuations):
                toks = cont[:1] if mode == "first-token" else cont
                for j, t in enumerate(toks):
                    jobs.append((r, k, req.prompt + tuple(cont[:j]), t))
        if not jobs:
            return np.zeros((len(requests), 0))
        if self._takes_ids(jobs[0][2]) and self._whole_distribution():
            contexts = list(dict.fromkeys(job[2] for job in jobs))  # labels that share a context share its request
            dists = dict(zip(contexts, self._pool.map(self._distribution, contexts)))
            values = [dists[c][t] for _, _, c, t in jobs]
        else:
            values = list(self._pool.map(lambda job: self._job(job[2], job[3]), jobs))
        sums = np.zeros((len(requests), len(requests[0].continuations)))
        counts = np.zeros_like(sums)
        for (r, k, _, _), v in zip(jobs, values):
            sums[r, k] += v
            counts[r, k] += 1
        return sums / np.maximum(counts, 1)

    def clear(self) -> None:
        pass

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._vocab is not None:
            self._vocab.close()
            self._vocab = None
