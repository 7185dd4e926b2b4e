#!/usr/bin/env python3
"""Parse Prometheus text exposition (stdin) with the reference parser (python3-prometheus-client)
and print one JSON object {"name{label=value,...}": value} of every sample, for the scenario
tests to check with jq. Exit 1 (with the parser's complaint) when the text does not parse, or a
family has no TYPE, or a histogram's buckets do not add up."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    out = {}
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own error: the exposition is broken
        print("metrics do not parse: %s" % e, file=sys.stderr)
        return 1
    for fam in families:
        if fam.type == "unknown":
            print("metric family %s has no TYPE" % fam.name, file=sys.stderr)
            return 1
        last_bucket = None
        for s in fam.samples:
            labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
            out["%s{%s}" % (s.name, labels) if labels else s.name] = s.value
            if s.name.endswith("_bucket"):
                if last_bucket is not None and s.value < last_bucket:
                    print("%s buckets are not cumulative" % fam.name, file=sys.stderr)
                    return 1
                last_bucket = s.value
        if fam.type == "histogram":
            count = out.get(fam.name + "_count")
            inf = out.get(fam.name + "_bucket{le=+Inf}")
            if count is None or inf != count:
                print("%s: +Inf bucket %s != count %s" % (fam.name, inf, count), file=sys.stderr)
                return 1
    json.dump(out, sys.stdout, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
