// Typeset the math in the search page's snippets. Sphinx cuts each snippet from the
// page's text, so a formula can be cut in half: the half is dropped, the rest typeset.
(function () {
  "use strict";
  function tidy(snippet) {
    let text = snippet.textContent;
    for (const [left, right] of [["\\(", "\\)"], ["\\[", "\\]"]]) {
      const open = text.indexOf(left), close = text.indexOf(right);
      if (close !== -1 && (open === -1 || close < open)) text = "..." + text.slice(close + 2);
      const lastOpen = text.lastIndexOf(left), lastClose = text.lastIndexOf(right);
      if (lastOpen !== -1 && lastOpen > lastClose) text = text.slice(0, lastOpen) + "...";
    }
    snippet.textContent = text;
  }
  function typeset(root) {
    const snippets = root.querySelectorAll("p.context:not([data-math-done])");
    snippets.forEach(function (p) { tidy(p); p.setAttribute("data-math-done", ""); });
    if (snippets.length && window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.promise.then(function () {
        return MathJax.typesetPromise(Array.from(snippets));
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    const results = document.getElementById("search-results");
    if (!results) return;
    new MutationObserver(function () { typeset(results); })
      .observe(results, {childList: true, subtree: true});
  });
})();
