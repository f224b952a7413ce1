// The dashboard's only script: the browser's time zone for the date filters, local times, the
// job page's live progress and the Copy buttons of a secret shown once. Every page works without
// it, minus those.
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

  document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () { copyField(button.dataset.copy); });
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
    var progress = job.progress;
    var done = progress.completed_tasks + progress.failed_tasks + progress.skipped_tasks;
    var percentage = donePercentage(done, progress.total_tasks);
    bar.value = percentage;
    bar.setAttribute("aria-valuetext", percentage.toFixed(1) + " %");
    bar.textContent = percentage.toFixed(1) + " %";
    field("percentage").textContent = percentage.toFixed(1) + " %";
    field("status").textContent = job.status;
    field("done_tasks").textContent = done;
    ["total_tasks", "completed_tasks", "failed_tasks", "skipped_tasks"].forEach(function (name) {
      field(name).textContent = progress[name];
    });
    document.querySelectorAll("[data-status-badge]").forEach(function (badge) {
      badge.textContent = job.status;
      badge.className = "badge badge-" + job.status;
    });
    showFigures(job.figures || {});
  }
  var polls = 0;
  function tick() {
    // The issue counts and charts read the job's rows: asked for every third poll, the rest is counters.
    var asked = polls++ % 3 === 0 ? url + "?figures=1" : url;
    fetch(asked, {headers: {Accept: "application/json"}, credentials: "same-origin"})
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

// The page's figures from the poll (control_api/dashboard/live.py writes every text): stats, times,
// issue counts and chart bars, so nothing on a running job's page is stale.
function showFigures(figures) {
  function each(selector, callback) {
    document.querySelectorAll(selector).forEach(callback);
  }
  Object.keys(figures.fields || {}).forEach(function (name) {
    each('[data-field="' + name + '"]', function (element) { element.textContent = figures.fields[name]; });
  });
  Object.keys(figures.issue_counts || {}).forEach(function (kind) {
    each('[data-field="issues_' + kind + '"]', function (element) { element.textContent = figures.issue_counts[kind]; });
  });
  Object.keys(figures.times || {}).forEach(function (name) {
    var value = figures.times[name];
    each('[data-time-field="' + name + '"]', function (element) {
      if (value && !element.querySelector("time")) {
        var time = document.createElement("time");
        var date = new Date(value);
        time.setAttribute("datetime", value);
        time.title = value;
        time.textContent = date.toLocaleString([], {dateStyle: "medium", timeStyle: "short"});
        element.replaceChildren(time);
      }
    });
  });
  Object.keys(figures.charts || {}).forEach(function (id) {
    var chart = document.getElementById(id);
    if (!chart) {
      return;
    }
    var bars = figures.charts[id].bars;
    var longest = Math.max.apply(null, Object.values(bars).concat([1]));
    chart.querySelector("[data-chart-total]").textContent = figures.charts[id].total;
    chart.querySelectorAll("[data-bar]").forEach(function (item) {
      var count = bars[item.dataset.bar] || 0;
      var meter = item.querySelector("meter");
      meter.max = longest;
      meter.value = count;
      meter.textContent = count;
      item.querySelector(".bar-value").textContent = count;
    });
    document.getElementById(id + "-desc").textContent = Object.keys(bars).map(function (label) {
      return label + ": " + bars[label];
    }).join("; ");
  });
}

// Done of found, one decimal rounded down (figures.py's done_percentage): never 100 before every URL
// found is done, and a cancelled crawl keeps its real share instead of the API's terminal 100.
function donePercentage(done, total) {
  if (!total) {
    return 0;
  }
  return Math.floor(Math.min(done, total) * 1000 / total) / 10;
}

function copyField(id) {
  var input = document.getElementById(id);
  var status = document.querySelector('[data-copy-status="' + id + '"]');
  function said(text) { status.textContent = text; }
  input.focus();
  input.select();
  // The Clipboard API needs a secure context (https or loopback); elsewhere the selected text is copied.
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(function () { said("Copied."); }, function () {
      said(document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.");
    });
  } else {
    said(document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.");
  }
}
