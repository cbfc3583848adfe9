"""End to end: `python app.py` (the Space entry) served on a free port, driven by gradio_client and by a
real headless Chromium (Debian's, through Playwright). Skipped with a message when Chromium is absent."""
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, free_port, start_server

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "HF_HUB_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}/"
    proc = start_server([sys.executable, "app.py"], url, env, "app.py")
    yield url
    proc.terminate()
    proc.wait(20)


def test_gradio_client_api(server):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    annotated, table, crops, status = client.predict(handle_file(str(SAMPLES / "two_faces.jpg")), "perceptual-combined", "all",
                                                     False, "dlib HOG, robust CNN when it finds nothing", api_name="/score_image")
    assert "2 face(s) scored" in status
    rows = table["data"]
    assert len(rows) == 2 and all(0 <= float(r[1]) <= 1 for r in rows)
    assert Path(annotated).is_file() and len(crops) == 2
    table, files = client.predict([handle_file(str(SAMPLES / "two_faces.jpg")), handle_file(str(SAMPLES / "no_face_coffee.jpg"))],
                                  "perceptual-combined", False, "dlib HOG, robust CNN when it finds nothing", api_name="/score_files")
    statuses = [r[-1] for r in table["data"]]
    assert statuses == ["ok", "ok", "no_face"] and len(files) == 2 and Path(files[0]).read_text().startswith("file,face,score")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (apt-get install chromium); .ci/run installs it")
def test_browser_upload_shows_score_and_heatmap(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = REPO / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server)
        page.get_by_role("combobox", name="Model", exact=True).click()
        page.get_by_role("option", name="tinyfqnet").click()  # a learned model: its CAM is the heatmap checked below
        page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "astronaut.jpg"))
        page.get_by_text("1 face(s) scored with tinyfqnet").wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        text = page.locator("body").inner_text()
        assert re.search(r"\b0\.\d{2,3}\b", text) and re.search(r"\b(Bad|Poor|Fair|Good|Excellent)\b", text), text[:2000]
        page.get_by_text("Why this score?").click()
        before = page.locator("img").count()
        page.get_by_role("button", name="Explain").click()
        deadline = time.time() + 90
        while page.locator("img").count() < before + 2 and time.time() < deadline:  # crop + CAM overlay (+ maps)
            page.wait_for_timeout(500)
        imgs = page.locator("img").count()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / "studio.png"), full_page=True)
        browser.close()
    assert imgs >= before + 2, (before, imgs)  # the explanation gallery filled: the face and its heatmap
    assert (shots / "studio.png").stat().st_size > 20_000
