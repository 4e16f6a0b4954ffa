"""The server backend's places in flight and failover (backends/places.py), without a
server: tests/test_server.py and test_llama_server.py drive them over HTTP."""

import threading

import pytest

from lbtui.backends import places as pl
from lbtui.backends.places import NoPlace, Places


def test_a_server_holds_at_most_per_server_requests_and_a_place_comes_back():
    p = Places(["a", "b"], per_server=2)
    taken = [p.take(timeout=1) for _ in range(4)]
    assert sorted(taken) == ["a", "a", "b", "b"]
    with pytest.raises(NoPlace):
        p.take(timeout=0.05)
    p.give_back("b")
    assert p.take(timeout=1) == "b"


def test_an_unreachable_server_rests_while_another_is_up_and_rejoins_when_it_answers(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(pl.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pl.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    p = Places(["a", "b"], per_server=1)
    assert p.take(timeout=100) == "a"
    p.rest("a")  # unreachable: rests COOL_DOWN
    p.give_back("a")
    assert p.others_up("a") and not p.others_up("b")  # b is up to take a's work; a rests
    assert p.take(timeout=100) == "b"
    rested = clock[0]
    assert p.take(timeout=100) == "a" and clock[0] - rested >= pl.COOL_DOWN  # skipped until its cool-down ends
    p.rest("a")  # failing again doubles the cool-down
    p.give_back("a")
    rested = clock[0]
    assert p.take(timeout=100) == "a" and clock[0] - rested >= 2 * pl.COOL_DOWN
    p.answered("a")  # it answered: up again at once, counted
    p.rest("b")
    assert p.others_up("b") and not p.others_up("a")
    assert p.sent_to == {"a": 1, "b": 0}


def test_when_every_server_rests_a_resting_one_is_still_taken():
    p = Places(["a"], per_server=1)
    p.rest("a")
    assert p.take(timeout=1) == "a"  # nothing else is up: retried, not refused


def test_places_are_shared_safely_between_threads():
    p = Places(["a", "b", "c"], per_server=2)
    held, most, lock = {"a": 0, "b": 0, "c": 0}, {"a": 0, "b": 0, "c": 0}, threading.Lock()

    def work():
        for _ in range(200):
            base = p.take(timeout=5)
            with lock:
                held[base] += 1
                most[base] = max(most[base], held[base])
            with lock:
                held[base] -= 1
            p.answered(base)
            p.give_back(base)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(p.sent_to.values()) == 1600 and max(most.values()) <= 2
