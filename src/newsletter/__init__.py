"""newsletter: collect, curate, render and send a weekly email digest."""

__version__ = "0.1.0"
