// Asking our own JSON API.

// getJson(url, options): the answer's body, or null for an answer that is not a success.
// Rejects when the network fails; callers try again at their next round.
export function getJson(url, options) {
  const settings = Object.assign({ headers: { Accept: "application/json" } }, options || {});
  return fetch(url, settings).then(function (response) { return response.ok ? response.json() : null; });
}

// whileVisible(interval, update): update() every `interval` ms, skipped while the tab is
// hidden (nobody is looking; the server is spared).
export function whileVisible(interval, update) {
  return window.setInterval(function () { if (!document.hidden) { update(); } }, interval);
}
