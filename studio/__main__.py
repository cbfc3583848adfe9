"""``python -m studio``: start the Gradio upload-and-score app."""
import argparse

from .app import build_app


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m studio")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true")
    args = ap.parse_args()
    build_app().queue(default_concurrency_limit=2, max_size=32).launch(server_name=args.host, server_port=args.port, share=args.share,
                                                                      max_file_size="20mb")


if __name__ == "__main__":
    main()
