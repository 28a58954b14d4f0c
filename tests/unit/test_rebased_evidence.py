"""Evidence rebased once per (match, place) is the evidence rebased for each finding: the
memo hands out the same dict only for the same match at the same place, even when matches
are made and dropped (their ids then come back for other tuples)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.engine import _Rebased, _rebased

paths = st.sampled_from(["/securityContext/privileged", "/_pod/hostPID", "/_effectiveSecurityContext/runAsUser",
                         "/image", "/_pod"])
founds = st.lists(st.tuples(paths, st.integers(0, 3)), max_size=3).map(tuple)
bases = st.sampled_from(["", "/spec/template", "/spec/containers/0", "/spec/containers/1"])
redirects = st.dictionaries(st.sampled_from(["/_pod", "/_effectiveSecurityContext",
                                             "/_effectiveSecurityContext/runAsUser"]),
                            st.sampled_from(["/spec", "/spec/securityContext", "/spec/securityContext/runAsUser"]),
                            max_size=3)


@given(st.lists(st.tuples(founds, bases, redirects, st.booleans()), max_size=30))
def test_memoised_rebasing_is_rebasing(calls):
    memo, kept = _Rebased(), []
    for found, base, redirect, keep in calls:
        found = tuple(list(found))  # a fresh tuple each time, as a match evaluated without the cache is
        assert memo(found, base, redirect) == _rebased(found, base, redirect)
        if keep:
            kept.append(found)
            assert memo(found, base, redirect) is memo(found, base, redirect)
