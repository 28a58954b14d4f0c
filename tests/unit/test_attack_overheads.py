"""Attack: a team's overheads file (`scan --overheads FILE`) with numbers no bound can refuse.

YAML's `.nan` passes the schema's `minimum: 0` and `maximum: 1e9` (every comparison with NaN
is false); the placement verdicts computed from it then flip to passes (`vm-adequate`, no
IA511) with nothing said. Any spelling of NaN, in any figure, must be refused by name."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.citation import DataFileError
from auditor.cli import main
from auditor.overhead import DIMENSIONS, load_overheads

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
CLASSES = ("shared-vm", "dedicated-vm", "gvisor", "kata")
NANS = (".nan", ".NaN", ".NAN")


def _file(figures: list[tuple[str, str, str, str]]) -> str:
    rows = "".join(f"  - {{node_class: {c}, dimension: {d}, low_us: {low}, high_us: {high}}}\n"
                   for c, d, low, high in figures)
    return ('schema_version: 1\nname: lab\ncitation: {title: t, url: "https://lab.example/r", date: "2026-11-20"}\n'
            f"figures:\n{rows}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(figures=st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from(DIMENSIONS)), min_size=1, max_size=6,
                        unique=True),
       poisoned=st.data())
def test_a_figure_that_is_not_a_number_is_refused_by_name(tmp_path, figures, poisoned):
    index = poisoned.draw(st.integers(0, len(figures) - 1))
    field = poisoned.draw(st.sampled_from(["low_us", "high_us", "both"]))
    nan = poisoned.draw(st.sampled_from(NANS))
    rows = []
    for n, (c, d) in enumerate(figures):
        low, high = ("1", "3")
        if n == index:
            low, high = (nan if field != "high_us" else low), (nan if field != "low_us" else high)
        rows.append((c, d, low, high))
    path = tmp_path / "lab.yaml"
    path.write_text(_file(rows))
    with pytest.raises(DataFileError) as caught:
        load_overheads(path)
    assert f"figures[{index}]." in str(caught.value) and "finite" in str(caught.value)
    assert "nan" not in str(caught.value).lower().replace("finite", "")


def test_a_scan_with_a_nan_figure_stops_instead_of_passing(tmp_path, capsys):
    path = tmp_path / "lab.yaml"
    path.write_text(_file([(c, "network-rtt", ".nan", ".nan") for c in CLASSES]))
    out = tmp_path / "report.json"
    code = main(["scan", str(DEMO / "cluster"), "--config", str(DEMO / "config.yaml"), "--probe-results",
                 str(DEMO / "probe-results"), "--overheads", str(path), "--format", "json", "-o", str(out)])
    assert code == 2 and not out.exists()
    assert "must be a finite number" in capsys.readouterr().err


def test_the_same_scan_with_numbers_still_decides(tmp_path):
    """The control: the verdicts the NaN figures would have silenced exist."""
    path = tmp_path / "lab.yaml"
    path.write_text(_file([(c, "network-rtt", "1", "3000") for c in CLASSES]))
    out = tmp_path / "report.json"
    main(["scan", str(DEMO / "cluster"), "--config", str(DEMO / "config.yaml"), "--probe-results",
          str(DEMO / "probe-results"), "--overheads", str(path), "--format", "json", "-o", str(out)])
    verdicts = {p["verdict"] for p in json.loads(out.read_text())["placement"]}
    assert "vm-insufficient" in verdicts


# -- amplification: a figure's source list is quoted in full with every verdict it decides ---------

def _cited(refs: list[str]) -> str:
    sources = "".join(f'  {r}: {{title: t, url: "https://lab.example/{r}", date: "2026-11-20"}}\n'
                      for r in sorted(set(refs)))
    figure = f"{{node_class: shared-vm, dimension: network-rtt, low_us: 1, high_us: 3, sources: [{', '.join(refs)}]}}"
    return f"schema_version: 1\nsources:\n{sources}figures:\n  - {figure}\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(refs=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=5, max_size=40))
def test_a_source_named_twice_in_one_figure_is_refused(tmp_path, refs):
    """A 81 KB file naming one 800-character citation 20,000 times made a 285 MB JSON report."""
    path = tmp_path / "lab.yaml"
    path.write_text(_cited(refs))
    with pytest.raises(DataFileError, match=r"figures\[0\]\.sources"):
        load_overheads(path)


def test_a_figure_cites_at_most_sixteen_sources(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(_cited([f"s{n}" for n in range(16)]))
    assert len(load_overheads(path).get("shared-vm", "network-rtt").citations) == 16
    path.write_text(_cited([f"s{n}" for n in range(17)]))
    with pytest.raises(DataFileError, match=r"figures\[0\]\.sources"):
        load_overheads(path)


# -- unmeasured figures where placement needs a number ---------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(node_class=st.sampled_from(CLASSES), dimension=st.sampled_from(DIMENSIONS), low=st.sampled_from(["null", "1"]))
def test_only_a_sandbox_figure_may_be_unmeasured(tmp_path, node_class, dimension, low):
    """Placement compares budgets with the VM classes' high figures; a null there made every
    verdict on a VM `vm-adequate` with no arithmetic, and one on bare metal a crash."""
    path = tmp_path / "lab.yaml"
    path.write_text(_file([(node_class, dimension, low, "null")]))
    if node_class in ("gvisor", "kata"):
        assert load_overheads(path).get(node_class, dimension).high_us is None
    else:
        with pytest.raises(DataFileError, match=r"figures\[0\]\.high_us"):
            load_overheads(path)


def test_a_scan_with_unmeasured_vm_figures_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "lab.yaml"
    path.write_text(_file([(c, d, "null", "null") for c in ("shared-vm", "dedicated-vm") for d in DIMENSIONS]))
    code = main(["scan", str(DEMO / "cluster"), "--config", str(DEMO / "config.yaml"), "--probe-results",
                 str(DEMO / "probe-results"), "--overheads", str(path), "--format", "json",
                 "-o", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and "internal error" not in err and "high_us" in err


# -- a marker in a broken file reaches no output (this held; kept as a guard) -----------------------

MARK = "s3cr3tMARK"
BASE = _file([("shared-vm", "network-rtt", "1", "3")])
BROKEN = [
    BASE.replace("https://lab.example/r", f"javascript:{MARK}"), BASE.replace("2026-11-20", MARK),
    BASE.replace("node_class: shared-vm", f"node_class: {MARK}"), BASE.replace("high_us: 3", f"high_us: {MARK}"),
    BASE.replace("high_us: 3", f"high_us: [{MARK}]"), BASE.replace("name: lab", f"name: {MARK * 30}"),
    BASE.replace("name: lab", f"name: [{MARK}]"), BASE + f"name: {MARK}\n", BASE + f"  - [{MARK}\n",
    BASE + f"x: !!python/object {MARK}\n", f"- {MARK}\n", BASE.replace("schema_version: 1", f"schema_version: {MARK}"),
    BASE.replace("high_us: 3}", f"high_us: 3, sources: [{MARK}]}}"), BASE.replace("high_us: 3", "high_us: .nan"),
    f"a: &x {MARK}\nname: *x\n" + BASE.split("\n", 2)[2],
]


@pytest.mark.parametrize("text", BROKEN)
def test_no_value_of_a_broken_overheads_file_is_echoed(tmp_path, capsys, text):
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    bundle = tmp_path / "bundle"
    code = main(["scan", str(DEMO / "cluster"), "--overheads", str(path), "--format", "json",
                 "-o", str(tmp_path / "r.json"), "--evidence-dir", str(bundle)])
    captured = capsys.readouterr()
    assert code == 2 and "lab.yaml" in captured.err
    assert MARK not in captured.err + captured.out
    assert not (tmp_path / "r.json").exists() and not bundle.exists()
