/** The page's CSS (page.ts): dark, one column below 800 px, usable at 420 px. */
export const PAGE_STYLE = `
  :root { --bg: #0f1419; --panel: #171d24; --line: #263040; --text: #d6dde6; --dim: #7d8a9a; --ok: #4cc38a; --warn: #e5b454; --bad: #e5636b; --accent: #5aa9e6; --violet: #b48ef0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; padding: 12px 20px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0; font-weight: 600; }
  #live { width: 10px; height: 10px; border-radius: 50%; background: var(--bad); flex: none; }
  #live.on { background: var(--ok); }
  nav { display: flex; gap: 4px; }
  nav a { color: var(--dim); text-decoration: none; padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; }
  nav a.on { color: var(--text); background: var(--panel); border-color: var(--accent); }
  nav a[hidden] { display: none; }
  #when { color: var(--dim); margin-left: auto; font-variant-numeric: tabular-nums; }
  #stale { display: none; background: #3a2327; color: #ffd6d9; border-bottom: 1px solid var(--bad); padding: 8px 20px; font-weight: 500; }
  body.stale #stale { display: block; }
  body.stale main { opacity: .55; filter: grayscale(.6); }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 20px; }
  main[hidden] { display: none; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
  section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--dim); margin: 0 0 10px; font-weight: 600; }
  section h2 .id { text-transform: none; letter-spacing: 0; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  .wide { grid-column: 1 / -1; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(110px, 1fr)); gap: 10px; }
  .card { padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; }
  .card .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .card .k { color: var(--dim); font-size: 12px; }
  .bar { position: relative; height: 8px; background: var(--line); border-radius: 4px; margin-top: 10px; }
  .bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent); border-radius: 4px; }
  .bar .mark { position: absolute; top: -3px; bottom: -3px; width: 2px; background: var(--warn); }
  .chart svg { width: 100%; height: 170px; display: block; overflow: visible; }
  .chart text { fill: var(--dim); font-size: 10px; font-variant-numeric: tabular-nums; }
  .chart .grid { stroke: var(--line); stroke-width: 1; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--dim); margin-bottom: 4px; }
  .legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 5px; border-radius: 2px; }
  .legend i.dash { background-image: linear-gradient(90deg, var(--panel) 50%, transparent 50%) !important; background-size: 6px 3px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 260px; }
  th { color: var(--dim); font-weight: 500; font-size: 12px; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #1e2631; }
  .scroll { max-height: 360px; overflow: auto; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
  .in { color: var(--accent); } .out { color: var(--ok); }
  .ev-trimmed, .ev-trim, .ev-refused, .ev-closed { color: var(--warn); } .ev-failed { color: var(--bad); } .ev-connected { color: var(--ok); }
  .empty { color: var(--dim); }
  a { color: var(--accent); }
  ol { margin: 0; padding-left: 18px; }
  .tools { display: flex; gap: 8px; margin-bottom: 8px; flex-wrap: wrap; }
  .tools input, .tools select { background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; font: inherit; min-width: 0; flex: 1 1 120px; }
  .tools select { flex: 0 1 auto; }
  #graph { width: 100%; height: 62vh; min-height: 340px; display: block; background: #0c1116; border-radius: 6px; touch-action: none; }
  #graph line { stroke: #3b5068; stroke-width: 1.2; transition: stroke .4s, stroke-width .4s; }
  #graph line.prot { stroke: var(--warn); stroke-width: 2; }
  #graph line.fresh { stroke: #9ff0c8; stroke-width: 3; }
  #graph line.gone { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 3 3; }
  #graph line.sel-out { stroke: var(--ok); stroke-width: 2.4; }
  #graph line.sel-in { stroke: var(--accent); stroke-width: 2.4; }
  #graph line.faded { stroke-opacity: .25; }
  #graph circle { stroke: #0c1116; stroke-width: 1.5; cursor: pointer; transition: stroke .3s, stroke-width .3s; }
  #graph circle.inside { fill: var(--ok); } #graph circle.below { fill: var(--warn); } #graph circle.above { fill: var(--bad); }
  #graph circle.outside { fill: #0c1116; stroke: var(--dim); stroke-dasharray: 2 2; }
  #graph circle.boot { stroke: var(--violet); stroke-width: 3; }
  #graph circle.sel { stroke: #fff; stroke-width: 3; }
  #graph circle.flash-refused { stroke: var(--bad); stroke-width: 6; }
  #graph circle.flash-trimmed { stroke: var(--warn); stroke-width: 6; }
  #graph text { fill: var(--dim); font-size: 10px; pointer-events: none; }
  .netlayout { display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 16px; }
  #nodeinfo { max-height: 62vh; overflow: auto; }
  .kv { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; font-size: 13px; margin-bottom: 8px; }
  .kv b { color: var(--dim); font-weight: 500; }
  .pill { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; border: 1px solid var(--line); margin-right: 4px; }
  .pill.open { border-color: var(--bad); color: var(--bad); } .pill.closed { color: var(--ok); } .pill.half-open { color: var(--warn); border-color: var(--warn); }
  @media (max-width: 800px) {
    main { grid-template-columns: 1fr; padding: 10px; gap: 10px; }
    .netlayout { grid-template-columns: 1fr; }
    header { padding: 10px; }
    #when { margin-left: 0; width: 100%; }
    #graph { height: 50vh; min-height: 280px; }
    th, td { max-width: 140px; }
    /* The mesh table keeps what matters on a phone: role, instance, rates, breakers. */
    #view-mesh th:nth-child(3), #view-mesh td:nth-child(3), #view-mesh th:nth-child(5), #view-mesh td:nth-child(5), #view-mesh th:nth-child(6), #view-mesh td:nth-child(6) { display: none; }
  }
`
