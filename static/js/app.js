// Lifecycle CRM: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // The small-screen menu folds only when this file runs: without it the menu stays open.
  document.documentElement.classList.add("js");

  function setMenu(toggle, open) {
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (menu) { menu.classList.toggle("is-open", open); }
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".nav-toggle");
    if (toggle) { setMenu(toggle, toggle.getAttribute("aria-expanded") !== "true"); }
  });
  document.addEventListener("keydown", function (event) {
    var toggle = document.querySelector('.nav-toggle[aria-expanded="true"]');
    if (event.key === "Escape" && toggle) {
      setMenu(toggle, false);
      toggle.focus();
    }
  });

  // Deal board: a card dropped on another stage's column is moved by its own "Move to" form
  // (the same CSRF-protected endpoint and service as the keyboard path; htmx swaps the board).
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".deal-card[draggable]");
    if (!card) { return; }
    dragged = card;
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-deal-id"));
  });
  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("is-dragging"); }
    dragged = null;
    document.querySelectorAll(".board-column.is-drop-target").forEach(function (column) {
      column.classList.remove("is-drop-target");
    });
  });
  document.addEventListener("dragover", function (event) {
    var column = dragged && event.target.closest && event.target.closest(".board-column[data-stage-id]");
    if (!column) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("is-drop-target");
  });
  document.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".board-column[data-stage-id]");
    if (column && !column.contains(event.relatedTarget)) { column.classList.remove("is-drop-target"); }
  });
  document.addEventListener("drop", function (event) {
    var column = dragged && event.target.closest && event.target.closest(".board-column[data-stage-id]");
    if (!column) { return; }
    event.preventDefault();
    var form = dragged.querySelector("form.deal-move");
    var select = form && form.querySelector("select[name=stage]");
    var stage = column.getAttribute("data-stage-id");
    if (select && select.value !== stage) {
      select.value = stage;
      form.requestSubmit();
    }
  });

  // Selects marked data-autosubmit submit their form on change (the board's stage move).
  // requestSubmit() fires the submit event, so htmx handles forms that carry hx-post.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) {
      select.form.requestSubmit();
    }
  });

  // Forms marked data-confirm ask before submitting (revoking an API key).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", function (event) {
    // Dismiss a flash message.
    var close = event.target.closest("[data-dismiss]");
    if (close) {
      var alert = close.closest(".alert");
      if (alert) {
        alert.remove();
      }
      return;
    }
    // Copy the text of the element a data-copy button points to (a new API key).
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "Copied";
        });
      }
    }
  });

  // The play editor shows only the parameters of the chosen trigger type: each parameter's
  // wrapper lists the types using it in data-trigger-types (from the trigger registry).
  function showTriggerParams(select) {
    var form = select.closest("form");
    if (!form) { return; }
    form.querySelectorAll(".trigger-param[data-trigger-types]").forEach(function (param) {
      var types = param.getAttribute("data-trigger-types").split(" ");
      param.hidden = types.indexOf(select.value) === -1;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("#id_trigger_type")) { showTriggerParams(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_trigger_type");
    if (select) { showTriggerParams(select); }
  });

  // Live SMS segment counter for textareas marked data-segment-counter. The GSM-7 character
  // sets come from the server (sms/segments.py) so both sides count the same way.
  function countSegments(text, basic, extended) {
    var chars = Array.from(text);
    var gsm = chars.every(function (ch) { return basic.has(ch) || extended.has(ch); });
    var single = gsm ? 160 : 70;
    var multi = gsm ? 153 : 67;
    var costs = chars.map(function (ch) {
      if (gsm) { return extended.has(ch) ? 2 : 1; }
      return ch.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var segments = units === 0 ? 0 : 1;
    if (units > single) {
      var used = 0;
      costs.forEach(function (cost) {
        if (used + cost > multi) { segments += 1; used = 0; }
        used += cost;
      });
    }
    return { encoding: gsm ? "GSM-7" : "UCS-2", segments: segments, characters: chars.length };
  }

  function updateCounter(area) {
    var target = document.querySelector(area.getAttribute("data-segment-counter"));
    if (!target) { return; }
    var basic = new Set(Array.from(area.getAttribute("data-gsm-basic") || ""));
    var extended = new Set(Array.from(area.getAttribute("data-gsm-extended") || ""));
    var info = countSegments(area.value, basic, extended);
    target.textContent = info.characters + " characters · " + info.segments + " segment" +
      (info.segments === 1 ? "" : "s") + " · " + info.encoding;
  }

  // Our partials answer refused actions with 400/409/422 and a re-rendered pane that says why;
  // htmx 2 does not swap error responses by default, so let those through.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.matches("textarea[data-segment-counter]")) { updateCounter(event.target); }
  });
  document.addEventListener("htmx:load", function (event) {
    event.target.querySelectorAll("textarea[data-segment-counter]").forEach(updateCounter);
  });
  // The global search box: "/" or Ctrl/Cmd+K focuses it from anywhere but a text field;
  // Escape empties the results; ArrowDown moves into them.
  function typingInField(target) {
    return target.closest("input, textarea, select, [contenteditable='true']") !== null;
  }
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("global-search");
    if (!box) { return; }
    var shortcut = (event.key === "/" && !typingInField(event.target)) ||
      ((event.ctrlKey || event.metaKey) && (event.key === "k" || event.key === "K"));
    if (shortcut) {
      event.preventDefault();
      box.focus();
      box.select();
      return;
    }
    var results = document.getElementById("global-search-results");
    if (event.key === "Escape" && results && event.target.closest(".globalsearch")) {
      results.innerHTML = "";
      box.blur();
    } else if (event.key === "ArrowDown" && event.target === box && results) {
      var first = results.querySelector("a");
      if (first) { event.preventDefault(); first.focus(); }
    }
  });
  // Searchable pickers (crm.forms.SearchPicker): typing lists matches from the server; a
  // chosen match fills the hidden input with its id. Clearing the text clears the choice.
  var pickerTimer = null;
  function pickerOptions(picker, text) {
    var list = picker.querySelector(".picker-options");
    var url = picker.getAttribute("data-picker-url") + "?q=" + encodeURIComponent(text);
    htmx.ajax("GET", url, { target: list, swap: "innerHTML" }).then(function () {
      picker.querySelector("[data-picker-text]").setAttribute("aria-expanded", "true");
    });
  }
  function closePicker(picker) {
    picker.querySelector(".picker-options").innerHTML = "";
    picker.querySelector("[data-picker-text]").setAttribute("aria-expanded", "false");
  }
  document.addEventListener("input", function (event) {
    var text = event.target.closest("[data-picker-text]");
    if (!text) { return; }
    var picker = text.closest("[data-picker]");
    if (text.value.trim() === "") { picker.querySelector("[data-picker-value]").value = ""; }
    clearTimeout(pickerTimer);
    pickerTimer = setTimeout(function () { pickerOptions(picker, text.value); }, 200);
  });
  document.addEventListener("focusin", function (event) {
    var text = event.target.closest("[data-picker-text]");
    if (text && text.value === "") { pickerOptions(text.closest("[data-picker]"), ""); }
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-pick-value]");
    if (option) {
      var picker = option.closest("[data-picker]");
      picker.querySelector("[data-picker-value]").value = option.getAttribute("data-pick-value");
      var text = picker.querySelector("[data-picker-text]");
      text.value = option.getAttribute("data-pick-label");
      closePicker(picker);
      text.focus();
      return;
    }
    document.querySelectorAll("[data-picker]").forEach(function (picker) {
      if (!picker.contains(event.target)) { closePicker(picker); }
    });
  });
  document.addEventListener("keydown", function (event) {
    var picker = event.target.closest("[data-picker]");
    if (!picker) { return; }
    var options = Array.from(picker.querySelectorAll("[data-pick-value]"));
    var at = options.indexOf(event.target);
    if (event.key === "ArrowDown" && options.length) {
      event.preventDefault();
      options[Math.min(at + 1, options.length - 1)].focus();
    } else if (event.key === "ArrowUp" && at >= 0) {
      event.preventDefault();
      if (at === 0) { picker.querySelector("[data-picker-text]").focus(); } else { options[at - 1].focus(); }
    } else if (event.key === "Escape") {
      closePicker(picker);
      picker.querySelector("[data-picker-text]").focus();
    } else if (event.key === "Enter" && event.target.matches("[data-picker-text]") && options.length === 1) {
      event.preventDefault();  // one match: Enter picks it instead of submitting the form
      options[0].click();
    }
  });
  // Lists: the header checkbox ticks every row of the page.
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) { return; }
    var form = all.closest("form");
    form.querySelectorAll("input[name='ids']").forEach(function (box) { box.checked = all.checked; });
  });
  window.lifecycleCountSegments = countSegments;
})();
