"""Tables and ratios from a run's results (the dict written as JSON)."""

# Which floor each Stratus target is compared with: the same function code, no platform.
FLOOR_OF = {"stratus-rust": "floor-rust", "stratus-python": "floor-python"}
PEER_OF = {"stratus-rust": "peer-rust"}


def _fmt(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def _ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return round(a / b, 2)


def table(headers, rows):
    cols = [headers] + [[_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cols):
        lines.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _lat(r):
    lat = r.get("ok_latency") or r["latency"]
    return lat


def condition_range(conds):
    """One line for many runs' conditions: how many were idle, the range of other load."""
    conds = [c for c in conds if c]
    if not conds:
        return "-"
    other = [c["other_load_pct"] for c in conds]
    idle = sum(1 for o in other if o < 10)
    return (f"{len(conds)} runs, {idle} idle; other load {min(other):.0f}–{max(other):.0f}% "
            "of a vCPU")


def latency_rows(results):
    """Rows of a latency table at concurrency 1, with ratios to floor and peer (p50, p99)."""
    rows = []
    for name, r in results.items():
        lat = _lat(r)
        fl, pe = results.get(FLOOR_OF.get(name)), results.get(PEER_OF.get(name))
        rows.append([
            name, round(lat["p50_us"]), round(lat["p95_us"]), round(lat["p99_us"]),
            round(r["throughput_rps"]), r["errors"],
            _fmt(_ratio(lat["p50_us"], _lat(fl)["p50_us"]) if fl else None, 2),
            _fmt(_ratio(lat["p99_us"], _lat(fl)["p99_us"]) if fl else None, 2),
            _fmt(_ratio(lat["p50_us"], _lat(pe)["p50_us"]) if pe else None, 2),
            r.get("condition", {}).get("label", ""),
        ])
    return rows


LAT_HEAD = ["target", "p50 µs", "p95 µs", "p99 µs", "inv/s", "errors", "p50 ×floor",
            "p99 ×floor", "p50 ×peer", "condition"]


def ratios(res):
    """The headline ratios, for the JSON and the table footers."""
    out = {}
    wt = res.get("workloads", {}).get("warm_and_throughput")
    if wt:
        for c, targets in wt["levels"].items():
            for name in FLOOR_OF:
                if name not in targets:
                    continue
                s = targets[name]
                for kind, other in [("floor", FLOOR_OF[name]), ("peer", PEER_OF.get(name))]:
                    o = targets.get(other)
                    if not o:
                        continue
                    out.setdefault(f"c{c}", {})[f"{name} / {other}"] = {
                        "p50_latency": _ratio(_lat(s)["p50_us"], _lat(o)["p50_us"]),
                        "p99_latency": _ratio(_lat(s)["p99_us"], _lat(o)["p99_us"]),
                        "throughput": _ratio(s["throughput_rps"], o["throughput_rps"]),
                    }
    pl = res.get("workloads", {}).get("pinned_latency")
    if pl:
        for name, fl in FLOOR_OF.items():
            if name in pl and fl in pl:
                out.setdefault("pinned_c1", {})[f"{name} / {fl}"] = {
                    "p50_latency": _ratio(_lat(pl[name])["p50_us"], _lat(pl[fl])["p50_us"])}
    cs = res.get("workloads", {}).get("cold_start")
    if cs:
        for kind in cs["namespaces"]:
            ns = cs["namespaces"].get(kind, {})
            fl = cs["floor_exec"].get(kind)
            if ns.get("p50_total_ms") and fl:
                out.setdefault("cold_start", {})[f"stratus-{kind} / floor fork+exec"] = _ratio(
                    ns["p50_total_ms"], fl["until_first_response"]["p50_us"] / 1000)
        peer = cs.get("peer")
        if peer and peer.get("p50_total_ms"):
            out.setdefault("cold_start", {})["stratus-rust / peer first invoke"] = _ratio(
                cs["namespaces"]["rust"]["p50_total_ms"], peer["p50_total_ms"])
    http = res.get("workloads", {}).get("event_sources", {}).get("http", {})
    for c in (1, 16):
        h, i = http.get(f"c{c}"), http.get(f"invoke_c{c}")
        if h and i:
            out.setdefault(f"http_c{c}", {})["HTTP API / Invoke (same server)"] = {
                "p50_latency": _ratio(h["p50_us"], i["p50_us"]),
                "throughput": _ratio(h["throughput_rps"], i["throughput_rps"]),
            }
    return out


def render(res):
    w = res["workloads"]
    parts = []
    meta = res["meta"]
    parts.append(f"Stratus benchmarks — {meta['timestamp']}  commit {meta['commit']}  "
                 f"({meta['mode']}; {meta['machine']['nproc']} vCPUs, "
                 f"{meta['machine']['mem_total_gib']} GiB, kernel {meta['machine']['kernel']})")
    parts.append(f"peer: {meta['peer']['tool']} — "
                 + (meta["peer"]["version"] if meta["peer"]["available"]
                    else f"SKIPPED: {meta['peer']['reason']}"))
    wt = w.get("warm_and_throughput")
    if wt:
        c1 = wt["levels"].get("1", {})
        parts.append("\n1. Warm invoke latency, concurrency 1, keep-alive (unpinned)\n"
                     + table(LAT_HEAD, latency_rows(c1)))
        oh = wt.get("api_overhead", {})
        if oh:
            rows = [[n, round(r["report"]["overhead_us"]["p50_us"]),
                     round(r["report"]["duration_us"]["p50_us"]),
                     round(_lat(r)["p50_us"])] for n, r in oh.items() if r.get("report")]
            parts.append("   Platform overhead (client latency − REPORT Duration), log tail on:\n"
                         + table(["target", "overhead p50 µs", "Duration p50 µs",
                                  "latency p50 µs"], rows))
        levels = list(wt["levels"])
        names = list(dict.fromkeys(n for lv in wt["levels"].values() for n in lv))
        rows = []
        for n in names:
            row = [n]
            for c in levels:
                r = wt["levels"][c].get(n)
                row.append("-" if r is None else
                           f"{r['throughput_rps']:,.0f}" + (f" ({r['errors']} err)"
                                                           if r["errors"] else ""))
            rows.append(row)
        for name in FLOOR_OF:
            for other in [FLOOR_OF[name], PEER_OF.get(name)]:
                if other and other in names and name in names:
                    row = [f"{name} / {other}"]
                    for c in levels:
                        a, b = wt["levels"][c].get(name), wt["levels"][c].get(other)
                        row.append(_fmt(_ratio(a and a["throughput_rps"],
                                               b and b["throughput_rps"]), 2))
                    rows.append(row)
        parts.append("\n2. Throughput, invokes/s (closed loop; one environment/runtime per "
                     "client)\n" + table(["target"] + [f"c={c}" for c in levels], rows))
        parts.append("   conditions: " + condition_range(
            [r.get("condition", {}) for lv in wt["levels"].values() for r in lv.values()]))
    pl = w.get("pinned_latency")
    if pl:
        parts.append("\n1b. Warm invoke latency, concurrency 1, everything on vCPU 0 "
                     "(taskset -c 0)\n" + table(LAT_HEAD, latency_rows(pl)))
    az = w.get("authorization")
    if az:
        rows = [[n, s["p50_us"], s["p99_us"], s["added_p50_us"], s["errors"]]
                for n, s in az["summary"].items()]
        parts.append("\n1c. What authorization adds to a warm invoke, concurrency 1, vCPU 0 "
                     "(median of rounds)\n"
                     + table(["target", "p50 µs", "p99 µs", "added p50 µs", "errors"], rows))
    cs = w.get("cold_start")
    if cs:
        rows = []
        for kind, sp in cs.get("split", {}).items():
            ns = cs["namespaces"][kind]
            rows.append([kind] + [_fmt(v, 1) for v in [
                sp["total_ms"], sp["sandbox_setup_ms"], sp["runtime_init_ms"],
                sp["runtime_init_floor_ms"], sp["first_invoke_ms"], sp["api_overhead_ms"],
                sp["other_ms"], ns["max_total_ms"]]] + [f"{ns['versions']} ({ns['errors']} err)"])
        parts.append(
            "\n3. Cold start: first invoke of a fresh version, p50 ms\n"
            + table(["fn", "total", "sandbox", "runtime init", "(bare exec→/next)",
                     "first invoke", "API", "other", "max total", "versions"], rows))
        fl = cs.get("floor_exec", {})
        line = "   floor, bare fork+exec → first response (p50 ms): " + ", ".join(
            f"{k} {v['until_first_response']['p50_us'] / 1000:.2f}" for k, v in fl.items())
        peer = cs.get("peer")
        if peer:
            line += (f"\n   peer: first invoke after `cargo lambda watch` starts (through "
                     f"`cargo run`): p50 {peer['p50_total_ms']:.1f} ms over {peer['count']}")
        parts.append(line)
    sdk = w.get("sdk_cold_start")
    if sdk and "skipped" not in sdk:
        rows = []
        for kind in ("sdk-runtime", "sdk-packaged", "python-boto3-snapstart"):
            if kind not in sdk:
                continue
            r = sdk[kind]
            rows.append([kind] + [_fmt(v, 1) for v in [
                r["p50_total_ms"], r["p50_init_ms"], r["p50_invoke_ms"], r["max_total_ms"]]]
                + [_fmt(sdk["package_bytes"][kind]), f"{r['versions']} ({r['errors']} err)"])
        parts.append("\n3b. Cold start of a python function importing boto3: SDK in the runtime "
                     "vs packaged, and with SnapStart (init at publish: `init` is empty, the "
                     "restore is in `total`), p50 ms\n" + table(["fn", "total", "init", "first invoke",
                                                       "max total", "zip bytes", "versions"],
                                                      rows))
    elif sdk:
        parts.append(f"\n3b. Cold start with boto3: skipped ({sdk['skipped']})")
    so = w.get("scale_out")
    if so:
        rows = []
        for n, r in so.items():
            rows.append([n, _fmt(r["all_answered_s"], 2), r["errors"],
                         round(r["latency_p50_ms"]), round(r["latency_max_ms"]),
                         _fmt(r["platform_peak_rss_kb"] / 1024, 1),
                         round(r["environments_peak_sampled"]["rss_kb"] / 1024),
                         round(r["environments_after"]["pss_kb"] / 1024),
                         r["environments_after"]["processes"], _fmt(r["shutdown_s"], 1)])
        parts.append("\n4. Scale-out from zero, function sleeps 1 s\n" + table(
            ["envs", "all answered s", "errors", "p50 ms", "max ms", "platform peak MiB",
             "envs RSS MiB (peak)", "envs PSS MiB", "env procs", "shutdown s"], rows))
    idle = w.get("idle_footprint")
    if idle:
        rows = []
        for phase in ["empty", "deployed_no_environments", "before_reclaim", "after_reclaim"]:
            r = idle[phase]
            rows.append([phase, _fmt(r["platform_rss_kb"] / 1024, 1),
                         _fmt(r["platform_cpu_pct"], 2), r["function_processes"],
                         _fmt(r["environments_rss_kb"] / 1024, 1),
                         _fmt(r["environments_pss_kb"] / 1024, 1)])
        parts.append(f"\n5. Idle footprint, {idle['functions']} functions, idle timeout "
                     f"{idle['idle_timeout_s']} s (reclaimed {idle['reclaimed_after_s']} s "
                     "after the last invoke)\n" + table(
                         ["phase", "platform RSS MiB", "platform CPU %", "function procs",
                          "envs RSS MiB", "envs PSS MiB"], rows))
    ev = w.get("event_sources")
    if ev:
        parts.append("\n6. Event sources" + render_sources(ev))
    tb = w.get("tables")
    if tb:
        c1 = tb["levels"].get("1", {})
        rows = [[op, r["p50_us"], r["p95_us"], r["p99_us"], round(r["throughput_rps"]),
                 r["errors"]] for op, r in c1.items()]
        parts.append("\n7. Tables (DynamoDB API), concurrency 1, keep-alive\n" + table(
            ["operation", "p50 µs", "p95 µs", "p99 µs", "req/s", "errors"], rows))
        levels = list(tb["levels"])
        ops = list(dict.fromkeys(op for lv in tb["levels"].values() for op in lv))
        rows = [[op] + [f"{tb['levels'][c][op]['throughput_rps']:,.0f}"
                        + (f" ({tb['levels'][c][op]['errors']} err)"
                           if tb["levels"][c][op]["errors"] else "")
                        if op in tb["levels"][c] else "-" for c in levels] for op in ops]
        parts.append("   throughput, requests/s\n"
                     + table(["operation"] + [f"c={c}" for c in levels], rows))
        parts.append("   conditions: " + condition_range(
            [r.get("condition") for lv in tb["levels"].values() for r in lv.values()]))
    bk = w.get("backends")
    if bk:
        rows, skipped = [], []
        for kind, ops in bk["backends"].items():
            if "skipped" in ops:
                rows.append([kind, "skipped", "", "", "", ""])
                skipped.append(f"   {kind}: {ops['skipped']}")
                continue
            for op, lv in ops.items():
                c1, c16 = lv.get("c1", {}), lv.get("c16", {})
                errs = c1.get("errors", 0) + c16.get("errors", 0)
                rows.append([kind, op, c1.get("p50_us"), c1.get("p99_us"),
                             c16.get("throughput_rps"), errs])
        parts.append("\n8. Storage backends: the same requests on SQLite + local disk and on "
                     "PostgreSQL + S3\n" + table(["backend", "request", "c=1 p50 µs",
                                                   "c=1 p99 µs", "c=16 req/s", "errors"], rows)
                     + "".join("\n" + line for line in skipped))
    cl = w.get("cluster")
    if cl:
        parts.append(render_cluster(cl))
    q = w.get("queues")
    if q:
        parts.append(render_queues(q))
    st = w.get("streaming")
    if st:
        from . import streaming
        parts.append(streaming.render(st))
    j = w.get("jwt")
    if j:
        parts.append(render_jwt(j))
    rat = res.get("ratios", {})
    if rat:
        lines = ["\nRatios, Stratus / floor and Stratus / peer (latency > 1: Stratus slower; "
                 "throughput < 1: Stratus lower)"]
        for group, items in rat.items():
            for k, v in items.items():
                if isinstance(v, dict):
                    v = ", ".join(f"{m.replace('_', ' ')} {x}" for m, x in v.items()
                                  if x is not None)
                lines.append(f"  {group:<11} {k:<38} {v}")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def render_queues(q):
    """10. Queues, mappings and event buses."""
    parts = ["\n10. SQS, event source mappings and EventBridge (one server)"]
    sqs = q.get("sqs", {})
    if "error" in sqs:
        parts.append(f"   sqs: {sqs['error']}")
    elif sqs:
        rows = []
        for c, r in sqs.items():
            send, recv = r["send"], r["receive_calls"]
            rows.append([c, f"{send['throughput_rps']:,.0f}", send["p50_us"],
                         f"{recv['throughput_rps']:,.0f}", f"{recv['throughput_rps'] * 10:,.0f}",
                         recv["p50_us"], send["errors"] + recv["errors"]])
        parts.append(table(["connections", "sends/s", "send p50 µs", "receive calls/s",
                            "messages received/s", "receive p50 µs", "errors"], rows))
    for key, label in [("mapping_first_line", "SendMessage → function first line (mapping)"),
                       ("put_events_first_line", "PutEvents → function first line (rule)")]:
        r = q.get(key, {})
        e = r.get("end_to_end", {})
        parts.append(f"   {label}: " + (r["error"] if "error" in r else
                     f"p50 {e.get('p50_ms')} ms, p95 {e.get('p95_ms')} ms over {e.get('count')}"
                     f", lost {r.get('lost')}"))
    d = q.get("mapping_drain", {})
    parts.append("   drain with BatchSize 10: " + (d["error"] if "error" in d else
                 f"{d.get('messages'):,} messages in {d.get('seconds')} s "
                 f"({d.get('messages_per_s'):,} messages/s)"))
    return "\n".join(parts)


def render_cluster(cl):
    """9. Three nodes on one database: throughput, a forward's cost, a node's death."""
    if "skipped" in cl:
        return f"\n9. Cluster: skipped ({cl['skipped']})"
    tp, fw, dd = cl["throughput_c16"], cl["forwarding_c1"], cl["node_death"]
    rows = [[k, r["throughput_rps"], r["p50_us"], r["p99_us"], r["errors"]]
            for k, r in tp.items() if k != "ran_per_node"]
    text = ("\n9. Cluster (PostgreSQL, blob store: " + cl["blob_store"] + "), one warm Rust "
            "function, concurrency 16 (the three-node rows: two alternating rounds each)\n" + table(
                ["nodes", "req/s", "p50 µs", "p99 µs", "errors"], rows))
    rows = [[f"{k} ({fw['home'] if k == 'direct' else fw['via'] + ' -> ' + fw['home']})",
             fw[k]["p50_us"], fw[k]["p99_us"], fw[k]["requests"], fw[k]["errors"]]
            for k in ("direct", "forwarded")]
    text += ("\n   a warm invoke at concurrency 1: on its home node, and through another node "
             f"(medians of {len(fw['direct'].get('rounds', [])) or 1} alternating rounds)\n"
             + table(["sent", "p50 µs", "p99 µs", "requests", "errors"], rows)
             + f"\n   forwarding adds {fw['overhead_p50_us']:,.0f} µs at p50, "
               f"{fw['overhead_p99_us']:,.0f} µs at p99")
    def span(held):
        rs = [r for r in dd["reruns"].values() if r["held_by_victim"] == held]
        starts = [r["started_s"] for r in rs if r["started_s"] is not None]
        if not rs:
            return "none"
        claimed = [r["claimed_s"] for r in rs if r.get("claimed_s") is not None]
        taken = (f"taken by a live node {_fmt(min(claimed), 2)}-{_fmt(max(claimed), 2)} s, "
                 if claimed else "")
        loading = [r["loading_s"] for r in rs if r.get("loading_s") is not None]
        if loading:
            taken += (f"code loading from {_fmt(min(loading), 2)}-{_fmt(max(loading), 2)} s, ")
        return (f"{len(rs)}, {taken}handler running from {_fmt(min(starts, default=None), 2)} to "
                f"{_fmt(max(starts, default=None), 2)} s, finished by "
                f"{_fmt(max(r['ended_s'] for r in rs), 2)} s")
    text += (f"\n   SIGKILL of {dd['victim']} (lease {cl['lease_s']} s), "
             f"{len(dd['reruns'])} of {dd['events']} async events unfinished, function sleeps "
             f"{dd['function_sleep_s']} s: the others stop listing it after "
             f"{_fmt(dd['detected_s']['max'], 2)} s"
             f"\n     events leased to it: {span(True)}"
             f"\n     events another node had forwarded to it: {span(False)}"
             f"\n     (seconds after the kill; most runs of one event: "
             f"{dd['runs_per_event_max']})")
    return text


def _e2e(r):
    if "error" in r:
        return ["error: " + r["error"][:80], "", "", ""]
    e = r["end_to_end"]
    return [e.get("count", 0), _fmt(e.get("p50_ms"), 1), _fmt(e.get("p95_ms"), 1),
            _fmt(e.get("max_ms"), 1)]


def _rps(r):
    return [f"{r['throughput_rps']:,.0f}" + (f" ({r['errors']} err)" if r["errors"] else ""),
            r["p50_us"], r["p99_us"]]


def render_sources(ev):
    """Section 6: asynchronous, S3, HTTP API and function URL workloads."""
    rows = [[name] + _e2e(ev[name]) for name in ("async", "s3") if name in ev]
    out = ["\n   End to end, one event at a time (client send → function's first line)\n"
           + table(["source", "events", "p50 ms", "p95 ms", "max ms"], rows)]
    acc = ev.get("async", {}).get("accepted_c4")
    if acc:
        out.append(f"   Event invokes accepted (202), 4 clients: {acc['throughput_rps']:,.0f}/s, "
                   f"p50 {acc['p50_us']} µs, {acc['errors']} errors")
    rows = []
    http = ev.get("http", {})
    if "error" in http:
        rows.append(["HTTP API", "error: " + http["error"][:80], "", "", "", "", ""])
    elif http:
        if "invoke_c1" in http:
            rows.append(["Invoke → rust no-op (same server)"] + _rps(http["invoke_c1"])
                        + _rps(http["invoke_c16"]))
        rows.append(["HTTP API → rust no-op"] + _rps(http["c1"]) + _rps(http["c16"]))
    url = ev.get("url", {})
    if "error" in url:
        rows.append(["Function URL", "error: " + url["error"][:80], "", "", "", "", ""])
    elif url:
        rows.append(["Function URL → rust no-op"] + _rps(url["c1"]) + _rps(url["c16"]))
    if rows:
        out.append("\n   Requests/s and latency, keep-alive, closed loop\n" + table(
            ["workload", "c=1 req/s", "c=1 p50 µs", "c=1 p99 µs", "c=16 req/s", "c=16 p50 µs",
             "c=16 p99 µs"], rows))
    return "\n".join(out)


def render_jwt(j):
    """11. The JWT authorizer's cost on an HTTP API request."""
    if "error" in j:
        return f"\n11. HTTP API with a JWT authorizer: {j['error']}"
    rows = [[name, j[name]["p50_us"], j[name]["p95_us"], j[name]["throughput_rps"],
             j[name]["errors"]] for name in ("open", "jwt")]
    return ("\n11. HTTP API route, open and behind a JWT authorizer (RS256, keys cached), "
            "concurrency 1\n" + table(["route", "p50 µs", "p95 µs", "req/s", "errors"], rows)
            + f"\n   JWT overhead: p50 {j['overhead_p50_us']} µs, p95 {j['overhead_p95_us']} µs")
