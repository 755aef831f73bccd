"""Starling's shape_main interoperability harness: runs the OMG DDS-RTPS shape test table (test_table.json) for
pairs of shape_main-compatible programs, each case in its own network namespace. See runner.py."""
