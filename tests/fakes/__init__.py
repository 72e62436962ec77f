"""Local servers that speak the real protocols of the services CMP talks to, for tests."""
