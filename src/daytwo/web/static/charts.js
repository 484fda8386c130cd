// Render every Vega-Lite spec on the page: <div data-chart="ID"> + <script type="application/json" id="ID">.
(function () {
  function render(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source || el.dataset.rendered) return;
      el.dataset.rendered = "1";
      var spec = JSON.parse(source.textContent);
      vegaEmbed(el, spec, { actions: false, renderer: "svg" }).catch(function (err) {
        el.textContent = "Chart could not be drawn: " + err.message;
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { render(document); });
  } else {
    render(document);
  }
  document.addEventListener("htmx:afterSwap", function (e) { render(e.target); });
})();
