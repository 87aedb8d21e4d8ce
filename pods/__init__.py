"""c2d.pods: the stage programs every executor runs (configure: fetch and verify inputs;
publish: collect outputs)."""
