/*
 * Mixer graph page: the live tap of one edge (GET /v1/tap, Server-Sent Events), in a panel beside the
 * graph. The tap needs Mixer's admin token: EventSource cannot send an Authorization header, so the
 * stream is read with fetch. The token is typed into the panel and kept in sessionStorage (this tab
 * only, gone when it closes; never in the URL or localStorage). window.mixerTap.openEdge(source, target)
 * opens the tap of an edge given its two nodes' data; <aside id="tap" data-state> is idle, connecting,
 * live, unauthorized or error.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'mixer.adminToken';
  var MAX_ROWS = 200;
  var $ = function (id) {
    return document.getElementById(id);
  };
  var current = null; // { title, match, abort, events, dropped }

  function eq(fact, value, path) {
    var c = { fact: fact, operator: 'equal', value: value };
    if (path) c.path = path;
    return c;
  }

  /** Conditions naming one end of an edge (a graph node), in the attributes the graph is drawn from. */
  function side(prefix, d) {
    var all = [];
    if (d.workload && !(prefix === 'source' && d.workload === 'unknown')) all.push(eq(prefix + '.workload.name', d.workload));
    if (d.app) all.push(eq(prefix + '.labels', d.app, '$.app'));
    if (d.version) all.push(eq(prefix + '.labels', d.version, '$.version'));
    if (prefix === 'destination' && !d.workload && d.service) {
      all.push({ any: [eq('destination.service.name', d.service), eq('destination.service.host', d.service)] });
    }
    return all;
  }

  /** The tap filter of the edge source → target: a condition in the language of Rule.spec.match. */
  function edgeMatch(src, dst) {
    return { all: side('source', src).concat(side('destination', dst)) };
  }

  function setState(s, text) {
    $('tap').dataset.state = s;
    $('tap-status').textContent = text;
  }

  function fmtMs(v) {
    return typeof v === 'number' ? (v < 10 ? v.toFixed(2) : v.toFixed(0)) + ' ms' : '';
  }

  function row(kind, e) {
    var a = e.attributes || {};
    var li = document.createElement('li');
    var req = (a['request.method'] || '') + ' ' + (a['request.path'] || a['request.host'] || '');
    var verdict;
    if (kind === 'check') {
      var ok = e.status && e.status.code === 0;
      verdict = ok ? 'allowed' : 'denied ' + e.status.code + (e.decidedBy ? ' by ' + e.decidedBy.rule : '');
      li.className = ok ? 'check' : 'check denied';
      verdict += ' · ' + fmtMs(e.durationMs);
    } else {
      var code = a['response.code'];
      li.className = 'report' + (code >= 500 ? ' denied' : '');
      verdict = (code === undefined ? '-' : code) + ' · ' + fmtMs(a['response.duration']);
    }
    var time = (e.time || '').slice(11, 23);
    li.textContent = time + '  ' + kind + '  ' + req + '  ' + verdict;
    li.title = JSON.stringify(e, null, 2);
    return li;
  }

  function addEvent(kind, data) {
    var list = $('tap-events');
    list.insertBefore(row(kind, JSON.parse(data)), list.firstChild);
    while (list.childNodes.length > MAX_ROWS) list.removeChild(list.lastChild);
    current.events++;
    setState('live', 'live · ' + current.events + ' events' + (current.dropped ? ' · ' + current.dropped + ' dropped' : ''));
  }

  async function read(body, tap) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buf = '';
    for (;;) {
      var r = await reader.read();
      if (r.done) break;
      buf += decoder.decode(r.value, { stream: true });
      var i;
      while ((i = buf.indexOf('\n\n')) !== -1) {
        var block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        var ev = 'message';
        var data = '';
        block.split('\n').forEach(function (line) {
          if (line.indexOf('event: ') === 0) ev = line.slice(7);
          else if (line.indexOf('data: ') === 0) data += line.slice(6);
        });
        if (current !== tap || !data) continue;
        if (ev === 'open') setState('live', 'live · waiting for requests');
        else if (ev === 'dropped') {
          tap.dropped += JSON.parse(data).dropped;
          setState('live', 'live · ' + tap.events + ' events · ' + tap.dropped + ' dropped (over the rate)');
        } else if (ev === 'check' || ev === 'report') addEvent(ev, data);
      }
    }
    if (current === tap) setState('error', 'the tap ended (Mixer closed it)');
  }

  function stop() {
    if (current && current.abort) current.abort.abort();
    if (current) current.abort = null;
  }

  async function start() {
    stop();
    if (!current) return;
    var token = $('tap-token').value.trim();
    if (!token) {
      setState('unauthorized', 'the tap needs the admin token (MIXER_ADMIN_TOKEN)');
      $('tap-token').focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    var tap = current;
    tap.abort = new AbortController();
    tap.events = 0;
    tap.dropped = 0;
    $('tap-events').textContent = '';
    setState('connecting', 'connecting…');
    try {
      var res = await fetch('/v1/tap?match=' + encodeURIComponent(JSON.stringify(tap.match)), {
        headers: { authorization: 'Bearer ' + token, accept: 'text/event-stream' },
        signal: tap.abort.signal,
        cache: 'no-store',
      });
      if (res.status === 401 || res.status === 403) {
        if (res.status === 401) sessionStorage.removeItem(TOKEN_KEY);
        setState('unauthorized', res.status === 401 ? 'token refused (401): enter the admin token' : 'the admin API is off on this Mixer (403)');
        return;
      }
      if (!res.ok || !res.body) {
        var text = await res.text();
        var msg = text;
        try {
          msg = JSON.parse(text).error.message;
        } catch (e) {
          /* not JSON */
        }
        setState('error', 'HTTP ' + res.status + ': ' + msg);
        return;
      }
      await read(res.body, tap);
    } catch (err) {
      if (tap.abort && !tap.abort.signal.aborted && current === tap) setState('error', 'tap failed: ' + err.message);
    }
  }

  function close() {
    stop();
    current = null;
    $('tap').hidden = true;
    setState('idle', '');
  }

  /** Opens (or moves) the live tap to the edge between the nodes of data `src` and `dst`. */
  function openEdge(src, dst, title) {
    stop();
    current = { title: title, match: edgeMatch(src, dst), abort: null, events: 0, dropped: 0 };
    $('tap-title').textContent = 'Live tap: ' + title;
    $('tap-filter').textContent = JSON.stringify(current.match);
    $('tap-token').value = sessionStorage.getItem(TOKEN_KEY) || '';
    $('tap-events').textContent = '';
    $('tap').hidden = false;
    document.body.classList.add('tapping');
    start();
  }

  $('tap-start').addEventListener('click', start);
  $('tap-stop').addEventListener('click', function () {
    stop();
    setState('idle', 'stopped');
  });
  $('tap-close').addEventListener('click', function () {
    close();
    document.body.classList.remove('tapping');
  });
  $('tap-token').addEventListener('keydown', function (e) {
    if (e.key === 'Enter') start();
  });

  window.mixerTap = { openEdge: openEdge, edgeMatch: edgeMatch, close: close };
})();
