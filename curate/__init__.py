"""curate: raw web crawls → training-ready pretraining data, with proxy-model evidence for each choice."""

__version__ = "0.1.0"
