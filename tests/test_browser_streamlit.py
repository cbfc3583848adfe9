"""Real-browser smoke test of the Streamlit app (`faceiqa explore`): every page renders its data in
headless Chromium, and each page's screenshot lands in docs/screenshots/."""
import os
import shutil
import sys

import numpy as np
import pytest
from conftest import REPO, free_port, start_server

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def explore(face_ladder, sample_stats, tmp_path_factory):
    d, t, _ = face_ladder
    preds = d / "predictions_dsl-fiqa.csv"
    t.assign(prediction=np.linspace(0.9, 0.1, len(t)), skin_tone=["Light", "Medium", "Dark", "Light"] * 4,
             gender=["female", "male"] * 8).to_csv(preds, index=False)
    port = free_port()
    cmd = [sys.executable, "-m", "core.cli", "explore", "--port", str(port), "--stats", str(sample_stats),
           "--predictions", str(preds), "--table", str(d / "labels.csv")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "STREAMLIT_SERVER_HEADLESS": "true"}
    url = f"http://127.0.0.1:{port}"
    proc = start_server(cmd, url + "/_stcore/health", env, "faceiqa explore")
    yield url
    proc.terminate()
    proc.wait(20)


def test_stopping_faceiqa_explore_stops_the_server(tmp_path):
    """`faceiqa explore` is the Streamlit server (exec, not a child): terminating it leaves nothing serving the port."""
    import urllib.request

    port = free_port()
    url = f"http://127.0.0.1:{port}/_stcore/health"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "STREAMLIT_SERVER_HEADLESS": "true"}
    proc = start_server([sys.executable, "-m", "core.cli", "explore", "--port", str(port)], url, env, "faceiqa explore")
    proc.terminate()
    assert proc.wait(30) is not None
    with pytest.raises(OSError):  # an orphaned child would still answer here
        urllib.request.urlopen(url, timeout=2)


PAGES = [("", "explorer", "Dataset explorer", "MOS of 6 images"), ("embeddings", "embeddings", "Degradation embeddings", "mAP"),
         ("failures", "failures", "Failure-case review", "Cause"), ("fairness", "fairness", "Fairness and failure review", "SRCC gap by"),
         ("frames", "frames", "Frame picker", "Upload a video")]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (apt-get install chromium); .ci/run installs it")
def test_every_streamlit_page_renders_in_a_browser(explore):
    from playwright.sync_api import sync_playwright

    shots = REPO / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path, shot, title, marker in PAGES:
            page.goto(f"{explore}/{path}")
            page.get_by_role("heading", name=title).wait_for(timeout=120_000)
            page.get_by_text(marker).first.wait_for(timeout=180_000)
            page.wait_for_timeout(1500)
            assert page.get_by_text("Traceback").count() == 0, page.locator("body").inner_text()[:2000]
            if marker != "Upload a video":  # every data page draws at least one plotly chart
                page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)
            assert (shots / f"{shot}.png").stat().st_size > 20_000
        browser.close()
