// Orrery dashboard: small progressive enhancement over server-rendered pages. Actions go to
// the /v1 JSON API with the session cookie and the page's CSRF token; live changes come
// from /v1/stream (server-sent events), which the page stops while the tab is hidden.
(function () {
  'use strict';
  var root = document.documentElement;
  // The chosen theme before the first paint (no flash of the other one).
  try {
    var savedTheme = localStorage.getItem('orrery-theme');
    if (savedTheme === 'dark' || savedTheme === 'light') root.setAttribute('data-theme', savedTheme);
  } catch (e) { /* storage may be disabled */ }

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }
  function $(sel, el) { return (el || document).querySelector(sel); }
  function $all(sel, el) { return Array.prototype.slice.call((el || document).querySelectorAll(sel)); }

  // ---- API -------------------------------------------------------------------------------
  function api(method, url, body, extraHeaders) {
    var headers = { 'Accept': 'application/json', 'X-CSRF-Token': meta('csrf-token') };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    return fetch(url, {
      method: method, headers: headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
        if (!response.ok) {
          var error = new Error((data && data.detail) || response.statusText || 'request failed');
          error.problem = data || { detail: error.message };
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function showMessage(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }

  // ---- Problems next to the field the API names ---------------------------------------------
  function fieldWrapper(form, field) {
    var best = null, bestLength = -1;
    $all('[data-field]', form).forEach(function (el) {
      var name = el.getAttribute('data-field');
      if (name === '*') {
        if (bestLength < 0) { best = el; bestLength = 0; }
      } else if (field === name || field.indexOf(name + '.') === 0 || field.indexOf(name + '[') === 0) {
        if (name.length > bestLength) { best = el; bestLength = name.length; }
      }
    });
    return best;
  }

  function clearFieldErrors(form) {
    $all('.field-error.generated', form).forEach(function (el) { el.remove(); });
    $all('[aria-invalid]', form).forEach(function (el) { el.removeAttribute('aria-invalid'); el.removeAttribute('aria-describedby'); });
    $all('[role=alert]', form).forEach(function (el) { el.hidden = true; });
  }

  var errorCount = 0;
  function showProblem(form, problem, fallback) {
    var field = problem.field || '';
    var wrapper = field ? fieldWrapper(form, field) : null;
    var text = problem.detail || problem.title || 'request failed';
    if (!wrapper) { showMessage(fallback || $('[role=alert]', form), (field ? field + ': ' : '') + text); return; }
    var control = $('input, select, textarea', wrapper);
    var p = document.createElement('p');
    p.className = 'field-error generated';
    p.id = 'field-error-' + (++errorCount);
    p.setAttribute('role', 'alert');
    p.setAttribute('data-error-for', field);
    p.textContent = (wrapper.getAttribute('data-field') === field ? '' : field + ': ') + text;
    wrapper.appendChild(p);
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      control.setAttribute('aria-describedby', p.id);
      control.focus();
    }
  }

  // ---- Times -------------------------------------------------------------------------------
  function relative(ms) {
    var s = Math.round(ms / 1000), a = Math.abs(s), text;
    if (a < 60) text = a + ' s';
    else if (a < 3600) text = Math.round(a / 60) + ' min';
    else if (a < 86400) text = Math.round(a / 3600) + ' h';
    else text = Math.round(a / 86400) + ' d';
    return s >= 0 ? 'in ' + text : text + ' ago';
  }
  function renderTimes() {
    var now = Date.now();
    $all('time[datetime]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('datetime'));
      if (isNaN(t)) return;
      if (!el.title) el.title = el.getAttribute('datetime');
      if (el.hasAttribute('data-relative')) el.textContent = relative(t - now);
    });
  }

  // ---- Live stream -------------------------------------------------------------------------
  // One EventSource per page; closed while the tab is hidden, reopened (with a catch-up
  // through onOpen) when it is shown again.
  function live(url, handlers) {
    var source = null;
    function open() {
      if (source || document.hidden) return;
      source = new EventSource(url, { withCredentials: true });
      source.addEventListener('open', function () { if (handlers.open) handlers.open(); });
      source.addEventListener('run', function (e) { handlers.run && handlers.run(JSON.parse(e.data)); });
      source.addEventListener('log', function (e) { handlers.log && handlers.log(JSON.parse(e.data)); });
      source.addEventListener('reset', function () { if (handlers.open) handlers.open(); });
      source.addEventListener('error', function () {
        // The browser reconnects by itself (with Last-Event-ID); a closed stream is reopened.
        if (source && source.readyState === EventSource.CLOSED) { source = null; setTimeout(open, 2000); }
      });
    }
    function close() { if (source) { source.close(); source = null; } }
    document.addEventListener('visibilitychange', function () { if (document.hidden) close(); else open(); });
    window.addEventListener('pagehide', close);
    open();
  }

  // ---- Run rows and the run page ------------------------------------------------------------
  function badge(status) {
    var span = document.createElement('span');
    span.className = 'badge ' + status;
    span.setAttribute('data-status', status);
    span.textContent = status;
    return span;
  }
  function progressNodes(run) {
    var percent = run.progress && run.progress.percent;
    if (percent == null && run.status === 'complete') percent = 100;
    var frag = document.createDocumentFragment();
    if (percent == null && run.status !== 'active') return frag;
    var bar = document.createElement('progress');
    bar.className = 'bar';
    bar.max = 100;
    bar.setAttribute('aria-label', 'progress');
    if (percent != null) bar.value = Math.round(percent);
    frag.appendChild(bar);
    var label = document.createElement('span');
    label.className = 'pct';
    label.textContent = (percent != null ? Math.round(percent) + '%' : '') + (run.progress && run.progress.message ? ' ' + run.progress.message : '');
    frag.appendChild(label);
    return frag;
  }
  function timeNode(iso) {
    if (!iso) return document.createTextNode('–');
    var t = document.createElement('time');
    t.setAttribute('datetime', iso);
    t.textContent = iso.replace('T', ' ').slice(0, 19) + ' UTC';
    return t;
  }
  function replace(el, node) { if (el) { el.textContent = ''; el.appendChild(node); } }

  function updateRunRow(row, run) {
    row.setAttribute('data-status', run.status);
    replace($('.status-cell', row), badge(run.status));
    replace($('.progress-cell', row), progressNodes(run));
    replace($('.finished-cell', row), timeNode(run.finished_at));
  }

  function newRunRow(run, name) {
    var row = document.createElement('tr');
    row.setAttribute('data-run-id', run.id);
    var cells = ['', 'status-cell', 'progress-cell', '', '', '', 'finished-cell'].map(function (cls) {
      var td = document.createElement('td');
      if (cls) td.className = cls;
      row.appendChild(td);
      return td;
    });
    var a = document.createElement('a');
    a.href = meta('base-path') + '/runs/' + encodeURIComponent(run.id);
    a.textContent = name;
    cells[0].appendChild(a);
    cells[3].textContent = run.module;
    cells[4].textContent = run.trigger;
    cells[5].appendChild(timeNode(run.scheduled_at));
    updateRunRow(row, run);
    return row;
  }

  function initRunTables() {
    $all('[data-live-runs]').forEach(function (container) {
      var append = container.getAttribute('data-append') === 'true';
      live(container.getAttribute('data-live-runs'), {
        run: function (run) {
          var row = $('tr[data-run-id="' + CSS.escape(run.id) + '"]', container);
          if (row) { updateRunRow(row, run); return; }
          if (append) { insertRun(container, run); return; }
          var note = $('#new-runs');
          if (note) note.hidden = false;
        }
      });
    });
  }

  function insertRun(container, run) {
    if ($('tr[data-run-id="' + CSS.escape(run.id) + '"]', container)) return;
    var body = $('tbody', container);
    if (!body) return;  // an empty history: the next reload shows the table
    var title = $('h1');
    body.insertBefore(newRunRow(run, title ? title.firstChild.textContent.trim() : run.task_id), body.firstChild);
  }

  function initRunPage() {
    var section = $('#run');
    if (!section) return;
    var log = $('#log');
    var logsURL = section.getAttribute('data-logs');
    var nextIdx = parseInt(log.getAttribute('data-next-idx'), 10) || 0;
    function appendLine(entry) {
      if (entry.idx < nextIdx) return;
      var li = document.createElement('li');
      li.setAttribute('data-idx', entry.idx);
      li.className = 'lvl-' + entry.level;
      var t = document.createElement('time');
      t.setAttribute('datetime', entry.timestamp);
      t.textContent = entry.timestamp.slice(11, 23);
      var lvl = document.createElement('span');
      lvl.className = 'lvl';
      lvl.textContent = entry.level;
      var msg = document.createElement('span');
      msg.className = 'msg';
      msg.textContent = entry.msg;
      li.appendChild(t); li.appendChild(document.createTextNode(' ')); li.appendChild(lvl);
      li.appendChild(document.createTextNode(' ')); li.appendChild(msg);
      log.appendChild(li);
      nextIdx = entry.idx + 1;
      if (log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
    }
    var catchingUp = false;
    function catchUp() {
      if (catchingUp) return;
      catchingUp = true;
      api('GET', logsURL + '?offset=' + nextIdx + '&limit=1000').then(function (page) {
        page.items.forEach(appendLine);
      }).catch(function () {}).then(function () { catchingUp = false; });
    }
    function showRun(run) {
      section.setAttribute('data-status', run.status);
      replace($('#run-status'), badge(run.status));
      var chainBadge = $('ol.chain li[aria-current] .badge');
      if (chainBadge) chainBadge.parentNode.replaceChild(badge(run.status), chainBadge);
      replace($('#run-progress'), progressNodes(run));
      replace($('#run-started'), timeNode(run.started_at));
      replace($('#run-finished'), timeNode(run.finished_at));
      var result = $('#run-result');
      if (run.result != null) { result.textContent = JSON.stringify(run.result, null, 2); result.hidden = false; }
      var error = $('#run-error');
      if (run.error) { error.textContent = run.error.code + ': ' + run.error.message; error.hidden = false; }
      var cancel = $('#cancel-run');
      if (cancel) cancel.hidden = run.status !== 'scheduled' && run.status !== 'active';
      var dismiss = $('#dismiss-run');
      if (dismiss) dismiss.hidden = !!run.dismissed_at;
    }
    live(section.getAttribute('data-stream'), {
      open: function () { var ind = $('#live-indicator'); if (ind) ind.hidden = false; catchUp(); },
      run: showRun,
      log: function (entry) { if (entry.idx > nextIdx) catchUp(); else appendLine(entry); }
    });
    $all('#run-actions button').forEach(function (button) {
      button.addEventListener('click', function () {
        button.disabled = true;
        api('POST', button.getAttribute('data-action')).then(showRun).catch(function (e) {
          showMessage($('#action-error'), e.message);
        }).then(function () { button.disabled = false; });
      });
    });
  }

  // ---- Tasks ----------------------------------------------------------------------------------
  function initTaskActions() {
    $all('[data-task-action]').forEach(function (button) {
      button.addEventListener('click', function () {
        button.disabled = true;
        api('POST', button.getAttribute('data-task-action')).then(function (data) {
          var history = $('[data-append="true"]');
          if (data && data.task_id && history && $('tbody', history)) {
            insertRun(history, data);
            button.disabled = false;
          } else if (data && data.task_id && button.hasAttribute('data-follow')) {
            location.href = button.getAttribute('data-follow') + encodeURIComponent(data.id);
          } else {
            location.reload();
          }
        }).catch(function (e) { showMessage($('#action-error'), e.message); button.disabled = false; });
      });
    });
    var selectAll = $('#select-all');
    var boxes = $all('input.select');
    function selected() { return boxes.filter(function (b) { return b.checked; }); }
    function refresh() {
      var n = selected().length;
      var count = $('#selected-count');
      if (count) count.textContent = n;
      $all('[data-bulk]').forEach(function (b) { b.disabled = n === 0; });
    }
    if (selectAll) selectAll.addEventListener('change', function () {
      boxes.forEach(function (b) { b.checked = selectAll.checked; });
      refresh();
    });
    boxes.forEach(function (b) { b.addEventListener('change', refresh); });
    $all('[data-bulk]').forEach(function (button) {
      button.addEventListener('click', function () {
        var action = button.getAttribute('data-bulk');
        var calls = selected().map(function (box) {
          return api('POST', box.closest('tr').getAttribute('data-api') + '/' + action);
        });
        Promise.all(calls).then(function () { location.reload(); })
          .catch(function (e) { showMessage($('#action-error'), e.message); });
      });
    });
    var del = $('#delete-task'), confirmBox = $('#delete-confirm');
    if (del && confirmBox) {
      del.addEventListener('click', function () { confirmBox.hidden = false; $('#delete-cancel').focus(); });
      $('#delete-cancel').addEventListener('click', function () { confirmBox.hidden = true; del.focus(); });
      $('#delete-confirmed').addEventListener('click', function () {
        var button = this;
        api('DELETE', button.getAttribute('data-api')).then(function () {
          location.href = button.getAttribute('data-after');
        }).catch(function (e) { showMessage($('#action-error'), e.message); });
      });
    }
  }

  function parseJSONField(form, textarea, field) {
    try { return JSON.parse(textarea.value || '{}'); } catch (e) {
      showProblem(form, { field: field, detail: 'is not valid JSON (' + e.message + ')' });
      return undefined;
    }
  }

  function initTaskForm() {
    var form = $('#task-form');
    if (!form) return;
    var type = $('#tf-type');
    function showKinds() {
      $all('[data-kinds]', form).forEach(function (el) {
        el.hidden = el.getAttribute('data-kinds').split(' ').indexOf(type.value) < 0;
      });
    }
    type.addEventListener('change', showKinds);
    showKinds();
    function schedule() {
      var s = { type: type.value };
      $all('[data-kinds]', form).forEach(function (wrapper) {
        if (wrapper.hidden) return;
        var input = $('input', wrapper), key = input.name.replace('schedule.', '');
        if (input.value === '') return;
        s[key] = input.type === 'number' ? Number(input.value) : input.value;
      });
      return s;
    }
    var previewTimer = null;
    form.addEventListener('input', function (e) {
      if (!e.target.name || e.target.name.indexOf('schedule.') !== 0) return;
      clearTimeout(previewTimer);
      previewTimer = setTimeout(function () {
        api('POST', meta('base-path') + '/v1/schedules/preview', { schedule: schedule(), count: 3 }).then(function (p) {
          showMessage($('#schedule-preview'), p.description + ' — ' + p.items.map(function (i) { return i.local; }).join(', '));
        }).catch(function (err) { showMessage($('#schedule-preview'), (err.problem.field || '') + ' ' + err.message); });
      }, 400);
    });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearFieldErrors(form);
      var params = parseJSONField(form, $('#tf-params'), 'params');
      var more = parseJSONField(form, $('#tf-more'), '*');
      if (params === undefined || more === undefined) return;
      var body = { name: $('#tf-name').value, module: $('#tf-module').value, params: params, schedule: schedule() };
      Object.keys(more || {}).forEach(function (k) { body[k] = more[k]; });
      api('POST', form.getAttribute('data-api'), body).then(function (task) {
        location.href = form.getAttribute('data-after') + encodeURIComponent(task.id);
      }).catch(function (err) { showProblem(form, err.problem, $('#form-error')); });
    });
  }

  function initTaskEdit() {
    var form = $('#task-edit');
    if (!form) return;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearFieldErrors(form);
      var body = parseJSONField(form, $('#task-json'), '*');
      if (body === undefined) return;
      api('PATCH', form.getAttribute('data-api'), body, { 'If-Match': form.getAttribute('data-version') })
        .then(function () { location.reload(); })
        .catch(function (err) { showProblem(form, err.problem, $('#form-error')); });
    });
  }

  // ---- Admin forms -----------------------------------------------------------------------------
  function initJSONForms() {
    $all('form[data-json-form]').forEach(function (form) {
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        clearFieldErrors(form);
        var body = {};
        $all('input, select', form).forEach(function (input) { if (input.name && input.value !== '') body[input.name] = input.value; });
        api('POST', form.getAttribute('data-api'), body).then(function (data) {
          var out = $('output', form);
          if (data && data.token && out) { out.textContent = data.token; out.hidden = false; } else location.reload();
        }).catch(function (err) { showProblem(form, err.problem, $('[role=alert]', form)); });
      });
    });
    $all('button[data-delete]').forEach(function (button) {
      button.addEventListener('click', function () {
        api('DELETE', button.getAttribute('data-delete')).then(function () { location.reload(); })
          .catch(function (e) { showMessage($('#action-error'), e.message); });
      });
    });
  }

  // ---- Chrome: theme and language ---------------------------------------------------------------
  function initChrome() {
    var theme = $('#theme-toggle');
    if (theme) theme.addEventListener('click', function () {
      var current = root.getAttribute('data-theme') ||
        (window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
      var next = current === 'dark' ? 'light' : 'dark';
      root.setAttribute('data-theme', next);
      try { localStorage.setItem('orrery-theme', next); } catch (e) { /* not kept */ }
    });
    var lang = $('#lang-toggle');
    if (lang) lang.addEventListener('click', function () {
      document.cookie = 'orrery_lang=' + lang.getAttribute('data-lang') + '; path=' + (meta('base-path') || '') + '/; SameSite=Strict; max-age=31536000';
      location.reload();
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    initChrome();
    renderTimes();
    setInterval(renderTimes, 1000);
    initRunTables();
    initRunPage();
    initTaskActions();
    initTaskForm();
    initTaskEdit();
    initJSONForms();
  });
})();
