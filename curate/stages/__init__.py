"""Pipeline stages, each a datatrove PipelineStep; `curate.config` maps YAML names to them."""
