// Inside Telegram: its script has set the --tg-theme-* colours; say the page is ready and use the height.
(function () {
  var app = window.Telegram && window.Telegram.WebApp;
  if (!app) return;
  app.ready();
  app.expand();
})();
