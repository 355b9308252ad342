#!/usr/bin/env python3
"""Writes dashboards/trailship.ndjson: the OpenSearch Dashboards 2.x saved objects trailship ships.

Usage: make-dashboards.py            rewrite dashboards/trailship.ndjson
       make-dashboards.py --check    exit 1 if the committed file differs from what this writes

The saved-objects format keeps visualization state, panels and search sources as JSON strings
inside JSON; writing them by hand invites typos, so this script is the source and the .ndjson
is its output (committed, because users import the file and `trailship setup` embeds it).
The CIS panels come from src/enrich/data/tags.toml, so a new rule there gets its panel here.

Conventions every object follows (checked by src/dashboards_tests.rs and run against real
events by tests/integration/dashboards.rs):
- one index pattern, id `trailship-events`, title `cloudtrail-*` (`trailship setup` renders
  the configured `opensearch.index_prefix`), time field `@timestamp`;
- queries are Lucene (`query_string`), never KQL, on fields the index template maps;
- aggregations only on aggregatable mapped types (keyword, ip, long, date, geo_point).
"""
import json
import os
import sys
import tomllib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "dashboards", "trailship.ndjson")
INDEX_PATTERN = "trailship-events"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

THROTTLING = ["ThrottlingException", "Throttling", "RequestLimitExceeded", "Client.RequestLimitExceeded",
              "TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "SlowDown",
              "ProvisionedThroughputExceededException"]
S3_PERMISSION_CHANGES = ["PutBucketAcl", "PutObjectAcl", "PutBucketPolicy", "DeleteBucketPolicy",
                         "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
                         "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"]


def any_of(field, values):
    return f"{field}:({' OR '.join(values)})"


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def search_source(query):
    return {"searchSourceJSON": dumps({"query": {"query": query, "language": "lucene"}, "filter": [],
                                       "indexRefName": INDEX_REF})}


def index_ref():
    return [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN}]


# --- aggregations, in the shape the visualize editor saves ---------------------------------------

def count():
    return {"type": "count", "schema": "metric", "params": {}}


def terms(field, size, schema, label=None):
    params = {"field": field, "size": size, "order": "desc", "orderBy": "1", "otherBucket": False,
              "otherBucketLabel": "Other", "missingBucket": False, "missingBucketLabel": "Missing"}
    if label:
        params["customLabel"] = label
    return {"type": "terms", "schema": schema, "params": params}


def over_time():
    return {"type": "date_histogram", "schema": "segment",
            "params": {"field": "@timestamp", "useNormalizedOpenSearchInterval": True, "interval": "auto",
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


def vis(vid, title, kind, params, aggs, query="", description=""):
    numbered = [dict(id=str(i + 1), enabled=True, **agg) for i, agg in enumerate(aggs)]
    state = {"title": title, "type": kind, "params": params, "aggs": numbered}
    return {"id": vid, "type": "visualization",
            "attributes": {"title": title, "description": description, "visState": dumps(state),
                           "uiStateJSON": "{}", "version": 1, "kibanaSavedObjectMeta": search_source(query)},
            "references": index_ref()}


def table(vid, title, rows, query="", description=""):
    return vis(vid, title, "table", TABLE, [count()] + [terms(f, n, "bucket", label) for f, n, label in rows],
               query, description)


def pie(vid, title, field, size, query=""):
    return vis(vid, title, "pie", PIE, [count(), terms(field, size, "segment")], query)


def timeline(vid, title, split, size, query="", chart="histogram", mode="stacked", scale="normal", description=""):
    return vis(vid, title, chart, xy_params(chart, mode, scale), [count(), over_time(), terms(split, size, "group")],
               query, description)


def metric(vid, title, query=""):
    return vis(vid, title, "metric", METRIC, [count()], query)


def search(sid, title, query, columns, description=""):
    return {"id": sid, "type": "search",
            "attributes": {"title": title, "description": description, "hits": 0,
                           "columns": columns, "sort": [["@timestamp", "desc"]], "version": 1,
                           "kibanaSavedObjectMeta": search_source(query)},
            "references": index_ref()}


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

def index_pattern():
    return {"id": INDEX_PATTERN, "type": "index-pattern",
            "attributes": {"title": "cloudtrail-*", "timeFieldName": "@timestamp"}, "references": []}


SEARCH_COLUMNS = ["eventName", "user.name", "source.address", "awsRegion", "errorCode", "requestParameters"]


def searches():
    return {
        "ec2": search("trailship-search-ec2-stop-terminate", "CloudTrail: who stopped or terminated an EC2 instance",
                      "eventSource:ec2.amazonaws.com AND " + any_of("eventName", ["StopInstances", "TerminateInstances"]),
                      SEARCH_COLUMNS, "requestParameters.instancesSet holds the instance IDs."),
        "s3perm": search("trailship-search-s3-permissions", "CloudTrail: who changed S3 bucket permissions",
                         "eventSource:s3.amazonaws.com AND " + any_of("eventName", S3_PERMISSION_CHANGES),
                         SEARCH_COLUMNS, "Bucket and object ACLs, bucket policies, public access blocks, ownership."),
        "root": search("trailship-search-root", "CloudTrail: root account activity", "tags:root_activity",
                       SEARCH_COLUMNS, "Calls made by the root user itself (CIS 4.3)."),
        "logins": search("trailship-search-failed-logins", "CloudTrail: failed console logins",
                         "tags:console_login_failure",
                         ["user.name", "source.address", "source.geo.country_name", "errorMessage", "user_agent.name"],
                         "CIS 4.6."),
        "iam": search("trailship-search-iam-policy", "CloudTrail: IAM policy changes", "tags:iam_policy_change",
                      SEARCH_COLUMNS, "CIS 4.4."),
        "key": search("trailship-search-access-key", "CloudTrail: everything one access key did (edit the key)",
                      'userIdentity.accessKeyId:"AKIAIOSFODNN7EXAMPLE"', SEARCH_COLUMNS,
                      "Replace AKIAIOSFODNN7EXAMPLE in the query with the key you are chasing."),
        "s3data": search("trailship-search-s3-data", "CloudTrail: S3 data events",
                         "eventSource:s3.amazonaws.com AND eventCategory:Data",
                         ["eventName", "user.name", "source.address", "resources.ARN", "errorCode"],
                         "Object-level calls (GetObject, PutObject, ...), logged when the trail records data events."),
        "newkeys": search("trailship-search-new-access-keys", "CloudTrail: new access keys", "eventName:CreateAccessKey",
                          ["user.name", "requestParameters", "responseElements", "source.address"],
                          "requestParameters.userName is the key's owner, responseElements.accessKey its ID."),
    }


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
        (table(p + "top-accounts", "Top accounts", [("cloud.account.id", 20, "Account")]), 12, 12),
        (pie(p + "top-regions", "Top regions", "cloud.region", 15), 12, 12),
        (table(p + "top-user-agents", "Top user agents",
               [("user_agent.name", 15, None), ("user_agent.os.name", 5, None)]), 12, 12),
        (table(p + "top-error-codes", "Top errorCodes", [("errorCode", 20, None)]), 12, 12),
    ]
    return dashboard("trailship-overview", "CloudTrail overview",
                     "What is happening in the accounts: volume, services, APIs, who, from where, and errors.", panels)


def security(s):
    p = "trailship-security-"
    rules = tomllib.load(open(os.path.join(ROOT, "src", "enrich", "data", "tags.toml"), "rb"))["rule"]
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
    ]
    return dashboard("trailship-security", "CloudTrail security",
                     "CIS AWS Foundations monitoring items, where calls come from, and new access keys.", panels)


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


def objects():
    """Every object once, each before the objects that reference it (import validates references)."""
    s = searches()
    out = [index_pattern()] + list(s.values())
    for board, panels in (overview(), security(s), operations(s)):
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
