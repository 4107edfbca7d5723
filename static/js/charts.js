// Draws the plotly charts that benchsite/plots.py renders as a div plus a JSON block, on load and after every
// HTMX swap, so pages need no inline script (the Content-Security-Policy allows scripts from 'self' only).
(function () {
  "use strict";

  function draw(root) {
    if (typeof window.Plotly === "undefined") return;
    root.querySelectorAll('script[type="application/json"][data-plotly-for]').forEach(function (block) {
      var div = document.getElementById(block.dataset.plotlyFor);
      if (!div || div.dataset.plotlyDrawn) return;
      var figure = JSON.parse(block.textContent);
      div.style.width = figure.width;
      div.style.height = figure.height;
      div.dataset.plotlyDrawn = "1";
      window.Plotly.newPlot(div, figure.data, figure.layout, figure.config);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // htmx:load fires for the page and for each piece of content HTMX swaps in (also over websockets); a swapped-in
  // chart is a new div, so drawing whatever is not drawn yet is enough.
  document.addEventListener("htmx:load", function () { draw(document); });
})();
