"""Training pipelines (one module per model) and resumable training state."""
