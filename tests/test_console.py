"""The web console at /_stratus/console/, driven in a real browser (Debian's chromium through
chromedriver, headless) as a user would: sign in, create a function from a zip, invoke it from
the Test tab, move an alias's weight, watch the log tail and the charts. The session and CSRF
checks are also exercised directly over HTTP.

The browser tests skip when chromium is absent, unless STRATUS_REQUIRE_BROWSER is set (CI sets
it). Screenshots of the main pages go to target/console-screenshots/."""

import json
import os
import shutil
from pathlib import Path

import pytest
import urllib.parse

import urllib3

import helpers

REPO_ROOT = Path(__file__).resolve().parent.parent
SHOTS = REPO_ROOT / "target" / "console-screenshots"
WAIT_S = 30

LOGGING_HANDLER = (
    "def handler(event, context):\n"
    "    print('console-test-line', event.get('n'))\n"
    "    return {'echo': event}\n"
)


def _browser_available():
    return shutil.which("chromium") and shutil.which("chromedriver")


needs_browser = pytest.mark.skipif(
    not _browser_available() and not os.environ.get("STRATUS_REQUIRE_BROWSER"),
    reason="chromium and chromedriver are not installed (set STRATUS_REQUIRE_BROWSER to fail instead)",
)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def console_url(srv):
    return f"{srv.url}/_stratus/console/"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(WAIT_S)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver, condition, message):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page re-rendered between finding an element and reading it: look again.
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2,
                         ignored_exceptions=[StaleElementReferenceException]).until(condition, message)


def find(driver, css):
    from selenium.webdriver.common.by import By

    return wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, css), f"no element {css}")


def text_of(driver, css, contains):
    from selenium.webdriver.common.by import By

    def check(d):
        els = d.find_elements(By.CSS_SELECTOR, css)
        return els and contains in els[0].text and els[0]

    return wait_for(driver, check, f"{css} never showed {contains!r}")


def sign_in(driver, console_url, secret=helpers.SECRET_KEY):
    driver.get(console_url + "#/signin")
    find(driver, "#access-key-id").clear()
    find(driver, "#access-key-id").send_keys(helpers.ACCESS_KEY)
    find(driver, "#secret-access-key").clear()
    find(driver, "#secret-access-key").send_keys(secret)
    find(driver, "#signin-submit").click()


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def create_logging_function(srv, name, versions=1):
    lam = srv.client("lambda")
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=helpers.ROLE, Handler="app.handler",
        Code={"ZipFile": helpers.make_zip({"app.py": LOGGING_HANDLER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    for i in range(versions):
        lam.update_function_configuration(FunctionName=name, Description=f"v{i + 1}")
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        lam.publish_version(FunctionName=name)
    return lam


# ---- Sessions and CSRF, over plain HTTP ----------------------------------------------------


class Http:
    """A client that keeps the console's cookie, as a browser would."""

    def __init__(self, cookie=None):
        self.pool = urllib3.PoolManager()
        self.cookie = cookie

    def request(self, method, url, json_body=None, form=None, headers=None):
        h = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            h["content-type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            h["content-type"] = "application/x-www-form-urlencoded"
        if self.cookie:
            h["cookie"] = f"stratus_console={self.cookie}"
        r = self.pool.request(method, url, body=body, headers=h, redirect=False)
        set_cookie = r.headers.get("set-cookie", "")
        if set_cookie.startswith("stratus_console="):
            self.cookie = set_cookie.split(";")[0].split("=", 1)[1] or None
        return r

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)

    def put(self, url, **kw):
        return self.request("PUT", url, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)


def http_session(srv):
    s = Http()
    r = s.post(f"{srv.url}/_stratus/console/session",
               json_body={"accessKeyId": helpers.ACCESS_KEY, "secretAccessKey": helpers.SECRET_KEY})
    assert r.status == 200, r.data
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/_stratus/console" in cookie and "Max-Age=43200" in cookie
    return s, r.json()["csrfToken"]


def test_wrong_keys_are_refused_with_a_message(srv):
    r = Http().post(f"{srv.url}/_stratus/console/session",
                    json_body={"accessKeyId": helpers.ACCESS_KEY, "secretAccessKey": "wrong"})
    assert r.status == 401
    assert r.json()["message"] == "The access key ID or secret access key is not valid."
    assert "set-cookie" not in r.headers
    r = Http().post(f"{srv.url}/_stratus/console/session",
                    json_body={"accessKeyId": "AKIDNOSUCHKEY", "secretAccessKey": "x"})
    assert r.status == 401
    # A form post (what another site could make the browser send) is not taken.
    r = Http().post(f"{srv.url}/_stratus/console/session",
                    form={"accessKeyId": helpers.ACCESS_KEY, "secretAccessKey": helpers.SECRET_KEY})
    assert r.status == 415


def test_forged_or_missing_csrf_token_is_refused_and_changes_nothing(srv):
    lam = srv.client("lambda")
    lam.create_function(FunctionName="csrf-fn", Runtime="python3.12", Role=helpers.ROLE,
                        Handler="app.handler", Code={"ZipFile": helpers.make_zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName="csrf-fn")
    s, csrf = http_session(srv)
    url = f"{srv.url}/_stratus/console/aws/lambda/2015-03-31/functions/csrf-fn/configuration"
    for headers in ({}, {"x-stratus-csrf": "forged"}, {"x-stratus-csrf": csrf + "0"}):
        r = s.put(url, json_body={"MemorySize": 512}, headers=headers)
        assert r.status == 403, r.data
        assert "CSRF" in r.json()["message"]
    assert lam.get_function_configuration(FunctionName="csrf-fn")["MemorySize"] == 128
    # A read needs no token; the right token lets the change through.
    assert s.get(url).json()["MemorySize"] == 128
    r = s.put(url, json_body={"MemorySize": 512}, headers={"x-stratus-csrf": csrf})
    assert r.status == 200, r.data
    assert lam.get_function_configuration(FunctionName="csrf-fn")["MemorySize"] == 512


def test_no_session_no_access_and_sign_out_ends_it(srv):
    url = f"{srv.url}/_stratus/console/aws/lambda/2015-03-31/functions/"
    r = Http().get(url)
    assert r.status == 401 and r.headers["x-stratus-console"] == "signed-out"
    r = Http(cookie="0" * 64).get(url)
    assert r.status == 401
    s, csrf = http_session(srv)
    assert s.get(url).status == 200
    assert s.delete(f"{srv.url}/_stratus/console/session").status == 403  # no token
    assert s.delete(f"{srv.url}/_stratus/console/session",
                    headers={"x-stratus-csrf": csrf}).status == 204
    assert s.get(url).status == 401


def test_the_proxy_goes_through_the_apis_authorization(srv):
    """A user's key signs in, and the console can then do only what the user may."""
    iam = srv.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    s = Http()
    r = s.post(f"{srv.url}/_stratus/console/session",
               json_body={"accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]})
    assert r.status == 200 and r.json()["arn"].endswith(":user/reader")
    base = f"{srv.url}/_stratus/console/aws/lambda/2015-03-31/functions"
    assert s.get(base + "/").status == 200
    r = s.get(base + "/csrf-fn")
    assert r.status == 403 and r.headers["x-amzn-ErrorType"].startswith("AccessDeniedException")
    # Deleting the key ends the session.
    iam.delete_access_key(UserName="reader", AccessKeyId=key["AccessKeyId"])
    assert s.get(base + "/").status == 401


def test_the_page_has_security_headers_and_small_assets(srv, console_url):
    r = Http().get(console_url)
    assert r.status == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    total = len(r.data)
    for path in ("assets/console.css", "assets/js/app.js", "assets/js/api.js", "assets/js/ui.js",
                 "assets/js/chart.js", "assets/js/graph.js", "assets/js/pages/function.js",
                 "assets/js/pages/function_tabs.js", "assets/js/pages/function_test.js"):
        a = Http().get(console_url + path)
        assert a.status == 200, path
        total += len(a.data)
    assert total < 200 * 1024
    assert Http().get(console_url + "assets/nope.js").status == 404


# ---- In the browser ------------------------------------------------------------------------


@needs_browser
def test_sign_in_wrong_key_then_right_key(browser, console_url):
    sign_in(browser, console_url, secret="not-the-secret")
    text_of(browser, "#signin-message", "not valid")
    shot(browser, "signin")
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    find(browser, "#dash-functions")


@needs_browser
def test_absent_or_ended_session_goes_to_sign_in(browser, console_url, srv):
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    browser.delete_all_cookies()
    browser.get(console_url + "#/functions")
    wait_for(browser, lambda d: "#/signin" in d.current_url, "not sent to sign-in")
    find(browser, "#signin-form")
    # A cookie naming no live session (signed out, expired, or from before a restart).
    browser.add_cookie({"name": "stratus_console", "value": "f" * 64, "path": "/_stratus/console"})
    browser.get(console_url + "#/functions")
    wait_for(browser, lambda d: "#/signin" in d.current_url, "not sent to sign-in")
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")


@needs_browser
def test_create_from_zip_and_invoke_from_the_test_tab(browser, console_url, srv, tmp_path):
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    package = tmp_path / "fn.zip"
    package.write_bytes(helpers.make_zip({"app.py": LOGGING_HANDLER}))
    browser.get(console_url + "#/functions/new")
    find(browser, "#fn-name").send_keys("console-made")
    find(browser, "#fn-handler").clear()
    find(browser, "#fn-handler").send_keys("app.handler")
    role = find(browser, "#fn-role")
    role.clear()
    role.send_keys(helpers.ROLE)
    find(browser, "#fn-zip").send_keys(str(package))
    find(browser, "#create-submit").click()
    text_of(browser, "#function-name", "console-made")
    lam = srv.client("lambda")
    assert lam.get_function_configuration(FunctionName="console-made")["Handler"] == "app.handler"
    lam.get_waiter("function_active_v2").wait(FunctionName="console-made")

    browser.get(console_url + "#/functions/console-made?tab=test")
    payload = find(browser, "#test-payload")
    payload.clear()
    payload.send_keys('{"n": 41}')
    find(browser, "#test-invoke").click()
    text_of(browser, "#test-log", "console-test-line 41")
    assert '"n": 41' in find(browser, "#test-response").text
    report = find(browser, "#test-report").text
    for name in ("Duration", "Billed Duration", "Max Memory Used"):
        assert name in report
    shot(browser, "function-test")
    # Invalid JSON is refused on the page, and nothing is invoked.
    payload.clear()
    payload.send_keys("{not json")
    find(browser, "#test-invoke").click()
    text_of(browser, "#test-message", "not valid JSON")


@needs_browser
def test_live_log_tail_shows_new_lines(browser, console_url, srv):
    lam = create_logging_function(srv, "tailed", versions=0)
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    browser.get(console_url + "#/functions/tailed?tab=logs")
    text_of(browser, "#tail-state", "Tailing")
    lam.invoke(FunctionName="tailed", Payload=json.dumps({"n": 7}))
    text_of(browser, "#log-tail", "console-test-line 7")
    # With a filter, only matching lines come.
    filt = find(browser, "#tail-filter")
    filt.send_keys("REPORT")
    find(browser, "#tail-start").click()
    text_of(browser, "#log-tail", "REPORT")
    assert "console-test-line" not in find(browser, "#log-tail").text


@needs_browser
def test_alias_weight_slider_splits_invocations(browser, console_url, srv):
    from selenium.webdriver.common.keys import Keys

    lam = create_logging_function(srv, "split", versions=2)
    lam.create_alias(FunctionName="split", Name="live", FunctionVersion="1")
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    browser.get(console_url + "#/functions/split?tab=versions")
    slider = find(browser, "#alias-live-weight")
    slider.send_keys(Keys.HOME)
    for _ in range(50):
        slider.send_keys(Keys.ARROW_RIGHT)
    text_of(browser, "#alias-live-weight-value", "50 %")
    find(browser, "#alias-live-save").click()
    text_of(browser, "#alias-live-message", "Routing saved")
    routing = lam.get_alias(FunctionName="split", Name="live")["RoutingConfig"]
    assert routing == {"AdditionalVersionWeights": {"2": 0.5}}
    ran = set()
    for n in range(24):
        r = lam.invoke(FunctionName="split", Qualifier="live", Payload=json.dumps({"n": n}))
        ran.add(r["ExecutedVersion"])
    assert ran == {"1", "2"}

    def both_counted(d):
        find(d, "#alias-live-refresh").click()
        counts = {}
        for el in d.find_elements("css selector", "#alias-live-split .split-count"):
            counts[el.get_attribute("data-version")] = int(el.text.replace(",", "") or 0)
        return counts.get("1", 0) > 0 and counts.get("2", 0) > 0 and sum(counts.values()) == 24

    wait_for(browser, both_counted, "the split by version never showed both versions")
    shot(browser, "function-aliases")


@needs_browser
def test_charts_render_with_data(browser, console_url, srv):
    lam = create_logging_function(srv, "charted", versions=0)
    for n in range(3):
        lam.invoke(FunctionName="charted", Payload=json.dumps({"n": n}))
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")

    attempt = [0]

    def invocations_drawn(d):
        # A new address each time re-renders the tab (the metrics may still be being written).
        attempt[0] += 1
        d.get(console_url + f"#/functions/charted?tab=metrics&attempt={attempt[0]}")
        find(d, "#metric-charts figure")
        return d.execute_script(
            "const p = document.querySelector('#metric-charts figure path.series');"
            "return p && Number(p.dataset.max) >= 1 ? p.getAttribute('d') : null;")

    d = wait_for(browser, invocations_drawn, "the invocations chart never had a point")
    assert d.startswith("M") and d.count("L") >= 1
    shot(browser, "function-metrics")
    # The dashboard counts them too, and draws its own chart.
    browser.get(console_url + "#/")
    text_of(browser, "main h1", "Dashboard")
    assert int(find(browser, "#hour-invocations strong").text.replace(",", "")) >= 3
    find(browser, "main figure svg path.series")
    shot(browser, "dashboard")


@needs_browser
def test_triggers_graph_and_narrow_window(browser, console_url, srv):
    lam = create_logging_function(srv, "triggered", versions=0)
    sns = srv.client("sns")
    topic = sns.create_topic(Name="console-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=helpers.function_arn("triggered"))
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    browser.get(console_url + "#/functions/triggered?tab=triggers")
    graph = find(browser, "svg.graph")
    assert "SNS topic console-topic" in graph.get_attribute("aria-label")
    browser.set_window_size(400, 900)
    try:
        browser.get(console_url + "#/functions")
        text_of(browser, "main h1", "Functions")
        wide = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0
        shot(browser, "functions-narrow")
    finally:
        browser.set_window_size(1280, 1000)
    lam.delete_function(FunctionName="triggered")
