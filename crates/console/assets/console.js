// Keygate console: the few things HTML cannot do alone. No inline script anywhere, so
// the Content-Security-Policy holds.
// - `data-copy="ID"` buttons put the value of the field ID on the clipboard and say
//   so in the nearest `[data-copy-status]`.
"use strict";

(function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copy);
      var dialog = button.closest("dialog") || document;
      var status = dialog.querySelector("[data-copy-status]");
      var label = button.closest("[role=group]");
      var what = label ? label.getAttribute("aria-label") : "Value";
      navigator.clipboard.writeText(field.value).then(
        function () {
          if (status) status.textContent = what + " copied to the clipboard.";
        },
        function () {
          field.select();
          if (status) status.textContent = "Copying failed: select the text and copy it yourself.";
        }
      );
    });
  });
})();
