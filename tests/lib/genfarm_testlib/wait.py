"""wait_for: poll a condition until a deadline, never sleep blindly.

    job = wait_for(lambda: finished(job_id), 60, f"job {job_id} to finish")
"""

import time

try:
    import grpc
    _RPC_ERRORS = (grpc.RpcError,)
except ImportError:  # a test without the gRPC stubs
    _RPC_ERRORS = ()

try:
    import genfarm
    _CLIENT_ERRORS = (genfarm.GenFarmError,)
except (ImportError, AttributeError):
    _CLIENT_ERRORS = ()

# What a condition may raise while the thing it watches is still starting: connection
# refused, a half-written file, an RPC to a daemon that is not listening yet. Anything else,
# an AssertionError from a daemon that died above all, fails the wait at once.
TRANSIENT_ERRORS = (OSError, ValueError, LookupError) + _RPC_ERRORS + _CLIENT_ERRORS


class Deadline(AssertionError):
    """A wait_for condition did not hold in time."""


def wait_for(predicate, timeout, what, interval=0.05, transient=TRANSIENT_ERRORS):
    """Calls ``predicate()`` until it returns something truthy, and returns that value.

    After ``timeout`` seconds raises ``Deadline``: "timed out after T s waiting for WHAT",
    with the last value and the last transient error the predicate raised. Exceptions not in
    ``transient`` propagate at once.
    """
    deadline = time.monotonic() + timeout
    last_value = last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_value, last_error = value, None
        except transient as e:
            last_error = e
        if time.monotonic() >= deadline:
            seen = f" (last error: {last_error!r})" if last_error is not None else (
                f" (last value: {last_value!r:.300})" if last_value is not None else "")
            raise Deadline(f"timed out after {timeout:g} s waiting for {what}{seen}")
        time.sleep(interval)
