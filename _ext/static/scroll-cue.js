// A block that scrolls sideways (a code line longer than a phone's column, a wide formula
// or table) fades out at the edge where more is hidden: the classes attn-more-right and
// attn-more-left (static/book.css draws the fade) follow its scroll position and size.
// An inline formula wider than its line by more than half an em (more than a glyph's
// overhang) is marked attn-wide, which lets it scroll (the theme would cut it).
(function () {
  "use strict";
  const SCROLLERS = "article pre, article div.math mjx-container[display='true'], " +
    "article span.math, article .pst-scrollable-table-container, " +
    "article div.output.text_html";
  const watched = new Set();
  function update(block) {
    if (block.matches("span.math")) {
      const em = parseFloat(getComputedStyle(block).fontSize);
      const wide = block.scrollWidth - block.clientWidth > em / 2;
      if (wide !== block.classList.contains("attn-wide")) {
        block.classList.toggle("attn-wide", wide);
        block.scrollLeft = 0;
      }
      if (!wide) {
        block.classList.remove("attn-more-left", "attn-more-right");
        return;
      }
    }
    const hidden = block.scrollWidth - block.clientWidth;
    block.classList.toggle("attn-more-left", hidden > 1 && block.scrollLeft > 1);
    block.classList.toggle("attn-more-right", hidden > 1 && block.scrollLeft < hidden - 1);
  }
  const resized = new ResizeObserver(function (entries) {
    entries.forEach(function (entry) { update(entry.target); });
  });
  function watch() {
    document.querySelectorAll(SCROLLERS).forEach(function (block) {
      if (watched.has(block)) return update(block);
      watched.add(block);
      resized.observe(block);
      block.addEventListener("scroll", function () { update(block); }, {passive: true});
      update(block);
    });
  }
  document.addEventListener("DOMContentLoaded", watch);
  window.addEventListener("load", function () {
    watch();
    // MathJax replaces the TeX with new elements; web fonts change widths, not sizes
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(watch);
    }
    if (document.fonts) document.fonts.ready.then(watch);
  });
})();
