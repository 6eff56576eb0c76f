"""The widgets in a real JupyterLab, driven through Debian's chromium with Playwright.

Starts JupyterLab on a free loopback port in a temporary root (token off, own settings, workspaces,
config and runtime dirs), opens notebooks/04_widgets.ipynb, runs all cells, then drives the Lab as a
learner would: moves a slider, builds, inserts the model's code as a cell and runs it, finds a
learning rate, fits, stops, continues (the epochs count on), starts over, chooses an earlier model in
Compare and explores it, and switches to the dark theme; it checks what the widget output areas show.
Screenshots go to test-artifacts/ (git-ignored).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_widgets.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_S = 90
KERNEL_S = 300  # kernel start, or Run All (TensorFlow, MovieLens, the notebook's fits and lr finder) on a busy machine
FIT_S = 120

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM} (CI installs it with apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Process ids started (directly or not) by `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def api(base: str, path: str, method: str = "GET", timeout: float = 5):
    req = urllib.request.Request(base + path, method=method, data=b"" if method != "GET" else None)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
        return json.loads(body) if body else None


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server in a temporary root holding a copy of the notebook; killed at the end."""
    root, home = tmp_path / "root", tmp_path / "home"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = home / "settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell stays in the page
    notes = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notes.parent.mkdir(parents=True)
    notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "IPYTHONDIR": str(home / "ipython"), "MPLCONFIGDIR": str(home / "mpl"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
           f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}", "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
           "--ServerApp.terminals_enabled=False"]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    with open(log_path, "wb") as log:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                api(base, "/api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in {SERVER_START_S} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, log_path
    finally:
        stop_server(server, base)


def stop_server(server: subprocess.Popen, base: str):
    """Shut kernels and server down politely, then kill whatever of theirs is left, by process id."""
    started = descendants(server.pid)
    try:
        for kernel in api(base, "/api/kernels") or []:
            api(base, f"/api/kernels/{kernel['id']}", method="DELETE", timeout=10)
        api(base, "/api/shutdown", method="POST")
        server.wait(15)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_kernel_idle(page, timeout_s: float):
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=timeout_s * 1000)


def test_widgets_in_jupyterlab(jupyterlab):
    base, log_path = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    console: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            try:
                drive(page, base)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "browser-failure.png"))
                print("browser console errors:\n" + "\n".join(console[-30:]))
                print("JupyterLab log tail:\n" + log_path.read_text()[-4000:])
                raise
        finally:
            browser.close()


def drive(page, base: str):
    expect = sync_api.expect
    page.goto(f"{base}/lab/tree/04_widgets.ipynb", timeout=60_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    accept_kernel_dialog(page, base)
    wait_kernel_idle(page, KERNEL_S)

    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""", timeout=KERNEL_S * 1000)
    wait_kernel_idle(page, KERNEL_S)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] .jp-RenderedText")
    assert page.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']") \
        .count() == 0, "a cell raised: " + " | ".join(errors.all_text_contents())[:2000]

    lab = page.locator(".cfnb-lab")
    expect(lab).to_have_count(1, timeout=30_000)
    lab.scroll_into_view_if_needed()
    compare = lab.locator(".cfnb-compare-out")
    expect(compare).to_contain_text("my GMF")  # the notebook's own model, added and fitted in a cell
    lab.locator(".cfnb-kind button", has_text="bias").click()
    params = lab.locator(".cfnb-params")
    expect(params).to_contain_text("527,034")  # bias model, 50 factors: (610 + 9,724) * (50 + 1)
    cut = page.evaluate("""() => [...document.querySelectorAll('.cfnb-builder .widget-label')]
        .filter(l => l.offsetParent !== null && l.scrollWidth > l.clientWidth + 1).map(l => l.textContent)""")
    assert cut == [], f"control labels cut off: {cut}"

    # Move the factors slider to 20 through its readout, as a user would type there.
    readout = lab.locator(".cfnb-hp-n_factors .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    expect(params).to_contain_text("217,014", timeout=15_000)  # (610 + 9,724) * (20 + 1)

    lab.locator("button.cfnb-build").click()
    summary = lab.locator(".cfnb-summary-out")
    expect(summary.locator("table tr")).to_have_count(13, timeout=30_000)  # header, 11 layers, totals
    expect(summary.locator("table")).to_contain_text("movie_factors")
    expect(summary.locator("table")).to_contain_text("(None, 1, 20)")
    expect(summary.locator("table")).to_contain_text("217,014")
    expect(summary.locator("svg")).to_have_count(1)
    expect(lab.locator(".cfnb-builder .cfnb-message")).to_contain_text("Built #2 bias")

    # The code view: Insert as cell puts the Keras code below the Lab; running it prints the Builder's count.
    expect(lab.locator(".cfnb-code pre")).to_contain_text("n_factors = 20")
    lab.locator("button.cfnb-insert-code").click()
    expect(lab.locator(".cfnb-builder .cfnb-message")).to_contain_text("Inserted the code", timeout=15_000)
    lab_cell = page.locator(".jp-Notebook .jp-Cell").filter(has=page.locator(".cfnb-lab"))
    inserted = lab_cell.locator("xpath=following-sibling::div[contains(@class, 'jp-Cell')][1]")
    expect(inserted).to_contain_text("keras.Input", timeout=15_000)
    inserted.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    printed = inserted.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']")
    expect(printed).to_have_text(__import__("re").compile(r"^\s*\d+\s*$"), timeout=FIT_S * 1000)
    assert int(printed.text_content()) == int(params.text_content().split()[0].replace(",", "")) == 217_014
    lab.scroll_into_view_if_needed()

    # Find lr: the range test's plot, and its suggestion as stage 1's rate.
    lab.locator("button.cfnb-find-lr").click()
    expect(lab.locator(".cfnb-lr-plot svg")).to_have_count(1, timeout=FIT_S * 1000)
    message = lab.locator(".cfnb-staged-fit .cfnb-message")
    expect(message).to_contain_text("Suggested learning rate", timeout=10_000)
    suggested = float(__import__("re").search(r"Suggested learning rate (\S+) ", message.text_content()).group(1))
    first_lr = lab.locator(".cfnb-stage").first.locator("input").first
    assert float(first_lr.input_value()) == pytest.approx(suggested, rel=0.05)
    lab.locator(".cfnb-lr-plot").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-lr-find.png"))

    # Fit the lesson's 8 epochs in small batches, Stop during the fit: "stopping…" shows at once.
    status, fit_button = lab.locator(".cfnb-status"), lab.locator("button.cfnb-fit")
    lab.locator(".cfnb-batch select").select_option("16")
    fit_button.click()
    expect(status).to_contain_text("epoch 1/8", timeout=FIT_S * 1000)
    lab.locator("button.cfnb-stop").click()
    # "stopping…" shows at once; a batch of 16 can end before the next poll, so "stopped:" counts too.
    expect(status).to_contain_text(__import__("re").compile("stopping|stopped:"), timeout=5_000)
    expect(status).to_contain_text("stopped:", timeout=FIT_S * 1000)
    stopped = int(__import__("re").search(r"stopped: (\d+)/8 epochs", status.text_content()).group(1))
    assert 1 <= stopped < 8
    expect(fit_button).to_have_text("Continue")
    expect(lab.locator(".cfnb-staged-fit .cfnb-message")).to_contain_text(f"the {8 - stopped} epoch(s) left")
    lab.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / "browser-stopped.png"))

    # Continue: the epochs left, in bigger batches, on the same history (epochs count on to 8, not from 1).
    lab.locator(".cfnb-batch select").select_option("1024")
    fit_button.click()
    expect(status).to_contain_text("done: 8/8 epochs", timeout=FIT_S * 1000)
    bar = lab.locator(".cfnb-progress .progress-bar")
    expect(bar).to_have_class(__import__("re").compile("progress-bar-success"), timeout=10_000)
    page.wait_for_function("el => el.style.width === '100%'", arg=bar.element_handle(), timeout=10_000)
    curve = lab.locator(".cfnb-curve")
    expect(curve).to_be_visible(timeout=10_000)
    expect(curve.locator("svg")).to_have_count(1)
    row = compare.locator("tr", has_text="#2 bias")
    expect(row).to_contain_text("16, 1024")  # both fits in its recipe
    expect(row.locator("td").nth(7)).to_have_text("8")  # epochs
    expect(compare.locator("tr")).to_have_count(5)  # header, two baselines, my GMF, #2 bias
    expect(lab.locator("button.cfnb-stop")).to_be_disabled()
    lab.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / "browser-lab.png"))

    # Start over: a fresh copy fitted from epoch 1, as a third model.
    lab.locator("button.cfnb-start-over").click()
    expect(compare.locator("tr", has_text="#3 bias").locator("td").nth(7)).to_have_text("8", timeout=FIT_S * 1000)
    expect(status).to_contain_text("done: 8/8 epochs")

    # Choose an earlier model in Compare and explore it; Explore then follows the choice.
    choose = lab.locator(".cfnb-choose select")
    choose.select_option("#2 bias")
    expect(status).to_contain_text("#2 bias", timeout=15_000)
    lab.locator("button.cfnb-explore-button").click()
    expect(lab.locator(".cfnb-explore .cfnb-message")).to_contain_text("Exploring #2 bias", timeout=30_000)
    expect(lab.locator(".cfnb-biases")).to_contain_text("Highest movie bias")
    expect(lab.locator(".cfnb-recs")).to_contain_text("Recommended for user 1")
    pca = lab.locator(".cfnb-pca")
    expect(pca.locator("svg")).to_have_count(1)
    pca.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-explore.png"))
    choose.select_option("my GMF")
    expect(lab.locator(".cfnb-explore .cfnb-message")).to_contain_text("Exploring my GMF", timeout=30_000)
    expect(lab.locator(".cfnb-biases")).to_contain_text("No bias tables for my GMF")
    for piece in ("builder", "staged-fit", "compare", "explore"):
        expect(lab.locator(f".cfnb-{piece} .cfnb-error")).to_have_count(0)
    dark_theme(page, lab)


LUMINANCE = """el => {
    const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    let bg = el;
    while (bg && (rgb(getComputedStyle(bg).backgroundColor)[3] === 0 ||
                  getComputedStyle(bg).backgroundColor === 'transparent')) bg = bg.parentElement;
    return {text: lum(rgb(getComputedStyle(el).color)),
            background: bg ? lum(rgb(getComputedStyle(bg).backgroundColor)) : 1};
}"""


def dark_theme(page, lab):
    """Switch JupyterLab to its dark theme: the curve and the tables turn dark with it (light ink on dark)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=__import__("re").compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=__import__("re").compile(r"^JupyterLab Dark$")).click()
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached", timeout=30_000)
    page.wait_for_timeout(1_000)  # the theme's stylesheet applies
    curve = lab.locator(".cfnb-curve .cfnb-plot")
    cell = lab.locator(".cfnb-compare-out td").first
    for what, element in (("learning curve", curve), ("Compare table", cell),
                          ("recommendations table", lab.locator(".cfnb-recs td").first)):
        seen = element.evaluate(LUMINANCE)
        assert seen["text"] > 0.6 and seen["background"] < 0.3, f"{what} is not dark in the dark theme: {seen}"
    assert curve.locator("svg rect[style*='fill: #ffffff'], svg rect[fill='#ffffff']").count() == 0
    lab.locator(".cfnb-staged-fit").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-dark.png"))


def accept_kernel_dialog(page, base: str, within_s: float = KERNEL_S):
    """Accept JupyterLab's kernel dialog ("Select Kernel") until a kernel runs for the notebook."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        if dialog.count():
            dialog.first.click()
        elif api(base, "/api/sessions"):
            return
        time.sleep(0.5)
    pytest.fail(f"no kernel started for the notebook within {within_s} s")
