"""Developer tooling shared by the Makefile, the tests, the demo and bootstrap.py."""
