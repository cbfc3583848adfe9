"""The Hugging Face Space layout: README front matter, requirements, entry point."""
import re

import tomllib
import yaml
from conftest import REPO


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_readme_front_matter_configures_a_gradio_space():
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["sdk"] == "gradio" and (REPO / meta["app_file"]).is_file()
    import gradio

    assert int(meta["sdk_version"].split(".")[0]) == int(gradio.__version__.split(".")[0])
    body = text.split("---\n", 2)[2]
    assert "pip install -e . && faceiqa score" in body and 'python -m pytest' in body  # the two commands still lead


def test_space_requirements_cover_the_package_dependencies():
    deps = {_name(d) for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    reqs = {_name(line) for line in (REPO / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith(("#", "-"))}
    assert deps <= reqs, deps - reqs
