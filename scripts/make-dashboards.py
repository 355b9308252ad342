#!/usr/bin/env python3
"""Writes dashboards/trailship.ndjson: the OpenSearch Dashboards 2.x saved objects trailship ships.

Usage: make-dashboards.py            rewrite dashboards/trailship.ndjson
       make-dashboards.py --check    exit 1 if the committed file differs from what this writes

The saved-objects format keeps visualization state, panels and search sources as JSON strings
inside JSON; writing them by hand invites typos, so this script is the source and the .ndjson
is its output (committed, because users import the file and `trailship setup` embeds it).
The CIS panels come from src/sources/cloudtrail/enrich/data/tags.toml, so a new rule there gets its panel here.

Conventions every object follows (checked by src/dashboards_tests.rs and run against real
events by tests/integration/dashboards.rs):
- four index patterns, time field `@timestamp` (`trailship setup` renders their titles for the
  configured `opensearch.index_prefix`, `s3access.index_prefix` and `alerts.index_prefix`):
  `trailship-events` (`cloudtrail-*`), `trailship-s3access` (`s3access-*`),
  `trailship-all-sources` (`cloudtrail-*,s3access-*`, for the searches that ask both sources one
  question) and `trailship-alerts` (`trailship-alerts-*`, one document per rule match); and two
  on the daily trend indices, time field `day`: `trailship-cloudtrail-trends`
  (`trailship-trends-cloudtrail-*`) and
  `trailship-s3access-trends` (`trailship-trends-s3access-*`), whose panels sum `count` (or `bytes_sent`);
- queries are Lucene (`query_string`), never KQL, on fields the index templates map;
- aggregations only on aggregatable mapped types (keyword, ip, long, integer, date, geo_point);
  metrics are a count or a sum of a long field.
"""
import json
import os
import sys
import tomllib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "dashboards", "trailship.ndjson")
INDEX_PATTERN = "trailship-events"
ACCESS_PATTERN = "trailship-s3access-logs"
ALL_PATTERN = "trailship-all-sources"
ALERTS_PATTERN = "trailship-alerts"
TRENDS_PATTERN = "trailship-cloudtrail-trends"
ACCESS_TRENDS_PATTERN = "trailship-s3access-trends"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

THROTTLING = ["ThrottlingException", "Throttling", "RequestLimitExceeded", "Client.RequestLimitExceeded",
              "TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "SlowDown",
              "ProvisionedThroughputExceededException"]


def any_of(field, values):
    return f"{field}:({' OR '.join(values)})"


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def search_source(query):
    return {"searchSourceJSON": dumps({"query": {"query": query, "language": "lucene"}, "filter": [],
                                       "indexRefName": INDEX_REF})}


def index_ref(pattern=INDEX_PATTERN):
    return [{"name": INDEX_REF, "type": "index-pattern", "id": pattern}]


# --- aggregations, in the shape the visualize editor saves ---------------------------------------

def count():
    return {"type": "count", "schema": "metric", "params": {}}


def total(field, label):
    return {"type": "sum", "schema": "metric", "params": {"field": field, "customLabel": label}}


def terms(field, size, schema, label=None, missing=None):
    """A terms aggregation; with `missing`, documents without the field make a bucket of that label."""
    params = {"field": field, "size": size, "order": "desc", "orderBy": "1", "otherBucket": False,
              "otherBucketLabel": "Other", "missingBucket": missing is not None,
              "missingBucketLabel": "Missing" if missing is None else missing}
    if label:
        params["customLabel"] = label
    return {"type": "terms", "schema": schema, "params": params}


def over_time(field="@timestamp", interval="auto", schema="segment"):
    return {"type": "date_histogram", "schema": schema,
            "params": {"field": field, "useNormalizedOpenSearchInterval": True, "interval": interval,
                       "drop_partials": False, "min_doc_count": 1, "extended_bounds": {}}}


def geohash():
    return {"type": "geohash_grid", "schema": "segment",
            "params": {"field": "source.geo.location", "autoPrecision": True, "precision": 2, "useGeocentroid": True,
                       "isFilteredByCollar": True, "mapZoom": 2, "mapCenter": [20, 0]}}


# --- visualization types -------------------------------------------------------------------------

def xy_params(chart, mode="stacked", scale="normal"):
    return {
        "type": chart, "addTooltip": True, "addLegend": True, "legendPosition": "right", "times": [],
        "addTimeMarker": False, "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                          "style": {}, "scale": {"type": "linear"}, "labels": {"show": True, "filter": True,
                                                                                "truncate": 100}, "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": True,
                       "style": {}, "scale": {"type": "linear", "mode": scale},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": "Percent of events" if scale == "percentage" else "Count"}}],
        "seriesParams": [{"show": True, "type": chart, "mode": mode, "data": {"label": "Count", "id": "1"},
                          "valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": True, "lineWidth": 2,
                          "showCircles": True, "interpolate": "linear"}],
    }


TABLE = {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False,
         "totalFunc": "sum", "percentageCol": "", "sort": {"columnIndex": None, "direction": None}}
PIE = {"type": "pie", "addTooltip": True, "addLegend": True, "legendPosition": "right", "isDonut": True,
       "labels": {"show": False, "values": True, "last_level": True, "truncate": 100}}
METRIC = {"type": "metric", "addTooltip": True, "addLegend": False,
          "metric": {"percentageMode": False, "useRanges": False, "colorSchema": "Green to Red",
                     "metricColorMode": "None", "colorsRange": [{"from": 0, "to": 10000}], "labels": {"show": True},
                     "invertColors": False, "style": {"bgFill": "#000", "bgColor": False, "labelColor": False,
                                                      "subText": "", "fontSize": 48}}}
TILE_MAP = {"colorSchema": "Yellow to Red", "mapType": "Scaled Circle Markers", "isDesaturated": True,
            "addTooltip": True, "heatClusterSize": 1.5, "legendPosition": "bottomright", "mapZoom": 2,
            "mapCenter": [20, 0], "wms": {"enabled": False}}


def vis(vid, title, kind, params, aggs, query="", description="", pattern=INDEX_PATTERN):
    numbered = [dict(id=str(i + 1), enabled=True, **agg) for i, agg in enumerate(aggs)]
    state = {"title": title, "type": kind, "params": params, "aggs": numbered}
    return {"id": vid, "type": "visualization",
            "attributes": {"title": title, "description": description, "visState": dumps(state),
                           "uiStateJSON": "{}", "version": 1, "kibanaSavedObjectMeta": search_source(query)},
            "references": index_ref(pattern)}


def table(vid, title, rows, query="", description="", pattern=INDEX_PATTERN, measure=None):
    """Rows are (field, size, label) or (field, size, label, label of the missing bucket)."""
    aggs = [measure or count()] + [terms(row[0], row[1], "bucket", *row[2:]) for row in rows]
    return vis(vid, title, "table", TABLE, aggs, query, description, pattern)


def accounts(size):
    """Table rows: the account id, then its name (cloud.account.name; "-" when none is known)."""
    return [("cloud.account.id", size, "Account"), ("cloud.account.name", 1, "Account name", "-")]


def pie(vid, title, field, size, query="", pattern=INDEX_PATTERN):
    return vis(vid, title, "pie", PIE, [count(), terms(field, size, "segment")], query, pattern=pattern)


def timeline(vid, title, split, size, query="", chart="histogram", mode="stacked", scale="normal", description="",
             pattern=INDEX_PATTERN, measure=None):
    return vis(vid, title, chart, xy_params(chart, mode, scale), [measure or count(), over_time(),
                                                                   terms(split, size, "group")],
               query, description, pattern)


def against_baseline(vid, title, query, hours, description):
    """Events per hour as a line, and beside it the average of the `hours` hours before each
    (a moving average: OpenSearch's moving_fn, which leaves the current hour out)."""
    params = xy_params("line", "normal")
    params["seriesParams"].append(dict(params["seriesParams"][0], data={"label": "Usual", "id": "2"},
                                       showCircles=False))
    usual = {"type": "moving_avg", "schema": "metric",
             "params": {"metricAgg": "1", "window": hours, "script": "MovingFunctions.unweightedAvg(values)",
                        "customLabel": f"Average of the {hours} hours before"}}
    return vis(vid, title, "line", params, [count(), usual, over_time(interval="h")], query, description)


def metric(vid, title, query="", pattern=INDEX_PATTERN):
    return vis(vid, title, "metric", METRIC, [count()], query, pattern=pattern)


def search(sid, title, query, columns, description="", pattern=INDEX_PATTERN):
    return {"id": sid, "type": "search",
            "attributes": {"title": title, "description": description, "hits": 0,
                           "columns": columns, "sort": [["@timestamp", "desc"]], "version": 1,
                           "kibanaSavedObjectMeta": search_source(query)},
            "references": index_ref(pattern)}


def dashboard(did, title, description, panels):
    """panels: (object, width, height); laid out left to right on the 48-column grid."""
    x = y = row_height = 0
    entries, refs = [], []
    for n, (obj, w, h) in enumerate(panels):
        if x + w > 48:
            x, y, row_height = 0, y + row_height, 0
        entries.append({"version": "2.11.0", "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(n + 1)},
                        "panelIndex": str(n + 1), "embeddableConfig": {}, "panelRefName": f"panel_{n}"})
        refs.append({"name": f"panel_{n}", "type": obj["type"], "id": obj["id"]})
        x, row_height = x + w, max(row_height, h)
    return {"id": did, "type": "dashboard",
            "attributes": {"title": title, "description": description, "hits": 0, "panelsJSON": dumps(entries),
                           "optionsJSON": dumps({"hidePanelTitles": False, "useMargins": True}), "version": 1,
                           "timeRestore": False,
                           "kibanaSavedObjectMeta": {"searchSourceJSON": dumps(
                               {"query": {"query": "", "language": "lucene"}, "filter": []})}},
            "references": refs}, [obj for obj, _, _ in panels]


# --- the content ----------------------------------------------------------------------------------

def index_patterns():
    events = [{"id": pid, "type": "index-pattern", "attributes": {"title": title, "timeFieldName": "@timestamp"},
             "references": []}
            for pid, title in ((INDEX_PATTERN, "cloudtrail-*"), (ACCESS_PATTERN, "s3access-*"),
                               (ALL_PATTERN, "cloudtrail-*,s3access-*"), (ALERTS_PATTERN, "trailship-alerts-*"))]
    # The daily trend documents have no @timestamp: their time is the UTC day.
    trends = [{"id": pid, "type": "index-pattern", "attributes": {"title": title, "timeFieldName": "day"},
               "references": []}
              for pid, title in ((TRENDS_PATTERN, "trailship-trends-cloudtrail-*"),
                                 (ACCESS_TRENDS_PATTERN, "trailship-trends-s3access-*"))]
    return events + trends


SEARCH_COLUMNS = ["eventName", "user.name", "source.address", "awsRegion", "errorCode", "requestParameters"]


def searches():
    return {
        "ec2": search("trailship-search-ec2-stop-terminate", "CloudTrail: who stopped or terminated an EC2 instance",
                      "eventSource:ec2.amazonaws.com AND " + any_of("eventName", ["StopInstances", "TerminateInstances"]),
                      SEARCH_COLUMNS, "requestParameters.instancesSet holds the instance IDs."),
        "s3perm": search("trailship-search-s3-permissions", "CloudTrail: who changed S3 bucket permissions",
                         "tags:s3_bucket_policy_change", SEARCH_COLUMNS,
                         "Bucket and object ACLs, bucket policies, CORS, lifecycle, replication, public access "
                         "blocks, ownership controls: the s3_bucket_policy_change tag, the same list as the CIS 4.8 "
                         "rule."),
        "root": search("trailship-search-root", "CloudTrail: root account activity", "tags:root_activity",
                       SEARCH_COLUMNS, "Calls made by the root user itself (CIS 4.3)."),
        "logins": search("trailship-search-failed-logins", "CloudTrail: failed console logins",
                         "tags:console_login_failure",
                         ["user.name", "source.address", "source.geo.country_name", "errorMessage", "user_agent.name"],
                         "CIS 4.6."),
        "iam": search("trailship-search-iam-policy", "CloudTrail: IAM policy changes", "tags:iam_policy_change",
                      SEARCH_COLUMNS, "CIS 4.4."),
        "key": search("trailship-search-access-key",
                      "CloudTrail and S3 access logs: everything one access key did (edit the key)",
                      'aws.access_key_id:"AKIAIOSFODNN7EXAMPLE"',
                      ["eventName", "operation", "user.name", "source.address", "remote_ip", "bucket", "key",
                       "user_agent.original"],
                      "Replace AKIAIOSFODNN7EXAMPLE with the key you are chasing. CloudTrail calls signed with "
                      "it, and S3 requests whose URL carries it (presigned URLs).", pattern=ALL_PATTERN),
        "world": search("trailship-search-world-open-ports",
                        "CloudTrail: who opened port 22 to the world (edit the port)", "aws.ec2.world_open_ports:22",
                        ["eventName", "user.name", "source.address", "cloud.account.id", "cloud.account.name", "requestParameters"],
                        "Security-group rules opening the port to 0.0.0.0/0 or ::/0, including all-ports rules. "
                        "Replace 22 with the port you care about."),
        "large": search("trailship-search-large-downloads", "Large downloads: more than 1 GB (both sources)",
                        "bytes_sent:>1073741824 OR aws.s3.bytes_transferred_out:>1073741824",
                        ["operation", "eventName", "requester", "user.name", "remote_ip", "source.address", "bucket",
                         "key", "bytes_sent", "aws.s3.bytes_transferred_out"],
                        "S3 requests that sent more than 1,073,741,824 bytes: access logs (bytes_sent) and CloudTrail "
                        "S3 data events (aws.s3.bytes_transferred_out).", pattern=ALL_PATTERN),
        "s3data": search("trailship-search-s3-data", "CloudTrail: S3 data events",
                         "eventSource:s3.amazonaws.com AND eventCategory:Data",
                         ["eventName", "user.name", "source.address", "resources.ARN", "errorCode"],
                         "Object-level calls (GetObject, PutObject, ...), logged when the trail records data events."),
        "matched": search("trailship-search-detections", "CloudTrail: events that matched a detection rule",
                          "_exists_:rule.id", ["rule.name", "rule.level", "eventName", "user.name", "source.address",
                                               "cloud.account.id", "cloud.account.name"],
                          "Events with the Sigma rules they matched (rule.id, rule.name) and the highest level "
                          "(rule.level). Narrow with rule.level:high or a rule.name."),
        "newkeys": search("trailship-search-new-access-keys", "CloudTrail: new access keys", "eventName:CreateAccessKey",
                          ["user.name", "requestParameters", "responseElements", "source.address"],
                          "requestParameters.userName is the key's owner, responseElements.accessKey its ID."),
    }


ACCESS_COLUMNS = ["operation", "requester", "remote_ip", "bucket", "key", "http_status", "error_code",
                  "bytes_sent", "user_agent.original"]


def access_searches():
    return {
        "requester": search("trailship-search-s3access-requester", "S3 access: one requester's activity (edit it)",
                            'requester:"arn:aws:iam::111122223333:user/EXAMPLE"', ACCESS_COLUMNS,
                            "Replace the ARN with the requester you are chasing (or search aws.access_key_id).",
                            pattern=ACCESS_PATTERN),
        "denied": search("trailship-search-s3access-denied", "S3 access: access denied", "http_status:403",
                         ACCESS_COLUMNS, "Requests S3 refused with 403 (AccessDenied, signature and key errors).",
                         pattern=ACCESS_PATTERN),
        "anonymous": search("trailship-search-s3access-anonymous", "S3 access: anonymous requests",
                            "NOT _exists_:requester", ACCESS_COLUMNS,
                            "Requests S3 logged with requester '-': unauthenticated.",
                            pattern=ACCESS_PATTERN),
        "latest": search("trailship-search-s3access-latest", "S3 access: latest requests", "", ACCESS_COLUMNS,
                         "Every request, newest first.", pattern=ACCESS_PATTERN),
    }


ALERT_COLUMNS = ["rule.name", "rule.level", "eventName", "user.name", "source.address", "cloud.account.id",
                 "cloud.account.name", "cloud.region", "event.index"]


def alert_searches():
    return {
        "latest": search("trailship-search-alerts-latest", "Detections: latest alerts", "", ALERT_COLUMNS,
                         "One alert per (rule, event) match, newest first; event.index and eventID find the event.",
                         pattern=ALERTS_PATTERN),
        "findings": search("trailship-search-findings", "Abnormal activity: latest findings", FINDINGS,
                           ["rule.name", "rule.level", "user.principal", "alert.count", "eventName", "alert.evidence"],
                           "Behaviour and correlation findings, newest first; alert.event_ids lists the first "
                           "events, alert.evidence what was expected and seen.", pattern=ALERTS_PATTERN),
    }


def detections(d):
    p = "trailship-detections-"
    kw = {"pattern": ALERTS_PATTERN}
    severe = "rule.level:(high OR critical)"
    panels = [
        (metric(p + "alerts", "Alerts", **kw), 12, 8),
        (metric(p + "severe", "High and critical alerts", severe, **kw), 12, 8),
        (timeline(p + "by-level", "Alerts over time by level", "rule.level", 5, **kw), 24, 8),
        (timeline(p + "by-rule", "Alerts over time by rule", "rule.name", 15, **kw), 48, 12),
        (table(p + "top-rules", "Top rules", [("rule.name", 25, "Rule"), ("rule.level", 1, "Level")], **kw), 16, 14),
        (table(p + "top-users", "Top users among alerts", [("user.name", 20, None), ("user.type", 3, None)], **kw),
         16, 14),
        (table(p + "top-sources", "Top source IPs among alerts",
               [("source.ip", 20, "Source IP"), ("rule.name", 3, "Rule")], **kw), 16, 14),
        (table(p + "severe-by-account", "High and critical alerts by account and region",
               accounts(20) + [("cloud.region", 5, "Region")], severe, **kw), 24, 12),
        (table(p + "tags", "Alerts by rule tag", [("rule.tags", 20, "Tag")], **kw), 24, 12),
        (d["latest"], 48, 14),
    ]
    return dashboard("trailship-detections", "Detections",
                     "Sigma rule matches (built-in and detect.rules): what fired, how severe, who and from where.",
                     panels)


FINDINGS = "alert.kind:(behaviour OR correlation)"
NEW_TO = ["7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a51", "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a52",
          "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a53", "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a54"]
BURSTS = ["7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a55", "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a56"]


def anomalies(d):
    p = "trailship-anomalies-"
    kw = {"pattern": ALERTS_PATTERN}
    panels = [
        (metric(p + "findings", "Findings (behaviour and correlation)", FINDINGS, **kw), 12, 8),
        (timeline(p + "by-kind", "Findings over time by kind", "alert.kind", 3, FINDINGS, **kw), 36, 8),
        (timeline(p + "by-rule", "Findings over time by detection", "rule.name", 12, FINDINGS, **kw), 48, 12),
        (table(p + "new-to", "Identities and accounts with something new (API, service, country, network)",
               [("rule.name", 4, "Detection"), ("user.principal", 20, "Identity"), ("eventName", 10, None)],
               any_of("rule.id", NEW_TO), "First-seen findings; alert.evidence says what was known before.",
               **kw), 24, 14),
        (table(p + "bursts", "Error bursts and API volume spikes",
               [("rule.name", 2, "Detection"), ("user.principal", 10, "Identity"), ("eventName", 10, None)],
               any_of("rule.id", BURSTS), "Windows far above their baseline; alert.evidence holds the expected "
               "and observed counts.", measure=total("alert.count", "Calls"), **kw), 24, 14),
        (against_baseline(p + "failures-usual", "Failed calls per hour and the week's hourly average",
                          "event.outcome:failure", 168, "All identities together; error bursts compare each "
                          "identity's five-minute windows with its own usual window (docs/anomalies.md)."), 24, 12),
        (against_baseline(p + "writes-usual", "Write calls per hour and the week's hourly average",
                          "readOnly:false", 168, "All APIs together; volume spikes compare each account, region "
                          "and API's five-minute windows with their own usual window (docs/anomalies.md)."), 24, 12),
        (timeline(p + "failures", "Failed calls over time by identity (the error baseline)", "user.principal", 10,
                  "event.outcome:failure", chart="line", mode="normal"), 24, 12),
        (timeline(p + "writes", "Write calls over time by API (the volume baseline)", "eventName", 10,
                  "readOnly:false", chart="line", mode="normal"), 24, 12),
        (d["findings"], 48, 14),
    ]
    return dashboard("trailship-anomalies", "Abnormal activity",
                     "Were there abnormal API calls? The built-in behavioural detections (new APIs, services, "
                     "countries, networks; error bursts; volume spikes) and Sigma correlation findings, with the "
                     "failure and write volumes they are measured against (docs/anomalies.md).", panels)


def s3access(a):
    p = "trailship-s3access-"
    kw = {"pattern": ACCESS_PATTERN}
    sent = total("bytes_sent", "Bytes sent")
    panels = [
        (metric(p + "requests", "Requests", **kw), 12, 8),
        (metric(p + "errors", "Requests with an error (HTTP 400 and above)", "http_status:>=400", **kw), 12, 8),
        (timeline(p + "by-status", "Requests over time by HTTP status", "http_status", 10, **kw), 24, 8),
        (timeline(p + "by-operation", "Requests over time by operation", "operation", 10, **kw), 48, 12),
        (timeline(p + "denied-missing", "403 and 404 over time by error code", "error_code", 10,
                  "http_status:(403 OR 404)", chart="line", mode="normal", **kw), 24, 12),
        (timeline(p + "bytes-over-time", "Bytes sent over time by bucket", "bucket", 10, measure=sent, **kw), 24, 12),
        (table(p + "top-downloaders", "Top downloaders by bytes sent",
               [("requester", 20, "Requester"), ("remote_ip", 5, "Remote IP")], measure=sent, **kw), 16, 12),
        (table(p + "top-requesters", "Top requesters", [("requester", 20, None), ("aws.access_key_id", 5, None)],
               **kw), 16, 12),
        (table(p + "top-remote-ips", "Top remote IPs",
               [("remote_ip", 20, None), ("source.geo.country_name", 3, "Country")], **kw), 16, 12),
        (table(p + "countries", "Remote countries", [("source.geo.country_name", 20, "Country")], **kw), 12, 12),
        (table(p + "networks", "Remote networks (ASN)",
               [("source.as.organization.name", 20, "Network"), ("source.as.number", 3, "ASN")], **kw), 12, 12),
        (table(p + "user-agents", "Top user agents",
               [("user_agent.name", 15, None), ("user_agent.original", 5, None)], **kw), 12, 12),
        (table(p + "buckets", "Top buckets", [("bucket", 20, None)], **kw), 12, 12),
        (table(p + "keys", "Top keys", [("key", 20, None), ("bucket", 3, None)], **kw), 24, 12),
        (a["denied"], 24, 12),
        (a["latest"], 48, 14),
    ]
    return dashboard("trailship-s3access", "S3 access",
                     "S3 server access logs: who requests what from where, errors, and bytes downloaded.", panels)


def overview():
    p = "trailship-overview-"
    panels = [
        (metric(p + "events", "Events"), 12, 8),
        (metric(p + "errors", "Events with an error", "_exists_:errorCode"), 12, 8),
        (timeline(p + "error-rate", "Error rate over time", "event.outcome", 3, chart="area", mode="stacked",
                  scale="percentage", description="Share of events by outcome (failure = the call had an errorCode)."),
         24, 8),
        (timeline(p + "events-by-source", "Events over time by eventSource", "eventSource", 10), 48, 12),
        (table(p + "top-event-names", "Top eventNames", [("eventName", 20, None)]), 16, 14),
        (pie(p + "top-event-sources", "Top eventSources", "eventSource", 10), 16, 14),
        (table(p + "top-users", "Top users", [("user.name", 20, None), ("user.type", 3, None)]), 16, 14),
        (table(p + "top-accounts", "Top accounts", accounts(20)), 12, 12),
        (pie(p + "top-regions", "Top regions", "cloud.region", 15), 12, 12),
        (table(p + "top-user-agents", "Top user agents",
               [("user_agent.name", 15, None), ("user_agent.os.name", 5, None)]), 12, 12),
        (table(p + "top-error-codes", "Top errorCodes", [("errorCode", 20, None)]), 12, 12),
    ]
    return dashboard("trailship-overview", "CloudTrail overview",
                     "What is happening in the accounts: volume, services, APIs, who, from where, and errors.", panels)


def security(s):
    p = "trailship-security-"
    rules = tomllib.load(open(os.path.join(ROOT, "src", "sources", "cloudtrail", "enrich", "data", "tags.toml"), "rb"))["rule"]
    panels = [(timeline(p + "tags-over-time", "Security events over time by tag", "tags", 20,
                        query="_exists_:tags"), 48, 10)]
    for rule in rules:
        if "cis" not in rule:
            continue
        number, _, what = rule["cis"].partition(" ")
        title = f"CIS {number}: {what}"
        panels.append((table(p + "cis-" + rule["tag"].replace("_", "-"), title,
                             [("eventName", 10, None), ("user.name", 10, None)], query="tags:" + rule["tag"],
                             description=f"Events tagged {rule['tag']}."), 16, 10))
    panels += [
        (vis(p + "source-map", "Source locations", "tile_map", TILE_MAP, [count(), geohash()],
             "_exists_:source.geo.location"), 24, 16),
        (table(p + "source-countries", "Source countries", [("source.geo.country_name", 20, "Country")]), 12, 16),
        (table(p + "source-asns", "Source networks (ASN)",
               [("source.as.organization.name", 20, "Network"), ("source.as.number", 3, "ASN")]), 12, 16),
        (table(p + "new-access-keys", "New access keys by creator", [("user.name", 20, "Created by")],
               query="eventName:CreateAccessKey"), 16, 12),
        (s["newkeys"], 32, 12),
        (table(p + "world-open-ports", "Ports opened to the world, by who",
               [("user.name", 10, None), ("eventName", 3, None)] + accounts(5),
               query="_exists_:aws.ec2.world_open_ports",
               description="Security-group rules opening ports to 0.0.0.0/0 or ::/0 (aws.ec2.world_open_ports)."),
         16, 12),
        (s["world"], 32, 12),
    ]
    return dashboard("trailship-security", "CloudTrail security",
                     "CIS AWS Foundations monitoring items, where calls come from, new access keys, and ports "
                     "opened to the world.", panels)


def operations(s):
    p = "trailship-operations-"
    throttled = any_of("errorCode", THROTTLING)
    stop = "eventSource:ec2.amazonaws.com AND " + any_of("eventName", ["StopInstances", "TerminateInstances"])
    panels = [
        (timeline(p + "errors-by-service", "Errors over time by service", "eventSource", 10, "_exists_:errorCode"),
         24, 12),
        (timeline(p + "throttling-by-api", "Throttling over time by API", "eventName", 10, throttled, chart="line",
                  mode="normal"), 24, 12),
        (table(p + "throttling-by-service", "Throttled calls by service and API",
               [("eventSource", 10, None), ("eventName", 10, None), ("errorCode", 5, None)], throttled), 16, 12),
        (table(p + "top-failing-apis", "Top failing APIs", [("eventName", 20, None), ("errorCode", 5, None)],
               "_exists_:errorCode"), 16, 12),
        (table(p + "failing-callers", "Callers with the most errors", [("user.name", 20, None)],
               "_exists_:errorCode"), 16, 12),
        (timeline(p + "instance-stop-terminate", "Instances stopped or terminated, by who", "user.name", 10, stop),
         24, 12),
        (s["ec2"], 24, 12),
    ]
    return dashboard("trailship-operations", "CloudTrail operations",
                     "Errors and throttling by service and API, and who stopped or terminated instances.", panels)


def trends():
    p = "trailship-trends-"
    kw = {"pattern": TRENDS_PATTERN}
    calls = total("count", "Calls")
    week = over_time("day", "w")
    panels = [
        (vis(p + "calls-by-service", "Calls per week by service", "histogram", xy_params("histogram"),
             [calls, week, terms("eventSource", 15, "group")], **kw), 48, 12),
        (vis(p + "error-share", "Error share over time", "area", xy_params("area", "stacked", "percentage"),
             [calls, week, terms("event.outcome", 3, "group")],
             description="Share of calls by outcome, per week (failure = the call returned an errorCode).", **kw),
         24, 12),
        (vis(p + "errors-by-code", "Errors per week by errorCode", "line", xy_params("line", "normal"),
             [calls, week, terms("errorCode", 10, "group")], **kw), 24, 12),
        (vis(p + "top-apis-per-month", "Top APIs per month", "table", TABLE,
             [calls, over_time("day", "M", "bucket"), terms("eventName", 10, "bucket")], **kw), 16, 14),
        (vis(p + "accounts", "Calls per week by account", "line", xy_params("line", "normal"),
             [calls, week, terms("cloud.account.id", 10, "group", "Account"),
              terms("cloud.account.name", 1, "group", "Account name", "-")],
             description="Each line is an account: its id and name (- when none is known).", **kw), 16, 14),
        (vis(p + "regions", "Calls per week by region", "line", xy_params("line", "normal"),
             [calls, week, terms("cloud.region", 10, "group")], **kw), 16, 14),
        (vis(p + "identity-types", "Calls per week by identity type", "histogram", xy_params("histogram"),
             [calls, week, terms("userIdentity.type", 8, "group")], **kw), 24, 12),
        (table(p + "top-apis", "Top APIs", [("eventSource", 10, None), ("eventName", 10, None)], measure=calls, **kw),
         24, 12),
        (vis(p + "first-seen", "API calls seen for the first time", "table", TABLE,
             [count(), over_time("day", "d", "bucket"), terms("eventName", 20, "bucket"),
              terms("cloud.account.id", 10, "bucket", "Account"),
              terms("cloud.account.name", 1, "bucket", "Account name", "-")], query="first_seen:true",
             description="The day each account first called each API, in the selected time range; per identity, "
                         "see the Abnormal activity dashboard.", **kw), 24, 12),
        (vis(p + "s3-requests", "S3 requests per week by bucket", "histogram", xy_params("histogram"),
             [calls, week, terms("bucket", 10, "group")], pattern=ACCESS_TRENDS_PATTERN), 24, 12),
        (vis(p + "s3-bytes", "S3 bytes sent per week by bucket", "histogram", xy_params("histogram"),
             [total("bytes_sent", "Bytes sent"), week, terms("bucket", 10, "group")],
             pattern=ACCESS_TRENDS_PATTERN), 24, 12),
    ]
    return dashboard("trailship-trends", "CloudTrail trends",
                     "Years of API-call patterns from the daily trend indices (kept trends.retention_years): calls "
                     "by service, errors, top APIs, accounts, regions; S3 requests and bytes by bucket.", panels)


def objects():
    """Every object once, each before the objects that reference it (import validates references)."""
    s, a, d = searches(), access_searches(), alert_searches()
    out = index_patterns() + list(s.values()) + list(a.values()) + list(d.values())
    for board, panels in (overview(), security(s), operations(s), s3access(a), detections(d), anomalies(d),
                          trends()):
        seen = {o["id"] for o in out}
        out += [p for p in panels if p["id"] not in seen]
        out.append(board)
    return out


def render():
    return "".join(dumps(o) + "\n" for o in objects())


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        current = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        if current != text:
            sys.exit(f"{os.path.relpath(OUT, ROOT)} is stale: run scripts/make-dashboards.py and commit it")
        return
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {sum(1 for _ in text.splitlines())} saved objects to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
