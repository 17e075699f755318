// "Copy link": shown only when the browser can copy; the result is announced politely.
document.querySelectorAll("[data-copy-target]").forEach(function (button) {
  if (!navigator.clipboard) { return; }
  const input = document.getElementById(button.getAttribute("data-copy-target"));
  const status = button.parentElement.querySelector(".copy-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(input.value).then(function () {
      status.textContent = status.getAttribute("data-copied-text");
    }, function () {
      input.select();
      status.textContent = status.getAttribute("data-failed-text");
    });
  });
});
