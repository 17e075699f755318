"""Waiting for a condition instead of for a length of time.

A test that sleeps for a fixed time, or asserts how long something took, fails on a
busy machine and tells nobody anything. Wait for the *condition* under a generous
deadline instead: on a quiet machine the wait ends as soon as the condition holds,
and on a busy one it still passes.

    row = wait_until(lambda: db.get(Stream, sid), message="the stream was never stored")
    eventually(lambda: assert_seen_by_everyone(messages))

Performance claims ("within 1 s") belong in bench/, not here.
"""

import time

import pytest

#: The default deadline. Generous on purpose: it is only reached when a test fails.
DEFAULT_TIMEOUT = 30.0


def wait_until(condition, timeout=DEFAULT_TIMEOUT, interval=0.05, message=None):
    """Call ``condition()`` until it returns something truthy, and return that value.

    Fails the test (``pytest.fail``) if it is still falsy after ``timeout`` seconds.
    ``message`` says what never happened; it may be a callable, called at the deadline,
    to describe the state then (e.g. ``lambda: f"saw {seen}"``). Exceptions raised by
    ``condition`` propagate at once: catch them inside it if they are expected while
    waiting. The condition is always checked once more after the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    value = condition()
    if value:
        return value
    text = message() if callable(message) else message
    what = text or f"{getattr(condition, '__name__', 'the condition')} never held"
    pytest.fail(f"{what} (waited {timeout:g} s; last value {value!r})")


def eventually(assertion, timeout=DEFAULT_TIMEOUT, interval=0.05):
    """Call ``assertion()`` until it stops raising ``AssertionError``, and return its value.

    At the deadline the last ``AssertionError`` is raised as it is, so pytest shows
    its usual comparison.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return assertion()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)
