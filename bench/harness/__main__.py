"""`bench/run`: build in release mode, start the servers, run every workload, print a table and
write bench/results/<timestamp>.json. See docs/benchmarks.md."""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import deploy, peer, report, workloads

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a ~2-minute subset")
    ap.add_argument("--only", help="comma-separated workloads: "
                    + ", ".join(n for n, _ in workloads.WORKLOADS))
    ap.add_argument("--skip-peer", action="store_true", help="do not run cargo lambda watch")
    ap.add_argument("--install-peer", action="store_true",
                    help="install cargo-lambda (if missing) and exit")
    ap.add_argument("--profile", action="store_true",
                    help="profile the warm invoke path instead of benchmarking")
    ap.add_argument("--profile-invokes", type=int, default=1000)
    ap.add_argument("--profile-authorization", action="store_true",
                    help="instructions per warm invoke with IAM off and enforced (callgrind)")
    ap.add_argument("--profile-http-api", action="store_true",
                    help="instructions per warm request through Invoke and through an HTTP "
                         "API route to the same function (callgrind)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data directories")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a results file")
    return ap.parse_args()


def build(no_build):
    if not no_build:
        log("building stratus (release)")
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "stratus"],
                       cwd=REPO, check=True)
        log("building bench tools (release)")
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=BENCH, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    bins = {
        # BENCH_STRATUS_BIN: another build of stratus (an earlier commit's, for before/after).
        "stratus": Path(os.environ.get("BENCH_STRATUS_BIN", target / "release" / "stratus")),
        "loadgen": BENCH / "target" / "release" / "loadgen",
        "floor": BENCH / "target" / "release" / "floor",
        "noop-fn": BENCH / "target" / "release" / "noop-fn",
    }
    for name, path in bins.items():
        if not path.is_file():
            sys.exit(f"bench: {name} not found at {path}")
    # The runtimes' SDKs every server shares (set-up: from the package registries, once).
    log("installing the runtimes' SDKs (kept once installed)")
    subprocess.run([str(bins["stratus"]), "runtimes", "install", "--sdk-dir",
                    str(REPO / "target" / "runtime-sdks")], check=False)
    return bins


def git(*args):
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip()


def machine():
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "mem_total_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "cpu": cpu,
            "loadavg_at_start": os.getloadavg()}


def main():
    args = parse_args()
    tools = BENCH / ".tools"
    if args.render:
        res = json.loads(Path(args.render).read_text())
        res["ratios"] = report.ratios(res)
        print(report.render(res))
        return 0
    if args.install_peer:
        st = peer.ensure(tools, True, log)
        print(json.dumps(st.as_dict(), indent=2))
        return 0 if st.available else 1
    bins = build(args.no_build)
    if args.profile_authorization:
        from . import profile
        return profile.authorization(bins, BENCH, args.profile_invokes, log)
    if args.profile_http_api:
        from . import profile
        return profile.http_api(bins, BENCH, args.profile_invokes, log)
    if args.profile:
        from . import profile
        return profile.run(bins, BENCH, REPO, args.profile_invokes, log)
    plan = workloads.QUICK if args.quick else workloads.Plan()
    selected = args.only.split(",") if args.only else [n for n, _ in workloads.WORKLOADS]
    unknown = set(selected) - {n for n, _ in workloads.WORKLOADS}
    if unknown:
        sys.exit(f"bench: unknown workloads {sorted(unknown)}")
    if args.skip_peer:
        st = peer.PeerStatus(False, "skipped with --skip-peer")
    else:
        st = peer.ensure(tools, not args.quick, log)
    if not st.available:
        log(f"peer skipped: {st.reason}")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    res = {"meta": {
        "timestamp": stamp,
        "commit": git("rev-parse", "--short=12", "HEAD") + ("-dirty" if dirty else ""),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "command": "bench/run " + " ".join(sys.argv[1:]),
        "mode": "quick" if args.quick else "full",
        "plan": plan.__dict__,
        "machine": machine(),
        "peer": st.as_dict(),
    }, "workloads": {}, "failures": {}}
    work = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    ctx = workloads.Ctx(
        plan=plan, stratus_bin=bins["stratus"], loadgen_bin=bins["loadgen"],
        floor_bin=bins["floor"], noop_fn=bins["noop-fn"], repo=REPO, bench_dir=BENCH,
        work_dir=work, packages=deploy.Packages(bins["noop-fn"]), peer=st, log=log,
        python=workloads.real_python(),
    )
    started = time.monotonic()
    try:
        for name, fn in workloads.WORKLOADS:
            if name not in selected:
                continue
            log(f"workload {name}")
            t0 = time.monotonic()
            try:
                res["workloads"][name] = fn(ctx)
            except Exception as e:  # one broken workload must not lose the others' results
                log(f"workload {name} FAILED: {e}")
                res["failures"][name] = traceback.format_exc()
            log(f"workload {name} took {time.monotonic() - t0:.0f} s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    res["meta"]["machine"]["loadavg_at_end"] = os.getloadavg()
    res["ratios"] = report.ratios(res)
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{stamp}.json"
    path.write_text(json.dumps(res, indent=1))
    text = report.render(res)
    (out_dir / f"{stamp}.txt").write_text(text + "\n")
    print(text)
    for name, tb in res["failures"].items():
        print(f"\nworkload {name} failed:\n{tb}")
    print(f"\nresults: {path}  ({res['meta']['duration_s']:.0f} s)")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
