"""Gradio apps of FaceIQA Studio (thin: all work happens in ``core``)."""
