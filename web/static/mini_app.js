// The Mini App's door: Telegram's signed initData in, the account's private gallery link out.
// What it says is the page's (data-* of #status, in the visitor's language), or the server's answer.
(function () {
  var status = document.getElementById("status");
  var app = window.Telegram && window.Telegram.WebApp;
  if (!app || !app.initData) {
    status.textContent = status.dataset.outside;
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
      status.textContent = (result.body && result.body.error) || status.dataset.failed;
    }
  }).catch(function () {
    status.textContent = status.dataset.unreachable;
  });
})();
