// The runbook page's steps: show only the parameters of each step's chosen action, the
// outcomes only for guards that take them, and offer as outcomes the options of the
// question before each step as the author types them. Without this script every
// action's parameters show under their own heading, outcomes are offered as the server
// last saw the question, and the form still saves (only the chosen action's are read).
(function () {
  "use strict";
  const GUARDS_WITH_OUTCOMES = ["answer_in", "answer_not_in"];
  // Outcomes every question has besides its options (runbooks.outcomes.SPECIAL_OUTCOMES).
  const SPECIAL_OUTCOMES = [
    "unrecognised", "no_answer", "undeliverable", "suspicious", "no_target", "out_of_office",
  ];
  document.documentElement.classList.add("step-forms-js");

  function update(row) {
    if (!row) {
      return;
    }
    const action = row.querySelector("select.step-action");
    const chosen = action ? "step-params-" + action.value : "";
    row.querySelectorAll("fieldset.step-params").forEach(function (fieldset) {
      fieldset.hidden = !fieldset.classList.contains(chosen);
    });
    const guard = row.querySelector("select.step-guard");
    const outcomes = row.querySelector(".fieldBox.field-guard_outcomes");
    if (guard && outcomes) {
      outcomes.hidden = GUARDS_WITH_OUTCOMES.indexOf(guard.value) < 0;
    }
  }

  function steps() {
    const rows = Array.from(document.querySelectorAll(".inline-related:not(.empty-form)"))
      .filter(function (row) {
        const deleted = row.querySelector("input[name$='-DELETE']");
        return row.querySelector("select.step-action") && !(deleted && deleted.checked);
      });
    const position = function (row) {
      const value = parseInt((row.querySelector("input[name$='-position']") || {}).value, 10);
      return isNaN(value) ? Number.MAX_SAFE_INTEGER : value;
    };
    return rows
      .map(function (row, index) { return { row: row, index: index, at: position(row) }; })
      .sort(function (a, b) { return a.at - b.at || a.index - b.index; })
      .map(function (item) { return item.row; });
  }

  function optionsOf(row) {
    const fieldset = row.querySelector("fieldset.step-params-ask_user");
    const options = [];
    if (!fieldset) {
      return options;
    }
    fieldset.querySelectorAll("table.step-options tbody tr").forEach(function (tr) {
      const inputs = tr.querySelectorAll("input");
      const key = inputs[0] ? inputs[0].value.trim() : "";
      if (key) {
        options.push({ key: key, label: (inputs[1] ? inputs[1].value.trim() : "") || key });
      }
    });
    return options;
  }

  function offer(row, options) {
    const box = row.querySelector(".fieldBox.field-guard_outcomes div[id]");
    const first = box && box.querySelector("input[type=checkbox]");
    if (!first) {
      return;
    }
    const checked = Array.from(box.querySelectorAll("input:checked")).map(function (i) {
      return i.value;
    });
    const special = Array.from(box.children).filter(function (item) {
      const input = item.querySelector("input");
      return input && SPECIAL_OUTCOMES.indexOf(input.value) >= 0;
    });
    const offered = options.map(function (o) { return { value: o.key, text: o.label + " (" + o.key + ")" }; });
    const keys = options.map(function (o) { return o.key; }).concat(SPECIAL_OUTCOMES);
    checked.forEach(function (value) {
      if (keys.indexOf(value) < 0) {
        offered.push({ value: value, text: value + " (not an option)" });
      }
    });
    Array.from(box.children).forEach(function (item) {
      if (special.indexOf(item) < 0) {
        item.remove();
      }
    });
    offered.forEach(function (choice, index) {
      const item = document.createElement("div");
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = first.name;
      input.value = choice.value;
      input.id = box.id + "_option_" + index;
      input.checked = checked.indexOf(choice.value) >= 0;
      label.htmlFor = input.id;
      label.append(input, " " + choice.text);
      item.append(label);
      box.insertBefore(item, special[0] || null);
    });
  }

  function refreshOutcomes() {
    let options = null;
    steps().forEach(function (row) {
      if (options !== null) {
        offer(row, options);
      }
      const action = row.querySelector("select.step-action");
      if (action && action.value === "ask_user") {
        options = optionsOf(row);
      }
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("select.step-action, select.step-guard")) {
      update(event.target.closest(".inline-related"));
    }
    if (event.target.matches("select.step-action, input[name$='-position'], input[name$='-DELETE']")) {
      refreshOutcomes();
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target.closest("table.step-options")) {
      refreshOutcomes();
    }
  });
  document.addEventListener("formset:added", function (event) {
    update(event.target);
    refreshOutcomes();
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".inline-related").forEach(update);
  });
})();
