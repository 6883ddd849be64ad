// Let htmx swap in 400 responses (they carry the message to show); other errors go to an alert.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "400", swap: true, error: false },
    { code: "...", swap: false, error: true },
  ];
  document.body.addEventListener("htmx:responseError", function (event) {
    var text = event.detail.xhr.responseText || "Something went wrong.";
    window.alert(text.length < 300 ? text : "Something went wrong (" + event.detail.xhr.status + "). Please reload the page.");
  });
  document.body.addEventListener("htmx:sendError", function () {
    window.alert("Paperfeed could not be reached. Your last click was not recorded; please try again.");
  });
});
