// The runbook page's steps: show only the parameters of each step's chosen action, and
// the outcomes only for guards that take them. Without this script every action's
// parameters show under their own heading and the form still saves (only the chosen
// action's are read), so it only tidies the page.
(function () {
  "use strict";
  const GUARDS_WITH_OUTCOMES = ["answer_in", "answer_not_in"];
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

  document.addEventListener("change", function (event) {
    if (event.target.matches("select.step-action, select.step-guard")) {
      update(event.target.closest(".inline-related"));
    }
  });
  document.addEventListener("formset:added", function (event) {
    update(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".inline-related").forEach(update);
  });
})();
