// Lifecycle CRM reply inbox: keyboard shortcuts, drafts, saved replies and calm polling.
// Loaded on the inbox page only; the page works without it (links and form posts).
(function () {
  "use strict";

  var DRAFT_PREFIX = "inbox-draft:";
  var lastPoll = {};       // polled element id -> last response text (skip identical swaps)
  var queueScroll = null;  // queue scroll position kept across pane swaps
  var threadScroll = null; // {top, atBottom} kept across thread polls
  var openedFromQueue = false;
  var stacked = window.matchMedia("(max-width: 760px)"); // panes stack on a phone

  function byId(id) { return document.getElementById(id); }

  function isTyping(target) {
    if (!target || !target.closest) { return false; }
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  // --- Help overlay --------------------------------------------------------------------

  function helpOverlay() { return byId("inbox-help"); }

  function toggleHelp(show) {
    var help = helpOverlay();
    if (!help) { return; }
    var open = typeof show === "boolean" ? show : help.hidden;
    help.hidden = !open;
    if (open) {
      var close = help.querySelector("[data-inbox-help-close]");
      if (close) { close.focus(); }
    }
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-inbox-help-open]")) { toggleHelp(true); return; }
    if (event.target.closest("[data-inbox-help-close]") || event.target === helpOverlay()) {
      toggleHelp(false);
      return;
    }
    // Highlight the clicked row at once; the server's answer agrees.
    var row = event.target.closest("[data-conversation-row]");
    if (row && event.target.closest("a")) { select(row); openedFromQueue = true; }
  });

  // --- Queue navigation ----------------------------------------------------------------

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#inbox-queue [data-conversation-row]"));
  }

  function select(row) {
    rows().forEach(function (other) {
      other.classList.toggle("is-selected", other === row);
    });
  }

  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    var current = list.findIndex(function (row) { return row.classList.contains("is-selected"); });
    var index = current === -1 ? 0 : current + step;
    if (index < 0 || index >= list.length) { return; }
    var link = list[index].querySelector("a");
    list[index].scrollIntoView({ block: "nearest" });
    select(list[index]);
    if (link) { link.click(); }
  }

  function submit(form) {
    if (form) { form.requestSubmit(); }
  }

  document.addEventListener("keydown", function (event) {
    var reply = byId("inbox-reply-body");
    // Ctrl/Cmd + Enter sends from the reply box.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target === reply) {
      event.preventDefault();
      submit(reply.form);
      return;
    }
    if (event.key === "Escape") {
      var help = helpOverlay();
      if (help && !help.hidden) { toggleHelp(false); return; }
      if (isTyping(event.target)) { event.target.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) { return; }
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "e": submit(byId("inbox-resolve-form")); break;
      case "r":
        if (reply) { reply.focus(); } else { return; }
        break;
      case "/":
        var search = byId("inbox-search");
        if (search) { search.focus(); search.select(); } else { return; }
        break;
      case "?": toggleHelp(); break;
      default: return;
    }
    event.preventDefault();
  });

  // --- Drafts: a reply being typed survives polling, actions and switching threads -------

  // The conversation just answered loses its draft; the open one gets its draft back.
  function settleDrafts() {
    try {
      var inbox = byId("inbox");
      var sent = inbox && inbox.getAttribute("data-draft-clear");
      if (sent) {
        window.sessionStorage.removeItem(DRAFT_PREFIX + sent);
        inbox.removeAttribute("data-draft-clear");
      }
      var area = byId("inbox-reply-body");
      if (!area || area.value) { return; }
      var draft = window.sessionStorage.getItem(DRAFT_PREFIX + area.getAttribute("data-draft-key"));
      if (draft) {
        area.value = draft;
        area.dispatchEvent(new Event("input", { bubbles: true })); // update the counter
      }
    } catch (error) { /* storage unavailable: drafts just are not kept */ }
  }

  document.addEventListener("input", function (event) {
    var area = event.target;
    if (area.id !== "inbox-reply-body") { return; }
    try {
      var key = DRAFT_PREFIX + area.getAttribute("data-draft-key");
      if (area.value) { window.sessionStorage.setItem(key, area.value); }
      else { window.sessionStorage.removeItem(key); }
    } catch (error) { /* ignore */ }
  });

  // --- Saved replies -----------------------------------------------------------------

  document.addEventListener("change", function (event) {
    var picker = event.target.closest("select[data-saved-reply]");
    if (!picker || !picker.value) { return; }
    var area = document.querySelector(picker.getAttribute("data-saved-reply"));
    if (area) {
      var start = area.selectionStart, end = area.selectionEnd, text = picker.value;
      if (start > 0 && !/\s/.test(area.value.charAt(start - 1))) { text = " " + text; }
      area.value = area.value.slice(0, start) + text + area.value.slice(end);
      area.focus();
      area.setSelectionRange(start + text.length, start + text.length);
      area.dispatchEvent(new Event("input", { bubbles: true }));
    }
    picker.value = "";
  });

  // --- "/" in the reply box: saved replies by name ------------------------------------
  // "/" at the start of the box or after a space opens the list; what follows filters it by
  // name; arrows move, Enter or Tab (or a click) puts the reply in place of "/name", Esc closes.

  var SLASH_TOKEN = /(^|\s)\/([^\s\/]*)$/;

  function slashMenu() { return byId("inbox-slash-menu"); }

  function slashOptions(menu) {
    return Array.prototype.slice.call(menu.querySelectorAll("[role=option]")).filter(function (option) {
      return !option.hidden;
    });
  }

  function slashToken(area) {
    if (area.selectionStart !== area.selectionEnd) { return null; }
    var match = SLASH_TOKEN.exec(area.value.slice(0, area.selectionStart));
    if (!match) { return null; }
    return { start: area.selectionStart - match[2].length - 1, query: match[2].toLowerCase() };
  }

  function slashClose(area) {
    var menu = slashMenu();
    if (menu) { menu.hidden = true; }
    if (area) { area.removeAttribute("aria-activedescendant"); }
  }

  function slashActivate(area, menu, option) {
    menu.querySelectorAll("[role=option]").forEach(function (other) {
      other.setAttribute("aria-selected", other === option ? "true" : "false");
    });
    if (option) {
      area.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      area.removeAttribute("aria-activedescendant");
    }
  }

  function slashUpdate(area) {
    var menu = slashMenu();
    if (!menu) { return; }
    var token = slashToken(area);
    if (!token) { slashClose(area); return; }
    var shown = 0;
    menu.querySelectorAll("[role=option]").forEach(function (option) {
      option.hidden = option.getAttribute("data-name").indexOf(token.query) === -1;
      if (!option.hidden) { shown += 1; }
    });
    menu.querySelector(".inbox-slash-none").hidden = shown > 0;
    menu.hidden = false;
    slashActivate(area, menu, slashOptions(menu)[0] || null);
  }

  function slashInsert(area, option) {
    var token = slashToken(area);
    if (!token) { slashClose(area); return; }
    var text = option.getAttribute("data-body");
    var end = area.selectionStart;
    area.value = area.value.slice(0, token.start) + text + area.value.slice(end);
    var caret = token.start + text.length;
    area.focus();
    area.setSelectionRange(caret, caret);
    slashClose(area);
    area.dispatchEvent(new Event("input", { bubbles: true })); // counter and draft
  }

  document.addEventListener("input", function (event) {
    if (event.target.id === "inbox-reply-body") { slashUpdate(event.target); }
  });

  // Capture phase: ahead of the page's shortcuts (Esc would otherwise leave the box).
  document.addEventListener("keydown", function (event) {
    var area = event.target;
    var menu = slashMenu();
    if (area.id !== "inbox-reply-body" || !menu || menu.hidden) { return; }
    var options = slashOptions(menu);
    var current = options.findIndex(function (option) { return option.getAttribute("aria-selected") === "true"; });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!options.length) { return; }
      var step = event.key === "ArrowDown" ? 1 : -1;
      slashActivate(area, menu, options[(current + step + options.length) % options.length]);
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      if (current === -1) { return; }
      slashInsert(area, options[current]);
    } else if (event.key === "Escape") {
      slashClose(area);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);

  // Keep the caret in the box while picking with the mouse.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest("#inbox-slash-menu")) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    var option = event.target.closest("#inbox-slash-menu [role=option]");
    var area = byId("inbox-reply-body");
    if (option && area) { slashInsert(area, option); }
  });

  document.addEventListener("focusout", function (event) {
    if (event.target.id === "inbox-reply-body") { slashClose(event.target); }
  });

  document.addEventListener("keyup", function (event) {
    // Moving the caret with the arrows or Home/End out of "/name" closes the list.
    if (event.target.id === "inbox-reply-body" && /^(ArrowLeft|ArrowRight|Home|End)$/.test(event.key)) {
      slashUpdate(event.target);
    }
  });

  // --- Swaps ----------------------------------------------------------------------------

  function scrollThreadToEnd() {
    var thread = byId("inbox-messages");
    if (thread) { thread.scrollTop = thread.scrollHeight; }
  }

  // No polling from a tab nobody looks at; it catches up within seconds of being shown.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.detail.elt.hasAttribute("data-poll")) { event.preventDefault(); }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var xhr = event.detail.xhr;
    if (!target) { return; }
    // (Refused actions answer 4xx with the panes; app.js lets htmx swap those.)
    if (target.hasAttribute("data-poll")) {
      // Nothing changed: keep the DOM (and the agent's text selection, focus and scroll).
      if (xhr.status !== 200 || lastPoll[target.id] === xhr.responseText) {
        event.detail.shouldSwap = false;
        return;
      }
      lastPoll[target.id] = xhr.responseText;
      if (target.id === "inbox-messages") {
        threadScroll = {
          top: target.scrollTop,
          atBottom: target.scrollHeight - target.scrollTop - target.clientHeight < 40,
        };
      }
    }
    if (target.id === "inbox") {
      var scroller = byId("inbox-queue-scroll");
      queueScroll = scroller ? scroller.scrollTop : null;
      lastPoll = {};
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) { return; }
    if (target.id === "inbox") {
      var scroller = byId("inbox-queue-scroll");
      if (scroller && queueScroll !== null) { scroller.scrollTop = queueScroll; }
      var selected = document.querySelector("#inbox-queue .is-selected");
      if (selected) { selected.scrollIntoView({ block: "nearest" }); }
      scrollThreadToEnd();
      // On a phone the thread is under the queue: bring it into view once picked.
      var thread = byId("inbox-thread");
      if (openedFromQueue && stacked.matches && thread) { thread.scrollIntoView({ block: "start" }); }
      openedFromQueue = false;
    }
  });

  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    if (element.id === "inbox-messages" && threadScroll) {
      element.scrollTop = threadScroll.atBottom ? element.scrollHeight : threadScroll.top;
      threadScroll = null;
    }
    settleDrafts();
  });

  document.addEventListener("DOMContentLoaded", function () {
    scrollThreadToEnd();
    settleDrafts();
    var selected = document.querySelector("#inbox-queue .is-selected");
    if (selected) { selected.scrollIntoView({ block: "nearest" }); }
  });
})();
