"""Subcommands of ``driftline``: each module adds its parsers with ``register(subparsers)``."""
