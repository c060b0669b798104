"""crmflow's composition root: the CLI and the settings that wire the engine to its handlers."""

__version__ = "0.1.0"
