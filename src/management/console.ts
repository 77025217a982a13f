// The web console: one self-contained HTML page (no external assets) served at /. The page
// itself holds no data; its script asks /api/overview and /api/queues with the credentials the
// user typed (kept in sessionStorage) and renders them as tables, every 5 seconds. Everything
// taken from the API is inserted as text, never as HTML.
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warren</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
  header { background: #2d3e50; color: #fff; padding: 10px 20px; display: flex; align-items: baseline; gap: 16px; }
  header h1 { font-size: 18px; margin: 0; }
  header .who { margin-left: auto; font-size: 13px; }
  header button { margin-left: 8px; }
  main { padding: 10px 20px; }
  h2 { font-size: 15px; margin: 18px 0 6px; }
  table { border-collapse: collapse; background: #fff; min-width: 400px; }
  th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
  th { background: #eef1f4; font-weight: 600; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .err { color: #b00020; }
  .muted { color: #777; }
  form { background: #fff; border: 1px solid #ddd; padding: 16px; max-width: 280px; }
  form label { display: block; margin: 6px 0 2px; }
  form input { width: 100%; box-sizing: border-box; }
  form button { margin-top: 10px; }
</style>
</head>
<body>
<header><h1>Warren</h1><span id="node" class="muted"></span><span class="who" id="who"></span></header>
<main>
  <form id="login" hidden>
    <strong>Log in</strong>
    <label for="user">Username</label><input id="user" autocomplete="username">
    <label for="pass">Password</label><input id="pass" type="password" autocomplete="current-password">
    <button type="submit">Log in</button>
    <p id="loginError" class="err"></p>
  </form>
  <div id="content" hidden>
    <h2>Totals</h2>
    <table id="totals"></table>
    <h2>Queues</h2>
    <table id="queues"></table>
    <p class="muted" id="updated"></p>
  </div>
  <p id="error" class="err"></p>
</main>
<script>
(function () {
  'use strict';
  var KEY = 'warren.auth';
  var timer = null;
  function $(id) { return document.getElementById(id); }
  function auth() { return sessionStorage.getItem(KEY); }

  function api(path) {
    return fetch(path, { headers: { 'Authorization': 'Basic ' + auth(), 'X-Warren-Console': '1' }, cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { var e = new Error('unauthorised'); e.status = 401; throw e; }
        if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
        return r.json();
      });
  }

  function cell(tr, tag, text, numeric) {
    var c = document.createElement(tag);
    c.textContent = text === undefined || text === null ? '' : String(text);
    if (numeric) c.className = 'n';
    tr.appendChild(c);
  }

  function fill(table, headers, rows, numericFrom) {
    table.textContent = '';
    var head = document.createElement('tr');
    headers.forEach(function (h) { cell(head, 'th', h); });
    table.appendChild(head);
    if (rows.length === 0) {
      var tr = document.createElement('tr');
      var td = document.createElement('td');
      td.colSpan = headers.length; td.className = 'muted'; td.textContent = 'none';
      tr.appendChild(td); table.appendChild(tr);
    }
    rows.forEach(function (row) {
      var tr = document.createElement('tr');
      row.forEach(function (v, i) { cell(tr, 'td', v, i >= numericFrom); });
      table.appendChild(tr);
    });
  }

  function render(o, queues) {
    $('node').textContent = o.product_name + ' ' + o.product_version + ' on ' + o.node;
    var t = o.object_totals, q = o.queue_totals, m = o.message_stats || {};
    fill($('totals'), ['Connections', 'Channels', 'Exchanges', 'Queues', 'Consumers', 'Ready', 'Unacked', 'Total',
      'Published', 'Delivered', 'Acked', 'Disk alarm'],
      [[t.connections, t.channels, t.exchanges, t.queues, t.consumers, q.messages_ready, q.messages_unacknowledged,
        q.messages, m.publish, m.deliver_get, m.ack, o.disk_free_alarm ? 'ON' : 'off']], 0);
    fill($('queues'), ['Virtual host', 'Name', 'Type', 'Features', 'Ready', 'Unacked', 'Total', 'Consumers'],
      queues.map(function (x) {
        var f = [x.durable ? 'D' : '', x.auto_delete ? 'AD' : '', x.exclusive ? 'Excl' : ''].filter(Boolean).join(' ');
        return [x.vhost, x.name, x.type, f, x.messages_ready, x.messages_unacknowledged, x.messages, x.consumers];
      }), 4);
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + ', every 5 s.';
  }

  function refresh() {
    Promise.all([api('api/overview'), api('api/queues')]).then(function (r) {
      $('error').textContent = '';
      $('content').hidden = false;
      render(r[0], r[1]);
    }).catch(function (e) {
      if (e.status === 401) return showLogin('Login failed.');
      $('error').textContent = String(e.message || e);
    });
  }

  function showLogin(msg) {
    if (timer) clearInterval(timer);
    timer = null;
    sessionStorage.removeItem(KEY);
    $('content').hidden = true;
    $('who').textContent = '';
    $('login').hidden = false;
    $('loginError').textContent = msg || '';
  }

  function start() {
    $('login').hidden = true;
    api('api/whoami').then(function (me) {
      var who = $('who');
      who.textContent = 'User: ' + me.name + ' ';
      var b = document.createElement('button');
      b.textContent = 'Log out';
      b.onclick = function () { showLogin(''); };
      who.appendChild(b);
      refresh();
      timer = setInterval(refresh, 5000);
    }).catch(function (e) {
      if (e.status === 401) showLogin('Login failed.');
      else $('error').textContent = String(e.message || e);
    });
  }

  $('login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var s = $('user').value + ':' + $('pass').value;
    sessionStorage.setItem(KEY, btoa(unescape(encodeURIComponent(s))));
    start();
  });

  if (auth()) start(); else showLogin('');
})();
</script>
</body>
</html>
`;
