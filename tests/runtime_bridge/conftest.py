"""Runtime bridge tests share the runtime fixtures of tests/conftest.py (sample flows, a real lfx serve)."""
