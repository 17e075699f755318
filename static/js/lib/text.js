// The words a script shows come from the page, rendered by the template in the visitor's
// language (Flask-Babel): data-text-<key> attributes on an element. No script holds words of
// its own, and what people wrote only ever reaches the page as text.

// text = textFrom(element); text("send-failed") -> the element's data-text-send-failed, or "".
export function textFrom(element) {
  return function text(key) { return element.getAttribute("data-text-" + key) || ""; };
}

// format("{count} watching", {count: 3}): one pass with a function, so a value holding
// "{name}" or "$&" is inserted as it is.
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, function (whole, key) {
    return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
  });
}
