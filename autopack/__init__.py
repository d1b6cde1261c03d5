"""autopack: one command from a Java/Maven service to a tagged, pushed container image."""

__version__ = "0.1.0"
