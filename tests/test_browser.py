"""The explorer (notebook 07) in a real browser: Voila serves it on 127.0.0.1, headless Chromium
(Debian's ``chromium`` and ``chromium-driver``, driven by Selenium) moves a slider, and the image and
the log-likelihood read-out must change. A screenshot goes to ``build/browser/explorer.png``.

Selenium is given the driver and the browser explicitly and ``SE_AVOID_STATS=true``, so that it makes
no outbound request (its driver manager never runs). Skips with the reason when a piece is missing;
``.ci/run`` installs the Debian packages, ``pip install -c requirements/lock.txt -e ".[test]"`` the rest.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NOTEBOOK = ROOT / "notebooks" / "07_explore_latent_space.ipynb"
SHOT = ROOT / "build" / "browser" / "explorer.png"


def _missing():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} missing (apt-get install chromium chromium-driver)"
    for mod in ("selenium", "voila"):
        try:
            __import__(mod)
        except ImportError:
            return f"python package {mod} missing (pip install -e '.[test]')"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def voila_url(tmp_path):
    port = _free_port()
    env = dict(os.environ, SBP_PROGRESS="0", SBP_FIGURES_DIR=str(tmp_path / "figures"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = open(tmp_path / "voila.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
                             "--Voila.ip=127.0.0.1", "--Voila.root_dir=" + str(NOTEBOOK.parent),
                             "--VoilaConfiguration.file_allowlist=['.*']"],
                            cwd=NOTEBOOK.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "api", timeout=2)  # the server answers (404 is fine)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("voila did not start:\n" + (tmp_path / "voila.log").read_text())
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def browser():
    os.environ["SE_AVOID_STATS"] = "true"  # before Selenium starts: no statistics, no driver lists
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100",
                "--disable-gpu", "--no-first-run", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _state(driver):
    """(read-out text, image src) as rendered now, or None while either is missing or being re-rendered.

    The explorer replaces its output widgets on every slider move, so an element found a moment ago
    can be detached before it is read (``StaleElementReferenceException``): that counts as "not yet".
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        texts = [el.text for el in driver.find_elements(By.CSS_SELECTOR, ".widget-html-content")]
        imgs = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img, .output_png img, .widget-output img")
        src = imgs[0].get_attribute("src") if imgs else None
    except StaleElementReferenceException:
        return None
    text = next((t for t in texts if "log p(G(z))" in t), None)
    return (text, src) if text and src else None


def test_explorer_slider_changes_image_and_loglikelihood(voila_url, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(voila_url)
    wait = WebDriverWait(browser, 240, poll_frequency=0.5,  # the kernel runs the notebook first
                         ignored_exceptions=(StaleElementReferenceException,))
    before_text, before_img = wait.until(_state)
    assert before_text.startswith("log p(G(z)) =")

    sliders = [s for s in browser.find_elements(By.CSS_SELECTOR, ".widget-slider")
               if "eigvec 1" in s.text]
    assert sliders, "no 'eigvec 1' slider rendered"
    handle = sliders[0].find_element(By.CSS_SELECTOR, ".noUi-handle")
    handle.click()
    for _ in range(15):  # +1.5 along the top eigenvector, 0.1 a key
        handle.send_keys(Keys.ARROW_RIGHT)

    def moved(driver):
        state = _state(driver)
        return state if state and state[0] != before_text and state[1] != before_img else None

    after_text, after_img = wait.until(moved)
    assert after_text.startswith("log p(G(z)) =") and after_text != before_text and after_img != before_img
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SHOT))
    assert SHOT.stat().st_size > 10_000
