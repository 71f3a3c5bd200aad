"""OTLP/HTTP metric requests written straight in protobuf's wire format, for the metric export (metric_export.py).

Written as otlp_wire.py writes spans (decision 042), for the same reasons at a smaller scale: the export runs once per
``telemetry.metrics.export_interval_s``, but reads up to ``max_series`` + 1 series of nine metrics at once on the
worker's event loop, and a series' attributes never change, so each series' encoded attributes are kept (bounded by
the cap, as the series are) and a data point is one ``struct.pack`` and two joins. The bytes are those of the
``opentelemetry-proto`` messages' ``SerializeToString`` (fields in field-number order); tests/telemetry/
test_otlp_metrics.py checks it against a reference built with the message classes.

The messages written (opentelemetry/proto/{collector/metrics,metrics,common,resource}/v1, field numbers in brackets):
``ExportMetricsServiceRequest{resource_metrics[1]: ResourceMetrics{resource[1]: Resource{attributes[1]},
scope_metrics[2]: ScopeMetrics{scope[1]: InstrumentationScope{name[1]}, metrics[2]: Metric}}}``;
``Metric{name[1], description[2], unit[3], sum[7]: Sum{data_points[1]: NumberDataPoint, aggregation_temporality[2],
is_monotonic[3]}, histogram[9]: Histogram{data_points[1]: HistogramDataPoint, aggregation_temporality[2]}}``;
``NumberDataPoint{start_time_unix_nano[2] fixed64, time_unix_nano[3] fixed64, as_double[4] double, as_int[6]
sfixed64, attributes[7]: KeyValue}``; ``HistogramDataPoint{start_time_unix_nano[2], time_unix_nano[3], count[4]
fixed64, sum[5] double, bucket_counts[6] packed fixed64, explicit_bounds[7] packed double, attributes[9]}``.
Temporality is cumulative: a worker's series count from its start, as on ``/metrics``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from wardgate.observability.bounded import CappedHistogram
from wardgate.telemetry.metrics import ExportedMetric
from wardgate.telemetry.otlp_wire import field, key_value, varint

_HISTOGRAM_POINT = struct.Struct("<BQBQBQBd")  # start [2], time [3], count [4], sum [5]
_DOUBLE_POINT = struct.Struct("<BQBQBd")  # start [2], time [3], as_double [4]
_INT_POINT = struct.Struct("<BQBQBq")  # start [2], time [3], as_int [6] (sfixed64)
_CUMULATIVE = b"\x10\x02"  # aggregation_temporality [2] = AGGREGATION_TEMPORALITY_CUMULATIVE
_MONOTONIC = b"\x18\x01"  # Sum.is_monotonic [3]


class MetricEncoder:
    """Encodes the current state of ``metrics`` for one resource and instrumentation scope; one per worker, used on
    its event loop only."""

    def __init__(self, resource: Mapping[str, Any], scope_name: str, metrics: Sequence[ExportedMetric]) -> None:
        self.metrics = tuple(metrics)
        self._resource = field(b"\x0a", b"".join(field(b"\x0a", key_value(k, v)) for k, v in resource.items()))
        self._scope = field(b"\x0a", field(b"\x0a", scope_name.encode()))
        self._heads = [
            field(b"\x0a", m.name.encode()) + field(b"\x12", m.description.encode()) + field(b"\x1a", m.unit.encode())
            for m in self.metrics
        ]
        # per histogram (by index): its explicit_bounds [7] field
        self._bounds = {
            i: field(b"\x3a", struct.pack(f"<{len(m.family.buckets)}d", *m.family.buckets))
            for i, m in enumerate(self.metrics)
            if isinstance(m.family, CappedHistogram)
        }
        # per metric: a series' label values → its encoded attributes (at most max_series + 1 entries, as the series)
        self._attributes: list[dict[tuple[str, ...], bytes]] = [{} for _ in self.metrics]

    def _attributes_of(self, index: int, values: tuple[str, ...], tag: bytes) -> bytes:
        cache = self._attributes[index]
        found = cache.get(values)
        if found is None:
            keys = self.metrics[index].attributes
            # an empty label value (no error.type on a success) is an attribute left out, as Prometheus reads it
            found = cache[values] = b"".join(
                field(tag, key_value(k, v)) for k, v in zip(keys, values, strict=True) if v
            )
        return found

    def metric_field(self, index: int, start_ns: int, time_ns: int) -> tuple[bytes, int]:
        """One metric's ``Metric`` message as a ``ScopeMetrics.metrics`` field, with every series it holds now, and
        the number of its data points (none: no field)."""
        metric = self.metrics[index]
        family = metric.family
        series = family.series
        if not series:
            return b"", 0
        points = []
        if isinstance(family, CappedHistogram):
            bounds = self._bounds[index]
            n = len(family.buckets) + 1  # and +Inf
            counts = struct.Struct(f"<{n}Q")
            counts_tag = b"\x32" + varint(8 * n)  # bucket_counts [6], packed
            for values, slot in series.items():
                point = (
                    _HISTOGRAM_POINT.pack(0x11, start_ns, 0x19, time_ns, 0x21, int(slot[-1]), 0x29, slot[-2])
                    + counts_tag
                    + counts.pack(*map(int, slot[:n]))
                    + bounds
                    + self._attributes_of(index, values, b"\x4a")
                )
                points.append(field(b"\x0a", point))
            body = b"".join(points) + _CUMULATIVE
            data = field(b"\x4a", body)  # Metric.histogram [9]
        else:
            scale = family.scale
            for values, slot in series.items():
                if scale == 1.0:  # counts: integers
                    head = _INT_POINT.pack(0x11, start_ns, 0x19, time_ns, 0x31, int(slot[0]))
                else:  # spend, counted in nano-dollars: in USD, the value /metrics shows
                    head = _DOUBLE_POINT.pack(0x11, start_ns, 0x19, time_ns, 0x21, slot[0] * scale)
                points.append(field(b"\x0a", head + self._attributes_of(index, values, b"\x3a")))
            data = field(b"\x3a", b"".join(points) + _CUMULATIVE + _MONOTONIC)  # Metric.sum [7]
        return field(b"\x12", self._heads[index] + data), len(points)

    def request(self, metric_fields: Sequence[bytes]) -> bytes:
        """The ``ExportMetricsServiceRequest`` of metrics encoded by ``metric_field``, ready to POST."""
        scope = field(b"\x12", self._scope + b"".join(metric_fields))  # ResourceMetrics.scope_metrics [2]
        return field(b"\x0a", self._resource + scope)  # resource_metrics [1]
