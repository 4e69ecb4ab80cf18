"""The per-address throttle: tries counted before they are judged, right ones taken back."""

from __future__ import annotations

from phonetrust.web.throttle import Throttle

NOW = 1_000.0


def test_the_window_allows_max_tries_then_refuses_until_the_oldest_ages() -> None:
    throttle = Throttle(max_failures=3, window=60)
    tries = [throttle.attempt("10.0.0.1", NOW + i) for i in range(3)]
    assert [t.wait for t in tries] == [0, 0, 0]
    assert [t.last for t in tries] == [False, False, True]
    refused = throttle.attempt("10.0.0.1", NOW + 10)
    assert refused.wait == 50  # the first try leaves the window at NOW + 60
    assert throttle.attempt("10.0.0.2", NOW + 10).wait == 0  # another address is not held
    assert throttle.attempt("10.0.0.1", NOW + 61).wait == 0


def test_a_right_try_is_taken_back_but_not_the_wrong_ones_before_it() -> None:
    throttle = Throttle(max_failures=3, window=60)
    throttle.attempt("a", NOW)
    throttle.attempt("a", NOW + 1)
    right = throttle.attempt("a", NOW + 2)
    throttle.succeeded(right)
    assert throttle.blocked_for("a", NOW + 3) == 0
    throttle.attempt("a", NOW + 3)  # one more wrong one fills the window again
    assert throttle.blocked_for("a", NOW + 4) > 0
