"""The container agent: loads user code, runs ``@enter``, runs inputs, reports outputs."""
