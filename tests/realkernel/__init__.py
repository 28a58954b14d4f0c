"""Real-kernel tests (a package, so their module names cannot collide with tests/unit/)."""
