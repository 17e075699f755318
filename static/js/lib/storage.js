// This browser's own settings (localStorage). Private modes and blocked storage throw: the
// setting then lasts for this page only.

export function readStored(key, fallback) {
  try { return window.localStorage.getItem(key) || fallback; } catch (error) { return fallback; }
}

export function store(key, value) {
  try { window.localStorage.setItem(key, value); } catch (error) { /* kept for this page only */ }
}
