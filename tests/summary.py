#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Reads pytest's junit XML (path in argv[1]) and prints, as its last line, exactly
"N passed, N failed". Errors and skips count as failed (a skip is a defect in this suite).
Exit status: 1 if anything failed or no test ran, else 0."""
import sys
import xml.etree.ElementTree as ET


def main(argv):
    if len(argv) != 2:
        print("usage: summary.py JUNIT_XML", file=sys.stderr)
        print("0 passed, 0 failed")
        return 1
    try:
        root = ET.parse(argv[1]).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"summary: cannot read {argv[1]}: {e}", file=sys.stderr)
        print("0 passed, 0 failed")
        return 1
    passed = failed = 0
    failed_names = []
    for case in root.iter("testcase"):
        bad = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if bad:
            failed += 1
            failed_names.append(f"{name} ({', '.join(sorted(set(bad)))})")
        else:
            passed += 1
    # errors outside any test case (collection errors) are reported on the suite
    for suite in root.iter("testsuite"):
        if int(suite.get("errors", "0") or 0) > sum(
                1 for c in suite.iter("testcase") for x in c if x.tag == "error"):
            failed += 1
            failed_names.append(f"{suite.get('name', 'suite')} (collection error)")
    for n in failed_names:
        print(f"FAILED {n}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
