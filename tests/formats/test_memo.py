"""The one cache of rendered work."""

from __future__ import annotations

from feeds.formats.memo import Kept, direct


def counting():
    calls: list[tuple] = []

    def render(*args):
        calls.append(args)
        return "-".join(map(str, args))

    return render, calls


def test_kept_results_are_returned_without_calling_again():
    render, calls = counting()
    memo = Kept()
    assert memo(render, 1, 2) == "1-2" == memo(render, 1, 2)
    assert calls == [(1, 2)]
    assert memo(render, 2, 1) == "2-1" and len(calls) == 2


def test_what_two_builds_in_a_row_did_not_use_is_let_go():
    render, calls = counting()
    memo = Kept()
    memo(render, "a")
    memo(render, "b")
    memo.next_generation()  # a build that uses "a" only
    memo(render, "a")
    memo.next_generation()  # the next build: "a" is still there, "b" is gone
    assert (render, "a") in memo and (render, "b") not in memo
    calls.clear()
    memo(render, "a")
    memo(render, "b")
    assert calls == [("b",)]


def test_direct_keeps_nothing():
    render, calls = counting()
    direct(render, 1)
    direct(render, 1)
    assert len(calls) == 2


def test_different_functions_with_equal_arguments_are_kept_apart():
    memo = Kept()
    assert memo(str.upper, "a") == "A" and memo(str.lower, "A") == "a"
