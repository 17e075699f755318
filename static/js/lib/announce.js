// Status lines for screen readers (role=status / aria-live=polite): a live region speaks when
// its text changes, so these write only what should be heard, once.

// say(region, message): writes the message only when it differs from what the region shows,
// so the same state pushed again is not spoken again.
export function say(region, message) {
  if (region.textContent !== message) { region.textContent = message; }
}

// sayAgain(region, message): the message is spoken even when it is the same words as the last
// one (a no-break space makes it a change: two people writing "Yes" are two announcements).
export function sayAgain(region, message) {
  region.textContent = message === region.textContent ? message + "\u00a0" : message;
}

// paced(interval, gather, speak): a function that asks for speak() to be called, at most once
// every `interval` ms and never sooner than `gather` ms after the first ask, so that a burst
// is summarised in one announcement (WCAG 4.1.3 without flooding). Asks while one is waiting
// are the same announcement.
export function paced(interval, gather, speak) {
  let timer = null;
  let last = -Infinity;
  return function ask() {
    if (timer !== null) { return; }
    const wait = Math.max(gather, last + interval - window.performance.now());
    timer = window.setTimeout(function () {
      timer = null;
      last = window.performance.now();
      speak();
    }, wait);
  };
}
