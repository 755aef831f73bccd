"""A CI subset of the shape_main interoperability matrix (shapes_harness/test_table.json): representative cases
that Starling supports, across Starling<->Starling, Starling<->Cyclone DDS and Starling<->RTI Connext, both
directions. Each case runs in its own network namespace (as root). Needs the shape_main example in release mode:
`cargo build --release --example shape_main` (or STARLING_SHAPE_MAIN=/path/to/shape_main).

The full matrix: `python3 -m shapes_harness` from interop-tests/ (see RESULTS.md)."""
import os

import pytest

from shapes_harness import runner

SUBSET = [
    ("starling", "starling", "Test_Domain_0"),
    ("starling", "starling", "Test_Reliability_4"),
    ("starling", "starling", "Test_Partition_2"),
    ("starling", "starling", "Test_FinalInstanceState_1"),
    ("starling", "starling", "Test_Durability_11"),
    ("starling", "starling", "Test_OrderedAccess_10"),
    ("starling", "cyclone", "Test_FinalInstanceState_2"),
    ("starling", "cyclone", "Test_DataRepresentation_1"),
    ("starling", "cyclone", "Test_Durability_17"),
    ("starling", "cyclone", "Test_Cft_0"),
    ("cyclone", "starling", "Test_Domain_0"),
    ("cyclone", "starling", "Test_Ownership_2"),
    ("cyclone", "starling", "Test_Reliability_5"),
    ("cyclone", "starling", "Test_Durability_17"),
    ("cyclone", "starling", "Test_Durability_14"),
    ("starling", "rti", "Test_LargeData_0"),
    ("starling", "rti", "Test_Cft_1"),
    ("starling", "rti", "Test_CoherentSets_11"),
    # GROUP scope, 3 topics: Connext's GROUP reader delivers only after Starling's HEARTBEAT_VIRTUAL.
    ("starling", "rti", "Test_CoherentSets_12"),
    ("rti", "starling", "Test_Reliability_3"),
    ("rti", "starling", "Test_Durability_5"),
    ("rti", "starling", "Test_Reliability_1"),
    ("starling", "rti", "Test_Ownership_1"),
]

CASES = {c["name"]: c for c in runner.load_table()}


@pytest.fixture(scope="module")
def shape_main():
    path = runner.starling_shape_main()
    if not os.access(path, os.X_OK):
        pytest.fail(f"shape_main not found: {path} (cargo build --release --example shape_main, "
                    "or set STARLING_SHAPE_MAIN)")
    return path


@pytest.mark.parametrize("pub,sub,name", SUBSET, ids=[f"{n}[{p}->{s}]" for p, s, n in SUBSET])
def test_shapes_case(netns, shape_main, pub, sub, name, tmp_path):
    # `netns` only checks the privileges here; run_case makes the case's own namespace.
    cfg = runner.Config(timeout=10.0, max_samples=50, stop_grace=10.0, log_dir=str(tmp_path))
    result = runner.run_case(CASES[name], pub, sub, cfg)
    log = next(tmp_path.rglob(name + ".log")).read_text()
    assert result["status"] == "pass", f"{name} {pub}->{sub}: {result}\n{log[-6000:]}"
