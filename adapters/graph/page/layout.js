/*
 * Left-to-right layered layout for the Mixer graph page (plain browser JavaScript).
 *
 * Callers sit left of the services they call: each app (a compound node and its versions) or
 * standalone node is a "unit"; units get a column by the longest call path reaching them (cycles
 * broken where a depth-first walk finds them), and rows in a column follow the height of their
 * callers, so chains draw straight. Columns are as far apart as their widest unit needs, plus room
 * for an edge label. Exposes window.MixerGraphLayout.layered(cy): positions of the childless nodes.
 */
(function () {
  'use strict';

  var GAP = 130; // px between neighbouring columns' widest units: room for an edge label
  var NODE_GAP = 34; // px between the versions of one app
  var UNIT_GAP = 64; // px between units of one column: room for a group label (two lines)
  var GROUP_PAD = 14; // compound padding, as styled in app.js
  var GROUP_LABEL_PX = 7.2; // estimated px per character of a group label (13 px bold)
  var GROUP_LABEL_MAX = 170; // group labels wrap at this width (app.js style)

  function byKey(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** Units (apps and standalone nodes) with their nodes, size and the unit-level call graph. */
  function unitsOf(cy) {
    var units = {};
    var unitOf = {};
    cy.nodes()
      .filter(function (n) {
        return n.isChildless();
      })
      .forEach(function (n) {
        var key = n.isChild() ? n.parent().id() : n.id();
        unitOf[n.id()] = key;
        if (!units[key]) units[key] = { key: key, group: n.isChild(), nodes: [], out: [], inc: [] };
        units[key].nodes.push(n);
      });
    Object.keys(units).forEach(function (key) {
      var u = units[key];
      u.nodes.sort(function (a, b) {
        return byKey(a.data('label'), b.data('label')) || byKey(a.id(), b.id());
      });
      var sizes = u.nodes.map(function (n) {
        return n.boundingBox({ includeLabels: true });
      });
      var widest = Math.max.apply(
        null,
        sizes.map(function (s) {
          return s.w;
        }),
      );
      var height =
        sizes.reduce(function (h, s) {
          return h + s.h;
        }, 0) +
        NODE_GAP * (sizes.length - 1);
      u.heights = sizes.map(function (s) {
        return s.h;
      });
      if (u.group) {
        var lines = String(cy.getElementById(key).data('label') || '').split('\n');
        var longest = Math.max.apply(
          null,
          lines.map(function (l) {
            return l.length;
          }),
        );
        widest = Math.max(widest + 2 * GROUP_PAD, Math.min(GROUP_LABEL_MAX, longest * GROUP_LABEL_PX));
        height += 2 * GROUP_PAD;
      }
      u.w = widest;
      u.h = height;
    });
    cy.edges().forEach(function (e) {
      var s = unitOf[e.source().id()];
      var t = unitOf[e.target().id()];
      if (s === undefined || t === undefined || s === t) return;
      if (units[s].out.indexOf(t) < 0) units[s].out.push(t);
      if (units[t].inc.indexOf(s) < 0) units[t].inc.push(s);
    });
    return { units: units, unitOf: unitOf };
  }

  /** Column of every unit: longest path over the calls left after removing the cycle-closing ones. */
  function columns(units) {
    var keys = Object.keys(units).sort(byKey);
    var seen = {}; // 1: on the walk's stack, 2: done
    var postorder = [];
    var back = {};
    function walk(k) {
      seen[k] = 1;
      units[k].out
        .slice()
        .sort(byKey)
        .forEach(function (t) {
          if (seen[t] === 1) back[k + '\n' + t] = true;
          else if (!seen[t]) walk(t);
        });
      seen[k] = 2;
      postorder.push(k);
    }
    keys
      .filter(function (k) {
        return units[k].inc.length === 0;
      })
      .forEach(walk);
    keys.forEach(function (k) {
      if (!seen[k]) walk(k);
    });
    var depth = {};
    keys.forEach(function (k) {
      depth[k] = 0;
    });
    postorder.reverse().forEach(function (k) {
      units[k].out.forEach(function (t) {
        if (!back[k + '\n' + t]) depth[t] = Math.max(depth[t], depth[k] + 1);
      });
    });
    var cols = [];
    keys.forEach(function (k) {
      (cols[depth[k]] = cols[depth[k]] || []).push(units[k]);
    });
    return cols.filter(Boolean);
  }

  /** Positions (model coordinates) of every childless node, by id. */
  function layered(cy) {
    var u = unitsOf(cy);
    var cols = columns(u.units);
    var pos = {};
    var x = 0;
    cols.forEach(function (col, c) {
      var width = Math.max.apply(
        null,
        col.map(function (unit) {
          return unit.w;
        }),
      );
      if (c > 0) x += width / 2;
      // Rows follow the mean height of each unit's callers already placed; the rest keep name order.
      col.forEach(function (unit, i) {
        var ys = [];
        unit.inc.forEach(function (k) {
          u.units[k].nodes.forEach(function (n) {
            if (pos[n.id()]) ys.push(pos[n.id()].y);
          });
        });
        unit.bary = ys.length
          ? ys.reduce(function (a, b) {
              return a + b;
            }, 0) / ys.length
          : undefined;
        unit.index = i;
      });
      col.sort(function (a, b) {
        if (a.bary === undefined || b.bary === undefined) return (a.bary === undefined) - (b.bary === undefined) || a.index - b.index;
        return a.bary - b.bary || a.index - b.index;
      });
      var y = 0;
      var shifts = [];
      col.forEach(function (unit) {
        unit.top = y;
        if (unit.bary !== undefined) shifts.push(unit.bary - (y + unit.h / 2));
        y += unit.h + UNIT_GAP;
      });
      var total = y - UNIT_GAP;
      var shift = shifts.length
        ? shifts.reduce(function (a, b) {
            return a + b;
          }, 0) / shifts.length
        : -total / 2;
      col.forEach(function (unit) {
        var ny = unit.top + shift + (unit.group ? GROUP_PAD : 0);
        unit.nodes.forEach(function (n, i) {
          pos[n.id()] = { x: x, y: ny + unit.heights[i] / 2 };
          ny += unit.heights[i] + NODE_GAP;
        });
      });
      x += width / 2 + GAP;
    });
    return pos;
  }

  window.MixerGraphLayout = { layered: layered };
})();
