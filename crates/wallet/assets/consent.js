// The wallet's consent page: says which claims will be shared as the holder ticks and unticks
// them, and keeps a form from being sent twice. The page works without it.
"use strict";

function summarise(form) {
  const summary = form.querySelector(".summary");
  if (!summary) {
    return;
  }
  const shared = Array.from(form.querySelectorAll("li.claim"))
    .filter((item) => {
      const box = item.querySelector("input[type=checkbox]");
      return box && box.checked;
    })
    .map((item) => item.querySelector(".path").textContent);
  summary.textContent = shared.length
    ? "You will share: " + shared.join(", ")
    : "You will share no claim.";
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form.request")) {
    summarise(form);
    form.addEventListener("change", () => summarise(form));
    form.addEventListener("submit", () => {
      // After the browser has taken the submitter's formaction.
      setTimeout(() => {
        for (const button of form.querySelectorAll("button")) {
          button.disabled = true;
        }
      }, 0);
    });
  }
});
