"""Function logs as returned with LogType Tail: the platform's START / END / REPORT lines, what
the function printed between them, the runtimes' own line formats, and the 4 KB tail."""

import math
import re
import time

import pytest

from helpers import invoke, make_zip

CHATTY = r'''
import logging, sys

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    for line in event.get("print", []):
        print(line)
    for line in event.get("stderr", []):
        sys.stderr.write(line + "\n")
    if "log" in event:
        logger.warning(event["log"])
    if "bulk_lines" in event:
        for i in range(event["bulk_lines"]):
            print("bulk line %06d %s" % (i, "z" * 60))
    if "fail" in event:
        raise ValueError(event["fail"])
    return "done"
'''


@pytest.fixture(scope="module")
def chatty(module_new_function):
    return module_new_function(zip_bytes=make_zip({"app.py": CHATTY}), MemorySize=192)["FunctionName"]


def test_printed_lines_appear_between_start_and_end(invoke_client, chatty):
    inv = invoke(invoke_client, chatty, {"print": ["first line", "second line"], "stderr": ["to stderr"]})
    lines = inv.log_lines
    start = lines.index(f"START RequestId: {inv.request_id} Version: $LATEST")
    end = lines.index(f"END RequestId: {inv.request_id}")
    between = lines[start + 1:end]
    assert between.index("first line") < between.index("second line"), inv.log
    assert "to stderr" in between, inv.log
    assert start == 0, inv.log
    assert lines[-1].startswith(f"REPORT RequestId: {inv.request_id}\t"), inv.log
    assert end == len(lines) - 2, inv.log


def test_report_line(invoke_client, chatty):
    inv = invoke(invoke_client, chatty, {})
    report = inv.report()
    assert report["id"] == inv.request_id
    assert report["memory"] == "192"
    duration, billed = float(report["duration"]), int(report["billed"])
    assert billed == max(1, math.ceil(duration)), report
    assert 0 < int(report["max_memory"]) <= 192, report
    assert inv.log.endswith("\n")


def test_lines_printed_during_init_come_before_start(invoke_client, new_function):
    # Printed at import time, right before the runtime asks for its first invocation.
    code = 'print("initialising the module")\n\ndef handler(event, context):\n    print("in the handler")\n    return 1\n'
    name = new_function(zip_bytes=make_zip({"app.py": code}))["FunctionName"]
    inv = invoke(invoke_client, name, {})
    lines = inv.log_lines
    start = lines.index(f"START RequestId: {inv.request_id} Version: $LATEST")
    assert lines.index("initialising the module") < start < lines.index("in the handler"), inv.log


def test_init_duration_only_on_the_cold_start(invoke_client, new_function):
    name = new_function(zip_bytes=make_zip({"app.py": CHATTY}))["FunctionName"]
    cold = invoke(invoke_client, name, {})
    warm = invoke(invoke_client, name, {})
    assert cold.report()["init"] is not None and float(cold.report()["init"]) > 0, cold.log
    assert warm.report()["init"] is None, warm.log
    assert "Init Duration" not in warm.log


def test_python_logging_lines_carry_level_time_and_request_id(invoke_client, chatty):
    inv = invoke(invoke_client, chatty, {"log": "disk almost full"})
    pattern = re.compile(
        r"^\[WARNING\]\t\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\t"
        + re.escape(inv.request_id)
        + r"\tdisk almost full$"
    )
    assert any(pattern.match(line) for line in inv.log_lines), inv.log


def test_python_error_is_logged_with_its_traceback(invoke_client, chatty):
    inv = invoke(invoke_client, chatty, {"fail": "no such order"})
    assert inv.function_error == "Unhandled"
    lines = inv.log_lines
    assert "[ERROR] ValueError: no such order" in lines, inv.log
    assert "Traceback (most recent call last):" in lines, inv.log
    assert lines.index("[ERROR] ValueError: no such order") < lines.index(f"END RequestId: {inv.request_id}")


def test_node_console_lines(invoke_client, new_function):
    source = """
exports.handler = async () => {
  console.log('hello %s', 'node');
  console.error('something bad');
  console.warn({ k: 1 });
  return 'ok';
};
"""
    name = new_function(zip_bytes=make_zip({"index.js": source}), Runtime="nodejs20.x",
                        Handler="index.handler")["FunctionName"]
    inv = invoke(invoke_client, name, {})
    ts = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
    rid = re.escape(inv.request_id)
    for level, text in [("INFO", r"hello node"), ("ERROR", r"something bad"), ("WARN", r"\{ k: 1 \}")]:
        pattern = re.compile(rf"^{ts}\t{rid}\t{level}\t{text}$")
        assert any(pattern.match(line) for line in inv.log_lines), f"no {level} line:\n{inv.log}"


def test_tail_is_the_last_4_kb(invoke_client, chatty):
    inv = invoke(invoke_client, chatty, {"bulk_lines": 300})  # ~21 KB of output
    raw = inv.log.encode()
    assert len(raw) <= 4096, len(raw)
    assert len(raw) > 3500, len(raw)
    assert inv.log_lines[-1].startswith(f"REPORT RequestId: {inv.request_id}"), inv.log[-300:]
    assert f"bulk line {299:06d}" in inv.log
    assert "START RequestId" not in inv.log


def test_output_larger_than_a_pipe_buffer_does_not_stall(invoke_client, chatty):
    started = time.monotonic()
    inv = invoke(invoke_client, chatty, {"bulk_lines": 30000})  # ~2 MB
    assert inv.function_error is None, inv
    assert inv.payload == "done"
    assert f"bulk line {29999:06d}" in inv.log
    assert time.monotonic() - started < 20


def test_an_invocations_tail_holds_only_its_own_lines(invoke_client, chatty):
    first = invoke(invoke_client, chatty, {"print": ["marker-of-the-first"]})
    second = invoke(invoke_client, chatty, {"print": ["marker-of-the-second"]})
    assert "marker-of-the-first" in first.log
    assert "marker-of-the-second" in second.log
    assert "marker-of-the-first" not in second.log, second.log
    assert first.request_id not in second.log


def test_non_ascii_output(invoke_client, chatty):
    inv = invoke(invoke_client, chatty, {"print": ["grüße ✓ 日本"]})
    assert "grüße ✓ 日本" in inv.log_lines, inv.log


def test_no_log_result_without_tail(invoke_client, chatty):
    resp = invoke_client.invoke(FunctionName=chatty, Payload=b"{}")
    assert "LogResult" not in resp
    resp = invoke_client.invoke(FunctionName=chatty, Payload=b"{}", LogType="None")
    assert "LogResult" not in resp
