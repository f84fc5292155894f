#!/usr/bin/env python3
"""The web console's first paint and weight, per page, in headless chromium.

    .venv/bin/python bench/console.py [--rounds 5] [--stratus target/release/stratus]

Starts `stratus serve` on a free 127.0.0.1 port with a fresh data directory, creates a few
resources so pages have content, signs in once, then loads each page from a blank tab
`--rounds` times and reports, per page, p50 of: first contentful paint (the browser's own
timing), the moment the page's content is on screen (`stratus:rendered`, marked by the
console's router after the page's module has rendered, API calls included), and the bytes
transferred for the load (document, modules, API answers; caching disabled). The issue's
targets: content under 200 ms, under 200 KB.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from selenium import webdriver

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.deploy import ROLE, ensure_role  # noqa: E402
from harness.servers import RUNTIME_ENV, free_port, wait_port  # noqa: E402

PAGES = ["", "functions", "functions/bench-fn", "buckets", "tables", "topics", "queues",
         "rules", "apis", "rollouts", "usage"]

TIMING = """
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const done = performance.getEntriesByName('stratus:rendered')[0];
const bytes = [nav, ...performance.getEntriesByType('resource')]
  .reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0);
return done ? {fcp: fcp ? fcp.startTime : null, rendered: done.startTime, bytes} : null;
"""


def seed(url):
    cfg = Config(region_name="us-east-1", retries={"max_attempts": 1})
    kw = dict(endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test", config=cfg)
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(e, c):\n    print('hi')\n    return e\n")
    lam = boto3.client("lambda", **kw)
    ensure_role(lam)
    lam.create_function(FunctionName="bench-fn", Runtime="python3.12", Handler="app.handler",
                        Role=ROLE, Code={"ZipFile": buf.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName="bench-fn")
    for _ in range(5):
        lam.invoke(FunctionName="bench-fn", Payload=b"{}")
    boto3.client("s3", **kw).create_bucket(Bucket="bench-bucket")
    boto3.client("sns", **kw).create_topic(Name="bench-topic")
    boto3.client("sqs", **kw).create_queue(QueueName="bench-queue")


def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
              "--disable-dev-shm-usage"):
        opts.add_argument(a)
    if shutil.which("chromium"):
        opts.binary_location = shutil.which("chromium")
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    d = webdriver.Chrome(options=opts, service=service)
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return d


def measure(d, base, page):
    d.get("about:blank")
    d.get(f"{base}#/{page}")
    deadline = time.time() + 10
    while time.time() < deadline:
        t = d.execute_script(TIMING)
        if t:
            return t
        time.sleep(0.02)
    raise RuntimeError(f"#/{page} never rendered")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stratus", default="target/release/stratus")
    args = ap.parse_args()
    port = free_port()
    data = tempfile.mkdtemp(prefix="stratus-console-bench-")
    env = {**__import__("os").environ, **RUNTIME_ENV}
    proc = subprocess.Popen([args.stratus, "serve", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", data], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_port(port, proc, 30):
            sys.exit("stratus did not start")
        url = f"http://127.0.0.1:{port}"
        seed(url)
        d = browser()
        try:
            base = f"{url}/_stratus/console/"
            d.get(base + "#/signin")
            time.sleep(0.5)
            d.find_element("css selector", "#access-key-id").send_keys("test")
            d.find_element("css selector", "#secret-access-key").send_keys("test")
            d.find_element("css selector", "#signin-submit").click()
            time.sleep(1)
            rows = []
            for page in PAGES:
                runs = [measure(d, base, page) for _ in range(args.rounds)]
                p50 = lambda k: statistics.median(r[k] for r in runs if r[k] is not None)  # noqa: E731
                rows.append({"page": f"#/{page}", "fcp_ms": round(p50("fcp"), 1),
                             "rendered_ms": round(p50("rendered"), 1),
                             "kb": round(p50("bytes") / 1024, 1)})
        finally:
            d.quit()
        print(f"{'page':<24}{'first paint':>12}{'content':>10}{'KB':>8}")
        for r in rows:
            print(f"{r['page']:<24}{r['fcp_ms']:>10.1f}ms{r['rendered_ms']:>8.1f}ms{r['kb']:>8.1f}")
        print(json.dumps(rows))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
