// perfaudit's flame graph (an icicle: callers above their callees, widths are time).
// Everything it shows was computed in Python and comes from the JSON blob in #data; it
// builds the DOM with createElement and textContent only, never innerHTML.
(function () {
  "use strict";
  var ROW = 18;
  var MIN_PX = 0.5; // frames narrower than this are not drawn
  var data = JSON.parse(document.getElementById("data").textContent);
  var frames = data.frames;

  function frameOf(node) {
    var f = frames[node[0]];
    return { name: f[0], file: f[1], line: f[2], owner: f[3] };
  }
  function kids(node) {
    return node[2] || [];
  }
  function ms(seconds) {
    var value = seconds * 1000;
    return (value >= 100 ? value.toFixed(0) : value.toFixed(2)) + " ms";
  }
  function pct(x) {
    return (x * 100).toFixed(1) + "%";
  }
  function matches(node, query) {
    if (!query) return false;
    var f = frameOf(node);
    return f.owner !== "root" &&
      (f.name.toLowerCase().indexOf(query) >= 0 || f.file.toLowerCase().indexOf(query) >= 0);
  }
  function matchedValue(node, query) {
    if (matches(node, query)) return node[1];
    return kids(node).reduce(function (sum, kid) { return sum + matchedValue(kid, query); }, 0);
  }
  function tooltip(node, total) {
    var f = frameOf(node);
    var where = f.file ? "\n" + f.file + (f.line ? ":" + f.line : "") : "";
    return f.name + where + "\n" + ms(node[1]) + " · " + pct(node[1] / total) + " of the route";
  }

  function drawGraph(graph, state, zoomTo) {
    var focus = state.path[state.path.length - 1];
    var total = state.flame.tree[1] || 1;
    var px = graph.clientWidth || 1000;
    var deepest = 0;
    graph.replaceChildren();
    function lay(node, path, depth, x, width) {
      if (width * px < MIN_PX) return;
      deepest = Math.max(deepest, depth);
      graph.appendChild(frameBox(node, path, depth, x, width));
      var offset = x;
      kids(node).forEach(function (kid) {
        var w = node[1] > 0 ? width * kid[1] / node[1] : 0;
        lay(kid, path.concat([kid]), depth + 1, offset, w);
        offset += w;
      });
    }
    function frameBox(node, path, depth, x, width) {
      var f = frameOf(node);
      var box = document.createElement("div");
      box.className = "fr o-" + f.owner + (matches(node, state.query) ? " hit" : "");
      box.style.left = (x * 100) + "%";
      box.style.width = (width * 100) + "%";
      box.style.top = (depth * ROW) + "px";
      box.textContent = f.name;
      box.title = tooltip(node, total);
      box.tabIndex = 0;
      box.setAttribute("role", "treeitem");
      box.addEventListener("click", function () { zoomTo(path); });
      box.addEventListener("keydown", function (e) {
        if (e.key === "Enter") zoomTo(path);
      });
      return box;
    }
    lay(focus, state.path, 0, 0, 1);
    graph.style.height = ((deepest + 1) * ROW + 2) + "px";
  }

  function drawCrumbs(nav, state, zoomTo) {
    nav.replaceChildren();
    state.path.forEach(function (node, i) {
      if (i > 0) nav.appendChild(document.createTextNode(" › "));
      var last = i === state.path.length - 1;
      var crumb = document.createElement(last ? "span" : "a");
      crumb.textContent = frameOf(node).name;
      if (!last) {
        crumb.addEventListener("click", function () { zoomTo(state.path.slice(0, i + 1)); });
      }
      nav.appendChild(crumb);
    });
    var focus = state.path[state.path.length - 1];
    var share = " (" + ms(focus[1]) + ", " + pct(focus[1] / (state.flame.tree[1] || 1)) + ")";
    nav.appendChild(document.createTextNode(share));
  }

  function drawMatched(span, state) {
    if (!state.query) {
      span.textContent = "";
      return;
    }
    var tree = state.flame.tree;
    var found = matchedValue(tree, state.query);
    span.textContent = "matched: " + pct(found / (tree[1] || 1)) + " of the route (" + ms(found) + ")";
  }

  function setUp(box, flames) {
    if (!flames.length) return;
    function part(cls) {
      return box.querySelector("." + cls);
    }
    var state = { flame: flames[0], path: [flames[0].tree], query: "" };
    var select = part("route-select");
    flames.forEach(function (flame, i) {
      var option = document.createElement("option");
      option.value = String(i);
      option.textContent = flame.route + " — " + ms(flame.tree[1]) + " (" + flame.profiler + ")";
      select.appendChild(option);
    });
    function draw() {
      drawGraph(part("graph"), state, zoomTo);
      drawCrumbs(part("crumbs"), state, zoomTo);
      drawMatched(part("matched"), state);
    }
    function zoomTo(path) {
      state.path = path;
      draw();
    }
    select.addEventListener("change", function () {
      state.flame = flames[Number(select.value)];
      zoomTo([state.flame.tree]);
    });
    part("reset").addEventListener("click", function () { zoomTo([state.flame.tree]); });
    part("search").addEventListener("input", function (e) {
      state.query = e.target.value.trim().toLowerCase();
      draw();
    });
    window.addEventListener("resize", draw);
    draw();
  }

  var boxes = document.querySelectorAll(".flame");
  for (var i = 0; i < boxes.length; i++) {
    setUp(boxes[i], data.flames[boxes[i].getAttribute("data-key")] || []);
  }
})();
