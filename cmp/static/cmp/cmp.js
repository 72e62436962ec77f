// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Phone navigation: the menu button opens and closes the collapsed top bar.
  var topbar = document.querySelector("[data-topbar]");
  var toggle = document.querySelector("[data-nav-toggle]");
  if (topbar && toggle) {
    toggle.addEventListener("click", function () {
      var open = topbar.classList.toggle("is-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  // Close an open dropdown menu when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });
  // Forms with data-confirm ask before a destructive action.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
