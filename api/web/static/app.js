// crossvault web app: a form is sent once. A second click (or Enter) while the first
// post is on its way is dropped, so a double-submitted form changes nothing twice; the
// htmx filter (a GET) and forms coming back from the browser's history are free again.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented) return; // a script of its own sends it (the uploads)
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  form.setAttribute("aria-busy", "true");
});
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) {
    delete form.dataset.sent;
    form.removeAttribute("aria-busy");
  }
});
