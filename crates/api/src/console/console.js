// jiesu console: the little the pages need beyond plain forms.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", function () {
  // On a phone the header's menu folds behind one button.
  document.querySelectorAll(".menu-toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.closest("header").classList.toggle("open", open);
    });
  });
  // "Use my location" fills the latitude and longitude fields from the phone's GPS.
  document.querySelectorAll("[data-locate]").forEach(function (button) {
    if (!("geolocation" in navigator)) { button.hidden = true; return; }
    button.addEventListener("click", function () {
      var status = document.getElementById(button.getAttribute("aria-describedby"));
      navigator.geolocation.getCurrentPosition(function (pos) {
        document.getElementById("latitude").value = pos.coords.latitude.toFixed(6);
        document.getElementById("longitude").value = pos.coords.longitude.toFixed(6);
        if (status) status.textContent = button.dataset.done || "";
      }, function (err) {
        if (status) status.textContent = err.message;
      }, { enableHighAccuracy: true, timeout: 10000 });
    });
  });
  // A form that changes something is sent once: the button is disabled after the first
  // press, so a double tap on a slow phone network does not send it twice.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        window.setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  // The pool page looks for new (or claimed) tickets every so often and when it comes
  // back into view, and says so with a link to see them.
  var news = document.getElementById("pool-news");
  if (news && window.fetch) {
    var shown = Number(news.dataset.poolCount);
    var check = function () {
      fetch("/console/pool/count", { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (now) {
          if (!now || now.count === shown) return;
          news.textContent = news.dataset.says + now.count + (now.more ? "+" : "") + " ";
          var a = document.createElement("a");
          a.href = "/console/pool";
          a.textContent = news.dataset.link;
          news.appendChild(a);
          news.hidden = false;
        })
        .catch(function () {});
    };
    window.setInterval(check, Number(news.dataset.every || 30) * 1000);
    window.addEventListener("focus", check);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) check(); });
  }
  // The ticket's print button (the page has a stylesheet for paper).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // Ask before an action that cannot be undone.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (e) {
      if (!window.confirm(el.dataset.confirm)) e.preventDefault();
    });
  });
});
