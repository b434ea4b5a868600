"""Example pipeline files, installed as the resource package `curate.pipelines` (read by curate.examples)."""
