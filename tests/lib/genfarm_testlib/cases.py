"""unittest helpers."""


def test_failed(test):
    """Whether ``test`` (a unittest.TestCase, from its cleanup or tearDown) has failed so far."""
    outcome = getattr(test, "_outcome", None)
    if outcome is None:
        return False
    if hasattr(outcome, "errors"):  # Python < 3.11
        return any(err is not None for _, err in outcome.errors)
    result = getattr(outcome, "result", None)
    if result is not None and hasattr(result, "failures"):
        if any(t is test or getattr(t, "test_case", None) is test
               for t, _ in list(result.errors) + list(result.failures)):
            return True
    return not getattr(outcome, "success", True)
