#!/usr/bin/env python3
"""Parses a Prometheus text exposition from stdin with prometheus_client's own parser (an
independent implementation of the format) and prints its samples as JSON, one object per
sample: {"name": ..., "labels": {...}, "value": ...}. A malformed exposition is an error.
Used by Tests/OrreryHTTPTests/MetricsScrapeTests.swift."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append({"name": sample.name, "type": family.type, "labels": sample.labels, "value": sample.value})
json.dump(samples, sys.stdout)
