/* Keyboard review for the focus view. An external file: the Content-Security-Policy allows
   scripts from 'self' only, so no inline handlers, no hx-on, no eval.

   a accept · r reject (then 1–9 picks a reason, Enter rejects, Esc closes) · e edit
   (Ctrl+Enter runs, Esc closes) · s skip · u undo · x swap a DPO pair · 1–5 rating · ? help
   Enter accepts and Backspace opens the reject panel, as in Argilla's focus view ("Enter
   submits, Backspace discards"), when no panel is open and no field or button has focus.

   Every key clicks a real button of the server-rendered forms, so mouse, keyboard and
   no-JavaScript all take the same path; htmx swaps the next item into #focus. */
(function () {
  "use strict";

  var busy = false;

  function root() { return document.getElementById("focus"); }

  function isTyping(el) {
    if (!el) { return false; }
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { return true; }
    if (el.tagName !== "INPUT") { return false; }
    return ["radio", "checkbox", "button", "submit", "reset"].indexOf(el.type) === -1;
  }

  function click(selector) {
    var el = root() && root().querySelector(selector);
    if (el && !el.disabled) { el.click(); return true; }
    return false;
  }

  // A focused button, link or summary answers Enter itself; the Argilla keys stay out of its way.
  function isControl(el) {
    return !!(el && el.closest && el.closest("button, a[href], summary"));
  }

  function anyPanelOpen() { return !!(root() && root().querySelector("details[data-panel][open]")); }

  function panel(name) { return root() && root().querySelector("details[data-panel='" + name + "']"); }

  function closePanels() {
    var open = root() ? root().querySelectorAll("details[data-panel][open]") : [];
    for (var i = 0; i < open.length; i++) { open[i].open = false; }
  }

  function openPanel(name) {
    var details = panel(name);
    if (!details) { return false; }
    closePanels();
    details.open = true;
    var first = details.querySelector("[data-autofocus]") || details.querySelector("input, textarea, button");
    if (first) { first.focus(); }
    return true;
  }

  function setRating(n) {
    var radio = root() && root().querySelector("input[name='rating'][value='" + n + "']");
    if (!radio) { return false; }
    radio.checked = true;
    syncRating();
    return true;
  }

  function syncRating() {
    if (!root()) { return; }
    var checked = root().querySelector("input[name='rating']:checked");
    var hidden = root().querySelectorAll("input[data-rating-copy]");
    for (var i = 0; i < hidden.length; i++) { hidden[i].value = checked ? checked.value : ""; }
  }

  function pickReason(n) {
    var reasons = panel("reject").querySelectorAll("input[name='reason']");
    if (n >= 1 && n <= reasons.length) {
      reasons[n - 1].checked = true;
      reasons[n - 1].focus();
      return true;
    }
    return false;
  }

  function toggleHelp() {
    var help = document.getElementById("help");
    if (!help) { return; }
    if (help.open) { help.close(); } else { help.showModal(); }
  }

  document.addEventListener("keydown", function (e) {
    if (!root() || e.altKey || e.repeat) { return; }
    var help = document.getElementById("help");
    if (help && help.open) {
      if (e.key === "?" || e.key === "Escape") { e.preventDefault(); help.close(); }
      return;
    }
    var reject = panel("reject");
    var edit = panel("edit");
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && edit && edit.open) {
      e.preventDefault();
      click("[data-run-edit]");
      return;
    }
    if (e.ctrlKey || e.metaKey) { return; }
    if (e.key === "Escape" && (reject && reject.open || edit && edit.open)) {
      e.preventDefault();
      closePanels();
      if (document.activeElement) { document.activeElement.blur(); }
      return;
    }
    if (isTyping(e.target)) { return; }  // the comment box and the code editor keep their keys
    if (busy) { e.preventDefault(); return; }
    if (reject && reject.open) {
      if (/^[1-9]$/.test(e.key)) { e.preventDefault(); pickReason(parseInt(e.key, 10)); return; }
      if (e.key === "Enter") { e.preventDefault(); click("[data-submit-reject]"); return; }
    }
    if ((e.key === "Enter" || e.key === "Backspace") && !anyPanelOpen() && !isControl(e.target)) {
      // A reject needs a reason: Backspace opens the picker rather than rejecting outright.
      var done = e.key === "Enter" ? click("[data-key='a']") : openPanel("reject");
      if (done) { e.preventDefault(); }
      return;
    }
    var handled = true;
    switch (e.key) {
      case "a": handled = click("[data-key='a']"); break;
      case "r": handled = openPanel("reject"); break;
      case "e": handled = openPanel("edit"); break;
      case "s": handled = click("[data-key='s']"); break;
      case "u": handled = click("[data-key='u']"); break;
      case "x": handled = click("[data-key='x']"); break;
      case "?": toggleHelp(); break;
      case "1": case "2": case "3": case "4": case "5": handled = setRating(e.key); break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); }
  });

  // The help's Close button has focus while the dialog is open, and the browser moves focus
  // away from it only at its next rendering after the dialog closes: a key pressed in
  // between (Enter, to accept) would go to that hidden button and do nothing. Close events
  // do not bubble, hence the capture.
  document.addEventListener("close", function (e) {
    if (e.target && e.target.id === "help" && e.target.contains(document.activeElement)) {
      document.activeElement.blur();
    }
  }, true);

  document.addEventListener("change", function (e) {
    if (e.target && e.target.name === "rating") { syncRating(); }
  });

  document.addEventListener("click", function (e) {
    var target = e.target && e.target.closest ? e.target.closest("[data-help]") : null;
    if (target) { e.preventDefault(); toggleHelp(); }
  });

  // One decision in flight at a time: a second key press while the first is on its way
  // would act on an item that is about to be replaced. Keys stay blocked until the new item
  // has settled: before htmx has processed its forms, a click would submit them natively
  // (a full page load, and the decision made outside htmx).
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (root() && root().contains(e.target)) { busy = true; }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!e.detail || !e.detail.successful) { busy = false; }  // nothing will be swapped in
  });
  ["htmx:sendError", "htmx:responseError", "htmx:swapError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () { busy = false; });
  });
  document.addEventListener("htmx:afterSettle", function () {
    busy = false;
    var focus = root();
    if (!focus) { return; }
    syncRating();
    var bar = focus.querySelector(".actionbar");
    if (bar && bar.getBoundingClientRect().top < 0) { focus.scrollIntoView({block: "start"}); }
    if (document.activeElement && document.activeElement !== document.body && !focus.contains(document.activeElement)) {
      document.activeElement.blur();
    }
  });
})();
