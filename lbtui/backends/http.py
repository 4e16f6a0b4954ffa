"""HTTP for the server backend: one opener that never follows a redirect to another
origin, answers read whole by a deadline and under a size cap, and failures said in one
line."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import ModelError, printable

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
MAX_ANSWER = 64 << 20  # bytes of one answer, plus ANSWER_PER_PROB for each probability asked for
ANSWER_PER_PROB = 256  # a whole-vocabulary answer is about 100 bytes an entry


class SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port: a server entry never
    sends lbtui's prompts, or reads answers, elsewhere (ftp:// or another host)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise urllib.error.HTTPError(
                req.full_url, code, f"redirect to another origin refused ({newurl})", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


OPENER = urllib.request.build_opener(SameOrigin())


def read_answer(resp, *, deadline: float, cap: int, timeout: float) -> bytes:
    """The whole body by ``deadline`` (a server that drips bytes cannot hold a request past
    its timeout: the socket's timeout counts each read only) and at most ``cap`` bytes."""
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no whole answer within {timeout:g} s")
        chunk = resp.read1(1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            raise ValueError(f"the answer passed {cap >> 20} MB")
        chunks.append(chunk)


class ServerError(ModelError):
    pass


def failure(e: Exception) -> str:
    """What went wrong with a request, in one line: a port that answers something other than
    HTTP (an SSH banner, a database) is named as such, not as a parse error."""
    if isinstance(e, http.client.BadStatusLine) and not isinstance(e, http.client.RemoteDisconnected):
        line = " ".join(printable(str(getattr(e, "line", "") or e)).split())[:60]
        return f"answered something that is not HTTP ({line!r}); is this port a completion server's?"
    return " ".join(printable(str(getattr(e, "reason", e))).split()) or type(e).__name__
