"""The previous state's GET failing in any way the transport reports (no answer, an answer that
is not JSON, credentials rejected) is a drift `unknown` and a partial run, said in one line:
never an exception that ends the scan before its report is printed."""
from __future__ import annotations

import pytest

from auditor.incluster.cycle import read_previous, with_drift
from auditor.incluster.state import Location
from auditor.live.errors import ApiStatusError, ClusterError

WHERE = Location("audit", "state")


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, path):
        raise self.error


@pytest.mark.parametrize("error", [
    ClusterError("context c: https://10.0.0.1: GET /api/v1/namespaces/audit/configmaps/state: no answer within 10s"),
    ClusterError("context c: GET /api/v1/namespaces/audit/configmaps/state: the server's answer is not JSON (x)"),
    ApiStatusError("GET", "/api/v1/namespaces/audit/configmaps/state", 403, "Forbidden", "s3cr3t"),
])
def test_a_state_that_cannot_be_fetched_makes_the_drift_unknown_and_the_run_partial(demo, error):
    previous = read_previous(Failing(error), WHERE)
    assert previous.state is None and previous.problem and "\n" not in previous.problem
    assert "s3cr3t" not in previous.problem
    report = with_drift(demo, previous, WHERE, 1.0)
    assert report.sections["drift"]["status"] == "unknown"
    assert report.coverage.skipped[-1].source == str(WHERE) and not report.coverage.complete

