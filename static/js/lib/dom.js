// Small DOM helpers shared by the pages' modules.

// findAll(selector, root): the matches as an array (root: the document when left out).
export function findAll(selector, root) {
  return Array.from((root || document).querySelectorAll(selector));
}

// afterDeferredScripts(start): runs start once every deferred script has run. A module that
// stands in the page before a vendor classic script it reads (Socket.IO's `io`, in the live
// panel further down) runs before that script; DOMContentLoaded comes after all of them.
export function afterDeferredScripts(start) {
  document.addEventListener("DOMContentLoaded", start);
}

// playQuietly(video): play, and leave it paused where the browser refuses to play by itself
// (autoplay rules): the viewer presses play.
export function playQuietly(video) {
  const playing = video.play();
  if (playing && playing.catch) { playing.catch(function () { /* the viewer presses play */ }); }
  return playing;
}
