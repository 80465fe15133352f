// optin: progressive enhancement only. Every form works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-autosubmit]");
    Array.prototype.forEach.call(forms, function (form) {
      var box = form.querySelector("input[type=checkbox]");
      if (!box || box.disabled) { return; }
      box.addEventListener("change", function () {
        var label = form.querySelector(".switch-label strong");
        if (label) { label.textContent = box.checked ? "On" : "Off"; }
        box.setAttribute("aria-busy", "true");
        form.submit();
      });
    });
    // leak audit: selecting characters of a record fills its "left" field
    var records = document.querySelectorAll("pre[data-record]");
    Array.prototype.forEach.call(records, function (pre) {
      pre.addEventListener("mouseup", function () {
        var sel = window.getSelection ? String(window.getSelection()) : "";
        var field = pre.parentNode.querySelector("input[data-span]");
        if (field && sel && pre.textContent.indexOf(sel) >= 0) { field.value = sel; }
      });
    });
    // a table wider than its box scrolls inside it: let the keyboard reach and scroll it
    var wraps = document.querySelectorAll(".table-wrap");
    var fit = function () {
      Array.prototype.forEach.call(wraps, function (w) {
        if (w.scrollWidth > w.clientWidth + 1) {
          w.tabIndex = 0;
          w.setAttribute("role", "region");
          if (!w.hasAttribute("aria-label")) {
            var t = w.querySelector("table");
            var cap = t && t.caption ? t.caption.textContent : "";
            w.setAttribute("aria-label", (cap || "Table") + " (scrolls sideways)");
          }
        } else if (w.getAttribute("role") === "region") {
          w.removeAttribute("tabindex");
          w.removeAttribute("role");
        }
      });
    };
    fit();
    window.addEventListener("resize", fit);
    var printers = document.querySelectorAll("button[data-print]");
    Array.prototype.forEach.call(printers, function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
  });
})();
