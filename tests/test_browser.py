"""The built book opened as a reader opens it: every page in headless Chromium.

Needs a built book and Debian's ``chromium`` and ``chromium-driver``; ``.ci/run`` runs it
after the build:

    BOOK_HTML=_build/html pytest tests/test_browser.py

Without ``BOOK_HTML`` every test here is skipped, so plain ``pytest`` needs no build.
The pages are served on 127.0.0.1 by a server this module starts, and the browser
resolves no other host. Each page must load without a console error and without a
request to another address, have every formula typeset by MathJax, every image loaded
with alt text, nothing wider than the text column, and only internal links that
resolve (anchors included), and every slider figure redraws when moved. The search page must
find "softmax". Screenshots of every
chapter at desktop and phone width go to ``_build/screenshots/``.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
HTML = os.environ.get("BOOK_HTML")
SITE = (ROOT / HTML).resolve() if HTML else None
SCREENSHOTS = ROOT / "_build" / "screenshots"
DESKTOP, PHONE = (1280, 900), (390, 844)
SKIP_DIRS = {"_static", "_sources", "_images", "reports", "_downloads", "mathjax"}

pytestmark = pytest.mark.skipif(not HTML, reason="set BOOK_HTML=_build/html after a build")


def pages() -> list[str]:
    """Every HTML page of the build, as a path relative to the site root."""
    if SITE is None or not SITE.is_dir():
        return []
    found = []
    for path in sorted(SITE.rglob("*.html")):
        relative = path.relative_to(SITE)
        if not SKIP_DIRS & set(relative.parts[:-1]):
            found.append(relative.as_posix())
    return found


def is_chapter(page: str) -> bool:
    return re.fullmatch(r"book/\d\d_[a-z0-9_]+\.html", page) is not None


@pytest.fixture(scope="module")
def site():
    assert SITE is not None and (SITE / "index.html").is_file(), f"no built book at {SITE}"

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "install Debian's chromium and chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--force-device-scale-factor=1",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps",
                 # nothing but this machine: a request elsewhere fails and is reported
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=driver)
    chrome = webdriver.Chrome(options=options, service=service)
    chrome.set_page_load_timeout(60)
    chrome.set_script_timeout(60)
    yield chrome
    chrome.quit()


def set_size(browser, size) -> None:
    """A desktop window, or a phone's screen (narrower than a window may be)."""
    if size == PHONE:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": True})
    else:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.set_window_size(*size)


def open_page(browser, url: str, size=DESKTOP) -> None:
    set_size(browser, size)
    browser.get("about:blank")
    browser.get_log("browser"), browser.get_log("performance")  # start with empty logs
    browser.get(url)
    wait = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const images = Array.from(document.images).map(img => img.complete ? null :
            new Promise(ok => { img.onload = img.onerror = ok; }));
        const math = window.MathJax && MathJax.startup ? MathJax.startup.promise : null;
        Promise.all([...images, math]).then(() => done("ok"), e => done("error: " + e));
    """)
    assert wait == "ok", f"{url}: {wait}"


def console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def outside_requests(browser, base: str) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith((base, "data:", "blob:", "about:")):
                urls.append(url)
    return urls


# In the page: what a reader would see that is wrong. Returns a list of problems.
PAGE_CHECKS = """
const problems = [];
if (!document.body) return ["the page has no body (still loading?)"];
const describe = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).join(".") : "") +
    " '" + (e.textContent || "").trim().slice(0, 60).replace(/\\s+/g, " ") + "'";
// MathJax: every math element typeset, no error, no raw delimiters in the text.
document.querySelectorAll(".math").forEach(m => {
  if (!m.querySelector("mjx-container")) problems.push("math not typeset: " + describe(m));
});
document.querySelectorAll("mjx-merror").forEach(m => problems.push("MathJax error: " + describe(m)));
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest("pre, code, script, style, textarea, mjx-assistive-mml")) continue;
  if (parent.closest("[hidden], .d-none")) continue;
  if (/\\\\\\(|\\\\\\[|\\$\\$/.test(node.textContent))
    problems.push("raw TeX: '" + node.textContent.trim().slice(0, 80) + "'");
}
// Images: loaded, with a size, with alt text that is not a file name.
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0)
    problems.push("image not loaded: " + img.src);
  const alt = (img.getAttribute("alt") || "").trim();
  if (!alt || /^[0-9a-f]{16,}|\\.(png|jpe?g|svg|gif)$/i.test(alt))
    problems.push("image without alt text: " + img.src.split("/").pop() + " alt='" + alt + "'");
}
// Sliders of attn.interactive: drawn, and redrawn when moved.
if (arguments[0]) for (const s of document.querySelectorAll(".attn-slider")) {
  const input = s.querySelector("input"), out = s.querySelector("output"), svg = s.querySelector("svg");
  if (!svg || !svg.childElementCount) { problems.push("slider figure not drawn: " + describe(s)); continue; }
  const before = svg.innerHTML, label = out.textContent;
  input.value = input.value === input.max ? input.min : input.max;
  input.dispatchEvent(new Event("input"));
  if (svg.innerHTML === before || out.textContent === label)
    problems.push("slider does not redraw: " + label);
}
// Width: no block scrolls sideways, overflows or sticks out of the article column.
const column = document.querySelector("article.bd-article") || document.querySelector("main");
if (column && arguments[0]) {
  const right = column.getBoundingClientRect().right + 1;
  const reported = [];
  const blocks = column.querySelectorAll("p, li, dt, dd, h1, h2, h3, h4, pre, table, figure, img, " +
      "svg, div.math, mjx-container[display='true'], div.cell_output, div.highlight, " +
      ".attn-slider, .admonition, details, blockquote");
  for (const e of blocks) {
    if (e.closest("mjx-assistive-mml, .d-none, [hidden]")) continue;
    if (reported.some(r => r.contains(e))) continue;  // one report per offending block
    const box = e.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const scrolls = ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
    if (box.right > right) {
      problems.push("wider than the column (" + Math.round(box.right - right) + " px): " + describe(e));
      reported.push(e);
    } else if (e.scrollWidth > e.clientWidth + 1 && e.tagName !== "svg" && e.tagName !== "IMG") {
      problems.push((scrolls ? "scrolls sideways (" : "overflows (") + e.scrollWidth + " > " +
                    e.clientWidth + " px): " + describe(e));
      reported.push(e);
    }
  }
}
if (document.documentElement.scrollWidth > window.innerWidth + 1) {
  const inScroller = e => { for (let p = e.parentElement; p; p = p.parentElement)
    if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true; return false; };
  const culprits = Array.from(document.querySelectorAll("body *")).filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.right > window.innerWidth + 1 && !inScroller(e); });
  problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " +
                window.innerWidth + ", e.g. " + culprits.slice(-2).map(describe).join("; "));
}
return problems;
"""

LINKS = "return Array.from(document.querySelectorAll('a[href]'), a => a.href);"


def unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))


@functools.lru_cache(maxsize=None)
def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def broken_links(hrefs: list[str], base: str) -> list[str]:
    broken = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue
        target, _, anchor = href.partition("#")
        status, text = fetch(target)
        if status != 200:
            broken.append(f"{href}: HTTP {status}")
        elif anchor and not re.search(r'\bid="%s"' % re.escape(urllib.parse.unquote(anchor)), text):
            broken.append(f"{href}: no element with id {anchor!r}")
    return broken


def screenshot(browser, name: str, size) -> pathlib.Path:
    """A full-page PNG at the given width."""
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    height = min(int(metrics["cssContentSize"]["height"]), 30000)
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size[0], "height": height, "scale": 1}})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.mark.parametrize("page", pages())
def test_page_reads_well(page, site, browser):
    url = urllib.parse.urljoin(site, page)
    open_page(browser, url)
    problems = browser.execute_script(PAGE_CHECKS, True)
    problems += [f"console: {m}" for m in console_errors(browser)]
    problems += [f"request outside 127.0.0.1: {u}" for u in outside_requests(browser, site)]
    problems += broken_links(browser.execute_script(LINKS), site)
    if is_chapter(page):
        name = pathlib.PurePosixPath(page).stem
        screenshot(browser, f"{name}-desktop", DESKTOP)
        open_page(browser, url, PHONE)
        # on a phone, code may scroll inside its block, but the page must not
        problems += [p for p in browser.execute_script(PAGE_CHECKS, False) if "page scrolls" in p]
        screenshot(browser, f"{name}-phone", PHONE)
    problems = unique(problems)
    assert not problems, f"{page}: {len(problems)} problems:\n" + "\n".join(problems[:40])


def test_search_finds_softmax(site, browser):
    open_page(browser, urllib.parse.urljoin(site, "search.html?q=softmax"))
    found = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const start = Date.now();
        (function poll() {
          const hits = document.querySelectorAll("#search-results li");
          const summary = document.querySelector("#search-results .search-summary, #search-results p");
          if (hits.length && summary) {
            const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : null;
            Promise.resolve(typeset).then(() => setTimeout(() => done(hits.length), 1500));
          } else if (Date.now() - start > 30000) done(0);
          else setTimeout(poll, 200);
        })();
    """)
    assert found > 0, "the search page found nothing for 'softmax'"
    for _ in range(10):  # the results arrive after the page has loaded
        checks = browser.execute_script(PAGE_CHECKS, False)
        if "the page has no body (still loading?)" not in checks:
            break
        time.sleep(0.5)
    problems = [p for p in checks if p.startswith(("raw", "Math", "the page has no body"))]
    problems += [f"console: {m}" for m in console_errors(browser)]
    problems += [f"request outside 127.0.0.1: {u}" for u in outside_requests(browser, site)]
    assert not unique(problems), "\n".join(unique(problems)[:20])
