// The buyer's agent workspace: copy buttons, the colour picker next to the hex field, and the current tab
// scrolled into view on a narrow screen. Pages work without it.
(function () {
  "use strict";
  // On a phone the tab bar scrolls sideways: show the page's own tab, not always the first ones.
  document.querySelectorAll(".tabs").forEach(function (tabs) {
    var active = tabs.querySelector(".tab.is-active");
    if (active && tabs.scrollWidth > tabs.clientWidth) {
      tabs.scrollLeft = active.offsetLeft - (tabs.clientWidth - active.offsetWidth) / 2;
    }
  });
  // Copy buttons: <button data-copy="ID" hidden> copies the value of the field with that id.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
      } else {
        field.select();
        try { if (document.execCommand("copy")) done(); } catch (error) { /* the text stays selected */ }
      }
    });
  });
  // Colour picker: shown next to the #RRGGBB field and kept in step with it both ways.
  document.querySelectorAll("input[type=color][data-colour-for]").forEach(function (picker) {
    var text = document.getElementById(picker.getAttribute("data-colour-for"));
    if (!text) return;
    picker.hidden = false;
    picker.addEventListener("input", function () { text.value = picker.value.toUpperCase(); });
    text.addEventListener("input", function () {
      if (/^#[0-9A-Fa-f]{6}$/.test(text.value.trim())) picker.value = text.value.trim().toLowerCase();
    });
  });
})();
