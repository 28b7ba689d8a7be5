// The search page's snippets: cut from the text of the page's article, and with their
// math typeset. Sphinx cuts each snippet from the text of the element [role=main], which
// in this theme also holds the article's header with the "Contents" list: a word in a
// section title was then shown as a run of section titles. A formula can be cut in half:
// the half is dropped, the rest typeset.
(function () {
  "use strict";
  function useArticleText() {
    if (typeof Search === "undefined" || Search.attnArticleText) return;
    const sphinxText = Search.htmlToText;
    Search.htmlToText = function (htmlString, anchor) {
      const page = new DOMParser().parseFromString(htmlString, "text/html");
      const article = page.querySelector("[role=main] article");
      if (!article) return sphinxText(htmlString, anchor);
      // hidden plotting code (cells tagged hide-input) is not what a reader sees first
      article.querySelectorAll(".headerlink, script, style, details.above-input")
        .forEach(e => e.remove());
      const part = anchor ? article.querySelector(anchor) : null;
      return (part || article).textContent;
    };
    Search.attnArticleText = true;
  }
  useArticleText();  // searchtools.js comes first on the search page; else at DOMContentLoaded
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
    useArticleText();
    const results = document.getElementById("search-results");
    if (!results) return;
    new MutationObserver(function () { typeset(results); })
      .observe(results, {childList: true, subtree: true});
  });
})();
