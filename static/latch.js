// Latch: progressive enhancement only. Every page works without this file.
//
// <button type="button" data-copy="some-id">Copy</button> copies the text of #some-id
// (or its value, for inputs) to the clipboard and says "Copied" for a moment.
(function () {
  "use strict";

  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "copy-buffer";
    ta.setAttribute("aria-hidden", "true");
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  // The text that changes: a `.copy-label` inside the button (which may also hold an icon),
  // or the whole button.
  function flash(button, label, copied) {
    var target = button.querySelector(".copy-label") || button;
    if (!target.hasAttribute("data-label")) {
      target.setAttribute("data-label", target.textContent);
    }
    target.textContent = label;
    if (copied) button.setAttribute("data-copied", "");
    clearTimeout(button._latchTimer);
    button._latchTimer = setTimeout(function () {
      target.textContent = target.getAttribute("data-label");
      button.removeAttribute("data-copied");
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    event.preventDefault();
    var text = "value" in source && typeof source.value === "string" && source.tagName !== "BUTTON"
      ? source.value
      : source.textContent;
    copyText(text.trim()).then(
      function () { flash(button, "Copied", true); },
      function () {
        var mac = /Mac|iPhone|iPad/.test(navigator.platform || "");
        flash(button, mac ? "Press \u2318C" : "Press Ctrl+C", false);
        selectContents(source);
      }
    );
  });

  function selectContents(el) {
    if (typeof el.select === "function") { el.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // On a phone the dashboard nav is one scrollable row: bring the current page's link into view.
  var nav = document.querySelector(".dash-nav");
  var current = nav && nav.querySelector("[aria-current='page']");
  if (current && nav.scrollWidth > nav.clientWidth) {
    var offset = current.getBoundingClientRect().left - nav.getBoundingClientRect().left;
    nav.scrollLeft += offset - 16;
  }

  // Buttons are announced politely when their label changes to "Copied".
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.setAttribute("aria-live", "polite");
  });
})();
