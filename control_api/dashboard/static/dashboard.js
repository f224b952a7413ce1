// The dashboard's only script: the browser's time zone for the date filters, local times, and the
// job page's live progress. Every page works without it, minus those.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // GET /v1/jobs semantics: tzOffset is Date.getTimezoneOffset(), minutes to add to local time for UTC.
  document.querySelectorAll("[data-timezone-offset]").forEach(function (input) {
    input.value = String(new Date().getTimezoneOffset());
  });

  document.querySelectorAll("time[data-local]").forEach(function (element) {
    var date = new Date(element.getAttribute("datetime"));
    if (!isNaN(date)) {
      element.title = element.textContent;
      element.textContent = date.toLocaleString([], {dateStyle: "medium", timeStyle: "short"});
    }
  });

  var live = document.getElementById("live");
  if (live && live.dataset.pollUrl) {
    pollProgress(live, live.dataset.pollUrl, live.dataset.terminal.split(","));
  }
});

function pollProgress(section, url, terminal) {
  var bar = document.getElementById("job-progress");
  function field(name) {
    return section.querySelector('[data-field="' + name + '"]');
  }
  function show(job) {
    var percentage = job.progress.percentage;
    bar.value = percentage;
    bar.setAttribute("aria-valuetext", percentage + " %");
    bar.textContent = percentage + " %";
    field("percentage").textContent = percentage + " %";
    field("status").textContent = job.status;
    ["total_tasks", "completed_tasks", "failed_tasks", "skipped_tasks"].forEach(function (name) {
      field(name).textContent = job.progress[name];
    });
    document.querySelectorAll("[data-status-badge]").forEach(function (badge) {
      badge.textContent = job.status;
      badge.className = "badge badge-" + job.status;
    });
  }
  function tick() {
    fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("progress answered " + response.status);
        }
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (terminal.indexOf(job.status) >= 0) {
          // The results (issues, charts) are drawn by the server: load them now the crawl is over.
          section.querySelector("[data-finished-note]").hidden = false;
          window.setTimeout(function () { window.location.reload(); }, 500);
        } else {
          window.setTimeout(tick, 1000);
        }
      })
      .catch(function () {
        window.setTimeout(tick, 5000);  // the service restarting, say: try again, more slowly
      });
  }
  window.setTimeout(tick, 1000);
}
