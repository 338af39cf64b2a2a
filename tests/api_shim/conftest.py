"""The running stack these tests use is the session fixture ``stack`` of tests/conftest.py."""
