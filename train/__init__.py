"""The proxy-model trainer (torch, numpy, pyarrow and PyYAML only; never imports curate). Not built yet."""
