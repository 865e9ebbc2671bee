// The Mini App's door: Telegram's signed initData in, the account's private gallery link out.
(function () {
  var status = document.getElementById("status");
  var app = window.Telegram && window.Telegram.WebApp;
  if (!app || !app.initData) {
    status.textContent = "Open this page from the bot in Telegram.";
    return;
  }
  fetch("/app/session", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({init_data: app.initData}),
    credentials: "same-origin"
  }).then(function (answer) {
    return answer.json().then(function (body) { return {ok: answer.ok, body: body}; });
  }).then(function (result) {
    if (result.ok && result.body.url) {
      window.location.replace(result.body.url);
    } else {
      status.textContent = (result.body && result.body.error) || "This gallery could not be opened.";
    }
  }).catch(function () {
    status.textContent = "The gallery could not be reached. Try again in a moment.";
  });
})();
