"""Hugging Face Space / local entry point: ``python app.py`` serves the FaceIQA Studio demo.

Offline and CPU-only by default (dlib + the shipped weights in ``assets/``). The port comes
from ``GRADIO_SERVER_PORT`` (Spaces set it) or 7860; requests are queued with at most two
running at once so a small CPU Space is not swamped.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from studio.app import build_app  # noqa: E402

demo = build_app()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=2, max_size=32).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size="20mb",
    )
