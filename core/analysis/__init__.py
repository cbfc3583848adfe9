"""Analysis: metrics and paper-style evaluation, dataset statistics and audits, demographics, degradation
embeddings, explanations of a score, and frame selection."""
