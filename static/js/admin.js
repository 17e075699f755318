// The admin works without JavaScript; this only helps keyboard users. After a programme
// move the page reloads at #move-<talk>-<direction>: put the focus back on that button so
// pressing Enter again moves the same talk again.
(function () {
  "use strict";
  var id = decodeURIComponent(window.location.hash.slice(1));
  if (!id) return;
  var target = document.getElementById(id);
  if (target && target.tagName === "BUTTON") {
    if (target.disabled) {
      // Moved to the end: the other direction's button of the same talk is the next best place.
      var other = document.getElementById(id.replace(/-(up|down)$/, function (_, d) { return d === "up" ? "-down" : "-up"; }));
      if (other && !other.disabled) target = other;
    }
    target.focus();
  }
})();
