"""The ``gridflow`` command line: ``main`` (the root group), ``context`` (what commands
share), and one module per group of commands."""
