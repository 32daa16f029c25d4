"""Prints the failed tests of the .trx files under a directory, with their messages.

scripts/test.sh calls it after a red run so the failures are the last thing in the log.
"""
import pathlib
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def main(directory: str) -> None:
    failed = 0
    for trx in sorted(pathlib.Path(directory).rglob("*.trx")):
        root = ET.parse(trx).getroot()
        for result in root.iterfind(".//t:UnitTestResult", NS):
            if result.get("outcome") != "Failed":
                continue
            failed += 1
            message = result.findtext(".//t:Message", default="", namespaces=NS).strip()
            stack = result.findtext(".//t:StackTrace", default="", namespaces=NS).strip()
            print(f"\n=== FAILED: {result.get('testName')} ({trx.name})")
            if message:
                print(message[:4000])
            if stack:
                print("\n".join(stack.splitlines()[:15]))
    print(f"\n{failed} failed test(s) listed above.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/.results")
