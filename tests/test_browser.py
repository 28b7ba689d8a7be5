"""The built book opened as a reader opens it: every page in headless Chromium, on a
desktop and on a phone.

Needs a built book and Debian's ``chromium`` and ``chromium-driver``; ``.ci/run`` runs it
after the build:

    BOOK_HTML=_build/html pytest tests/test_browser.py

Without ``BOOK_HTML`` every test here is skipped, so plain ``pytest`` needs no build.
The pages are served on 127.0.0.1 by a server this module starts, and the browser
resolves no other host. Every page is opened twice: in a 1280 px window, and as a phone
(390 px, mobile emulation, touch). At both widths each page must load without a console
error and without a request to another address, have every formula typeset by MathJax,
every image loaded with alt text and drawn at its own aspect ratio (within 2%), no inline
formula cut or scrolling, no display equation wider than its column, only internal links
that resolve (anchors included), and every control of every interactive figure (each
range and select of an ``.attn-slider``) must redraw its figure when moved and draw no
text outside the figure. The page
never scrolls sideways. On a desktop nothing scrolls sideways inside the column either
(88-character code lines fit); on a phone a block may scroll inside itself (code, wide
tables) but only with a visible cue (``_ext/static/scroll-cue.js`` fades its hidden
edge), text in interactive figures is at least 10 px, a real tap (touch events) near
the far end of each range moves it and redraws the figure, and a tap on a head view's
token changes the figure. The search page must find "softmax", with snippets cut from
the pages' text, and the site root serves ``favicon.ico``. Screenshots of every chapter
at both widths go to ``_build/screenshots/`` (look at them after changing the layout).
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
        browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled",
                                {"enabled": True, "maxTouchPoints": 1})
    else:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        browser.set_window_size(*size)


def open_page(browser, url: str, size=DESKTOP) -> None:
    set_size(browser, size)
    browser.get("about:blank")
    browser.get_log("browser"), browser.get_log("performance")  # start with empty logs
    browser.get(url)
    from selenium.common.exceptions import WebDriverException

    for _ in range(100):  # a redirect (the site's index.html): wait for the page it names
        try:
            if browser.execute_script("return document.readyState === 'complete' && "
                                      "!document.querySelector('meta[http-equiv=refresh i]')"):
                break
        except WebDriverException:  # the old page went away while the script ran
            pass
        time.sleep(0.1)
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
# arguments[0]: true at phone width, false on a desktop; arguments[1]: the screen's width.
PAGE_CHECKS = r"""
const phone = arguments[0];
const problems = [];
if (!document.body) return ["the page has no body (still loading?)"];
const describe = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "") +
    " '" + (e.textContent || "").trim().slice(0, 60).replace(/\s+/g, " ") + "'";
const px = x => Math.round(x) + " px";
const column = document.querySelector("article.bd-article") || document.querySelector("main");
const right = (column || document.body).getBoundingClientRect().right + 1;
const scrolls = e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX) &&
    e.scrollWidth > e.clientWidth + 1;
const inScroller = e => { for (let p = e.parentElement; p && p !== column; p = p.parentElement)
    if (scrolls(p)) return true; return false; };
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
  // \( \[ $$, or a $...$ pair around TeX (^, _, \ or braces): a bibliography title, say
  if (/\\\(|\\\[|\$\$|\$[^$\s][^$]*[\\^_{}][^$]*\$/.test(node.textContent))
    problems.push("raw TeX: '" + node.textContent.trim().slice(0, 80) + "'");
}
// Formulas: a display equation fits its column, an inline formula its line (the theme
// would cut it; book.css lets it scroll, which a reader may not notice).
const tex = new Map();
if (window.MathJax && MathJax.startup && MathJax.startup.document)
  for (const m of MathJax.startup.document.math) tex.set(m.typesetRoot, m.math.trim());
for (const c of document.querySelectorAll("mjx-container")) {
  const box = c.getBoundingClientRect();
  if (!box.width || c.closest("#search-results")) continue;
  const what = "'" + (tex.get(c) || c.textContent).slice(0, 70).replace(/\s+/g, " ") + "'";
  if (c.getAttribute("display") === "true") {
    const width = c.querySelector("mjx-math").getBoundingClientRect().width;
    if (width > c.clientWidth + 1)
      problems.push("display equation wider than its column (" + px(width) + " > " +
                    px(c.clientWidth) + "): " + what);
  } else {
    const line = c.parentElement, em = parseFloat(getComputedStyle(line).fontSize);
    if (line.scrollWidth > line.clientWidth + em / 2)  // more than a glyph's overhang
      problems.push("inline formula wider than its line (" + px(line.scrollWidth) + " > " +
                    px(line.clientWidth) + "): " + what);
    else if (box.right > right && !inScroller(c))
      problems.push("inline formula out of the column (" + px(box.right - right) + "): " + what);
  }
}
// Images: loaded, with alt text that is not a file name, at their own aspect ratio.
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0)
    problems.push("image not loaded: " + img.src);
  const alt = (img.getAttribute("alt") || "").trim();
  if (!alt || /^[0-9a-f]{16,}|\.(png|jpe?g|svg|gif)$/i.test(alt))
    problems.push("image without alt text: " + img.src.split("/").pop() + " alt='" + alt + "'");
  const box = img.getBoundingClientRect();
  if (box.width && box.height && img.naturalWidth && img.naturalHeight) {
    const ratio = (box.width / box.height) / (img.naturalWidth / img.naturalHeight);
    if (Math.abs(ratio - 1) > 0.02)
      problems.push("image drawn at " + ratio.toFixed(2) + " of its aspect ratio (" +
                    px(box.width) + " x " + px(box.height) + "): '" + alt.slice(0, 60) + "'");
  }
}
// Width: nothing sticks out of the article column. On a desktop no block scrolls sideways
// (88-character lines fit); on a phone a block may scroll inside itself, with a cue.
if (column) {
  const reported = [];
  const blocks = column.querySelectorAll("p, li, dt, dd, h1, h2, h3, h4, pre, table, figure, " +
      "img, svg, div.math, mjx-container[display='true'], div.cell_output, div.highlight, " +
      ".attn-slider, .admonition, details, blockquote, figcaption");
  for (const e of blocks) {
    if (e.closest("mjx-assistive-mml, .d-none, [hidden]")) continue;
    if (reported.some(r => r.contains(e))) continue;  // one report per offending block
    if (phone && inScroller(e)) continue;  // judged with the block that scrolls, below
    const box = e.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right > right) {
      problems.push("wider than the column (" + px(box.right - right) + "): " + describe(e));
      reported.push(e);
    } else if (e.scrollWidth > e.clientWidth + 1 && e.tagName !== "svg" && e.tagName !== "IMG"
               && !(phone && scrolls(e))) {
      problems.push((scrolls(e) ? "scrolls sideways (" : "overflows (") + e.scrollWidth +
                    " > " + e.clientWidth + " px): " + describe(e));
      reported.push(e);
    }
  }
  for (const e of column.querySelectorAll("*")) {
    if (!scrolls(e) || e.closest("mjx-assistive-mml") || e.matches("span.math")) continue;
    if (reported.some(r => r.contains(e) || e.contains(r))) continue;
    if (!e.getBoundingClientRect().width) continue;
    const style = getComputedStyle(e), mask = style.maskImage || style.webkitMaskImage;
    if (!phone) problems.push("scrolls sideways (" + e.scrollWidth + " > " + e.clientWidth +
                              " px): " + describe(e));
    else if (e.scrollLeft === 0 && (!mask || mask === "none"))
      problems.push("scrolls sideways without a cue: " + describe(e));
    reported.push(e);
  }
}
// Interactive figures on a phone: every text at least 10 px (svg text scaled as drawn).
if (phone) for (const s of document.querySelectorAll(".attn-slider")) {
  let smallest = Infinity, what = "";
  for (const t of s.querySelectorAll("text")) {
    const m = t.getScreenCTM();
    if (!m || !t.textContent.trim() || !t.getBoundingClientRect().width) continue;
    const size = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
    if (size < smallest) { smallest = size; what = t.textContent.trim(); }
  }
  const html = document.createTreeWalker(s, NodeFilter.SHOW_TEXT);
  for (let node = html.nextNode(); node; node = html.nextNode()) {
    const e = node.parentElement;
    if (!node.textContent.trim() || e.closest("svg") || !e.getBoundingClientRect().width) continue;
    const size = parseFloat(getComputedStyle(e).fontSize);
    if (size < smallest) { smallest = size; what = node.textContent.trim(); }
  }
  if (smallest < 10)
    problems.push("text in an interactive figure is " + smallest.toFixed(1) + " px: '" +
                  what.slice(0, 40) + "' in " + describe(s));
}
// Interactive figures at any width: no text drawn outside its figure (it would be cut).
for (const s of document.querySelectorAll(".attn-slider")) {
  const svg = s.querySelector("svg");
  if (!svg) continue;
  const box = svg.getBoundingClientRect();
  for (const t of svg.querySelectorAll("text")) {
    const b = t.getBoundingClientRect();
    if (!b.width || !t.textContent.trim()) continue;
    const out = Math.max(box.left - b.left, b.right - box.right, box.top - b.top,
                         b.bottom - box.bottom);
    if (out > 1) {
      problems.push("text " + Math.round(out) + " px outside its interactive figure: '" +
                    t.textContent.trim().slice(0, 40) + "' in " + describe(s));
      break;
    }
  }
}
// A phone's layout viewport grows to fit a page that is too wide (window.innerWidth with
// it): compare with the screen (arguments[1]).
const screenWidth = phone ? arguments[1] : window.innerWidth;
if (document.documentElement.scrollWidth > screenWidth + 1) {
  const clipped = e => { for (let p = e.parentElement; p; p = p.parentElement)
    if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true; return false; };
  const culprits = Array.from(document.querySelectorAll("body *")).filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.right > screenWidth + 1 && !clipped(e); });
  problems.unshift("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " +
                screenWidth + ", e.g. " + culprits.slice(-2).map(describe).join("; "));
}
return problems;
"""

# Every control of every interactive figure (attn.interactive: a div.attn-slider holding one
# svg and ranges and/or selects) is moved as a script would: a range to its other end with
# an "input" event, a select to its next option with a "change" event. The figure must
# change. Asynchronous: the figure gets two animation frames to redraw.
CONTROLS = r"""
const done = arguments[arguments.length - 1];
const frames = () => new Promise(ok => requestAnimationFrame(() => requestAnimationFrame(ok)));
const name = c => (c.getAttribute("aria-label") || (c.labels && c.labels[0] &&
    c.labels[0].textContent) || c.name || c.tagName).trim().slice(0, 40).replace(/\s+/g, " ");
(async () => {
  const problems = [];
  for (const [i, figure] of Array.from(document.querySelectorAll(".attn-slider")).entries()) {
    const drawing = () => (figure.querySelector("svg") || {}).outerHTML || "";
    const where = "interactive figure " + (i + 1);
    const svg = figure.querySelector("svg");
    if (!svg || !svg.childElementCount) { problems.push(where + " is not drawn"); continue; }
    const controls = () => figure.querySelectorAll("input[type=range], select");
    const count = controls().length;
    if (!count) problems.push(where + " has no range or select");
    for (let k = 0; k < count; k++) {  // looked up again: a select may rebuild the others
      const c = controls()[k], before = drawing();
      if (!c) continue;
      if (c.tagName === "SELECT") {
        if (c.options.length < 2) continue;
        c.selectedIndex = (c.selectedIndex + 1) % c.options.length;
        c.dispatchEvent(new Event("change", {bubbles: true}));
      } else {
        c.value = c.value === c.max ? c.min : c.max;
        c.dispatchEvent(new Event("input", {bubbles: true}));
      }
      await frames();
      if (drawing() === before) problems.push(where + ": moving '" + name(c) +
                                              "' does not redraw it");
    }
  }
  done(problems);
})().catch(e => done(["checking the interactive figures failed: " + e]));
"""

# A range of an interactive figure, scrolled to the middle of the screen: where a tap near
# the far end of its track lands, what lies there, its value and its figure.
BEFORE_TAP = r"""
const input = document.querySelectorAll(".attn-slider input[type=range]")[arguments[0]];
input.scrollIntoView({block: "center", behavior: "instant"});
const box = input.getBoundingClientRect();
const high = Number(input.value) > (Number(input.min) + Number(input.max)) / 2;
const x = box.left + box.width * (high ? 0.06 : 0.94), y = box.top + box.height / 2;
const hit = document.elementFromPoint(x, y);
const on = hit === input ? "" : hit ? hit.tagName.toLowerCase() + "." + hit.className : "nothing";
const svg = input.closest(".attn-slider").querySelector("svg");
return {x: x, y: y, value: input.value, svg: svg ? svg.outerHTML : "", on: on};
"""
AFTER_TAP = r"""
const done = arguments[arguments.length - 1];
const input = document.querySelectorAll(".attn-slider input[type=range]")[arguments[0]];
requestAnimationFrame(() => requestAnimationFrame(() => {
  const svg = input.closest(".attn-slider").querySelector("svg");
  done({value: input.value, svg: svg ? svg.outerHTML : ""});
}));
"""


# A token of a head view (attn.interactive.head_view draws each as an svg group with a
# data-token attribute): where a tap on it lands, and the figure before the tap.
BEFORE_TOKEN_TAP = r"""
const figure = document.querySelectorAll(".attn-slider")[arguments[0]];
const token = figure.querySelector("[data-token]");
if (!token) return null;
token.scrollIntoView({block: "center", behavior: "instant"});
const box = token.getBoundingClientRect();
const x = box.left + box.width / 2, y = box.top + box.height / 2;
const hit = document.elementFromPoint(x, y);
const on = hit && token.contains(hit) ? "" : hit ? hit.tagName.toLowerCase() + "." +
    hit.getAttribute("class") : "nothing";
return {x: x, y: y, svg: figure.querySelector("svg").outerHTML, on: on,
        name: (token.querySelector("text") || token).textContent.trim()};
"""
AFTER_TOKEN_TAP = r"""
const done = arguments[arguments.length - 1];
const figure = document.querySelectorAll(".attn-slider")[arguments[0]];
requestAnimationFrame(() => requestAnimationFrame(() =>
  done(figure.querySelector("svg").outerHTML)));
"""


def tap(browser, x: float, y: float) -> None:
    """A finger on the screen at (x, y) CSS pixels, lifted at once."""
    browser.execute_cdp_cmd("Input.dispatchTouchEvent",
                            {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def tap_tokens(browser) -> list[str]:
    """Tap the first token of every head view: the figure must change (only that token's
    lines are shown), as under a reader's finger."""
    problems = []
    count = browser.execute_script("return document.querySelectorAll('.attn-slider').length")
    for i in range(count):
        before = browser.execute_script(BEFORE_TOKEN_TAP, i)
        if before is None:
            continue
        tap(browser, before["x"], before["y"])
        if browser.execute_async_script(AFTER_TOKEN_TAP, i) == before["svg"]:
            covered = f" (the tap lands on {before['on']})" if before["on"] else ""
            problems.append(f"interactive figure {i + 1}: a tap on the token "
                            f"'{before['name']}' does not change it{covered}")
    return problems


def tap_ranges(browser) -> list[str]:
    """Tap (CDP touch events) near the far end of every range of the interactive figures:
    the value must move and the figure redraw, as under a reader's finger."""
    problems = []
    count = browser.execute_script(
        "return document.querySelectorAll('.attn-slider input[type=range]').length")
    for i in range(count):
        before = browser.execute_script(BEFORE_TAP, i)
        tap(browser, before["x"], before["y"])
        after = browser.execute_async_script(AFTER_TAP, i)
        if after["value"] == before["value"] or after["svg"] == before["svg"]:
            covered = f" (the tap lands on {before['on']})" if before["on"] else ""
            problems.append(f"a tap on range {i + 1} does not move it and redraw its figure"
                            f" (value {before['value']} -> {after['value']}){covered}")
    return problems


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
    height = min(int(metrics["cssContentSize"]["height"]), 50000)  # chapter 7: 35,000 on a phone
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
    problems = []
    for size, where in ((DESKTOP, "desktop"), (PHONE, "phone")):
        open_page(browser, url, size)
        if is_chapter(page):  # before the controls move
            screenshot(browser, f"{pathlib.PurePosixPath(page).stem}-{where}", size)
        found = browser.execute_script(PAGE_CHECKS, size == PHONE, size[0])
        if size == PHONE:
            found += tap_ranges(browser) + tap_tokens(browser)
        found += browser.execute_async_script(CONTROLS)
        found += [f"console: {m}" for m in console_errors(browser)]
        found += [f"request outside 127.0.0.1: {u}" for u in outside_requests(browser, site)]
        found += broken_links(browser.execute_script(LINKS), site)
        problems += [f"{where}: {p}" for p in unique(found)]
    assert not problems, f"{page}: {len(problems)} problems:\n" + "\n".join(problems[:40])


SECTION_NUMBER = re.compile(r"\b\d+\.\d+(?:\.\d+)*\.\s")  # "1.4.1. ", as in a contents list


def test_search_finds_softmax(site, browser):
    open_page(browser, urllib.parse.urljoin(site, "search.html?q=softmax"))
    snippets = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const start = Date.now();
        const read = () => Array.from(document.querySelectorAll("#search-results li"),
            li => [li.querySelector("a").href, (li.querySelector("p.context") || {}).textContent]);
        (function poll() {  // each hit fetches its page, then shows a snippet of it
          const hits = document.querySelectorAll("#search-results li");
          const all = hits.length && Array.from(hits).every(li => li.querySelector("p.context"));
          if (all) {
            const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : null;
            Promise.resolve(typeset).then(() => setTimeout(() => done(read()), 1500));
          } else if (Date.now() - start > 30000) done(read());
          else setTimeout(poll, 200);
        })();
    """)
    assert snippets, "the search page found nothing for 'softmax'"
    missing = [url for url, text in snippets if text is None]
    assert not missing, f"hits without a snippet: {missing}"
    # cut from the page's text, not from its contents list ("1.4.1. Scoring ... 1.4.2. ...")
    lists = [f"{url}: {text[:120]!r}" for url, text in snippets
             if len(SECTION_NUMBER.findall(text)) > 1]
    assert not lists, "snippets that read like a contents list:\n" + "\n".join(lists)
    assert any("softmax" in text.lower() for _, text in snippets)
    for _ in range(10):  # the results arrive after the page has loaded
        checks = browser.execute_script(PAGE_CHECKS, False, DESKTOP[0])
        if "the page has no body (still loading?)" not in checks:
            break
        time.sleep(0.5)
    problems = [p for p in checks if p.startswith(("raw", "Math", "the page has no body"))]
    problems += [f"console: {m}" for m in console_errors(browser)]
    problems += [f"request outside 127.0.0.1: {u}" for u in outside_requests(browser, site)]
    assert not unique(problems), "\n".join(unique(problems)[:20])


def test_favicon_at_site_root(site):
    """Browsers ask for /favicon.ico on pages without an icon link (the index redirect)."""
    with urllib.request.urlopen(urllib.parse.urljoin(site, "favicon.ico"), timeout=10) as r:
        icon = r.read()
    assert icon[:4] == b"\x00\x00\x01\x00", "favicon.ico is not an ICO file"
    assert int.from_bytes(icon[4:6], "little") >= 2, "favicon.ico holds a single size"
