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
    var printers = document.querySelectorAll("button[data-print]");
    Array.prototype.forEach.call(printers, function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
  });
})();
