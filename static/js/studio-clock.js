// A steady clock for the studio's canvas (static/js/studio.js). Timers in a worker keep
// their pace when the studio tab is hidden (the speaker switched to their slides), where the
// page's own timers and animation frames slow to once a second.
let timer = null;
self.onmessage = function (event) {
  if (timer !== null) { clearInterval(timer); }
  timer = setInterval(function () { self.postMessage(0); }, Number(event.data) || 33);
};
