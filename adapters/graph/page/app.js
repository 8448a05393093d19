/*
 * Mixer graph page: draws GET /v1/graph with cytoscape (loaded before this script as a global).
 * Plain browser JavaScript, no build step. After each load <body data-state> is ready, empty or
 * error; the cytoscape instance is window.mixerGraph.
 */
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  var WINDOWS = { '1m': 'last minute', '5m': 'last 5 minutes', '1h': 'last hour' };
  var $ = function (id) {
    return document.getElementById(id);
  };

  var state = {
    window: initialWindow(),
    raw: null, // text of the last good /v1/graph answer (what Export JSON saves)
    nodeKey: null, // the node set drawn, to keep positions while it does not change
    seq: 0, // load counter: answers of superseded loads are ignored
    detailsId: null, // element shown in the details panel
    timer: null,
  };

  function initialWindow() {
    var w = new URLSearchParams(location.search).get('window');
    return Object.hasOwn(WINDOWS, w) ? w : '5m';
  }

  // ---- formatting -------------------------------------------------------------------------

  function fmtRate(r) {
    if (!(r > 0)) return '0';
    if (r < 0.01) return '<0.01';
    return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
  }

  function fmtPct(share) {
    var p = (share || 0) * 100;
    if (p === 0) return '0%';
    if (p < 0.1) return '<0.1%';
    return (p < 10 ? p.toFixed(1) : p.toFixed(0)) + '%';
  }

  function fmtMs(ms) {
    if (!(ms > 0)) return '–';
    if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 0 : 1) + ' s';
    return (ms >= 10 ? ms.toFixed(0) : ms.toFixed(1)) + ' ms';
  }

  function fmtBytes(perSecond) {
    var units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];
    var v = perSecond || 0;
    var i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }

  // ---- from /v1/graph to cytoscape elements ----------------------------------------------------

  function nodeLabel(d) {
    if (d.nodeType === 'app') return d.version || d.workload || d.app;
    if (d.nodeType === 'service') return d.service || d.id;
    return d.workload || d.id;
  }

  /** A node's name out of context: `app version` for versions of an app. */
  function nodeName(d) {
    return d.nodeType === 'app' && d.app ? (d.app + ' ' + (d.version || '')).trim() : nodeLabel(d);
  }

  function groupId(d) {
    return 'group:' + d.namespace + '/' + d.app;
  }

  /** `app · namespace`, on two lines when long. */
  function groupLabel(d) {
    return d.app + (d.app.length + d.namespace.length > 22 ? '\n' : '  ·  ') + d.namespace;
  }

  /** App groups (compound parents) first, then the graph's nodes, then its edges. */
  function toElements(graph) {
    var nodes = [];
    var groups = {};
    graph.elements.nodes.forEach(function (n) {
      var label = nodeLabel(n.data);
      var d = Object.assign({}, n.data, { label: label, w: Math.min(150, Math.max(64, label.length * 8 + 28)) });
      var classes = d.id === 'unknown' ? 'unknown' : d.nodeType;
      if (d.nodeType === 'app' && d.app) {
        d.parent = groupId(d);
        groups[d.parent] = { id: d.parent, label: groupLabel(d), app: d.app, namespace: d.namespace, nodeType: 'group' };
      }
      nodes.push({ group: 'nodes', data: d, classes: classes });
    });
    nodes = Object.keys(groups)
      .sort()
      .map(function (id) {
        return { group: 'nodes', data: groups[id], classes: 'group' };
      })
      .concat(nodes);
    var edges = graph.elements.edges.map(function (e) {
      var d = Object.assign({}, e.data);
      var proto = d.protocol && d.protocol !== 'http' ? d.protocol + ' · ' : '';
      d.label = proto + fmtRate(d.requestRate) + ' rps · ' + fmtPct(d.errorRate) + ' 5xx\np95 ' + fmtMs(d.p95);
      return { group: 'edges', data: d, classes: d.errors > 0 ? 'error' : 'ok' };
    });
    return { nodes: nodes, edges: edges };
  }

  // ---- cytoscape -------------------------------------------------------------------------------

  var STYLE = [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        'font-size': 13,
        color: '#1f2933',
        'text-valign': 'center',
        'text-halign': 'center',
        width: 64,
        height: 38,
        shape: 'round-rectangle',
        'border-width': 2,
        'background-color': '#e3f0fc',
        'border-color': '#2f6fb2',
        'text-wrap': 'ellipsis',
        'text-max-width': 140,
      },
    },
    { selector: 'node[w]', style: { width: 'data(w)' } },
    { selector: 'node.workload', style: { shape: 'ellipse', 'background-color': '#efe9f7', 'border-color': '#7b61a8' } },
    {
      selector: 'node.service',
      style: {
        shape: 'triangle',
        'background-color': '#e1f3ec',
        'border-color': '#2f8f6f',
        width: 54,
        height: 46,
        'text-valign': 'bottom',
        'text-margin-y': 5,
        'text-max-width': 160,
      },
    },
    {
      selector: 'node.unknown',
      style: { shape: 'ellipse', 'background-color': '#f5f7fa', 'border-color': '#9aa5b1', 'border-style': 'dashed', color: '#616e7c' },
    },
    {
      selector: 'node.group',
      style: {
        shape: 'round-rectangle',
        'background-color': '#f0f4f8',
        'background-opacity': 0.8,
        'border-width': 1.5,
        'border-style': 'dashed',
        'border-color': '#9fb3c8',
        'text-valign': 'top',
        'text-halign': 'center',
        'text-margin-y': -4,
        'font-size': 13,
        'font-weight': 600,
        color: '#334e68',
        padding: 14,
        'text-wrap': 'wrap',
        'text-max-width': 170,
      },
    },
    {
      selector: 'edge',
      style: {
        'curve-style': 'bezier',
        'target-arrow-shape': 'triangle',
        'arrow-scale': 1.1,
        width: 2,
        'line-color': '#8796a8',
        'target-arrow-color': '#8796a8',
        label: 'data(label)',
        'font-size': 12,
        color: '#334e68',
        'text-wrap': 'wrap',
        'text-background-color': '#ffffff',
        'text-background-opacity': 0.9,
        'text-background-padding': 2,
        'text-background-shape': 'round-rectangle',
        'text-border-opacity': 0,
      },
    },
    {
      selector: 'edge.error',
      style: {
        width: 'mapData(errorRate, 0, 0.3, 2.5, 9)',
        'line-color': 'mapData(errorRate, 0, 0.3, #e57373, #8e0000)',
        'target-arrow-color': 'mapData(errorRate, 0, 0.3, #e57373, #8e0000)',
        color: '#b71c1c',
      },
    },
    { selector: ':selected', style: { 'overlay-color': '#2f6fb2', 'overlay-opacity': 0.15, 'overlay-padding': 6 } },
  ];

  var cy = cytoscape({
    container: $('cy'),
    style: STYLE,
    minZoom: 0.2,
    maxZoom: 3,
  });
  window.mixerGraph = cy;

  /** Left-to-right layered positions (layout.js), then fit, not above 125 %. */
  function runLayout() {
    var pos = window.MixerGraphLayout.layered(cy);
    cy.batch(function () {
      cy.nodes().forEach(function (n) {
        if (pos[n.id()]) n.position(pos[n.id()]);
      });
    });
    cy.fit(undefined, 40);
    if (cy.zoom() > 1.25) {
      cy.zoom(1.25);
      cy.center();
    }
  }

  /** Replaces the drawing; positions are kept when the node set is unchanged. */
  function draw(graph) {
    var els = toElements(graph);
    var key = els.nodes
      .map(function (n) {
        return n.data.id;
      })
      .sort()
      .join('\n');
    if (key === state.nodeKey) {
      cy.batch(function () {
        els.nodes.forEach(function (n) {
          cy.getElementById(n.data.id).data(n.data).classes(n.classes);
        });
        var keep = {};
        els.edges.forEach(function (e) {
          keep[e.data.id] = true;
          var old = cy.getElementById(e.data.id);
          if (old.nonempty()) old.data(e.data).classes(e.classes);
          else cy.add(e);
        });
        cy.edges()
          .filter(function (e) {
            return !keep[e.id()];
          })
          .remove();
      });
      return;
    }
    cy.batch(function () {
      cy.elements().remove();
      cy.add(els.nodes);
      cy.add(els.edges);
    });
    state.nodeKey = key;
    if (graph.elements.nodes.length) runLayout();
  }

  // ---- loading ---------------------------------------------------------------------------------

  function setState(s) {
    document.body.setAttribute('data-state', s);
    document.body.setAttribute('data-window', state.window);
  }

  function showError(message) {
    var el = $('error');
    el.textContent = message;
    el.hidden = false;
  }

  async function errorMessage(res) {
    var text = await res.text();
    try {
      var j = JSON.parse(text);
      if (j && j.error && j.error.message) return j.error.message;
      if (j && j.message) return j.message;
    } catch (e) {
      /* not JSON */
    }
    return text.slice(0, 200) || res.statusText;
  }

  async function load() {
    var seq = ++state.seq;
    var w = state.window;
    try {
      var res = await fetch('/v1/graph?window=' + encodeURIComponent(w), { cache: 'no-store', headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error('HTTP ' + res.status + ': ' + (await errorMessage(res)));
      var text = await res.text();
      var graph = JSON.parse(text);
      if (seq !== state.seq) return;
      state.raw = text;
      $('error').hidden = true;
      draw(graph);
      refreshDetails();
      var empty = graph.elements.nodes.length === 0;
      $('empty').hidden = !empty;
      $('empty-text').textContent = 'Mixer has seen no requests in the ' + WINDOWS[w] + '.';
      $('export-png').disabled = empty;
      $('export-json').disabled = false;
      $('updated').textContent =
        'Updated ' +
        new Date(graph.timestamp * 1000).toLocaleTimeString() +
        ' · ' +
        graph.elements.nodes.length +
        ' nodes, ' +
        graph.elements.edges.length +
        ' edges' +
        (graph.omittedEdges > 0 ? ' (the ' + graph.omittedEdges + ' least busy left out)' : '');
      setState(empty ? 'empty' : 'ready');
    } catch (err) {
      if (seq !== state.seq) return;
      showError('Could not load the graph (/v1/graph): ' + err.message + (state.raw ? ' — showing the last graph loaded.' : ''));
      setState('error');
    } finally {
      if (seq === state.seq) schedule();
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = $('auto').checked ? setTimeout(load, REFRESH_MS) : null;
  }

  // ---- export ----------------------------------------------------------------------------------

  function stamp() {
    return new Date()
      .toISOString()
      .replace(/[:.]/g, '-')
      .replace(/-\d+Z$/, 'Z');
  }

  function download(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 10000);
  }

  /** The whole graph at 2× as a PNG, on white with a margin (cy.png crops at the drawing's edge). */
  function graphPng() {
    var scale = 2;
    var margin = 24 * scale;
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () {
        var canvas = document.createElement('canvas');
        canvas.width = img.width + 2 * margin;
        canvas.height = img.height + 2 * margin;
        var ctx = canvas.getContext('2d');
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.drawImage(img, margin, margin);
        canvas.toBlob(function (blob) {
          return blob ? resolve(blob) : reject(new Error('PNG encoding failed'));
        }, 'image/png');
      };
      img.onerror = function () {
        reject(new Error('could not draw the graph'));
      };
      img.src = cy.png({ output: 'base64uri', full: true, scale: scale, bg: '#ffffff' });
    });
  }

  $('export-png').addEventListener('click', function () {
    var name = 'mixer-graph-' + state.window + '-' + stamp() + '.png';
    graphPng().then(
      function (blob) {
        download(blob, name);
      },
      function (err) {
        showError('Export PNG failed: ' + err.message);
      },
    );
  });

  $('export-json').addEventListener('click', function () {
    if (state.raw === null) return;
    download(new Blob([state.raw], { type: 'application/json' }), 'mixer-graph-' + state.window + '-' + stamp() + '.json');
  });

  // ---- details panel ---------------------------------------------------------------------------

  function showDetails(ele) {
    state.detailsId = ele.id();
    var d = ele.data();
    var rows;
    if (ele.isEdge()) {
      $('details-title').textContent = nodeName(cy.getElementById(d.source).data()) + ' → ' + nodeName(cy.getElementById(d.target).data());
      rows = [
        ['protocol', d.protocol],
        ['requests', d.requests],
        ['5xx', d.errors + ' (' + fmtPct(d.errorRate) + ')'],
        ['rate', fmtRate(d.requestRate) + ' req/s'],
        ['p50 / p95 / p99', fmtMs(d.p50) + ' / ' + fmtMs(d.p95) + ' / ' + fmtMs(d.p99)],
        ['mean', fmtMs(d.meanLatency)],
        ['bytes', fmtBytes(d.bytesRate)],
        ['mTLS', fmtPct(d.mtlsShare)],
      ];
    } else if (d.nodeType === 'group') {
      $('details-title').textContent = 'app ' + d.app;
      rows = [
        ['namespace', d.namespace],
        [
          'versions',
          ele
            .children()
            .map(function (c) {
              return c.data('label');
            })
            .join(', '),
        ],
      ];
    } else {
      $('details-title').textContent = d.nodeType + ' ' + (d.app || d.workload || d.service || d.id);
      rows = [
        ['id', d.id],
        ['namespace', d.namespace],
        ['app', d.app],
        ['version', d.version],
        ['workload', d.workload],
        ['service', d.service],
      ];
    }
    var dl = $('details-list');
    dl.textContent = '';
    rows.forEach(function (r) {
      if (r[1] === '' || r[1] === undefined) return;
      var dt = document.createElement('dt');
      dt.textContent = r[0];
      var dd = document.createElement('dd');
      dd.textContent = String(r[1]);
      dl.append(dt, dd);
    });
    if (ele.isEdge()) {
      var tap = document.createElement('button');
      tap.type = 'button';
      tap.id = 'details-tap';
      tap.textContent = 'Live tap of this edge';
      var src = cy.getElementById(d.source).data();
      var dst = cy.getElementById(d.target).data();
      var title = $('details-title').textContent;
      tap.addEventListener('click', function () {
        window.mixerTap.openEdge(src, dst, title);
      });
      var dd2 = document.createElement('dd');
      dd2.append(tap);
      var dt2 = document.createElement('dt');
      dt2.textContent = 'tap';
      dl.append(dt2, dd2);
    }
    $('details').hidden = false;
  }

  cy.on('tap', 'node, edge', function (evt) {
    showDetails(evt.target);
    // Clicking an edge while a tap is shown moves the tap to that edge.
    if (evt.target.isEdge() && !$('tap').hidden) $('details-tap').click();
  });
  function hideDetails() {
    state.detailsId = null;
    $('details').hidden = true;
  }

  /** After a reload: the panel follows the element's new numbers, or closes when it is gone. */
  function refreshDetails() {
    if (state.detailsId === null) return;
    var ele = cy.getElementById(state.detailsId);
    if (ele.nonempty()) showDetails(ele);
    else hideDetails();
  }

  cy.on('tap', function (evt) {
    if (evt.target === cy) hideDetails();
  });
  $('details-close').addEventListener('click', hideDetails);

  // ---- controls --------------------------------------------------------------------------------

  $('window').value = state.window;
  $('window').addEventListener('change', function (evt) {
    state.window = evt.target.value;
    var url = new URL(location.href);
    url.searchParams.set('window', state.window);
    history.replaceState(null, '', url);
    load();
  });
  $('auto').addEventListener('change', schedule);
  $('refresh').addEventListener('click', load);

  load();
})();
