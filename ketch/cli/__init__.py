"""The ``ketch`` command: one module per command, gathered in `main`."""
